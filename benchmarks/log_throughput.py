"""Logging throughput: runlog against its peers, on the same work, in one invocation.

    python benchmarks/log_throughput.py            # full run (a few minutes on 2 cores)
    python benchmarks/log_throughput.py --quick    # smaller N, fewer repeats (about a minute)
    python benchmarks/log_throughput.py --postgres # and the PostgreSQL column (local server, trust auth)
    python benchmarks/log_throughput.py --postgres postgresql://user:pw@host:5432 --postgres-only

Workloads (the same points for every system):

    A   1 metric x 100,000 steps, one ``log`` call per point
    B   20 metrics x 5,000 steps, one dict per step (``run.log_metrics(d, step=i)``)

For each system it reports the median over several repeats of

    caller us/pt   time of the logging loop only, on the caller's thread, per point
    durable us/pt  the loop plus whatever makes the data durable (flush / close / commit), per
                   point; afterwards another connection (or a reader of the event file) checks
                   that every point is there
    disk B/pt      bytes of the store's files once closed (SQLite checkpointed, WAL folded in)
                   minus the same store holding an empty run, per point
    x list         caller us/pt / the list-append baseline's caller us/pt (same workload)
    x raw          durable us/pt / raw sqlite3 executemany's durable us/pt (same workload)

Systems:

    list append       ``points.append((name, value, step, time.time()))``: the lower bound
    raw sqlite3       ``executemany`` of the (name, value, step, time) rows, pre-built, into a WAL
                      table in one transaction + commit: the storage limit
    runlog            ``run.log`` / ``run.log_metrics``; durable = loop + ``run.flush()``
    MLflow log_metric ``mlflow.log_metric`` per point on a ``sqlite:///`` tracking URI; it is
                      synchronous and slow (~ms per point), so it logs fewer points (figures are per point)
    MLflow log_batch  ``MlflowClient.log_batch`` with batches of up to 1,000 metrics, same URI
    TensorBoard       ``torch.utils.tensorboard.SummaryWriter.add_scalar``; durable = loop + ``close()``

With ``--postgres [SERVER]`` (default ``postgresql://postgres@127.0.0.1:5432``), the same workloads
against a PostgreSQL server, each system in a fresh database of its own on it:

    runlog -> PostgreSQL            ``RUNLOG_STORE=postgresql://.../db``; durable = loop + ``run.flush()``
                                    (committed: another connection counts every point)
    MLflow log_batch -> PostgreSQL  ``MlflowClient.log_batch`` (batches of up to 1,000) on a
                                    ``postgresql+psycopg://.../db`` tracking URI, the database copied
                                    from a template holding MLflow's schema and one RUNNING run;
                                    durable = loop + ``set_terminated``

and reports runlog's per-point cost until durable against MLflow's (targets: >= 50x, < 5 us/pt).

Then: read-back of a 100,000-point history with ``Run(exp, id).get_metric_history(name)`` against a
raw ``SELECT step, value, time FROM metrics WHERE name = ?`` on the raw sqlite3 table, and import
time in a fresh interpreter (median of N runs, minus ``python -c pass``).

Durability note: runlog and the raw table use WAL with ``synchronous=NORMAL`` (a commit survives a
crash of the process, not a power loss); MLflow's SQLite store commits each call in rollback-journal
mode; TensorBoard's ``close()`` flushes the event file to the OS. None of the figures include an
fsync-on-every-commit setting.

runlog, the list and the raw table run before MLflow and torch are imported, so that the
interpreter they run in is not the one with a few hundred thousand extra objects for the GC to walk.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import shutil
import sqlite3
import statistics
import struct
import subprocess
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
sys.path.insert(0, str(HERE / "peers"))  # peer_logging.py: stdlib only, also imported inside the peers' venvs

from peer_logging import folder_bytes  # noqa: E402

perf = time.perf_counter

# ------------------------------------------------------------------------------------------------
# workloads


class Workload:
    def __init__(self, key: str, title: str, metrics: int, steps: int) -> None:
        self.key, self.title, self.metrics, self.steps = key, title, metrics, steps
        self.names = ["loss"] if metrics == 1 else [f"metric_{j:02d}" for j in range(metrics)]
        # the same values for every system; a float per point
        self.values = [[(i * 0.001 + j) * 0.5 for j in range(metrics)] for i in range(steps)]
        self.dicts = [dict(zip(self.names, row)) for row in self.values]

    @property
    def points(self) -> int:
        return self.metrics * self.steps

    def scaled(self, max_points: int) -> Workload:
        """The same shape with fewer steps (for the slow peers); figures stay per point."""
        steps = max(1, min(self.steps, max_points // self.metrics))
        return Workload(self.key, self.title, self.metrics, steps)


# ------------------------------------------------------------------------------------------------
# helpers


def sqlite_count(db: Path, sql: str, params: tuple = ()) -> int:
    """Count from a fresh connection: what another process would see."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def tfrecord_count(folder: Path) -> int:
    """Count the records in the TensorBoard event files under ``folder`` (length-prefixed records)."""
    count = 0
    for path in folder.rglob("events.out.tfevents.*"):
        data = path.read_bytes()
        offset = 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            offset += 12 + length + 4
            if offset > len(data):
                break
            count += 1
    return count


