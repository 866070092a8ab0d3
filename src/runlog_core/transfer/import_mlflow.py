"""``runlog import mlflow``: copy MLflow experiments and runs into a runlog store.

Each MLflow experiment becomes the runlog experiment of the same name; each of its active runs
becomes a run with:

- params: MLflow keeps them as text; a value that reads back exactly as Python writes an int, a
  float or a bool (``"3"``, ``"0.001"``, ``"True"``) becomes that value, anything else stays text;
- tags: user tags as they are; MLflow's system tags ``mlflow.X`` as ``import.mlflow.X``, except
  ``mlflow.runName`` (the run's name) and ``mlflow.parentRunId`` (the parent link, kept as
  ``import.mlflow.parentRunId`` too); plus ``import.mlflow.run_id``, ``import.mlflow.experiment_id``
  and ``import.mlflow.status`` (the MLflow status);
- every metric's full history, with its steps and timestamps (ms become s);
- status FINISHED -> Completed, FAILED -> Failed, KILLED -> Killed; a run still RUNNING (or
  SCHEDULED) in MLflow cannot be followed, so its copy ends Killed, as a runlog run whose process
  stopped reporting does (``import.mlflow.status`` says RUNNING);
- start and end times (a run without an end ends at its last point, else at its start);
- parent/child: children of an imported parent become its child runs (parents are copied first);
- the run's artifacts, under the same names, when they are inside the source that was given
  (``import_mlflow_artifacts``: elsewhere only with ``artifacts_from_anywhere``);
- at most ``max_params`` params.

The tag ``import.mlflow.run_id`` is set last: importing again skips the runs that have it and copies
a run whose copy was interrupted again. A run that cannot be read is one line in ``skipped``, what
an imported run is copied without one line in ``left_out``; an ``mlruns`` folder is read one run at
a time (``import_mlflow_files``), so one damaged run never stops the others. Imported only by the
CLI command and callers of :func:`import_mlflow`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from runlog_core.exceptions import ImportSourceError, MissingDependencyError
from runlog_core.run.state import COMPLETED, FAILED, KILLED
from runlog_core.transfer.import_common import ImportSummary, copy_run, flush_into, one_line
from runlog_core.transfer.import_mlflow_artifacts import FLAG, copy_folder, download, has_artifacts, locate, source_root
from runlog_core.transfer.import_read import MAX_PARAMS
from runlog_core.transfer.import_write import (
    Names,
    end_run,
    existing_runs,
    log_params,
    log_points,
    open_experiment,
    safe_name,
    short,
)

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from runlog_core.run.experiment import Experiment

__all__ = ["RUN_ID_TAG", "import_mlflow", "resolve_source"]

RUN_ID_TAG = "import.mlflow.run_id"
_STATUSES = {"FINISHED": COMPLETED, "FAILED": FAILED, "KILLED": KILLED}
_PAGE = 1000


def resolve_source(source: str | os.PathLike[str] | None) -> str:
    """The MLflow tracking URI for ``source``: a URI, an ``mlruns`` folder or an SQLite file.

    ``None``: ``MLFLOW_TRACKING_URI``, else ``./mlruns``, else ``./mlflow.db``. A folder or file that
    does not exist is refused here, before MLflow would create an empty store there.
    """
    if source is None:
        source = os.environ.get("MLFLOW_TRACKING_URI") or None
    if source is None:
        for candidate in ("mlruns", "mlflow.db"):
            if os.path.exists(candidate):
                return resolve_source(candidate)
        raise ImportSourceError("MLflow", ".", "no ./mlruns folder or ./mlflow.db file here; give "
                                "--tracking-uri URI or the path of your MLflow store")
    text = os.fspath(source)
    if text.startswith("sqlite:///"):
        database = text[len("sqlite:///"):]
        if database and database != ":memory:" and not os.path.isfile(database):
            raise ImportSourceError("MLflow", text, f"the SQLite file {database!r} does not exist")
        return text
    if text.startswith("file:"):
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        return resolve_source(url2pathname(urlparse(text).path))
    if "://" in text or text.startswith("databricks"):
        return text  # a tracking server or database: MLflow reports what it cannot reach
    path = Path(text)
    if path.is_file():
        return f"sqlite:///{path.resolve()}"
    if path.is_dir():
        if not any(path.glob("*/meta.yaml")):
            raise ImportSourceError("MLflow", text, "it is not an MLflow folder (no <experiment id>/meta.yaml "
                                    "in it); give the mlruns folder or --tracking-uri")
        return path.resolve().as_uri()
    raise ImportSourceError("MLflow", text, "no such folder or file; give the mlruns folder, the SQLite "
                            "file or --tracking-uri URI")


def import_mlflow(source: str | os.PathLike[str] | None = None, store: str | os.PathLike[str] | None = None,
                  experiment: str | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  max_params: int = MAX_PARAMS, artifacts_from_anywhere: bool = False) -> ImportSummary:
    """Copy MLflow experiments and runs into a runlog store (see the module's documentation).

    Args:
        source: a tracking URI (``sqlite:///mlflow.db``, ``http://host:5000``), an ``mlruns`` folder
            or an SQLite file; ``None``: ``MLFLOW_TRACKING_URI``, else ``./mlruns``, else ``./mlflow.db``.
        store: the runlog store (default ``RUNLOG_STORE``, else ``./runlog``).
        experiment: only the MLflow experiment of this name (or id); default: every active one.
        progress: called as ``progress(done, total)`` as runs are handled.
        max_params: the most params copied into one run; the rest are one line in ``left_out``.
        artifacts_from_anywhere: also copy artifacts stored outside the source (another folder,
            ``s3://``, ``gs://``, ``http(s)://``), with the importing user's permissions and credentials.

    Returns:
        An :class:`ImportSummary`: a run that cannot be read is one line in ``skipped``, what an
        imported run lacks (artifacts elsewhere or refused, params beyond the cap) one in ``left_out``.

    Raises:
        ImportSourceError: no MLflow store at ``source``, or no experiment named ``experiment``.
        MissingDependencyError: the ``mlflow`` package is not installed.

    Example::

        import_mlflow("sqlite:///mlflow.db", experiment="diabetes").line()
    """
    uri = resolve_source(source)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as err:
        raise MissingDependencyError("mlflow", "runlog import mlflow") from err
    options = _Options(uri, max_params, artifacts_from_anywhere)
    # MLflow 3 refuses to open an mlruns folder unless asked to: reading one is why we are here
    with _environ("MLFLOW_ALLOW_FILE_STORE", "true" if uri.startswith("file:") else None):
        try:
            client = MlflowClient(tracking_uri=uri)
        except Exception as err:  # an URI MLflow cannot open: one line, never a traceback
            raise ImportSourceError("MLflow", uri, f"MLflow cannot open it: {one_line(err)}") from None
        return _import_all(client, options, store, experiment, progress)


class _Options:
    """What every run's copy needs to know: the source, its local folder, the caps and permissions."""

    def __init__(self, uri: str, max_params: int, anywhere: bool) -> None:
        self.uri = uri
        self.root = source_root(uri)
        self.max_params = max_params
        self.anywhere = anywhere


def _listing(client: Any, options: _Options, experiment: str | None,
             summary: ImportSummary) -> list[tuple[Any, list[Any]]]:
    """``[(experiment, [runs])]``: an mlruns folder run by run; any other store through search_runs."""
    if options.uri.startswith("file:") and options.root is not None:
        from runlog_core.transfer.import_mlflow_files import file_store_runs

        try:
            return file_store_runs(client, options.root, experiment, summary)
        except OSError as err:
            raise ImportSourceError("MLflow", options.uri, f"it cannot be read: {one_line(err)}") from None
    try:
        experiments = _experiments(client, options.uri, experiment)
    except ImportSourceError:
        raise
    except Exception as err:  # the server or database cannot be listed: one line, never a traceback
        raise ImportSourceError("MLflow", options.uri, f"its experiments cannot be listed: {one_line(err)}") from None
    listing = []
    for exp in experiments:
        try:
            listing.append((exp, _runs(client, exp.experiment_id)))
        except Exception as err:  # one experiment that cannot be searched costs one line
            summary.skipped.append(f"experiment '{short(str(exp.name))}': its runs cannot be listed: {one_line(err)}")
    return listing


def _import_all(client: Any, options: _Options, store: str | os.PathLike[str] | None, experiment: str | None,
                progress: Callable[[int, int], None] | None) -> ImportSummary:
    summary = ImportSummary()
    work = [(exp, _ordered(runs)) for exp, runs in _listing(client, options, experiment, summary)]
    total = sum(len(runs) for _, runs in work)
    done = 0
    if progress is not None:
        progress(0, total)
    for source_exp, runs in work:
        if not runs:
            continue  # no empty runlog experiment for an MLflow experiment without runs ("Default")
        target = open_experiment(safe_name(source_exp.name, f"mlflow-{source_exp.experiment_id}"), store)
        copied = existing_runs(target, RUN_ID_TAG)  # MLflow run id -> runlog run id
        for source_run in runs:
            run_id = source_run.info.run_id
            if run_id in copied:
                summary.existing += 1
            else:
                label = f"{short(str(source_exp.name))}/{short(_name(source_run))} ({short(run_id)})"
                new_id = copy_run(summary, label, _import_run, client, options, target, source_run, copied,
                                  summary, label)
                if new_id is not None:
                    copied[run_id] = new_id
            done += 1
            if progress is not None:
                progress(done, total)
        flush_into(target)
    return summary


def _experiments(client: Any, uri: str, wanted: str | None) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        page = client.search_experiments(max_results=_PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    if wanted is None:
        return sorted(found, key=lambda exp: exp.name)
    chosen = [exp for exp in found if wanted in (exp.name, exp.experiment_id)]
    if not chosen:
        names = ", ".join(repr(exp.name) for exp in found[:20]) or "none"
        raise ImportSourceError("MLflow", uri, f"no experiment named {wanted!r}; its experiments: {names}")
    return chosen


def _runs(client: Any, experiment_id: str) -> list[Any]:
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=_PAGE, page_token=token,
                                  order_by=["attributes.start_time ASC"])
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _ordered(runs: list[Any]) -> list[Any]:
    """Parents before their children, then oldest first."""
    by_id = {run.info.run_id: run for run in runs}

    def depth(run: Any) -> int:
        seen = set()
        level = 0
        parent = run.data.tags.get("mlflow.parentRunId")
        while parent in by_id and parent not in seen:  # a cycle cannot loop forever
            seen.add(parent)
            level += 1
            parent = by_id[parent].data.tags.get("mlflow.parentRunId")
        return level

    return sorted(runs, key=lambda run: (depth(run), run.info.start_time or 0))


def _name(run: Any) -> str:
    return str(run.info.run_name or run.data.tags.get("mlflow.runName") or run.info.run_id)


def param_value(text: str) -> Any:
    """An MLflow param (text) as the value Python logged, when its text says so exactly."""
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if str(value) == text:
            return value
    return text


def _tags(run: Any, names: Names) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in run.data.tags.items():
        if key == "mlflow.runName":
            continue
        name = names.name("tag", f"import.{key}" if key.startswith("mlflow.") else key, "import.mlflow.tag")
        if name is not None:
            tags[name] = value
    tags["import.mlflow.experiment_id"] = run.info.experiment_id
    tags["import.mlflow.status"] = run.info.status
    return tags


def _import_run(client: Any, options: _Options, target: Experiment, source: Any, copied: dict[str, str],
                summary: ImportSummary, label: str) -> str:
    """Copy one run; its records (and remote artifacts) are read from MLflow before the runlog run is created."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="runlog-import-", ignore_cleanup_errors=True) as tmp:
        info = source.info
        histories = {key: client.get_metric_history(info.run_id, key) for key in source.data.metrics}
        artifacts = _fetch_artifacts(client, options, source, tmp, summary, label)
        start = (info.start_time or 0) / 1000
        last_point = max((m.timestamp for points in histories.values() for m in points), default=None)
        end = info.end_time / 1000 if info.end_time else (last_point / 1000 if last_point else start)
        parent_id = copied.get(source.data.tags.get("mlflow.parentRunId", ""))
        names = Names(summary, label)
        name = names.name("run name", _name(source), info.run_id) or info.run_id
        if parent_id is not None:
            from runlog_core.run.run import Run

            run = Run(target, parent_id).child_run(name=name, start_time=start)
        else:
            run = target._start(name=name, tags=None, parent=None, run_id=None, start_time=start)
        try:
            points = files = 0
            params = {}
            for key, value in source.data.params.items():
                key_name = names.name("param", key, "param")
                if key_name is not None:
                    params[key_name] = param_value(value)
            log_params(run, params, options.max_params, summary, label)
            run.set_tags(_tags(source, names))
            for key, history in histories.items():
                metric = names.name("metric", key, "metric")
                if metric is None:
                    continue
                ordered = sorted(history, key=lambda m: (m.timestamp, m.step))
                points += log_points(run, metric, [(m.step, m.value, m.timestamp / 1000) for m in ordered])
            if artifacts is not None:
                files = copy_folder(run, artifacts, label, summary)
            run.set_tags({RUN_ID_TAG: info.run_id})  # last: a copy interrupted before is made again next time
            status = _STATUSES.get(info.status, KILLED)
            end_run(run, status, end, "failed in MLflow" if status == FAILED else None)
        except BaseException as err:
            run.fail(f"runlog import mlflow could not copy run {info.run_id}: {err!r}")
            raise
    summary.add_run(points, files)
    return run.id


def _fetch_artifacts(client: Any, options: _Options, source: Any, tmp: str, summary: ImportSummary,
                     label: str) -> Path | None:
    """The folder to copy the run's artifacts from (``None``: none, or not from where they are).

    A local folder is copied in place; remote artifacts (allowed) are downloaded under ``tmp``. An
    mlruns folder moved or copied from elsewhere names a folder that is not there (``/home/alice/...``):
    the run's own ``artifacts`` folder, where MLflow keeps them, is read instead.
    """
    where = locate(source.info.artifact_uri or "", options.uri, options.root)
    own = _own_artifacts(options, source)
    if where.kind == "local" and where.path is not None and not os.path.lexists(where.path) and own is not None:
        return own
    if not (where.inside or options.anywhere):
        if where.kind != "local" or (where.path is not None and os.path.lexists(where.path)):
            summary.left_out.append(f"{label}: imported without its artifacts: they are at {where.shown}, outside "
                                    f"the MLflow source given; {FLAG} copies them from there")
        return None
    if where.path is not None:
        return where.path if os.path.isdir(where.path) else None
    try:
        if not has_artifacts(client, source.info.run_id):
            return None
        return download(options.uri, source.info.run_id, tmp)
    except Exception as err:  # the run is copied without them, and says so
        summary.left_out.append(f"{label}: imported without its artifacts: they cannot be read from "
                                f"{where.shown}: {one_line(err)}")
        return None


def _own_artifacts(options: _Options, source: Any) -> Path | None:
    """``<mlruns>/<experiment id>/<run id>/artifacts`` of a file store, when it is a folder (not a link)."""
    if options.root is None or not options.uri.startswith("file:"):
        return None
    folder = options.root / str(source.info.experiment_id) / str(source.info.run_id) / "artifacts"
    return folder if folder.is_dir() and not any(p.is_symlink() for p in (folder, folder.parent)) else None


@contextmanager
def _environ(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` (nothing when ``value`` is None) for the block, as it was after."""
    before = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
