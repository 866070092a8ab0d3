"""Ray Tune sweeps: what a tracking callback costs per trial, runlog against MLflow (issue 17).

    python benchmarks/sweep_overhead_ray.py              # a 50-trial grid, 10 results a trial
    python benchmarks/sweep_overhead_ray.py --trials 20 --results 5 --skip-mlflow
    python benchmarks/sweep_overhead_ray.py --skip-mlflow --profile 25   # where runlog's hook time goes

One local Ray (``ray.init(num_cpus=2, include_dashboard=False)``, loopback only) runs the same grid
of a cheap function trainable (it reports ``loss`` and ``acc`` ``--results`` times) once per
configuration, in this order, in one process:

    no callback              Tune alone: what a trial costs without tracking
    RunlogLoggerCallback     runlog, a folder store in a temporary folder
    MLflowLoggerCallback     Ray's own MLflow callback, ``sqlite:///`` tracking URI in a temporary folder

Each callback runs inside a timing wrapper that adds up the seconds spent in its hooks: that is
what tracking adds to the Tune driver's loop, which every trial waits on. The wall time of each
grid is printed too, but it is dominated by Ray starting one actor per trial and varies from run to
run by more than either callback costs; the hook time is the figure to compare. The ratio column
is each callback's hook time over runlog's; "first start" is the first ``on_trial_start`` (which
opens the store and starts the parent run), "others" the hook time of every other trial.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: loopback only

HERE = Path(__file__).resolve().parent
try:
    import runlog_core  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))

import ray  # noqa: E402
from ray import tune  # noqa: E402

from runlog_core import Experiment  # noqa: E402
from runlog_integrations.ray import RunlogLoggerCallback  # noqa: E402

perf = time.perf_counter
HOOKS = ("setup", "on_trial_start", "on_trial_result", "on_trial_complete", "on_trial_error",
         "on_experiment_end", "on_step_begin", "on_step_end", "on_trial_save", "on_checkpoint")


class Timed(tune.Callback):
    """Delegates every hook to ``inner`` and adds up the seconds spent in it."""

    def __init__(self, inner: tune.Callback, profile: Any = None) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.first = 0.0  # the first on_trial_start: opens the store and starts the parent run
        self.profile = profile  # a cProfile.Profile enabled inside the hooks only, or None

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its RunConfig: a profiler does not pickle
        return {**self.__dict__, "profile": None}

    def _call(self, hook: str, *args: Any, **kwargs: Any) -> Any:
        if self.profile is not None:
            self.profile.enable()
        start = perf()
        try:
            return getattr(self.inner, hook)(*args, **kwargs)
        finally:
            took = perf() - start
            if self.profile is not None:
                self.profile.disable()
            self.seconds += took
            if hook == "on_trial_start" and not self.first:
                self.first = took


def _hook(name: str) -> Any:
    def hook(self: Timed, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, *args, **kwargs)

    hook.__name__ = name
    return hook


for _name in HOOKS:
    setattr(Timed, _name, _hook(_name))


def trainable(config: dict[str, Any]) -> None:
    for step in range(config["results"]):
        tune.report({"loss": config["x"] / (step + 1), "acc": 1 - config["x"] / (step + 2)})


def grid(label: str, callback: tune.Callback | None, trials: int, results: int,
         storage: Path, profile: Any = None) -> tuple[float, float, float]:
    """Wall seconds of the grid, seconds spent in the callback's hooks, and in its first on_trial_start."""
    timed = Timed(callback, profile) if callback is not None else None
    tuner = tune.Tuner(
        trainable,
        param_space={"x": tune.grid_search([index / trials for index in range(trials)]), "results": results},
        run_config=tune.RunConfig(name=label.replace(" ", "_"), storage_path=str(storage), verbose=0,
                                  callbacks=[timed] if timed is not None else None))
    start = perf()
    tuner.fit()
    return perf() - start, timed.seconds if timed is not None else 0.0, timed.first if timed is not None else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--results", type=int, default=10, help="results each trial reports")
    parser.add_argument("--skip-mlflow", action="store_true", help="runlog alone (a quicker check)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="print the N costliest calls inside RunlogLoggerCallback's hooks (cProfile)")
    args = parser.parse_args(argv)
    if __name__ != "__main__":  # imported (by benchmarks/sweep_overhead.py): Ray's workers cannot import us
        from ray import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])

    from ray.air.integrations.mlflow import MLflowLoggerCallback

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        configurations: list[tuple[str, Any]] = [
            ("no callback", lambda: None),
            ("RunlogLoggerCallback", lambda: RunlogLoggerCallback(experiment=Experiment("bench", store=root / "runlog"))),
            ("MLflowLoggerCallback", lambda: MLflowLoggerCallback(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                                                                  experiment_name="bench")),
        ]
        profile = cProfile.Profile() if args.profile else None
        for label, make in configurations[:2] if args.skip_mlflow else configurations:
            rows.append((label, *grid(label, make(), args.trials, args.results, root / "ray_results",
                                      profile if label == "RunlogLoggerCallback" else None)))
    ray.shutdown()
    if profile is not None:
        print("\nInside RunlogLoggerCallback's hooks (cProfile; its overhead inflates the times):")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)

    runlog_hooks = rows[1][2]
    print(f"\nRay Tune {ray.__version__}: a {args.trials}-trial grid, {args.results} results a trial, "
          f"num_cpus=2 ({os.cpu_count()} cores here)")
    print(f"{'configuration':<22} {'wall s':>8} {'wall ms/trial':>14} {'hooks ms/trial':>15} {'x runlog':>9}"
          f" {'first start ms':>15} {'others ms/trial':>16}")
    for label, wall, hooks, first in rows:
        if label == "no callback":
            print(f"{label:<22} {wall:8.1f} {1000 * wall / args.trials:14.1f}")
            continue
        others = 1000 * (hooks - first) / max(1, args.trials - 1)
        print(f"{label:<22} {wall:8.1f} {1000 * wall / args.trials:14.1f} {1000 * hooks / args.trials:15.2f}"
              f" {hooks / runlog_hooks:9.1f} {1000 * first:15.1f} {others:16.2f}")


if __name__ == "__main__":
    main()