class Result:
    def __init__(self, system: str, workload: Workload, n: int) -> None:
        self.system, self.workload, self.n = system, workload, n
        self.caller: list[float] = []
        self.durable: list[float] = []
        self.disk: list[int] = []
        self.verified = True
        self.note = ""

    def add(self, caller_s: float, durable_s: float | None, disk: int | None, ok: bool) -> None:
        self.caller.append(caller_s)
        if durable_s is not None:
            self.durable.append(durable_s)
        if disk is not None:
            self.disk.append(disk)
        self.verified = self.verified and ok

    def caller_us(self) -> float:
        return statistics.median(self.caller) / self.n * 1e6

    def durable_us(self) -> float | None:
        return statistics.median(self.durable) / self.n * 1e6 if self.durable else None

    def disk_per_point(self) -> float | None:
        return statistics.median(self.disk) / self.n if self.disk else None


def repeat(result: Result, repeats: int, once: Callable[[], tuple[float, float | None, int | None, bool]]) -> Result:
    for _ in range(repeats):
        gc.collect()
        result.add(*once())
    return result


# ------------------------------------------------------------------------------------------------
# the systems: each ``once`` returns (caller seconds, durable seconds, disk bytes, verified)


def bench_list(w: Workload, repeats: int) -> Result:
    def once():
        now = time.time
        points: list[tuple[str, float, int, float]] = []
        append = points.append
        if w.metrics == 1:
            name = w.names[0]
            values = [row[0] for row in w.values]
            t0 = perf()
            for i, value in enumerate(values):
                append((name, value, i, now()))
            t1 = perf()
        else:
            dicts = w.dicts
            t0 = perf()
            for i, d in enumerate(dicts):
                t = now()
                for name, value in d.items():
                    append((name, value, i, t))
            t1 = perf()
        return t1 - t0, None, None, len(points) == w.points

    result = repeat(Result("list append", w, w.points), repeats, once)
    result.note = "never durable"
    return result


def _raw_rows(w: Workload) -> list[tuple[str, float, int, float]]:
    t = time.time()
    return [(name, value, i, t) for i, d in enumerate(w.dicts) for name, value in d.items()]


def _raw_open(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS metrics (name TEXT NOT NULL, value REAL, step INTEGER NOT NULL,"
                 " time REAL NOT NULL)")
    return conn


def raw_empty_bytes() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        folder = Path(tmp)
        _raw_open(folder / "raw.db").close()
        return folder_bytes(folder)


def bench_raw(w: Workload, repeats: int, empty: int) -> Result:
    rows = _raw_rows(w)

    def once():
        with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
            folder = Path(tmp)
            db = folder / "raw.db"
            conn = _raw_open(db)
            t0 = perf()
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            t1 = perf()
            ok = sqlite_count(db, "SELECT count(*) FROM metrics") == w.points
            conn.close()
            return t1 - t0, t1 - t0, folder_bytes(folder) - empty, ok

    result = repeat(Result("raw sqlite3 executemany", w, w.points), repeats, once)
    result.note = "rows pre-built; one transaction"
    return result


def _runlog_store_bytes(folder: Path, exp: Any) -> int:
    exp._store.close()  # the last connection closing checkpoints the WAL into the database file
    return folder_bytes(folder)


def runlog_empty_bytes() -> int:
    from runlog_core import Experiment

    with tempfile.TemporaryDirectory(prefix="bench-runlog-") as tmp:
        folder = Path(tmp)
        exp = Experiment("bench", store=folder)
        run = exp.start_logging(outputs=None)
        run.complete()
        return _runlog_store_bytes(folder, exp)


def log_workload(run, w: Workload) -> tuple[float, float]:
    """Log the workload into ``run`` as a training loop would (``log`` per point, or ``log_metrics`` per
    step); returns the clock before and after: the caller's cost."""
    if w.metrics == 1:
        name = w.names[0]
        values = [row[0] for row in w.values]
        log = run.log
        t0 = perf()
        for i, value in enumerate(values):
            log(name, value, step=i)
        return t0, perf()
    dicts = w.dicts
    log_metrics = run.log_metrics
    t0 = perf()
    for i, d in enumerate(dicts):
        log_metrics(d, step=i)
    return t0, perf()


def bench_runlog(w: Workload, repeats: int, empty: int) -> Result:
    from runlog_core import Experiment

    def once():
        with tempfile.TemporaryDirectory(prefix="bench-runlog-") as tmp:
            folder = Path(tmp)
            exp = Experiment("bench", store=folder)
            run = exp.start_logging(outputs=None)
            t0, t1 = log_workload(run, w)
            run.flush()
            t2 = perf()
            # another connection sees every point: rows of `points` plus the points packed in `chunks`
            ok = sqlite_count(folder / "runlog.db", "SELECT (SELECT count(*) FROM points)"
                              " + (SELECT coalesce(sum(n), 0) FROM chunks)") == w.points
            run.complete()
            return t1 - t0, t2 - t0, _runlog_store_bytes(folder, exp) - empty, ok

    return repeat(Result("runlog", w, w.points), repeats, once)


def _quiet_mlflow() -> None:
    import logging

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="mlflow")


