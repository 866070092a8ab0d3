"""Reliability figures under stress, in one invocation (the guarantees table of docs/guarantees.md, docs/reliability.md).

    python benchmarks/reliability.py            # about a minute on 2 cores
    python benchmarks/reliability.py --seconds 10

1. Commit cadence at full speed: one loop calls ``run.log`` as fast as it can for ``--seconds``;
   another process polls ``PRAGMA data_version`` on its own connection every 2 ms and records when
   it changes (a commit by anyone else). Reports the points logged, the largest and median gap
   between commits, and how far the store was behind the loop when it stopped.
2. Memory of points waiting for a refusing store: the store's ``write`` raises "disk full" while
   1,000,000 points are logged; ``tracemalloc`` measures what stays allocated, per waiting point
   (against the same points held as the Python tuples ``log`` hands over).
2b. The writer's own rate: points buffered with no writer thread, then committed inline.
3. Time to the busy warning: another process holds the write lock; how long until runlog warns,
   and until ``flush()`` raises ``StoreBusyError`` (both bounded by ``RUNLOG_STORE_TIMEOUT``, 10 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import tracemalloc
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from runlog_core import Experiment, StoreBusyError, StoreError

POLLER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1])
    seen, changes = None, []
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != seen:
            seen = version
            changes.append(time.monotonic())
        time.sleep(0.002)
    print(" ".join(f"{t:.4f}" for t in changes))
""")

HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
""")


def commit_cadence(folder: Path, seconds: float) -> dict[str, float]:
    exp = Experiment("cadence", store=folder / "cadence")
    run = exp.start_logging(outputs=None)
    run.log("x", 0.0)
    run.flush()
    script = folder / "poll.py"
    script.write_text(POLLER)
    poller = subprocess.Popen([sys.executable, str(script), str(folder / "cadence" / "runlog.db"), str(seconds + 1)],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)  # the poller's connection is open and has its first version
    log = run.log
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(10_000):
            log("x", 1.0)
        n += 10_000
    behind = len(run._writer._points)
    out, _ = poller.communicate()
    changes = [float(t) for t in out.split()]
    run.complete()
    exp.close()
    gaps = [b - a for a, b in zip(changes, changes[1:])]
    return {"points": n, "rate": n / seconds, "commits": len(changes), "max_gap": max(gaps) if gaps else float("nan"),
            "median_gap": statistics.median(gaps) if gaps else float("nan"), "behind": behind}


def buffered_memory(folder: Path, n: int) -> dict[str, float]:
    os.environ["RUNLOG_STORE_TIMEOUT"] = "0.5"
    try:
        exp = Experiment("memory", store=folder / "memory")
        run = exp.start_logging(outputs=None)
        run.log("x", 0.0)
        run.flush()
        store = exp._store
        real = store.write

        def full(batch: object) -> None:
            raise OSError(28, "No space left on device")

        store.write = full  # type: ignore[method-assign]
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(n):
                run.log("x", float(i))
            while run._writer._pending.points < n:  # every point handed over now waits, packed
                time.sleep(0.05)
            held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        pending = run._writer._pending.points
        store.write = real  # type: ignore[method-assign]
        run.complete()
        exp.close()
    finally:
        del os.environ["RUNLOG_STORE_TIMEOUT"]
    tracemalloc.start()
    tuples = [("x", i, float(i), time.time()) for i in range(n)]
    as_tuples, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del tuples
    return {"points": pending, "bytes_per_point": held / pending, "tuple_bytes_per_point": as_tuples / n}


def busy_warning(folder: Path) -> dict[str, float]:
    exp = Experiment("busy", store=folder / "busy")
    run = exp.start_logging(outputs=None)
    run.log("x", 0.0)
    run.flush()
    script = folder / "hold.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), str(folder / "busy" / "runlog.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    start = time.monotonic()
    warned: list[float] = []
    original = warnings.showwarning

    def record(message: object, *args: object, **kwargs: object) -> None:
        if "could not write" in str(message) and not warned:
            warned.append(time.monotonic() - start)

    warnings.showwarning = record  # type: ignore[assignment]
    stop = threading.Event()

    def keep_logging() -> None:
        i = 0
        while not stop.is_set():
            run.log("x", float(i))
            i += 1
            time.sleep(0.001)

    logger = threading.Thread(target=keep_logging)
    logger.start()
    raised = float("nan")
    try:
        run.flush()
    except StoreBusyError:
        raised = time.monotonic() - start
    except StoreError:
        raised = time.monotonic() - start
    deadline = time.monotonic() + 30
    while not warned and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    logger.join()
    warnings.showwarning = original
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.wait()
    run.complete()
    exp.close()
    return {"warning_after": warned[0] if warned else float("nan"), "flush_raised_after": raised}


def writer_rate(folder: Path, n: int) -> dict[str, float]:
    """The writer alone: ``n`` points buffered while no writer thread runs, then committed inline."""
    exp = Experiment("rate", store=folder / "rate")
    run = exp.start_logging(outputs=None)
    run.log("x", 0.0)
    run.flush()
    writer = run._writer
    writer.close()  # ends the thread; the points below wait in the buffer
    writer._stopped = True
    for _ in range(n):
        run.log("x", 1.0)
    start = time.perf_counter()
    writer._stopped = False
    writer.flush()  # no thread: commits inline, in bounded transactions
    elapsed = time.perf_counter() - start
    run.complete()
    exp.close()
    return {"seconds": elapsed, "rate": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long the full-speed loop runs")
    parser.add_argument("--points", type=int, default=1_000_000, help="points logged while the store refuses")
    args = parser.parse_args()
    print(f"runlog reliability: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cadence = commit_cadence(folder, args.seconds)
        print(f"1. full speed for {args.seconds:g} s: {cadence['points']:,.0f} points ({cadence['rate']:,.0f}/s), "
              f"{cadence['commits']:.0f} commits seen by another connection; largest gap between commits "
              f"{cadence['max_gap']:.2f} s (median {cadence['median_gap']:.2f} s; RUNLOG_FLUSH_INTERVAL 1 s); "
              f"{cadence['behind']:,.0f} points not yet taken by the writer when the loop stopped")
        memory = buffered_memory(folder, args.points)
        print(f"2. {memory['points']:,.0f} points waiting for a store that refuses: "
              f"{memory['bytes_per_point']:.1f} bytes a point (as Python tuples: {memory['tuple_bytes_per_point']:.0f}); "
              f"the default bound of 5,000,000 points: {5e6 * memory['bytes_per_point'] / 1e6:.0f} MB")
        rate = writer_rate(folder, args.points)
        print(f"2b. the writer alone commits {args.points:,} buffered points in {rate['seconds']:.2f} s "
              f"({rate['rate'] / 1e6:.1f} million points/s)")
        busy = busy_warning(folder)
        print(f"3. store locked by another process: warning after {busy['warning_after']:.1f} s, "
              f"flush() raised StoreBusyError after {busy['flush_raised_after']:.1f} s (RUNLOG_STORE_TIMEOUT 10 s)")


if __name__ == "__main__":
    main()
