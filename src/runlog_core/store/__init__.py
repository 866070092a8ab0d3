"""The store contract: what runlog asks of a place that keeps runs, for store plugin authors.

runlog keeps runs in a :class:`Store` (rows: experiments, runs, series of points, params, tags,
the artifact index) and the bytes of files in its :class:`ArtifactStore` (``store.artifacts``).
The built-in one is SQLite plus a folder (``runlog_core.store.sqlite.store``); a plugin adds another, for
example PostgreSQL plus S3. Check yours with the conformance suite::

    # tests/test_my_store.py
    import pytest
    from runlog_core.testing.store_conformance import *  # noqa: F403

    @pytest.fixture
    def store_factory(tmp_path):
        return lambda: MyStore(...)  # a fresh, empty store on each call

Lifecycle
    A store is opened by the ``runlog_open_store(uri)`` hook (see :mod:`runlog_core.hookspecs`),
    once per URI and process; every experiment and run of that URI in the process shares it.
    A forked child opens its own. ``close()`` releases connections and files; it may be called
    more than once, and another store may then be opened on the same URI.

Writes
    Everything a run logs reaches the store through :meth:`Store.write`, called with a
    :class:`Batch` from ONE writer thread per store, a batch at a time. A batch is one
    transaction: all of it is stored, or (when ``write`` raises) none of it. What ``write``
    raises tells the writer what to do:

    - busy, locked, full or unreachable (worth retrying the same batch later): raise
      :class:`~runlog_core.exceptions.StoreError` or an :class:`OSError`. The writer keeps the
      batch in memory and retries it.
    - refused for what is in it (a value this store cannot hold): raise anything else, best a
      :class:`~runlog_core.exceptions.RunlogError` naming the value. The writer then writes the
      batch piece by piece and drops only what is refused, with one warning.

    Every write is idempotent: a batch retried after a lost reply, a spill file written twice or
    a push resumed stores each point once. A batch carries an identity chosen on the client,
    ``batch.writer`` (a random id, one per writer, process and store) and ``batch.seq`` (its
    number there, increasing: a writer sends its batches in that order). The store records, in the
    batch's own transaction, the highest ``seq`` each writer committed, and writes nothing of a
    batch whose ``seq`` is not above it (its new series still get their ``id``, read back): the
    commit may have happened though its reply never came. ``writer`` ``None`` is a batch without
    identity (an importer's), written as it comes. Within a batch, runs (``batch.runs``: created
    by a live program while the store was down), params (first value kept), tags, artifacts (by
    name) and series are idempotent by themselves.

    The other writing methods (``get_or_create_experiment``, ``create_run``, ``reattach_run``)
    are called from the thread that starts a run; each is its own transaction, and each may be
    called again with the same arguments after a lost reply (``create_run`` of an existing id
    changes nothing).

Reads
    Reads may come from any thread, at any time, also while the writer commits; each sees
    only committed batches, whole. Values come back as Python values, decoded: see
    :meth:`Store.get_points`.

Optional methods
    A store may also have these; runlog uses them when present and falls back otherwise.

    ``get_point_columns(series_id) -> (steps, values, times)``
        Every point of a series as three columns of equal length, in the order written, as
        :meth:`Store.get_points` gives them row by row: sequences (numpy arrays best, or
        ``array.array``/lists) of int steps, decoded values and float times.
        ``run.get_metrics_frame()`` reads series through it (the SQLite store decodes its packed
        chunks with ``numpy.frombuffer``: a million points in milliseconds); without it, through
        ``get_points``. A store may take a keyword ``numpy=False``: ``array.array`` columns (or
        lists), numpy not imported; ``run.get_metric_history()`` asks for those.

    ``iter_points(series_id) -> iterator of (step, value, time)``
        The points of :meth:`Store.get_points`, decoded as they are iterated: ``get_metric_history``
        makes a ``MetricPoint`` of each without a list of tuples first (the SQLite store decodes its
        chunks one after the other: 10,000,000 points 25 % quicker than from whole columns).

    ``get_points_page(series_id, offset, limit) -> [(step, value, time), ...]``
        ``get_points(series_id)[offset:offset + limit]``, reading only the stored rows (or chunks)
        that hold those points: the web UI's ``/series`` pages, so that the last page of a
        500,000-point series costs what the first does. ``offset`` and ``limit`` are 0 or more.

    ``get_params_page(run_id, after, limit, contains=None) -> (params, total)``
        At most ``limit`` of the run's params as a dict, in the code point order of their keys
        (Python's ``sorted``), starting after the key ``after`` (from the first when ``None``),
        only keys that contain the text ``contains`` when it is given (case-sensitive); and
        ``total``, how many of the run's params contain it (all of them without it). The web UI
        pages a run's params through it (a run with millions of params); without it, through
        ``get_params``.

    ``get_tags_page(run_id, after, limit, contains=None) -> (tags, total)``
        The same for tags.

    ``get_runs_values(run_ids) -> {run_id: (latest, params, tags)}``
        For each run, what ``get_series`` (the ``last_value`` of each scalar series that has a
        point), ``get_params`` and ``get_tags`` give, read for many runs together:
        ``search_runs(output="pandas")`` builds its frame through it (SQLite: three queries per
        500 runs); without it, three calls per run.

    ``limit_connections(most, idle_seconds)``
        Hold at most ``most`` connections for reads (callers wait for a free one rather than
        open more) and close those idle for ``idle_seconds``; a writer thread keeps a connection
        of its own. The web UI calls it (``RUNLOG_UI_DB_CONNECTIONS``, default 4) on a store that
        has it: a store of connections to a server (PostgreSQL).

    ``remote`` (a class attribute, ``True``)
        The store is on another machine (PostgreSQL): when it still refuses writes as the
        program ends, the writer keeps what waits on local disk (``RUNLOG_SPILL_DIR``) and
        writes it through ``write`` the next time the store is opened in any process.

Values by series kind
    A series has one kind (``SeriesRef.kind``). The values of its points, in ``Batch.columns``
    and back from ``get_points`` and ``SeriesInfo.last_value``:

    ========  ====================================================================
    number    ``int`` (within int64) or ``float`` (NaN, +/-inf and -0.0 included), or
              ``bool`` (a bool logged into a number series); a series may mix them
              and each value keeps its type
    bool      ``bool``
    str       ``str`` (any unicode, empty included)
    list      one scalar per point (int, float, bool or str), one point per list item
    row       a ``dict`` of column name to scalar (or ``None``)
    table     a ``dict`` of column name to a list of scalars
    image     the artifact name of the image file (``str``)
    ========  ====================================================================

    Steps are ints within int64; times are floats, seconds since the epoch. Points of a series
    read back in the order they were written (across batches too), repeated or lower steps
    included. Params are JSON-compatible values (``None``, bool, int of any size, float, str,
    lists, dicts) and read back equal; tags are strings.

Errors
    Anything a user can meet is a :class:`~runlog_core.exceptions.RunlogError`: wrap driver
    errors (``StoreError`` for a store that cannot be used, with the driver's message).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol

from runlog_core.base.filter import And, Compare, Field, Or
from runlog_core.base.records import (
    ArtifactInfo,
    Batch,
    LoggedPoint,
    MetricPoint,
    ModelInfo,
    RunInfo,
    SeriesInfo,
    SeriesRef,
)
from runlog_core.base.values import BOOL, IMAGE, LIST, NUMBER, ROW, STR, TABLE

if TYPE_CHECKING:
    from runlog_core.base.filter import Expression

__all__ = [
    "BOOL", "IMAGE", "KINDS", "LIST", "NUMBER", "ROW", "STR", "TABLE", "And",
    "ArtifactInfo", "ArtifactStore", "Batch", "Compare", "Field", "LoggedPoint", "MetricPoint", "ModelInfo",
    "Or", "RunInfo", "SeriesInfo", "SeriesRef", "Store",
]

KINDS = (NUMBER, BOOL, STR, LIST, ROW, TABLE, IMAGE)
"""Every series kind, as stored in ``SeriesRef.kind`` and ``SeriesInfo.kind``."""


class ArtifactStore(Protocol):
    """Where the bytes of a run's files live (``store.artifacts``).

    Names are relative paths checked by runlog before they get here
    (``runlog_core.base.artifact_names.check_artifact_name``); an implementation must still keep every
    name inside the run's own space and raise
    :class:`~runlog_core.exceptions.UnsafeArtifactNameError` otherwise. A write that fails
    (disk full, no permission) raises :class:`~runlog_core.exceptions.ArtifactWriteError`; a name
    that is a file where a folder is needed, or the reverse,
    :class:`~runlog_core.exceptions.ArtifactConflictError`. A reader never sees a
    half-written artifact: write to a temporary name and rename, or upload then commit.
    The artifact's index entry (:class:`ArtifactInfo`) reaches the :class:`Store` separately,
    in a batch.
    """

    def uri(self, run_id: str, name: str) -> str:
        """Return where the artifact is or will be, as a URI (``file://...``, ``s3://...``)."""
        ...

    def put_stream(self, run_id: str, name: str, stream: IO[bytes] | IO[str]) -> tuple[int, str]:
        """Store the rest of a readable stream (str chunks as UTF-8); return ``(size, sha256 hex)``."""
        ...

    def put_file(self, run_id: str, name: str, source: str | os.PathLike[str]) -> tuple[int, str]:
        """Store a local file's bytes; return ``(size, sha256 hex)``."""
        ...

    def put_bytes(self, run_id: str, name: str, data: bytes) -> tuple[int, str]:
        """Store ``data``; return ``(size, sha256 hex)``."""
        ...

    def append_text(self, run_id: str, name: str, text: str) -> int:
        """Append UTF-8 text to a log artifact (created when missing); return its new size in bytes."""
        ...

    def open(self, run_id: str, name: str) -> BinaryIO:
        """Return the artifact opened for binary reading.

        Raises:
            RunNotFoundError: there is no such artifact.
        """
        ...

    def download(self, run_id: str, name: str, destination: str | os.PathLike[str]) -> Path:
        """Copy the artifact to the local file ``destination`` (its folder is created); return its path.

        Raises:
            RunNotFoundError: there is no such artifact.
        """
        ...

    def digest(self, run_id: str, name: str) -> tuple[int, str]:
        """Return ``(size, sha256 hex)`` of the stored artifact.

        Raises:
            RunNotFoundError: there is no such artifact.
        """
        ...


class Store(Protocol):
    """A place that keeps experiments and runs; see the module docstring for the lifecycle.

    Attributes:
        uri: the URI it was opened for, as shown to users (never with a password in it).
    """

    uri: str

    @property
    def artifacts(self) -> ArtifactStore:
        """Where this store's artifact bytes go."""
        ...

    # -- experiments --------------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> int:
        """Return the id of the experiment ``name``, creating it if needed (safe against a racing creator)."""
        ...

    def get_experiment_id(self, name: str) -> int | None:
        """Return the id of the experiment ``name``, or ``None`` when there is none."""
        ...

    def list_experiments(self) -> list[tuple[int, str]]:
        """Return every experiment as ``(id, name)``, oldest first."""
        ...

    # -- runs ---------------------------------------------------------------------------------

    def create_run(self, info: RunInfo) -> None:
        """Store a new run; ``info.experiment_name`` is ignored (the id names the experiment)."""
        ...

    def reattach_run(self, run_id: str, pid: int, host: str, heartbeat_timeout: float) -> None:
        """Mark an existing run Running again (it is continued): clear ``end_time``, beat its heartbeat now."""
        ...

    def get_run(self, run_id: str) -> RunInfo | None:
        """Return the run with id ``run_id``, or ``None``.

        A Running run whose heartbeat is older than its ``heartbeat_timeout`` reads as
        ``"Killed"``, with ``end_time`` its last heartbeat (its process died without ending it).
        """
        ...

    def find_run_ids(self, prefix: str) -> list[str]:
        """Return the ids (at most 20) of runs whose id starts with ``prefix`` or whose name is ``prefix``."""
        ...

    def list_runs(self, experiment_id: int | None = None, status: str | None = None,
                  tags: dict[str, str | None] | None = None, parent_id: str | None = None,
                  include_children: bool = True, include_deleted: bool = False) -> list[RunInfo]:
        """Return runs, newest first (by ``start_time``, then the latest created); deleted runs only
        with ``include_deleted`` (:meth:`search_runs` never gives them, :meth:`get_run` always does).

        Args:
            experiment_id: only runs of this experiment.
            status: only runs with this status, as :meth:`get_run` reads it (``"Killed"`` included).
            tags: only runs having every tag given; a ``None`` value asks for the key with any value.
            parent_id: only the direct children of this run.
            include_children: with ``False`` (and no ``parent_id``), only top-level runs.
        """
        ...

    def search_runs(self, expression: Expression | None, order_by: list[tuple[Field, bool]],
                    experiment_id: int | None = None, *, parent_id: str | None = None,
                    include_children: bool = True, offset: int = 0, limit: int | None = None) -> list[RunInfo]:
        """Return the runs matching a parsed filter, sorted by ``order_by``, then newest first.

        ``expression`` is a tree of :class:`And` and :class:`Or` (each with ``terms``: two or
        more sub-expressions, flat, so a chain of 10,000 ``or`` is one node; ``left``/``right``
        remain as a two-operand view) and :class:`Compare` (``field``,
        ``op`` one of ``= != < <= > >=``, ``value`` a number or str) over a :class:`Field`
        (``namespace``, ``key``): ``metrics`` (the latest value of a number, bool or str series;
        a number compares with numbers, a str with strs), ``params`` (numbers compare with
        numeric params, strs with str params), ``tags`` (strs, or numbers with tags that read as
        numbers) and ``attributes`` (status, name, id, experiment, start_time, end_time,
        duration). ``None`` matches every run. ``order_by`` holds ``(Field, descending)``;
        runs without the value sort last. Deleted runs are never found.

        Args:
            experiment_id: only runs of this experiment.
            parent_id: only the direct children of this run.
            include_children: with ``False`` (and no ``parent_id``), only top-level runs.
            offset, limit: the page ``runs[offset:offset + limit]`` of the whole sorted answer
                (``limit`` ``None``: to the end), found by the store (issue 21: the web UI and
                ``runlog runs`` ask for one page of 100,000 runs). :meth:`count_runs` counts them all.

        Raises:
            InvalidArgumentError: ``offset`` or ``limit`` is not an int of 0 or more.
        """
        ...

    def count_runs(self, expression: Expression | None, experiment_id: int | None = None, *,
                   parent_id: str | None = None, include_children: bool = True) -> int:
        """Return how many runs :meth:`search_runs` finds with the same arguments, without reading them."""
        ...

    def count_children(self, run_ids: Sequence[str], experiment_id: int | None = None) -> dict[str, int]:
        """Return ``{run id: number of its direct children}`` for those of ``run_ids`` that have any (deleted
        children not counted; only children in experiment ``experiment_id`` when given), in one query
        or a few: the web UI counts the children of a page's runs."""
        ...

    # -- the writer's batch -------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Commit a batch in one transaction, all or nothing (see the module docstring).

        A batch whose writer already committed its ``seq`` (or a later one) writes nothing; its new
        series still get their ``id`` (see the module docstring). Otherwise, in this order:
        ``runs`` are created unless they exist (as ``create_run``); new series
        (``batch.series``) are created and get their ``id`` set; ``batch.columns`` adds points;
        params keep their first value; tags and artifacts (by name) are replaced; ``ends`` set
        status, end time and the error (``None`` keeps an earlier one); ``heartbeats`` stamp the
        current time on those runs while they are Running; and ``(writer, seq)`` is recorded.

        Raises:
            StoreError: busy, locked or unreachable: the writer retries the batch (OSError too).
            RunlogError: something in the batch cannot be stored; nothing of it was.
        """
        ...

    # -- reads ----------------------------------------------------------------------------

    def get_series(self, run_id: str) -> list[SeriesInfo]:
        """Return the run's series in creation order, each with its latest point (last written) decoded."""
        ...

    def get_points(self, series_id: int) -> list[tuple[int, Any, float]]:
        """Return every point of a series as ``[(step, value, time), ...]`` in the order written.

        Values are decoded Python values of the series' kind (see the module docstring):
        rows and tables as dicts, bools as bool, NaN and +/-inf as floats, ints as int.
        An unknown series has no points.
        """
        ...

    def count_points(self, series_id: int) -> int:
        """Return how many points the series has (without reading them)."""
        ...

    def get_params(self, run_id: str) -> dict[str, Any]:
        """Return the run's params, in the order first logged."""
        ...

    def get_tags(self, run_id: str) -> dict[str, str]:
        """Return the run's tags, in the order first set."""
        ...

    def get_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        """Return the run's artifact index, sorted by name."""
        ...

    def close(self) -> None:
        """Release connections and files; calling it again does nothing."""
        ...

    # -- keeping and removing data (issue 20) ------------------------------------------------------
    # A deleted run keeps everything; RunInfo.deleted_time says when it was deleted. `runlog gc`
    # removes deleted runs for good: start_purge, the files (runlog_core.store.artifacts.remove, or
    # the artifact store's own `remove_run(run_id, keep) -> (files, bytes)`), then purge_step until
    # it returns True. Each call is its own short transaction, so a gc killed anywhere leaves every
    # other run whole and runs again; writers wait at most one step.

    def delete_runs(self, run_ids: Sequence[str], deleted_time: float) -> list[str]:
        """Mark the runs and every run below them (children, grandchildren...) deleted at ``deleted_time``;
        return the ids newly marked (a run already deleted keeps its time)."""
        ...

    def restore_runs(self, run_ids: Sequence[str]) -> list[str]:
        """Clear the mark of the runs, of the runs below them that were deleted at the same time, and of
        their deleted parents; never of a run :meth:`start_purge` was called for. Return the ids restored."""
        ...

    def deleted_runs(self, before: float | None = None) -> list[RunInfo]:
        """Return the runs deleted at ``before`` (seconds since the epoch) or earlier (every deleted run
        when ``None``) and those a gc began to remove, the earliest deleted first."""
        ...

    def run_size(self, run_id: str) -> tuple[int, int]:
        """Return ``(points, bytes of the files in its index)`` of a run."""
        ...

    def start_purge(self, run_id: str) -> bool:
        """Record that the deleted run is being removed (it can no longer be restored); ``False`` when it
        is not deleted (restored meanwhile) or already gone."""
        ...

    def purge_step(self, run_id: str) -> bool:
        """Remove a bounded slice of a run :meth:`start_purge` was called for (its points first, then its
        series, params, tags, file index and the run itself, last); return ``True`` once it is gone."""
        ...

    # optional: reclaim_space(rewrite=False) -> int: give the freed space back to the disk, in short
    # transactions; return the bytes (SQLite: incremental vacuum; PostgreSQL leaves it to autovacuum)

    def register_model(self, info: ModelInfo) -> ModelInfo:
        """Store a model version: the next ``version`` of ``info.name`` (1 for a new name), assigned
        atomically (two registrations never share one); return the record with its version."""
        ...

    def get_model(self, name: str, version: int | None = None) -> ModelInfo | None:
        """Return a version of a model (the highest when ``version`` is ``None``), or ``None``."""
        ...

    def list_models(self, name: str | None = None, run_id: str | None = None) -> list[ModelInfo]:
        """Return model versions (of ``name``, registered from ``run_id``, when given), the newest first.
        Models outlive their run: gc keeps the files they name."""
        ...


# the filter language and the artifact name rule, for code built on the store contract (the web UI)
from runlog_core.base.artifact_names import check_artifact_name  # noqa: E402
from runlog_core.base.filter import parse_filter, parse_order_by  # noqa: E402

__all__ += ["check_artifact_name", "parse_filter", "parse_order_by"]