class MlflowTemplate:
    """An MLflow SQLite store holding one experiment and one RUNNING run, made once and copied per
    repeat (creating the schema takes seconds of alembic migrations, which is not what is measured)."""

    def __init__(self) -> None:
        import mlflow  # noqa: F401  (configures its loggers on import; quieten them after)
        from mlflow.tracking import MlflowClient

        _quiet_mlflow()

        self.dir = Path(tempfile.mkdtemp(prefix="bench-mlflow-template-"))
        client = MlflowClient(tracking_uri=self._uri(self.dir))
        exp_id = client.create_experiment("bench", artifact_location=(self.dir / "artifacts").as_uri())
        self.run_id = client.create_run(exp_id).info.run_id
        _dispose_mlflow_engines()
        self.empty = folder_bytes(self.dir)

    @staticmethod
    def _uri(folder: Path) -> str:
        return f"sqlite:///{folder / 'mlflow.db'}"

    def copy(self, tmp: Path) -> tuple[Path, str]:
        target = tmp / "store"
        shutil.copytree(self.dir, target)
        return target, self._uri(target)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _dispose_mlflow_engines() -> None:
    """Close MLflow's SQLAlchemy engines so every byte is in the file and the file can be removed."""
    try:
        from mlflow.tracking._tracking_service import utils as tracking_utils

        cached = getattr(tracking_utils, "_get_sqlalchemy_store", None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
    except Exception:
        pass
    gc.collect()


def bench_mlflow_metric(w: Workload, repeats: int, template: MlflowTemplate) -> Result:
    import mlflow

    def once():
        with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
            folder, uri = template.copy(Path(tmp))
            mlflow.set_tracking_uri(uri)
            mlflow.start_run(run_id=template.run_id)
            if w.metrics == 1:
                name = w.names[0]
                values = [row[0] for row in w.values]
                t0 = perf()
                for i, value in enumerate(values):
                    mlflow.log_metric(name, value, step=i)
                t1 = perf()
            else:
                t0 = perf()
                for i, d in enumerate(w.dicts):
                    for name, value in d.items():
                        mlflow.log_metric(name, value, step=i)
                t1 = perf()
            mlflow.end_run()
            t2 = perf()
            ok = sqlite_count(folder / "mlflow.db", "SELECT count(*) FROM metrics") == w.points
            _dispose_mlflow_engines()
            return t1 - t0, t2 - t0, folder_bytes(folder) - template.empty, ok

    result = repeat(Result("MLflow log_metric", w, w.points), repeats, once)
    result.note = f"N={w.points:,}"
    return result


def bench_mlflow_batch(w: Workload, repeats: int, template: MlflowTemplate, batch: int = 1000) -> Result:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    def once():
        with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
            folder, uri = template.copy(Path(tmp))
            client = MlflowClient(tracking_uri=uri)
            run_id = template.run_id
            log_batch = client.log_batch
            pending: list[Any] = []
            t0 = perf()
            for i, d in enumerate(w.dicts):
                ts = int(time.time() * 1000)
                for name, value in d.items():
                    pending.append(Metric(name, value, ts, i))
                if len(pending) + w.metrics > batch:
                    log_batch(run_id, metrics=pending)
                    pending = []
            if pending:
                log_batch(run_id, metrics=pending)
            t1 = perf()
            client.set_terminated(run_id)
            t2 = perf()
            ok = sqlite_count(folder / "mlflow.db", "SELECT count(*) FROM metrics") == w.points
            _dispose_mlflow_engines()
            return t1 - t0, t2 - t0, folder_bytes(folder) - template.empty, ok

    result = repeat(Result("MLflow log_batch", w, w.points), repeats, once)
    result.note = f"batches of <= {batch}"
    if w.points != w.metrics * w.steps:
        result.note += f", N={w.points:,}"
    return result



# ------------------------------------------------------------------------------------------------
# PostgreSQL (--postgres): runlog and MLflow log_batch, each in databases of their own on one server


class PostgresServer:
    """Fresh databases on one server (``SERVER/<name>``), dropped at the end."""

    def __init__(self, server: str) -> None:
        import psycopg

        self.server = server.rstrip("/")
        self.made: list[str] = []
        self.admin = psycopg.connect(f"{self.server}/postgres", autocommit=True, connect_timeout=5)
        self.version = self.admin.execute("SHOW server_version").fetchone()[0]

    def create(self, prefix: str, template: str | None = None) -> str:
        name = f"{prefix}_{os.getpid()}_{len(self.made)}"
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or "template0"}"')
        self.made.append(name)
        return name

    def uri(self, name: str, driver: str = "") -> str:
        scheme, rest = self.server.split("://", 1)
        return f"{scheme}{driver}://{rest}/{name}"

    def count(self, name: str, sql: str) -> int:
        """Count from a fresh connection: what another process would see."""
        import psycopg

        with psycopg.connect(self.uri(name), autocommit=True) as conn:
            return int(conn.execute(sql).fetchone()[0])

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in self.made:
            self.drop(name)
        self.admin.close()


