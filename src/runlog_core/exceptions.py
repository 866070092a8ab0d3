"""Errors raised by runlog.

Every error is a :class:`RunlogError` and also the builtin that matches it
(``TypeError``, ``ValueError``, ``LookupError``, ``RuntimeError``), so generic
handlers keep working.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ArtifactConflictError",
    "ArtifactWriteError",
    "ConfigError",
    "ConflictingArgumentsError",
    "DestinationExistsError",
    "FilterSyntaxError",
    "ImportSourceError",
    "InvalidArgumentError",
    "InvalidMetricError",
    "InvalidNameError",
    "MetricKindError",
    "MetricNotFoundError",
    "MissingDependencyError",
    "ParamConflictError",
    "PushError",
    "PushInterrupted",
    "RunEndedError",
    "RunNotFoundError",
    "RunStateError",
    "RunlogError",
    "S3ArtifactError",
    "ScriptRunError",
    "SnapshotTooLargeError",
    "StoreBusyError",
    "StoreError",
    "StoreVersionError",
    "UnsafeArtifactNameError",
    "UnsafeFolderNamesError",
]


class RunlogError(Exception):
    """Base class of every error runlog raises on purpose."""


class InvalidArgumentError(RunlogError, TypeError):
    """An argument has a type runlog does not accept."""

    def __init__(self, argument: str, value: object, accepted: str) -> None:
        self.argument, self.value, self.accepted = argument, value, accepted
        super().__init__(
            f"{argument} must be {accepted}, got {type(value).__name__}: {_short(value)}"
        )


class InvalidMetricError(RunlogError, TypeError):
    """A metric value is not something runlog can store as a metric."""

    def __init__(self, name: str, value: object, reason: str | None = None) -> None:
        self.name, self.value = name, value
        accepted = reason or (
            "a real number, a bool, a str, or a one-element numpy/torch scalar; "
            "use log_list for sequences and log_row/log_table for dicts"
        )
        super().__init__(
            f"metric {name!r}: value must be {accepted}, "
            f"got {type(value).__name__}: {_short(value)}"
        )


class ConflictingArgumentsError(RunlogError, ValueError):
    """Two arguments were given that exclude each other (``run=`` and ``experiment=``, say)."""

    def __init__(self, first: str, second: str, hint: str = "") -> None:
        self.first, self.second = first, second
        super().__init__(f"give {first} or {second}, not both" + (f": {hint}" if hint else ""))


class MetricKindError(RunlogError, TypeError):
    """A metric name already holds values of another kind (number vs str vs row...)."""

    def __init__(self, name: str, existing: str, new: str) -> None:
        self.name, self.existing, self.new = name, existing, new
        super().__init__(
            f"metric {name!r} already holds {existing} values and cannot take a {new} value; "
            f"log the {new} under another name"
        )


class InvalidNameError(RunlogError, ValueError):
    """A metric, param, tag, experiment or run name is not acceptable."""

    def __init__(self, argument: str, value: object, rule: str) -> None:
        self.argument, self.value, self.rule = argument, value, rule
        super().__init__(f"{argument} {_short(value)} ({type(value).__name__}) is invalid: {rule}")


class UnsafeArtifactNameError(RunlogError, ValueError):
    """An artifact name would leave the run's folder."""

    def __init__(self, name: object, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(
            f"artifact name {_short(name)} is refused: {reason}; use a relative path "
            "made of plain segments separated by '/', such as 'outputs/model.pt'"
        )


class ParamConflictError(RunlogError, ValueError):
    """A param was logged again with a different value."""

    def __init__(self, key: str, old: object, new: object) -> None:
        self.key, self.old, self.new = key, old, new
        super().__init__(
            f"param {key!r} is already {old!r} in this run and cannot become {new!r}; "
            "params are fixed once logged: log the new value under another name, "
            "as a metric, or in a child run"
        )


class RunNotFoundError(RunlogError, LookupError):
    """No run (or experiment) with the given id exists in the store."""

    def __init__(self, what: str, key: object, store: str = "") -> None:
        self.what, self.key = what, key
        where = f" in store {store}" if store else ""
        super().__init__(f"no {what} {key!r}{where}")


class RunEndedError(RunlogError, RuntimeError):
    """Something was logged into a run that has ended."""

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id, self.status = run_id, status
        super().__init__(
            f"run {run_id} has ended ({status}) and takes no more values; continue it with "
            f"experiment.start_logging(run_id={run_id!r}), or start a new run"
        )


class RunStateError(RunlogError, RuntimeError):
    """The run is not in a state that allows this (deleting a Running run, restoring one not deleted)."""

    def __init__(self, run_id: str, state: str, fix: str) -> None:
        self.run_id, self.state = run_id, state
        super().__init__(f"run {run_id} is {state}; {fix}")


class StoreError(RunlogError, RuntimeError):
    """The store cannot be opened or used."""


class StoreBusyError(StoreError):
    """The store stayed locked by another process for longer than ``RUNLOG_STORE_TIMEOUT``."""

    def __init__(self, path: str, waited: float, holders: list[str], detail: str = "") -> None:
        self.path, self.waited, self.holders = path, waited, holders
        held = f"held by {'; '.join(holders)}" if holders else "held by another connection"
        super().__init__(
            f"the store {path} stayed locked for more than {waited:g} s ({held}{'; ' + detail if detail else ''}); "
            "what was logged is kept in memory and retried; RUNLOG_STORE_TIMEOUT sets how long a call waits"
        )


class StoreVersionError(StoreError):
    """The store was written by a newer runlog than this one."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        self.path, self.found, self.supported = path, found, supported
        super().__init__(
            f"store {path} has schema version {found}, newer than the {supported} this "
            "runlog understands; upgrade runlog (pip install -U runlog) to open it"
        )


class ConfigError(RunlogError, ValueError):
    """A ``RUNLOG_*`` environment variable holds a value runlog cannot use."""

    def __init__(self, variable: str, value: str, accepted: str) -> None:
        self.variable, self.value, self.accepted = variable, value, accepted
        super().__init__(f"environment variable {variable}={value!r} is invalid: it must be {accepted}; "
                         f"fix or unset {variable}")


class FilterSyntaxError(RunlogError, ValueError):
    """A search filter could not be parsed; ``position`` points at the offending character.

    The message shows at most 60 characters around it (``text`` keeps the whole filter).
    """

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text, self.position, self.message = text, position, message
        start = max(0, position - 30)
        shown = text[start:start + 60]
        lead = "..." if start else ""
        tail = "..." if start + 60 < len(text) else ""
        caret = " " * (len(lead) + position - start)
        super().__init__(f"{message} at character {position + 1}:\n  {lead}{shown}{tail}\n  {caret}^")


class ScriptRunError(RunlogError, RuntimeError):
    """A submitted script did not complete: it failed or was killed.

    Attributes:
        run_id: the run's id.
        status: ``"Failed"`` or ``"Killed"``.
        exit_code: the script's exit code (negative: killed by that signal), or ``None``.
        log_tail: the last lines the script printed.
        error: the first line of the run's recorded error, or ``None``.
    """

    def __init__(self, run_id: str, status: str, exit_code: int | None, log_tail: str, error: str | None) -> None:
        self.run_id, self.status, self.exit_code, self.log_tail = run_id, status, exit_code, log_tail
        self.error = error
        tail = log_tail.rstrip("\n")
        super().__init__(
            f"run {run_id} ended {status}: {error or 'no error recorded'}"
            + (f"\n--- last lines of logs/std_log.txt ---\n{tail}" if tail else "")
        )


class SnapshotTooLargeError(RunlogError, ValueError):
    """The files a source snapshot would keep add up to more than ``RUNLOG_SNAPSHOT_MAX_MB``."""

    def __init__(self, folder: str, size: int, limit: int) -> None:
        self.folder, self.size, self.limit = folder, size, limit
        super().__init__(
            f"snapshot of {folder} would hold {size / 2**20:.1f} MB, over the {limit / 2**20:g} MB limit; "
            "list large files in .runlogignore (same syntax as .gitignore) or raise RUNLOG_SNAPSHOT_MAX_MB"
        )


def _short(value: object, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class UnsafeFolderNamesError(UnsafeArtifactNameError):
    """``upload_folder`` stored nothing: some of the folder's file names are refused as artifact names.

    Attributes:
        name: the first refused artifact name; ``reason``: why it is refused.
        folder: the folder given to ``upload_folder``.
        refused: every refused artifact name, in the order the folder was walked.
        reasons: each refused name's reason.
    """

    def __init__(self, folder: str, reasons: dict[str, str]) -> None:
        self.folder, self.reasons, self.refused = folder, dict(reasons), list(reasons)
        self.name, self.reason = self.refused[0], reasons[self.refused[0]]
        listed = "; ".join(f"{name!r}: {reason}" for name, reason in list(reasons.items())[:10])
        more = f"; and {len(reasons) - 10} more" if len(reasons) > 10 else ""
        # UnsafeArtifactNameError's message names one file; this one lists them all
        RunlogError.__init__(
            self,
            f"upload_folder stored nothing from {folder}: {len(reasons)} file name(s) are refused as artifact "
            f"names ({listed}{more}); rename these files (plain segments, no ':', no Windows device names "
            "such as 'aux' or 'com1') or upload the others one by one with upload_file",
        )


class ArtifactConflictError(RunlogError, ValueError):
    """An artifact name needs a folder where the run already has a file, or the reverse.

    Attributes:
        name: the artifact that was not stored.
        existing: the run's artifact it clashes with.
    """

    def __init__(self, name: str, existing: str) -> None:
        self.name, self.existing = name, existing
        if existing.startswith(name + "/"):
            clash = f"{name!r} is already a folder of this run, holding {existing!r}"
            other = f"{name}_file"
        else:
            clash = f"{existing!r} is already a file of this run, so it cannot also be a folder"
            other = existing + "_files" + name[len(existing):]
        super().__init__(
            f"artifact {name!r} was not stored: {clash}; a name is either a file or a folder: "
            f"store it under another name, such as {other!r}"
        )


class ArtifactWriteError(RunlogError, OSError):
    """The operating system refused to write (or read) an artifact's bytes: disk full, no permission...

    Nothing is left half-written under the artifact's name (or under a download's destination). ``errno``, ``strerror`` and ``filename``
    are those of the underlying :class:`OSError`.

    Attributes:
        name: the artifact.
        path: the file that could not be written or read.
    """

    def __init__(self, name: str, path: str, error: OSError, action: str = "writing") -> None:
        import errno

        self.name, self.path = name, path
        code = error.errno
        again = "download it again" if action.startswith("downloading") else "upload it again"
        if again[0] == "d" and code in (errno.EPERM, errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            fix = "download to a folder you can write to, with space left (give DEST)"
        elif code in (errno.ENOSPC, errno.EDQUOT):
            fix = "free some disk space (or point RUNLOG_ARTIFACTS at a larger disk) and upload it again"
        elif code in (errno.EPERM, errno.EACCES, errno.EROFS) and action == "reading":
            fix = f"make {path} readable by this user"
        elif code in (errno.EPERM, errno.EACCES, errno.EROFS):
            fix = f"make {path} writable by this user, or write to a folder you own (RUNLOG_ARTIFACTS for the store's)"
        elif code == errno.ENAMETOOLONG:
            fix = "use a shorter artifact name, or a shorter path for the store"
        elif code == errno.EFBIG:
            fix = "the file is over this system's file size limit (ulimit -f); raise the limit or split the file"
        else:
            fix = f"check that the folder exists and can be written, then {again}"
        self.message = f"artifact {name!r}: {action} {path} failed: {error.strerror or error}; {fix}"
        super().__init__(self.message)
        self.errno, self.strerror, self.filename = code, error.strerror, path

    def __str__(self) -> str:
        return self.message


class MissingDependencyError(RunlogError, ImportError):
    """A feature needs an optional package that is not installed (pandas or polars for DataFrames).

    Attributes:
        package: the package to install (also ``name``, as on any ImportError).
        feature: what asked for it, e.g. ``search_runs(output='pandas')``.
    """

    def __init__(self, package: str, feature: str, install: str | None = None) -> None:
        self.package, self.feature = package, feature  # install: what to pip install (quoted), else package
        hint = install or package
        super().__init__(f"{feature} needs {package}, which is not installed: pip install "
                         + (f"'{hint}'" if "[" in hint else hint), name=package)


class ImportSourceError(RunlogError, ValueError):
    """``runlog import`` was given something it cannot import from (no such folder, no runs in it).

    Attributes:
        tool: the tool imported from (``"MLflow"``, ``"TensorBoard"``).
        source: the folder or tracking URI given.
        reason: what is wrong and how to fix it.
    """

    def __init__(self, tool: str, source: str, reason: str) -> None:
        self.tool, self.source, self.reason = tool, source, reason
        super().__init__(f"cannot import from {tool} {source!r}: {reason}")


class DestinationExistsError(RunlogError, FileExistsError):
    """A download would replace local files; nothing was written.

    Attributes:
        path: the first local file that exists (also ``filename``, as on any FileExistsError).
        others: how many more files the download would replace.
    """

    def __init__(self, path: str, others: int = 0,
                 fix: str = "remove it, or download to another destination", verb: str = "downloaded") -> None:
        self.path, self.others = path, others
        more = f" (and {others} more file{'s' if others != 1 else ''} it would replace)" if others else ""
        self.message = f"{path!r} already exists{more}; nothing was {verb}: {fix}"
        super().__init__(self.message)
        self.filename = path

    def __str__(self) -> str:
        return self.message


class MetricNotFoundError(RunlogError, KeyError):
    """A run has no metric of that name (a ``KeyError`` too, as ``get_metric_history`` raises).

    Attributes:
        name: the metric asked for.
        run_id: the run.
        known: the names the run has.
    """

    def __init__(self, name: str, run_id: str, known: list[str]) -> None:
        self.name, self.run_id, self.known = name, run_id, known
        listed = ", ".join(map(repr, known[:20])) + (", ..." if len(known) > 20 else "") if known else "none yet"
        self.message = f"run {run_id} has no metric {name!r}; its metrics: {listed}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class S3ArtifactError(ArtifactWriteError):
    """S3 refused or could not be reached while writing (or reading) an artifact; nothing half-written is left.

    Attributes:
        name: the artifact.
        path: its ``s3://bucket/key`` URI.
        code: what went wrong: ``"credentials"``, ``"bucket"``, ``"unreachable"``, ``"conflict"`` or S3's code.
    """

    def __init__(self, name: str, uri: str, action: str, reason: str, fix: str, code: str) -> None:
        import errno

        os_code = {"credentials": errno.EACCES, "bucket": errno.ENOENT, "unreachable": errno.ECONNREFUSED}
        self.name, self.path, self.code = name, uri, code
        self.message = f"artifact {name!r}: {action} {uri} failed: {reason}; {fix}"
        RunlogError.__init__(self, self.message)
        self.errno, self.strerror, self.filename = os_code.get(code, errno.EIO), reason, uri

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (multiprocessing) with its message and attributes
        return _rebuild_s3_error, (type(self), {**self.__dict__, "errno": self.errno, "strerror": self.strerror,
                                             "filename": self.filename})

    def __str__(self) -> str:
        return self.message


def _rebuild_s3_error(cls: type[S3ArtifactError], state: dict[str, Any]) -> S3ArtifactError:
    error = cls.__new__(cls)
    RunlogError.__init__(error, state.get("message", ""))
    for key, value in state.items():
        setattr(error, key, value)
    return error


class PushInterrupted(KeyboardInterrupt):
    """Ctrl-C during a push; ``summary`` says what was pushed before it (pushing again resumes)."""

    def __init__(self, summary: Any) -> None:
        self.summary = summary
        super().__init__(f"push interrupted: {summary.line()}")


class PushError(StoreError):
    """The destination failed during a push (unreachable, full); ``summary`` says what was pushed before."""

    def __init__(self, summary: Any, err: BaseException) -> None:
        self.summary = summary
        self.error = err
        super().__init__(f"{' '.join(str(err).split()) or type(err).__name__}; pushed before that: {summary.line()}; "
                         "run the same command again to resume")
