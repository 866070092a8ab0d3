"""DataFrames: how long reading runs and series into pandas takes, runlog against the ways around it.

    python benchmarks/frames.py            # 1,000,000 points, 200 runs, MLflow at 100,000 points
    python benchmarks/frames.py --quick    # 200,000 points, 50 runs, MLflow at 20,000 points
    python benchmarks/frames.py --skip-mlflow

Series (one run, 10 metrics x N/10 steps, logged with ``run.log_metrics(d, step=i)``), median of
the repeats, the store's file in the OS cache:

    runlog get_metrics_frame         ``run.get_metrics_frame()``: columns decoded from the packed chunks
    runlog get_metrics_frame polars  the same, ``output="polars"``
    from get_metric_history          ``get_metric_history(name)`` per metric, ``pd.DataFrame`` of each, concat:
                                     what a user would write without get_metrics_frame
    MLflow get_metric_history        ``MlflowClient.get_metric_history`` per metric + ``pd.DataFrame``, on a
                                     ``sqlite:///`` tracking URI; logging into MLflow is slow, so it holds
                                     fewer points (``--mlflow-points``); compare the us/pt column

Runs (R runs of 10 metrics, 5 params, 2 tags each):

    runlog search_runs pandas        ``search_runs(experiment=..., output="pandas")``
    MLflow search_runs               ``mlflow.search_runs(experiment_ids=[...])`` on the same runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
try:
    import runlog_core  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))

import pandas as pd  # noqa: E402

from runlog_core import Experiment, Run, search_runs  # noqa: E402

perf = time.perf_counter
METRICS = [f"m{index}" for index in range(10)]


def timed(action: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls (after one warm-up call), and the last result."""
    result = action()
    times = []
    for _ in range(repeats):
        start = perf()
        result = action()
        times.append(perf() - start)
    return statistics.median(times), result


def runlog_series(folder: Path, points: int) -> Run:
    run = Experiment("frames", store=folder).start_logging(outputs=None)
    for step in range(points // len(METRICS)):
        run.log_metrics({name: step * 0.001 + index for index, name in enumerate(METRICS)}, step=step)
    run.complete()
    return run


def frame_from_history(run: Run) -> Any:
    frames = []
    for name in METRICS:
        frame = pd.DataFrame(run.get_metric_history(name), columns=["step", "value", "timestamp"])
        frame.insert(0, "name", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def runlog_runs(folder: Path, count: int) -> Experiment:
    experiment = Experiment("table", store=folder)
    for index in range(count):
        with experiment.start_logging(outputs=None) as run:
            run.log_params({f"p{k}": index * k for k in range(5)})
            run.set_tags({"team": "a", "seed": str(index)})
            run.log_metrics({name: index * 0.5 for name in METRICS})
    return experiment


def mlflow_setup(folder: Path) -> Any:
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    return MlflowClient()


def mlflow_series(client: Any, points: int) -> tuple[str, Callable[[], Any]]:
    from mlflow.entities import Metric

    experiment_id = client.create_experiment("frames", artifact_location=str(Path(tempfile.mkdtemp())))
    run_id = client.create_run(experiment_id).info.run_id
    now = int(time.time() * 1000)
    batch: list[Any] = []
    for step in range(points // len(METRICS)):
        batch.extend(Metric(name, step * 0.001 + index, now + step, step) for index, name in enumerate(METRICS))
        if len(batch) >= 1000:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)

    def read() -> Any:
        frames = []
        for name in METRICS:
            history = client.get_metric_history(run_id, name)
            frames.append(pd.DataFrame({"name": name, "step": [m.step for m in history],
                                        "value": [m.value for m in history],
                                        "timestamp": [m.timestamp for m in history]}))
        return pd.concat(frames, ignore_index=True)

    return run_id, read


def mlflow_runs(client: Any, count: int) -> str:
    from mlflow.entities import Metric, Param, RunTag

    experiment_id: str = client.create_experiment("table", artifact_location=str(Path(tempfile.mkdtemp())))
    for index in range(count):
        run_id = client.create_run(experiment_id).info.run_id
        client.log_batch(run_id, metrics=[Metric(name, index * 0.5, 0, 0) for name in METRICS],
                         params=[Param(f"p{k}", str(index * k)) for k in range(5)],
                         tags=[RunTag("team", "a"), RunTag("seed", str(index))])
        client.set_terminated(run_id)
    return experiment_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--points", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--mlflow-points", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    points = args.points or (200_000 if args.quick else 1_000_000)
    runs = args.runs or (50 if args.quick else 200)
    mlflow_points = args.mlflow_points or (20_000 if args.quick else 100_000)
    repeats = args.repeats or (3 if args.quick else 5)
    folder = Path(tempfile.mkdtemp(prefix="runlog-frames-"))
    rows: list[tuple[str, int, float]] = []

    start = perf()
    run = runlog_series(folder / "runlog", points)
    print(f"logged {points:,} points into runlog in {perf() - start:.1f} s", file=sys.stderr)
    reader = Run(Experiment("frames", store=folder / "runlog"), run.id)
    seconds, frame = timed(reader.get_metrics_frame, repeats)
    assert len(frame) == points, len(frame)
    rows.append(("runlog get_metrics_frame", points, seconds))
    try:
        seconds, _ = timed(lambda: reader.get_metrics_frame(output="polars"), repeats)
        rows.append(("runlog get_metrics_frame polars", points, seconds))
    except ImportError:
        pass
    seconds, slow = timed(lambda: frame_from_history(reader), max(1, repeats // 2))
    assert len(slow) == points
    rows.append(("from get_metric_history", points, seconds))
    experiment = runlog_runs(folder / "runlog", runs)
    seconds, table = timed(lambda: search_runs(experiment=experiment, output="pandas"), repeats)
    assert len(table) == runs
    rows.append(("runlog search_runs pandas", runs, seconds))

    if not args.skip_mlflow:
        warnings.filterwarnings("ignore")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        client = mlflow_setup(folder)
        start = perf()
        _, read = mlflow_series(client, mlflow_points)
        print(f"logged {mlflow_points:,} points into MLflow in {perf() - start:.1f} s", file=sys.stderr)
        seconds, mframe = timed(read, max(1, repeats // 2))
        assert len(mframe) == mlflow_points
        rows.append(("MLflow get_metric_history", mlflow_points, seconds))
        import mlflow

        experiment_id = mlflow_runs(client, runs)
        seconds, mtable = timed(lambda: mlflow.search_runs(experiment_ids=[experiment_id]), repeats)
        assert len(mtable) == runs
        rows.append(("MLflow search_runs", runs, seconds))

    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, {os.cpu_count()} CPUs; median of {repeats}")
    print(f"{'':34} {'items':>10} {'seconds':>9} {'us/item':>9}")
    for label, count, seconds in rows:
        print(f"{label:34} {count:>10,} {seconds:>9.3f} {seconds / count * 1e6:>9.3f}")


if __name__ == "__main__":
    main()