def bench_runlog_postgres(w: Workload, repeats: int, pg: PostgresServer) -> Result:
    from runlog_core import Experiment

    def once():
        name = pg.create("bench_runlog")
        exp = Experiment("bench", store=pg.uri(name))
        run = exp.start_logging(outputs=None)
        t0, t1 = log_workload(run, w)
        run.flush()
        t2 = perf()
        ok = pg.count(name, "SELECT (SELECT count(*) FROM points) + (SELECT coalesce(sum(n), 0) FROM chunks)") == w.points
        run.complete()
        exp.close()
        pg.drop(name)
        return t1 - t0, t2 - t0, None, ok

    return repeat(Result("runlog -> PostgreSQL", w, w.points), repeats, once)


class MlflowPostgresTemplate:
    """A database holding MLflow's schema, one experiment and one RUNNING run, made once (alembic's
    migrations take seconds) and copied per repeat with ``CREATE DATABASE ... TEMPLATE``."""

    def __init__(self, pg: PostgresServer) -> None:
        from mlflow.tracking import MlflowClient

        _quiet_mlflow()
        self.pg = pg
        self.name = pg.create("bench_mlflow_template")
        self.artifacts = Path(tempfile.mkdtemp(prefix="bench-mlflow-pg-"))
        client = MlflowClient(tracking_uri=pg.uri(self.name, "+psycopg"))
        exp_id = client.create_experiment("bench", artifact_location=self.artifacts.as_uri())
        self.run_id = client.create_run(exp_id).info.run_id
        _dispose_mlflow_engines()  # a template database must have no connections

    def copy(self) -> str:
        # MLflow's engine keeps pooled connections to the template: a template must have none
        self.pg.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                              " AND pid <> pg_backend_pid()", (self.name,))
        return self.pg.create("bench_mlflow", template=self.name)

    def close(self) -> None:
        shutil.rmtree(self.artifacts, ignore_errors=True)


def bench_mlflow_batch_postgres(w: Workload, repeats: int, template: MlflowPostgresTemplate,
                                batch: int = 1000) -> Result:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    pg = template.pg

    def once():
        name = template.copy()
        client = MlflowClient(tracking_uri=pg.uri(name, "+psycopg"))
        run_id = template.run_id
        log_batch = client.log_batch
        pending: list[Any] = []
        t0 = perf()
        for i, d in enumerate(w.dicts):
            ts = int(time.time() * 1000)
            for metric, value in d.items():
                pending.append(Metric(metric, value, ts, i))
            if len(pending) + w.metrics > batch:
                log_batch(run_id, metrics=pending)
                pending = []
        if pending:
            log_batch(run_id, metrics=pending)
        t1 = perf()
        client.set_terminated(run_id)
        t2 = perf()
        ok = pg.count(name, "SELECT count(*) FROM metrics") == w.points
        _dispose_mlflow_engines()
        pg.drop(name)
        return t1 - t0, t2 - t0, None, ok

    result = repeat(Result("MLflow log_batch -> PostgreSQL", w, w.points), repeats, once)
    result.note = f"batches of <= {batch}"
    if w.points != w.metrics * w.steps:
        result.note += f", N={w.points:,}"
    return result


