"""What a submitted script pays for runlog: start-up and exit of a child that logs one value.

    python benchmarks/child_startup.py                         # this checkout, 20 rounds
    python benchmarks/child_startup.py --src /old/src --src src --repeats 20   # two trees, interleaved
    python benchmarks/child_startup.py --sweep-bytecode    # also: as a sweep's children run it (below)

Each round runs, one after the other (interleaved, so load on a shared machine hits all alike):

    bare       the script alone: ``import argparse``, parse, print (what a plain subprocess pays)
    each src   the same script doing ``from runlog_core import Run; Run.get_context().log("score", x)``,
               launched as HyperDrive launches a child: a new session, stdout and stderr on a pipe,
               ``RUNLOG_RUN_ID``/``RUNLOG_STORE``/``RUNLOG_EXPERIMENT`` naming a live run of a
               SQLite store, ``PYTHONPATH`` the tree

and reports medians: the child's wall time (launch to reaped), and inside it ``import runlog_core``,
``Run.get_context()`` and the exit (from the script's last line to runlog's atexit work done), wall and
CPU. ``--compile`` byte-compiles the trees first (``PYTHONDONTWRITEBYTECODE=1`` otherwise makes every
child compile runlog from source). ``--sweep-bytecode`` adds a row for the first tree as a sweep's
children run it when they would compile it: from the folder the sweep compiles once
(``runlog_core.submit.bytecode``), first on their ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BARE = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
print(-(parser.parse_args().x - 0.3) ** 2)
"""

CHILD = """
import atexit, json, os, sys, time
t0, c0 = time.perf_counter(), time.process_time()
def report():  # registered first, so it runs after runlog's exit work
    t, c = time.perf_counter(), time.process_time()
    sys.stderr.write("PHASES " + json.dumps({
        "import": [t1 - t0, c1 - c0], "get_context": [t2 - t1, c2 - c1], "exit": [t - t3, c - c3]}) + "\\n")
atexit.register(report)
import argparse
from runlog_core import Run
t1, c1 = time.perf_counter(), time.process_time()
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
x = parser.parse_args().x
run = Run.get_context()
t2, c2 = time.perf_counter(), time.process_time()
run.log("score", -(x - 0.3) ** 2)
print(-(x - 0.3) ** 2)
t3, c3 = time.perf_counter(), time.process_time()
"""


def launch(script: Path, env: dict[str, str]) -> tuple[float, dict[str, list[float]]]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(script), "--x", "0.5"], cwd=script.parent, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          start_new_session=True, close_fds=True, check=True)
    wall = time.perf_counter() - start
    phases: dict[str, list[float]] = {}
    for line in done.stdout.decode().splitlines():
        if line.startswith("PHASES "):
            phases = json.loads(line[len("PHASES "):])
        elif line.startswith(("runlog:", "Traceback")):
            raise SystemExit(f"the child said: {done.stdout.decode()}")
    return wall, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", help="a tree holding runlog_core (repeatable); default: ./src")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--compile", action="store_true", help="byte-compile the trees first")
    parser.add_argument("--sweep-bytecode", action="store_true",
                        help="add the first tree as a sweep's children run it, compiled once by the sweep")
    args = parser.parse_args()
    trees = [str(Path(p).resolve()) for p in (args.src or [str(HERE.parent / "src")])]
    if args.compile:
        for tree in trees:
            subprocess.run([sys.executable, "-m", "compileall", "-q", tree], check=True)
    sys.path.insert(0, trees[0])
    from runlog_core import Experiment

    built = None
    rows = list(trees)
    if args.sweep_bytecode:  # this tree's, so the first tree must have it
        from runlog_core.submit.bytecode import SweepBytecode

        built = SweepBytecode("child-startup")
        while built.ready() is None:
            if built._proc is None or built._proc.poll() not in (None, 0):
                raise SystemExit("could not compile runlog for the children")
            time.sleep(0.05)
        rows.append(f"{trees[0]} (compiled by the sweep)")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bare.py").write_text(BARE)
        (folder / "train.py").write_text(CHILD)
        store = folder / "store"
        experiment = Experiment("startup", store=store)
        run = experiment.start_logging(outputs=None)  # Running while children log
        base = {k: v for k, v in os.environ.items() if not k.startswith("RUNLOG_") and k != "PYTHONPATH"}
        base["PYTHONUNBUFFERED"] = "1"
        extra = os.environ.get("PYTHONPATH")
        envs = {tree: {**base, "PYTHONPATH": os.pathsep.join([tree, extra] if extra else [tree]), "RUNLOG_RUN_ID": run.id, "RUNLOG_STORE": str(store),
                       "RUNLOG_EXPERIMENT": "startup", "RUNLOG_SOURCE_DIRECTORY": str(folder)}
                for tree in trees}
        if built is not None:
            first = envs[trees[0]]
            envs[rows[-1]] = {**first, "PYTHONPATH": os.pathsep.join([str(built.ready()), first["PYTHONPATH"]])}
        walls: dict[str, list[float]] = {"bare": [], **{tree: [] for tree in rows}}
        phases: dict[str, dict[str, list[list[float]]]] = {tree: {} for tree in rows}
        for _ in range(args.repeats):
            walls["bare"].append(launch(folder / "bare.py", base)[0])
            for tree in rows:
                wall, found = launch(folder / "train.py", envs[tree])
                walls[tree].append(wall)
                for name, value in found.items():
                    phases[tree].setdefault(name, []).append(value)
        points = len(run.get_metric_history("score")) if hasattr(run, "get_metric_history") else None
        run.complete()
        experiment.close()
        if built is not None:
            built.remove()
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"\nmedians of {args.repeats} interleaved rounds (load average {load}, Python {sys.version.split()[0]}, "
          f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}, compiled: {args.compile}); "
          f"{points} values logged\n")
    print("| child | wall ms | x bare | import ms (cpu) | get_context ms (cpu) | exit ms (cpu) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    bare = statistics.median(walls["bare"])
    print(f"| bare script | {bare * 1000:.0f} | 1.00x | | | |")
    for tree in rows:
        wall = statistics.median(walls[tree])
        cells = []
        for name in ("import", "get_context", "exit"):
            values = phases[tree].get(name, [])
            w = statistics.median(v[0] for v in values) * 1000 if values else float("nan")
            c = statistics.median(v[1] for v in values) * 1000 if values else float("nan")
            cells.append(f"{w:.0f} ({c:.0f})")
        print(f"| {tree} | {wall * 1000:.0f} | {wall / bare:.2f}x | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
