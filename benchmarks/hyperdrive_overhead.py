"""HyperDrive's own cost: a sweep of short scripts, runlog against Optuna alone and plain subprocesses.

    python benchmarks/hyperdrive_overhead.py              # 40 children of a 1 s script, 2 at a time
    python benchmarks/hyperdrive_overhead.py --children 200 --seconds 1    # the issue's full size
    python benchmarks/hyperdrive_overhead.py --quick      # 10 children of a 0.2 s script

Side by side, the same script (it sleeps, then reports ``score``) run N times, 2 at a time:

    ideal                  N/2 x the script's sleep: no process start, nothing recorded
    plain subprocesses     two threads each running ``subprocess.run([python, script, --x, v])`` in turn
    Optuna alone           ``study.optimize(objective, n_trials=N, n_jobs=2)``, the objective a subprocess
                           whose printed score it parses (random sampler)
    Optuna, children       the same, each trial's script logging its score into a run of its own
    logging to runlog      (``start_logging`` in the objective, ``Run.get_context()`` in the script)
    runlog HyperDrive      ``exp.submit(HyperDriveConfig(RandomParameterSampling, max_concurrent_runs=2))``:
                           each child a recorded run (snapshot copy, environment, log, system metrics,
                           the score logged with ``run.log``)

Also measured: the controller's own time per child (HyperDrivePlan's ask, tell and policy checks,
timed around each call), the submitter's CPU time per child (everything runlog does in the
submitting process: the plan, the launch, the output pump, the supervisor, the writer), and the
policy's reaction time: a child logs a value behind the best by more than the Bandit slack; the
time from that ``run.log`` to the SIGTERM it gets (medians and max of ``--reactions`` sweeps).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
try:
    import runlog_core  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))

SCRIPT = """
import argparse, os, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
parser.add_argument("--sleep", type=float)
args = parser.parse_args()
time.sleep(args.sleep)
score = -(args.x - 0.3) ** 2
if os.environ.get("RUNLOG_RUN_ID"):
    from runlog_core import Run
    Run.get_context().log("score", score)
print(score)
"""

REACTION = """
import argparse, os, signal, sys, time
from runlog_core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
args = parser.parse_args()
run = Run.get_context()
out = os.environ["REACTION_FILE"]
def on_term(signum, frame):
    with open(out, "a") as f:
        f.write(f"term {time.time()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
if args.x >= 1:                      # the good child: logs at once, every 0.1 s
    for _ in range(100):
        run.log("score", args.x)
        time.sleep(0.1)
else:                                # the bad one: logs once the good one has, then waits to be stopped
    time.sleep(1.0)
    run.log("score", args.x)
    with open(out, "a") as f:
        f.write(f"logged {time.time()}\\n")
    time.sleep(30)
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def plain(script: Path, n: int, sleep: float) -> float:
    values = iter([i / n for i in range(n)])
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                x = next(values, None)
            if x is None:
                return
            subprocess.run([sys.executable, str(script), "--x", str(x), "--sleep", str(sleep)], check=True,
                           capture_output=True)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def optuna_alone(script: Path, n: int, sleep: float) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        done = subprocess.run([sys.executable, str(script), "--x", str(x), "--sleep", str(sleep)], check=True,
                              capture_output=True, text=True)
        return float(done.stdout.split()[-1])

    start = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n, n_jobs=2)
    return time.perf_counter() - start


def optuna_with_runlog_children(script: Path, n: int, sleep: float, store: Path) -> float:
    """Optuna alone again, each trial's script logging into a run of its own (what runlog's children do)."""
    import os

    import optuna

    from runlog_core import Experiment

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    exp = Experiment("optuna-runlog", store=store)

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        run = exp.start_logging(outputs=None)
        env = {**os.environ, "RUNLOG_RUN_ID": run.id, "RUNLOG_STORE": str(store), "RUNLOG_EXPERIMENT": exp.name}
        done = subprocess.run([sys.executable, str(script), "--x", str(x), "--sleep", str(sleep)], check=True,
                              capture_output=True, text=True, env=env)
        run.complete()
        return float(done.stdout.split()[-1])

    start = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n, n_jobs=2)
    return time.perf_counter() - start