def postgres_rows(results: list[Result]) -> tuple[list[list[str]], list[list[str]]]:
    """The PostgreSQL table and its targets: runlog against MLflow log_batch, per point until durable."""
    rows, targets = [], []
    for workload in dict.fromkeys(r.workload.key for r in results):
        group = [r for r in results if r.workload.key == workload]
        runlog = next((r for r in group if r.system.startswith("runlog")), None)
        mlflow = next((r for r in group if r.system.startswith("MLflow")), None)
        base = mlflow.durable_us() if mlflow else None
        for r in group:
            faster = ratio(base, r.durable_us()) if r is runlog else "1.0x" if r is mlflow else "-"
            rows.append([r.workload.title, r.system, f"{r.n:,}", fmt(r.caller_us()), fmt(r.durable_us()), faster,
                         "yes" if r.verified else "NO", r.note])
        if runlog is not None and runlog.durable_us() is not None:
            durable = runlog.durable_us() or 0.0
            if base is not None:
                targets.append([f"{workload}: runlog >= 50x MLflow log_batch per point (PostgreSQL, durable)",
                                ratio(base, durable), verdict(base >= 50 * durable)])
            targets.append([f"{workload}: runlog -> PostgreSQL < 5 us/pt until durable", f"{fmt(durable)} us",
                            verdict(durable < 5)])
    return rows, targets


POSTGRES_HEAD = ["workload", "system", "points", "caller us/pt", "durable us/pt", "x faster than MLflow (durable)",
                 "all there", "note"]

def tensorboard_empty_bytes() -> int:
    from torch.utils.tensorboard import SummaryWriter

    with tempfile.TemporaryDirectory(prefix="bench-tb-") as tmp:
        writer = SummaryWriter(log_dir=tmp)
        writer.close()
        return folder_bytes(Path(tmp))


def bench_tensorboard(w: Workload, repeats: int, empty: int) -> Result:
    from torch.utils.tensorboard import SummaryWriter

    def once():
        with tempfile.TemporaryDirectory(prefix="bench-tb-") as tmp:
            folder = Path(tmp)
            writer = SummaryWriter(log_dir=tmp)
            add_scalar = writer.add_scalar
            if w.metrics == 1:
                name = w.names[0]
                values = [row[0] for row in w.values]
                t0 = perf()
                for i, value in enumerate(values):
                    add_scalar(name, value, i)
                t1 = perf()
            else:
                t0 = perf()
                for i, d in enumerate(w.dicts):
                    for name, value in d.items():
                        add_scalar(name, value, i)
                t1 = perf()
            writer.close()
            t2 = perf()
            ok = tfrecord_count(folder) == w.points + 1  # + the file_version event
            return t1 - t0, t2 - t0, folder_bytes(folder) - empty, ok

    return repeat(Result("TensorBoard add_scalar", w, w.points), repeats, once)


# ------------------------------------------------------------------------------------------------
# read-back


def bench_readback(n: int, repeats: int) -> dict[str, float]:
    from runlog_core import Experiment, Run

    times: dict[str, list[float]] = {"runlog": [], "runlog_sql": [], "raw": []}
    with tempfile.TemporaryDirectory(prefix="bench-read-") as tmp:
        folder = Path(tmp)
        # runlog: a run with one n-point history, ended
        exp = Experiment("bench", store=folder / "runlog")
        run = exp.start_logging(outputs=None)
        for i in range(n):
            run.log("loss", i * 0.5, step=i)
        run.complete()
        run_id = run.id
        # raw: the same points in the raw table
        conn = _raw_open(folder / "raw.db")
        t = time.time()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", [("loss", i * 0.5, i, t) for i in range(n)])
        conn.execute("COMMIT")
        # runlog's store read directly: the (step, value, time) rows before they become MetricPoints
        store = exp._store
        series_id = next(s.id for s in store.get_series(run_id) if s.name == "loss")

        def read_runlog():
            return Run(exp, run_id).get_metric_history("loss")

        def read_raw():
            return conn.execute("SELECT step, value, time FROM metrics WHERE name = ?", ("loss",)).fetchall()

        def read_runlog_sql():
            return store.get_points(series_id)

        checks = {"runlog": read_runlog, "raw": read_raw, "runlog_sql": read_runlog_sql}
        for key, fn in checks.items():  # warm the page cache and the statement caches
            assert len(fn()) == n, key
        for _ in range(repeats):
            for key, fn in checks.items():
                gc.collect()
                t0 = perf()
                rows = fn()
                times[key].append(perf() - t0)
                del rows
        conn.close()
        exp._store.close()
    return {key: statistics.median(values) for key, values in times.items()}


# ------------------------------------------------------------------------------------------------
# import time


