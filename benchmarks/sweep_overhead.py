"""What recording a sweep costs per trial: runlog's sweep callbacks against no tracking and against MLflow / W&B.

One section per engine (``--only`` picks one); each times its variants interleaved (the order rotates
every repeat, after one warm-up round) so that machine noise falls on all alike, and reports the median
time per trial, the cost per trial over no tracking, and each tracker's cost as a multiple of runlog's.

Optuna (``optuna`` section): 200 trials of a cheap objective (one float, three intermediate values
reported) with a ``RandomSampler`` on an in-memory study, so Optuna's own cost stays flat:

    none              ``study.optimize(objective, n_trials=200)``
    runlog            ``callbacks=[RunlogCallback(experiment=...)]`` on a SQLite folder store, then
                      ``cb.close()``, which returns once every child is committed (inside the timing)
    runlog tracked    the same with ``cb.track_in_runlog()(objective)``: each child is created in the store
                      when its trial starts (live for the UI and ``Run.get_context()``), before the objective runs
    mlflow            ``optuna_integration.MLflowCallback(tracking_uri="sqlite:///...")``: a run per trial
                      (needs ``pip install optuna-integration mlflow``)
    wandb             ``optuna_integration.WeightsAndBiasesCallback`` with ``WANDB_MODE=offline``, where
                      wandb is installed (else the reason is printed)

Run:

    python benchmarks/sweep_overhead.py [--repeats 3] [--trials 200] [--only optuna|ray]
"""

from __future__ import annotations

import argparse
import logging
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

perf = time.perf_counter
Variants = dict[str, Callable[[int], float]]  # name -> run one sweep (its repeat number) -> seconds


# -- Optuna -----------------------------------------------------------------------------------------

def optuna_section(folder: str, trials: int) -> tuple[str, Variants, dict[str, str]]:
    """The Optuna variants; also returns, for each tracker that cannot run here, why."""
    import optuna

    from runlog_core import Experiment
    from runlog_integrations.optuna import RunlogCallback

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    skipped: dict[str, str] = {}

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -10.0, 10.0)
        for step in range(3):
            trial.report((x - 2) ** 2 + 3 - step, step)
        return (x - 2) ** 2

    def study(name: str, repeat: int) -> Any:
        return optuna.create_study(study_name=f"{name}-{repeat}", sampler=optuna.samplers.RandomSampler(seed=repeat + 1))

    def none(repeat: int) -> float:
        s = study("none", repeat)
        start = perf()
        s.optimize(objective, n_trials=trials)
        return perf() - start

    experiment = Experiment("sweep-bench", store=os.path.join(folder, "runlog"))

    def runlog(repeat: int, tracked: bool = False) -> float:
        s = study("tracked" if tracked else "runlog", repeat)
        start = perf()
        callback = RunlogCallback(experiment=experiment)
        func = callback.track_in_runlog()(objective) if tracked else objective
        s.optimize(func, n_trials=trials, callbacks=[callback])
        callback.close()  # the parent ends once everything is committed
        return perf() - start

    variants: Variants = {"none": none, "runlog": runlog, "runlog tracked": lambda r: runlog(r, tracked=True)}
    try:
        import mlflow
        from optuna_integration.mlflow import MLflowCallback
    except ImportError as err:
        skipped["mlflow"] = f"{err} (pip install optuna-integration mlflow)"
    else:
        uri = f"sqlite:///{os.path.join(folder, 'mlflow.db')}"
        mlflow.set_tracking_uri(uri)
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        logging.getLogger("alembic").setLevel(logging.ERROR)

        def with_mlflow(repeat: int) -> float:
            s = study("mlflow", repeat)
            start = perf()
            callback = MLflowCallback(tracking_uri=uri, metric_name="value")
            s.optimize(objective, n_trials=trials, callbacks=[callback])
            return perf() - start

        variants["mlflow"] = with_mlflow
    try:
        import wandb  # noqa: F401
        from optuna_integration.wandb import WeightsAndBiasesCallback
    except ImportError as err:
        skipped["wandb"] = f"{err} (pip install optuna-integration wandb)"
    else:
        os.environ.update(WANDB_MODE="offline", WANDB_DIR=folder, WANDB_SILENT="true")

        def with_wandb(repeat: int) -> float:
            s = study("wandb", repeat)
            start = perf()
            callback = WeightsAndBiasesCallback(metric_name="value", wandb_kwargs={"project": f"bench-{repeat}"})
            s.optimize(objective, n_trials=trials, callbacks=[callback])
            import wandb as w

            w.finish()
            return perf() - start

        variants["wandb"] = with_wandb
    title = f"Optuna: {trials} trials of a cheap objective (RandomSampler, in-memory study)"
    return title, variants, skipped


SECTIONS: dict[str, Callable[[str, int], tuple[str, Variants, dict[str, str]]]] = {"optuna": optuna_section}


# -- timing and report ----------------------------------------------------------------------------------

def time_section(variants: Variants, repeats: int) -> dict[str, list[float]]:
    names = list(variants)
    for name in names:  # warm-up: imports, the stores' creation, caches
        variants[name](-1)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        order = names[repeat % len(names):] + names[:repeat % len(names)]
        for name in order:
            times[name].append(variants[name](repeat))
    return times


def report(title: str, times: dict[str, list[float]], trials: int, skipped: dict[str, str]) -> None:
    print(f"\n{title}; median of {len(times['none'])} interleaved repeats")
    base = statistics.median(times["none"])
    ours = statistics.median(times["runlog"]) - base
    print(f"  {'variant':<16}{'ms/trial':>10}{'cost ms/trial':>15}{'x runlog':>10}")
    for name, values in times.items():
        total = statistics.median(values)
        cost = (total - base) / trials * 1e3
        ratio = "" if name == "none" or ours <= 0 else f"{(total - base) / ours:>10.1f}"
        print(f"  {name:<16}{total / trials * 1e3:>10.3f}{cost if name != 'none' else 0.0:>15.3f}{ratio}")
    for name, why in skipped.items():
        print(f"  {name:<16}not measured: {why}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--only", choices=sorted([*SECTIONS, "ray"]))
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    for name, section in SECTIONS.items():
        if args.only and name != args.only:
            continue
        with tempfile.TemporaryDirectory(prefix=f"sweep-{name}-") as folder:
            title, variants, skipped = section(folder, args.trials)
            report(title, time_section(variants, args.repeats), args.trials, skipped)
    if args.only in (None, "ray"):
        # Ray Tune: time inside each callback's hooks (benchmarks/sweep_overhead_ray.py), since starting
        # an actor per trial swamps the wall time; 50 trials as the issue asks
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import sweep_overhead_ray

        sweep_overhead_ray.main(["--trials", "50"])


if __name__ == "__main__":
    main()
