"""``runlog push``: points per second from a local store to SQLite and to PostgreSQL.

    python benchmarks/push.py                       # 100 runs x 100,000 points (10 metrics x 10,000 steps)
    python benchmarks/push.py --runs 20 --points 50000
    python benchmarks/push.py --pg postgresql://postgres@127.0.0.1:5432   # the server (default: this one)

The source is a local SQLite store of R runs, each with 10 number series of P/10 points, 5 params,
2 tags and a 1 MB file, written straight through ``store.write`` (building it is not measured).
Then, each timed once, on a fresh destination:

    push -> SQLite          ``push(source, folder, all=True)``: every point, param, tag and file
    push again (no-op)      the same call: every run compared, nothing copied
    push -> PostgreSQL      the same into a database made for it (dropped after), when a server answers
                            at --pg and the PostgreSQL store is installed; files go to a local folder
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
try:
    import runlog_core  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))

from runlog_core.base.records import Batch, RunInfo, SeriesRef  # noqa: E402
from runlog_core.plugins.manager import open_store  # noqa: E402
from runlog_core.transfer.push import push  # noqa: E402

perf = time.perf_counter


def build_source(folder: Path, runs: int, points: int) -> int:
    """A local store of ``runs`` Completed runs of ``points`` points each; returns the points in all."""
    store = open_store(str(folder))
    experiment_id = store.get_or_create_experiment("bench")
    steps_per_series = max(1, points // 10)
    total = 0
    start = time.time() - 3600
    for index in range(runs):
        run_id = uuid.uuid4().hex[:16]
        store.create_run(RunInfo(run_id, experiment_id, "bench", f"run-{index}", "Completed", start + index,
                                 end_time=start + index + 60, heartbeat=start + index + 60, heartbeat_timeout=300.0))
        batch = Batch()
        steps = list(range(steps_per_series))
        times = [start + index + step * 1e-3 for step in steps]
        for metric in range(10):
            ref = SeriesRef(run_id, f"m{metric}", "number")
            batch.series.append(ref)
            batch.columns.append((ref, batch.count, steps, [step * 0.5 + metric for step in steps], times))
            batch.count += steps_per_series
        batch.params.extend((run_id, f"p{k}", k * 0.1) for k in range(5))
        batch.tags.extend([(run_id, "team", "bench"), (run_id, "index", str(index))])
        size, sha256 = store.artifacts.put_bytes(run_id, "outputs/model.bin", os.urandom(1 << 20))
        from runlog_core.base.records import ArtifactInfo

        batch.artifacts.append(ArtifactInfo(run_id, "outputs/model.bin", size, sha256,
                                            store.artifacts.uri(run_id, "outputs/model.bin"), start))
        store.write(batch)
        total += batch.count
    return total


def timed_push(source: str, destination: str, label: str, total: int, **kwargs: Any) -> None:
    begin = perf()
    summary = push(source, destination, all=True, **kwargs)
    seconds = perf() - begin
    rate = summary.points / seconds if summary.points else 0.0
    print(f"{label:<24}{seconds:8.2f} s  {summary.points:>12,} points  {rate:>12,.0f} points/s  "
          f"{summary.files:>4} files  ({summary.line()})")


def pg_database(server: str) -> tuple[str, Any] | None:
    """A fresh database on ``server`` and a function dropping it, or None (why printed)."""
    try:
        import psycopg

        from runlog_core.store.postgres import store as _postgres  # noqa: F401
    except ImportError as err:
        print(f"push -> PostgreSQL      skipped: {err}")
        return None
    name = f"runlog_bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    except psycopg.Error as err:
        print(f"push -> PostgreSQL      skipped: no server at {server} ({' '.join(str(err).split())})")
        return None

    def drop() -> None:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{server}/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=100_000, help="points per run")
    parser.add_argument("--pg", default=os.environ.get("RUNLOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runlog-push-bench-") as tmp:
        root = Path(tmp)
        os.chdir(root)
        begin = perf()
        total = build_source(root / "local", args.runs, args.points)
        print(f"source: {args.runs} runs x {args.points:,} points = {total:,} points "
              f"(built in {perf() - begin:.1f} s)")
        source = str(root / "local")
        timed_push(source, str(root / "team"), "push -> SQLite", total)
        timed_push(source, str(root / "team"), "push again (no-op)", total)
        made = pg_database(args.pg)
        if made is not None:
            uri, drop = made
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # RUNLOG_ARTIFACTS unset: files in a local folder
                    timed_push(source, uri, "push -> PostgreSQL", total, artifacts=str(root / "pg-files"))
                    timed_push(source, uri, "push again (no-op)", total, artifacts=str(root / "pg-files"))
            finally:
                from runlog_core.plugins.manager import open_stores

                for store in open_stores():
                    store.close()
                drop()


if __name__ == "__main__":
    main()