def import_times(repeats: int, statements: dict[str, str]) -> dict[str, float | None]:
    """Median wall time of ``python -c <statement>`` minus ``python -c pass``, in seconds.

    Bytecode is cached as an installed package has it: ``PYTHONDONTWRITEBYTECODE`` is dropped and
    ``PYTHONPYCACHEPREFIX`` points at a temporary folder (nothing is written into the checkout),
    which a warm-up run of each statement fills. A statement whose key ends in ``[no .pyc]`` runs
    with the caller's environment and ``PYTHONDONTWRITEBYTECODE=1``, i.e. compiled from source
    each time when the checkout has no ``__pycache__``.
    """
    src = str(HERE.parent / "src")
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        cached = dict(os.environ)
        cached.pop("PYTHONDONTWRITEBYTECODE", None)
        cached.pop("PYTHONSTARTUP", None)
        cached["PYTHONPYCACHEPREFIX"] = cache
        cached["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
        uncached = dict(cached)
        uncached.pop("PYTHONPYCACHEPREFIX")
        if os.environ.get("PYTHONPYCACHEPREFIX"):
            uncached["PYTHONPYCACHEPREFIX"] = os.environ["PYTHONPYCACHEPREFIX"]
        uncached["PYTHONDONTWRITEBYTECODE"] = "1"

        def timed(key: str) -> float | None:
            code = statements.get(key, "pass")
            env = uncached if key.endswith("[no .pyc]") or key == "pass [no .pyc]" else cached
            t0 = perf()
            proc = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
            elapsed = perf() - t0
            return elapsed if proc.returncode == 0 else None

        keys = ["pass", "pass [no .pyc]", *statements]
        samples: dict[str, list[float]] = {key: [] for key in keys}
        ok = {key: timed(key) is not None for key in keys}  # warm-up: disk cache, .pyc files
        for _ in range(repeats):  # interleaved, so that a noisy moment hits every statement alike
            for key in keys:
                if ok[key]:
                    value = timed(key)
                    if value is None:
                        ok[key] = False
                    else:
                        samples[key].append(value)
    result: dict[str, float | None] = {}
    for key in statements:
        base = statistics.median(samples["pass [no .pyc]" if key.endswith("[no .pyc]") else "pass"])
        result[key] = statistics.median(samples[key]) - base if ok[key] and samples[key] else None
    return result


# ------------------------------------------------------------------------------------------------
# reporting


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    r = value / base
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x"


def table_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for workload in dict.fromkeys(r.workload.key for r in results):
        group = [r for r in results if r.workload.key == workload]
        base_list = next((r.caller_us() for r in group if r.system == "list append"), None)
        base_raw = next((r.durable_us() for r in group if r.system.startswith("raw sqlite3")), None)
        for r in group:
            rows.append([
                r.workload.title, r.system, f"{r.n:,}", fmt(r.caller_us()), fmt(r.durable_us()),
                fmt(r.disk_per_point(), 1), ratio(r.caller_us(), base_list), ratio(r.durable_us(), base_raw),
                "yes" if r.verified else "NO", r.note,
            ])
    return rows


HEAD = ["workload", "system", "points", "caller us/pt", "durable us/pt", "disk B/pt", "x list (caller)",
        "x raw (durable)", "all there", "note"]


def _numeric(rows: list[list[str]]) -> set[int]:
    """Columns whose cells all look like figures (right-aligned)."""
    return {i for i in range(len(rows[0]))
            if all(re.fullmatch(r"[-\d.,]+x?", str(row[i]).strip()) for row in rows)} if rows else set()


def plain(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    numeric = _numeric(rows)

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in numeric else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def markdown(head: list[str], rows: list[list[str]]) -> str:
    numeric = _numeric(rows)
    sep = ["---:" if i in numeric else "---" for i in range(len(head))]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [head, sep, *rows])


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# ------------------------------------------------------------------------------------------------


def postgres_workloads(quick: bool) -> list[Workload]:
    if quick:
        return [Workload("A", "A: 1 x 20,000", 1, 20_000), Workload("B", "B: 20 x 1,000 (dict)", 20, 1_000)]
    return [Workload("A", "A: 1 x 100,000", 1, 100_000), Workload("B", "B: 20 x 5,000 (dict)", 20, 5_000)]


def connect_postgres(server: str) -> PostgresServer | None:
    try:
        return PostgresServer(server)
    except Exception as err:  # no server: the rest of the benchmark still runs
        print(f"  PostgreSQL skipped: cannot connect to {server.split('@')[-1]}: {err}")
        return None


def run_postgres(pg: PostgresServer, workloads: list[Workload], repeats: int, slow_repeats: int,
                 runlog: bool = True, mlflow: bool = True) -> list[Result]:
    """runlog and/or MLflow log_batch on ``pg``'s server, each workload in fresh databases."""
    os.environ.setdefault("RUNLOG_ARTIFACTS", tempfile.mkdtemp(prefix="bench-runlog-pg-artifacts-"))
    results: list[Result] = []
    if runlog:
        for w in workloads:
            results.append(bench_runlog_postgres(w, repeats, pg))
            _report(results[-1])
    if mlflow:
        try:
            template = MlflowPostgresTemplate(pg)
        except ImportError as err:
            print(f"  MLflow skipped: {err}")
        else:
            try:
                for w in workloads:
                    results.append(bench_mlflow_batch_postgres(w, slow_repeats, template))
                    _report(results[-1])
            finally:
                template.close()
    return results


def _report(result: Result) -> None:
    print(f"  {result.workload.key} {result.system:<32} caller {fmt(result.caller_us()):>8} us/pt   "
          f"durable {fmt(result.durable_us()):>8} us/pt", flush=True)


def print_postgres(results: list[Result], server: str, version: str, repeats: int, slow_repeats: int) -> None:
    rows, targets = postgres_rows(results)
    shown = server.split("@")[-1]
    print(f"\nPostgreSQL {version} at {shown}: medians of {repeats} runs ({slow_repeats} for MLflow)\n")
    print(plain(POSTGRES_HEAD, rows))
    print()
    print(plain(["target", "measured", "verdict"], targets))
    print("\n--- markdown (PostgreSQL) ---\n")
    print(markdown(POSTGRES_HEAD, rows))
    print()
    print(markdown(["target", "measured", "verdict"], targets))


def postgres_main(server: str, quick: bool, repeats: int | None, no_mlflow: bool) -> int:
    """``--postgres-only``: runlog and MLflow log_batch on one PostgreSQL server, nothing else."""
    repeats = repeats or (3 if quick else 7)
    slow_repeats = 1 if quick else 3
    print(f"runlog log_throughput, PostgreSQL{' (quick)' if quick else ''}: Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}", flush=True)
    if hasattr(os, "getloadavg"):
        print(f"load average at start: {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)")
    pg = connect_postgres(server)
    if pg is None:
        return 1
    try:
        results = run_postgres(pg, postgres_workloads(quick), repeats, slow_repeats, mlflow=not no_mlflow)
        print_postgres(results, server, pg.version, repeats, slow_repeats)
    finally:
        pg.close()
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if all(r.verified for r in results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer points and repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats for the fast systems (default 7, quick 3)")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow")
    parser.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard")
    parser.add_argument("--postgres", nargs="?", const="postgresql://postgres@127.0.0.1:5432", default=None,
                        metavar="SERVER", help="also runlog and MLflow log_batch on this PostgreSQL server "
                        "(default postgresql://postgres@127.0.0.1:5432; needs CREATEDB)")
    parser.add_argument("--postgres-only", action="store_true", help="only the PostgreSQL section (implies --postgres)")
    args = parser.parse_args()
    if args.postgres_only:
        return postgres_main(args.postgres or "postgresql://postgres@127.0.0.1:5432", args.quick, args.repeats,
                             args.no_mlflow)

    quick = args.quick
    repeats = args.repeats or (3 if quick else 7)
    slow_repeats = 1 if quick else 3
    if quick:
        workloads = [Workload("A", "A: 1 x 20,000", 1, 20_000), Workload("B", "B: 20 x 1,000 (dict)", 20, 1_000)]
        mlflow_metric_points, readback_n, import_repeats = 300, 20_000, 7
    else:
        workloads = [Workload("A", "A: 1 x 100,000", 1, 100_000), Workload("B", "B: 20 x 5,000 (dict)", 20, 5_000)]
        mlflow_metric_points, readback_n, import_repeats = 2_000, 100_000, 9

    print(f"runlog log_throughput{' (quick)' if quick else ''}: Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"repeats: {repeats} (runlog, list, raw sqlite3), {slow_repeats} (MLflow, TensorBoard); medians shown")
    if hasattr(os, "getloadavg"):
        print(f"load average at start: {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)")
    print(flush=True)

    results: list[Result] = []
    # 1. runlog and the baselines, before any heavy peer is imported
    raw_empty = raw_empty_bytes()
    runlog_empty = runlog_empty_bytes()
    for w in workloads:
        for bench in (lambda w=w: bench_list(w, repeats), lambda w=w: bench_raw(w, repeats, raw_empty),
                      lambda w=w: bench_runlog(w, repeats, runlog_empty)):
            result = bench()
            results.append(result)
            print(f"  {w.key} {result.system:<24} caller {fmt(result.caller_us()):>8} us/pt   "
                  f"durable {fmt(result.durable_us()):>8} us/pt", flush=True)

    pg = connect_postgres(args.postgres) if args.postgres else None
    pg_results: list[Result] = []
    if pg is not None:  # runlog before MLflow is imported, as above
        pg_results = run_postgres(pg, postgres_workloads(quick), repeats, slow_repeats, mlflow=False)

    print("  read-back ...", flush=True)
    readback = bench_readback(readback_n, repeats)
    print("  import time ...", flush=True)
    statements = {
        "import runlog_core": "import runlog_core",
        "from runlog_core import Experiment, Run": "from runlog_core import Experiment, Run",
        "import sqlite3 (reference)": "import sqlite3",
        "import mlflow": "import mlflow",
    }
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # this environment never writes .pyc files: show what importing from source costs here too
        statements["import runlog_core [no .pyc]"] = "import runlog_core"
    imports = import_times(import_repeats, statements)

    # 2. the peers
    if not args.no_tensorboard:
        try:
            tb_empty = tensorboard_empty_bytes()
        except ImportError as err:
            print(f"  TensorBoard skipped: {err}")
        else:
            for w in workloads:
                result = bench_tensorboard(w, slow_repeats, tb_empty)
                results.append(result)
                print(f"  {w.key} {result.system:<24} caller {fmt(result.caller_us()):>8} us/pt   "
                      f"durable {fmt(result.durable_us()):>8} us/pt", flush=True)
    if not args.no_mlflow:
        try:
            template = MlflowTemplate()
        except ImportError as err:
            print(f"  MLflow skipped: {err}")
        else:
            try:
                for w in workloads:
                    for result in (bench_mlflow_batch(w, slow_repeats, template),
                                   bench_mlflow_metric(w.scaled(mlflow_metric_points), slow_repeats, template)):
                        results.append(result)
                        print(f"  {w.key} {result.system:<24} caller {fmt(result.caller_us()):>8} us/pt   "
                              f"durable {fmt(result.durable_us()):>8} us/pt", flush=True)
            finally:
                template.close()
    if pg is not None and not args.no_mlflow:
        pg_results += run_postgres(pg, postgres_workloads(quick), repeats, slow_repeats, runlog=False)

    order = ["list append", "raw sqlite3 executemany", "runlog", "TensorBoard add_scalar", "MLflow log_batch",
             "MLflow log_metric"]
    results.sort(key=lambda r: ([w.key for w in workloads].index(r.workload.key), order.index(r.system)))
    rows = table_rows(results)

    read_head = ["read-back", "points", "ms", "x raw SELECT"]
    read_rows = [
        ["raw sqlite3 SELECT step, value, time ... WHERE name = ?", f"{readback_n:,}",
         fmt(readback["raw"] * 1e3), "1.0x"],
        ["runlog Run(exp, id).get_metric_history(name)", f"{readback_n:,}", fmt(readback["runlog"] * 1e3),
         ratio(readback["runlog"], readback["raw"])],
        ["(runlog's store.get_points: the rows without MetricPoint)", f"{readback_n:,}", fmt(readback["runlog_sql"] * 1e3),
         ratio(readback["runlog_sql"], readback["raw"])],
    ]
    import_head = ["import (fresh interpreter, .pyc cached, minus python -c pass)", "ms", "x runlog_core"]
    base_import = imports.get("import runlog_core")
    import_rows = [[key, fmt(None if value is None else value * 1e3, 1),
                    ratio(value, base_import) if value is not None else "-"]
                   for key, value in imports.items()]

    # targets (issue 2, "Speed")
    targets = []
    for w in workloads:
        group = [r for r in results if r.workload.key == w.key]
        rl = next(r for r in group if r.system == "runlog")
        lst = next(r for r in group if r.system == "list append")
        targets.append([f"{w.key}: caller <= 4x list append", f"{rl.caller_us() / lst.caller_us():.1f}x",
                        verdict(rl.caller_us() <= 4 * lst.caller_us())])
        targets.append([f"{w.key}: <= 1.5 us/pt until durable", f"{fmt(rl.durable_us())} us",
                        verdict((rl.durable_us() or 0) <= 1.5)])
    targets.append(["read-back within 2x raw SELECT", ratio(readback["runlog"], readback["raw"]),
                    verdict(readback["runlog"] <= 2 * readback["raw"])])
    if base_import is not None:
        targets.append(["import runlog_core < 30 ms", f"{base_import * 1e3:.1f} ms", verdict(base_import < 0.030)])
    target_head = ["target", "measured", "verdict"]

    print()
    print(plain(HEAD, rows))
    print()
    print(plain(read_head, read_rows))
    print()
    print(plain(import_head, import_rows))
    print()
    print(plain(target_head, targets))
    print("\n--- markdown (for docs/performance.md) ---\n")
    print(f"Measured with `python benchmarks/log_throughput.py{' --quick' if quick else ''}` on "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
          f"medians of {repeats} runs ({slow_repeats} for MLflow and TensorBoard).\n")
    print(markdown(HEAD, rows))
    print()
    print(markdown(read_head, read_rows))
    print()
    print(markdown(import_head, import_rows))
    print()
    print(markdown(target_head, targets))
    if pg is not None:
        try:
            print_postgres(pg_results, args.postgres, pg.version, repeats, slow_repeats)
        finally:
            pg.close()
        results.extend(pg_results)
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if all(r.verified for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