def runlog_hyperdrive(script: Path, n: int, sleep: float, store: Path) -> tuple[float, float, float, int]:
    from runlog_core import Experiment, ScriptRunConfig
    from runlog_core.hyperdrive import HyperDriveConfig, RandomParameterSampling, uniform
    from runlog_core.hyperdrive.plan import HyperDrivePlan

    spent = [0.0]

    def timed(method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return wrapper

    for name in ("__init__", "next", "check", "finished", "outcome"):
        setattr(HyperDrivePlan, name, timed(getattr(HyperDrivePlan, name)))
    config = HyperDriveConfig(RandomParameterSampling({"--x": uniform(0, 1)}, seed=0), "score", "maximize",
                              max_total_runs=n, max_concurrent_runs=2,
                              run_config=ScriptRunConfig(script.parent, script.name, arguments=["--sleep", sleep]))
    cpu = _cpu()
    start = time.perf_counter()
    hd_run = Experiment("overhead", store=store).submit(config)
    hd_run.wait_for_completion()
    wall = time.perf_counter() - start
    children = hd_run.get_children()
    assert all(c.status == "Completed" for c in children), [c.status for c in children]
    return wall, _cpu() - cpu, spent[0], len(children)


def reactions(folder: Path, repeats: int) -> list[float]:
    import os

    from runlog_core import Experiment, ScriptRunConfig
    from runlog_core.hyperdrive import BanditPolicy, GridParameterSampling, HyperDriveConfig, choice

    (folder / "react").mkdir()
    (folder / "react" / "train.py").write_text(REACTION)
    found = []
    for i in range(repeats):
        out = folder / f"reaction-{i}.txt"
        os.environ["REACTION_FILE"] = str(out)
        config = HyperDriveConfig(GridParameterSampling({"--x": choice(1.0, 0.1)}), "score", "maximize",
                                  max_concurrent_runs=2, policy=BanditPolicy(slack_factor=0.1),
                                  run_config=ScriptRunConfig(folder / "react", "train.py"))
        hd_run = Experiment("reaction", store=folder / "store-reaction").submit(config)
        while not out.exists() or "term" not in out.read_text():
            time.sleep(0.05)
        hd_run.cancel()
        times = dict(line.split() for line in out.read_text().splitlines())
        found.append(float(times["term"]) - float(times["logged"]))
    return found


def child_alone(script: Path, store: Path, repeats: int = 5) -> tuple[float, float]:
    """The script once by itself: bare, and logging its score into a run with ``Run.get_context()``."""
    import os

    from runlog_core import Experiment

    run = Experiment("alone", store=store).start_logging(outputs=None)  # Running while the script logs into it
    env = {**os.environ, "RUNLOG_RUN_ID": run.id, "RUNLOG_STORE": str(store), "RUNLOG_EXPERIMENT": "alone"}
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for logging in (False, True):
            start = time.perf_counter()
            subprocess.run([sys.executable, str(script), "--x", "0.5", "--sleep", "0"], check=True,
                           capture_output=True, env=env if logging else None)
            times[logging].append(time.perf_counter() - start)
    run.complete()
    return statistics.median(times[False]), statistics.median(times[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=1.0, help="how long the script sleeps")
    parser.add_argument("--reactions", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.children, args.seconds, args.reactions = 10, 0.2, 2
    n, sleep = args.children, args.seconds
    import os

    from runlog_core.submit.bytecode import children_compile_runlog

    bytecode = ("compiled once by the sweep (PYTHONDONTWRITEBYTECODE is set and runlog's sources have no "
                "__pycache__; the Optuna rows' children compile them each)"
                if children_compile_runlog(sys.executable, os.environ) else "byte-compiled beside their sources, "
                "or each child writes its own")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "src").mkdir()
        script = folder / "src" / "train.py"
        script.write_text(SCRIPT)
        ideal = n / 2 * sleep
        bare, logging = child_alone(script, folder / "store-alone")
        t_plain = plain(script, n, sleep)
        t_optuna = optuna_alone(script, n, sleep)
        t_optuna_runlog = optuna_with_runlog_children(script, n, sleep, folder / "store-optuna")
        t_runlog, cpu, plan, count = runlog_hyperdrive(script, n, sleep, folder / "store")
        react = reactions(folder, args.reactions)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"\n{n} children of a {sleep:g} s script, 2 at a time (load average {load}, Python {sys.version.split()[0]})")
    print(f"runlog's modules for the children: {bytecode}\n")
    print("| system | wall s | per child ms | x ideal | x plain subprocesses | x Optuna alone |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, wall in (("ideal (sleep only)", ideal), ("plain subprocesses", t_plain), ("Optuna alone", t_optuna),
                        ("Optuna, children logging to runlog", t_optuna_runlog), ("runlog HyperDrive", t_runlog)):
        print(f"| {label} | {wall:.1f} | {wall / n * 1000:.0f} | {wall / ideal:.2f}x | {wall / t_plain:.2f}x | "
              f"{wall / t_optuna:.2f}x |")
    print(f"\nrunlog: {count} children recorded; over the ideal, {(t_runlog - ideal) / n * 1000:.0f} ms a child; "
          f"over Optuna alone, {(t_runlog - t_optuna) / n * 1000:.0f} ms a child; over Optuna with children "
          f"logging to runlog, {(t_runlog - t_optuna_runlog) / n * 1000:.0f} ms a child")
    print(f"the script alone (no sleep), median of 5: bare {bare * 1000:.0f} ms, logging its score into a run "
          f"with Run.get_context() {logging * 1000:.0f} ms (runlog's children pay this; Optuna's do not)")
    print(f"controller (HyperDrivePlan: ask, tell, policy checks): {plan / n * 1000:.2f} ms a child")
    print(f"submitter CPU time (plan, launch, output pump, supervisor, writer): {cpu / n * 1000:.1f} ms a child")
    print(f"policy reaction (run.log of a value outside the slack -> SIGTERM), {len(react)} sweeps: "
          f"median {statistics.median(react):.2f} s, max {max(react):.2f} s")


if __name__ == "__main__":
    main()
