"""What a remote store could not take before the program ended, kept on local disk and written later.

A PostgreSQL (or other remote) store that is down when a program ends (normally, by an exception,
Ctrl-C or SIGTERM) would cost the points still waiting in memory. Instead, the writer hands them
here: each waiting batch is written, as JSON (never pickle: nothing here is unpickled), into one file
under ``RUNLOG_SPILL_DIR`` (default ``~/.local/state/runlog/spill``), in a folder named after the
store's URI (its password left out). The next time any process of this user opens that store, the
files are written into it, oldest first, each in its own transaction, and deleted once written.
Points keep their steps, values and times; runs and series created in the meantime are created then.

Nothing is written twice and nothing is stranded (issue 23):

- each file keeps its batch's identity (writer id and number, see
  :class:`~runlog_core.base.records.Batch`): a file written into the store whose deletion never
  happened (the program was killed, the reply was lost) writes nothing the next time;
- replays take a lock on the folder, so one process replays at a time, oldest first; another
  process opening the store meanwhile leaves the files to it;
- a ``*.writing`` file (a replayer killed while writing it) is replayed like the others;
- a damaged file (truncated, not JSON) is moved to ``damaged/`` beside the others, and a file the
  store refuses for what is in it to ``refused/``, each with one warning naming it, what it held and
  where it is; the later files are written all the same.

Logs in S3 whose end could not be uploaded before the program ended, and files S3 did not take
while it was unreachable (``upload_file``, the ``outputs/`` folder at a run's end), are kept here too
(:func:`spill_logs`): the local copy in ``files/`` and a spill file that names it. Its replay uploads
the copy (a log after what the bucket holds, unless the copy holds that already; a file whole), then
indexes the object (its size and sha256) in the same way as a batch; S3 still down leaves both for
the next time.

A local SQLite store never spills: when it refuses writes at exit, the disk it lives on is the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from pathlib import Path

from runlog_core.base import config as _config
from runlog_core.base.records import ArtifactInfo, Batch, RunInfo, SeriesRef
from runlog_core.exceptions import StoreError, StoreVersionError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import IO, Any

    from runlog_core.store import Store

__all__ = ["replay", "spill", "spill_logs", "spills_for"]

_VERSION = 2  # 2: the batch's identity and the runs it creates; files of version 1 are read too
_UPLOADS_VERSION = 3  # 3: a batch with logs to upload before it is written (older runlogs leave these)
_READS = (1, 2, 3)
_SUFFIXES = (".json", ".writing")


def _folder(uri: str) -> Path:
    digest = hashlib.sha256(uri.encode()).hexdigest()[:24]
    return Path(_config.spill_dir()) / digest


def spills_for(uri: str) -> list[Path]:
    """The spill files waiting for the store ``uri`` (``*.json``, and ``*.writing`` left by a replayer
    that died), oldest first."""
    folder = _folder(uri)
    try:
        found = [path for path in folder.iterdir() if path.suffix in _SUFFIXES and path.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda path: (path.stem, path.suffix))


def _plain(values: Any) -> list[Any]:
    return list(values)  # packed arrays (see writer.pending) hold plain ints and floats


def _encode(batch: Batch) -> dict[str, Any]:
    """One batch as JSON-ready data. Every series it names without an id is listed as new, so that
    each file stands alone (creating a series that exists is a no-op in every store)."""
    refs = {ref.key: ref for ref in [*batch.series, *(column[0] for column in batch.columns)]}
    new = [ref.key for ref in batch.series] + [key for key, ref in refs.items()
                                               if ref.id is None and ref not in batch.series]
    return {
        "version": _VERSION,
        "writer": batch.writer,
        "seq": batch.seq,
        "runs": [[getattr(info, name) for name in RunInfo.__slots__] for info in batch.runs],
        "series": {str(key): {"run_id": ref.run_id, "name": ref.name, "kind": ref.kind,
                              "description": ref.description, "id": ref.id} for key, ref in refs.items()},
        "new": new,
        "columns": [[ref.key, first, _plain(steps), _plain(values), _plain(times)]
                    for ref, first, steps, values, times in batch.columns],
        "count": batch.count,
        "params": [list(item) for item in batch.params],
        "tags": [list(item) for item in batch.tags],
        "artifacts": [[a.run_id, a.name, a.size, a.sha256, a.uri, a.time] for a in batch.artifacts],
        "ends": [list(item) for item in batch.ends],
    }


def _decode(data: dict[str, Any]) -> Batch:
    refs = {int(key): SeriesRef(info["run_id"], info["name"], info["kind"], info["description"], info["id"])
            for key, info in data["series"].items()}
    batch = Batch(data.get("writer"), int(data.get("seq", 0)))
    batch.runs = [RunInfo(*fields) for fields in data.get("runs", [])]
    batch.series = [refs[key] for key in data["new"]]
    batch.columns = [(refs[key], first, steps, values, times) for key, first, steps, values, times in data["columns"]]
    batch.count = data["count"]
    batch.params = [(run_id, name, value) for run_id, name, value in data["params"]]
    batch.tags = [(run_id, key, value) for run_id, key, value in data["tags"]]
    batch.artifacts = [ArtifactInfo(*artifact) for artifact in data["artifacts"]]
    batch.ends = [(run_id, status, when, error) for run_id, status, when, error in data["ends"]]
    return batch


def spill(uri: str, batches: list[Batch]) -> tuple[Path, int] | None:
    """Keep ``batches`` on disk for the store ``uri``, a file each; ``(folder, files)``, or ``None`` when
    there is nothing to keep."""
    batches = [batch for batch in batches if batch.holds_data()]
    if not batches:
        return None
    from runlog_core.store.artifacts.local import make_private_dirs

    folder = _folder(uri)
    make_private_dirs(folder)
    stem = f"{time.time_ns():020d}-{os.getpid():08d}"
    for index, batch in enumerate(batches):
        target = folder / f"{stem}-{index:06d}.json"
        temporary = target.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"store": uri, **_encode(batch)}, handle)  # NaN and +/-inf as Python's json writes them
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    return folder, len(batches)


def spill_logs(uri: str, tails: list[Any]) -> Path:
    """Keep the logs and files S3 did not take before the program ended (``LogTail``: run, name, object
    URI, local copy, whether the copy holds the object's earlier content, ``kind`` ``"log"`` or
    ``"file"``) for the store ``uri``: each copy is moved to ``files/`` and one spill file names them;
    returns the folder."""
    import shutil

    from runlog_core.store.artifacts.local import make_private_dirs

    folder = _folder(uri)
    make_private_dirs(folder / "files")
    stem = f"{time.time_ns():020d}-{os.getpid():08d}"
    uploads = []
    for index, tail in enumerate(tails):
        kind = getattr(tail, "kind", "log")
        kept = folder / "files" / f"{stem}-{index:06d}.{'bin' if kind == 'file' else 'log'}"
        shutil.move(tail.path, kept)  # the spool may be on another file system (the temporary folder)
        os.chmod(kept, 0o600)
        uploads.append({"run_id": tail.run_id, "name": tail.name, "uri": tail.uri, "file": kept.name,
                        "based": bool(tail.based), "kind": kind})
    target = folder / f"{stem}-{len(tails):06d}.json"
    temporary = target.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"store": uri, **_encode(Batch()), "version": _UPLOADS_VERSION, "uploads": uploads}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return folder


def _upload_logs(store: Store, folder: Path, uploads: list[dict[str, Any]], batch: Batch, writing: Path) -> None:
    """Upload the kept logs a spill file (now at ``writing``) names into ``store.artifacts`` and index them
    in ``batch``. A copy that lacks the object's earlier content gets it first, and the file says so
    before anything is uploaded: a replay cut short after the upload never appends the copy twice."""
    from runlog_core.exceptions import RunlogError

    artifacts = store.artifacts
    for upload in uploads:
        run_id, name = upload["run_id"], upload["name"]
        put = getattr(artifacts, "upload_log_file", None)
        if put is None or artifacts.uri(run_id, name) != upload["uri"]:
            raise RunlogError(f"the log {upload['uri']} is to go to S3, but the store's artifacts are now at "
                              f"{artifacts.uri(run_id, name)} (RUNLOG_ARTIFACTS)")
        kept = folder / "files" / upload["file"]
        if not kept.is_file():
            raise RunlogError(f"its copy {kept} is gone")
        if upload.get("kind") == "file":  # a whole file (an older runlog reads it as a log "based")
            size, sha256 = artifacts.put_file(run_id, name, kept)
            batch.artifacts.append(ArtifactInfo(run_id, name, size, sha256, upload["uri"], time.time()))
            continue
        if not upload["based"]:
            artifacts.rebase_log_file(run_id, name, str(kept))  # type: ignore[attr-defined]
            upload["based"] = True
            data = json.loads(writing.read_bytes())
            data["uploads"] = uploads
            temporary = writing.with_suffix(".tmp")
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
                json.dump(data, handle)
            os.replace(temporary, writing)
        size, sha256 = put(run_id, name, str(kept), True)
        batch.artifacts.append(ArtifactInfo(run_id, name, size, sha256, upload["uri"], time.time()))


def replay(store: Store) -> int:
    """Write the spill files waiting for ``store`` into it, oldest first; returns how many were written.

    One process at a time (a lock on the folder; ``0`` at once when another holds it). Each file is
    one batch, one transaction, deleted once written. A store that cannot take one now (busy,
    unreachable) leaves it and the later ones for the next time: that error propagates. A damaged
    file, or one the store refuses for what is in it, is moved aside with one warning, and the
    others go on.
    """
    folder = _folder(store.uri)
    lock = _lock(folder)
    if lock is None:
        return 0  # another process is replaying these files: they are its to write
    written = 0
    waiting: OSError | None = None  # the first upload S3 refused
    try:
        for path in spills_for(store.uri):
            read = _read(path, store.uri)
            if read is None:
                continue
            batch, uploads = read
            writing = path.with_suffix(".writing")
            try:
                if path != writing:
                    os.rename(path, writing)  # a replayer killed from here on leaves it *.writing
            except FileNotFoundError:
                continue
            try:
                _upload_logs(store, folder, uploads, batch, writing)
            except OSError as err:  # S3 still refuses: this file waits, the others (the points) go on
                os.rename(writing, path.with_suffix(".json"))
                waiting = waiting or err
                continue
            except Exception as err:
                held = "".join(f"the log {u['uri']} (kept in {folder / 'files' / u['file']})" for u in uploads)
                _set_aside(writing, "refused", f"its logs cannot be uploaded ({_one_line(err)})", held)
                continue
            try:
                store.write(batch)
            except Exception as err:
                if _worth_retrying(err):
                    os.rename(writing, path.with_suffix(".json"))
                    raise
                _set_aside(writing, "refused", f"{store.uri} refused it ({_one_line(err)})", _held(batch))
                continue
            writing.unlink()
            for upload in uploads:
                (folder / "files" / upload["file"]).unlink(missing_ok=True)
            written += 1
    finally:
        lock.close()  # releases the lock
    if waiting is not None:
        raise waiting
    return written


def _lock(folder: Path) -> IO[bytes] | None:
    """The folder's replay lock, held until the returned file is closed; ``None`` when another process
    holds it. Without ``fcntl`` (Windows), no lock: batch identities still keep every point single."""
    from runlog_core.store.artifacts.local import make_private_dirs

    make_private_dirs(folder)
    handle = open(os.open(folder / "replay.lock", os.O_RDWR | os.O_CREAT, 0o600), "r+b")
    try:
        import fcntl
    except ImportError:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _read(path: Path, uri: str) -> tuple[Batch, list[dict[str, Any]]] | None:
    """The batch a spill file holds and the logs to upload first; ``None`` for one gone, one of another
    store or a newer runlog (left where it is), or a damaged one (moved aside, with one warning)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None  # written by another process meanwhile
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not a batch")
        if data.get("version") not in _READS or data.get("store") != uri:
            return None
        uploads = data.get("uploads", [])
        if not isinstance(uploads, list) or not all(isinstance(u, dict) and {"run_id", "name", "uri", "file", "based"}
                                                    <= u.keys() for u in uploads):
            raise ValueError("its list of logs to upload is not one")
        return _decode(data), uploads
    except (ValueError, KeyError, TypeError, IndexError) as err:
        _set_aside(path, "damaged", f"it is damaged ({_one_line(err)})", _guess(text))
        return None


def _set_aside(path: Path, where: str, why: str, held: str) -> None:
    """Move a spill file that cannot be written into the subfolder ``where``; one warning says so."""
    from runlog_core.store.artifacts.local import make_private_dirs

    target = path.parent / where / (path.stem + ".json")
    make_private_dirs(target.parent)
    os.replace(path, target)
    stem = path.stem.split("-")
    when = ""
    if len(stem) >= 2 and stem[0].isdigit() and stem[1].isdigit():
        when = (f", kept by process {int(stem[1])} at "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(int(stem[0]) / 1e9))}")
    warnings.warn(f"runlog: the spill file {path.name}{when} was not written: {why}; it held {held}; moved to "
                  f"{target}; the other spill files are written without it", RuntimeWarning, stacklevel=4)


def _held(batch: Batch) -> str:
    """What a batch holds, in words: its points, params, tags, files, runs and ends, per run."""
    parts = []
    points = sum(len(column[2]) for column in batch.columns)
    for count, what in ((points, "point"), (len(batch.params), "param"), (len(batch.tags), "tag"),
                        (len(batch.artifacts), "file"), (len(batch.runs), "run creation"),
                        (len(batch.ends), "run end")):
        if count:
            parts.append(f"{count:,} {what}{'s' if count > 1 else ''}")
    runs = sorted({ref.run_id for ref, *_ in batch.columns} | {item[0] for item in batch.params}
                  | {item[0] for item in batch.tags} | {a.run_id for a in batch.artifacts}
                  | {info.id for info in batch.runs} | {item[0] for item in batch.ends})
    return f"{', '.join(parts) or 'nothing'} of run{'s' if len(runs) > 1 else ''} {', '.join(runs) or '-'}"


def _guess(text: bytes) -> str:
    """What a damaged file held, as far as its readable part tells: its size and the runs it names."""
    runs = sorted(set(re.findall(rb'"run_id": "([0-9A-Za-z_.-]{1,64})"', text)))
    named = f" of run{'s' if len(runs) > 1 else ''} {', '.join(r.decode() for r in runs)}" if runs else ""
    return f"{len(text):,} bytes of a batch{named}"


def _worth_retrying(error: BaseException) -> bool:
    """A store busy or unreachable (try the file again later), not one refusing what is in it."""
    if isinstance(error, StoreVersionError):
        return False
    return isinstance(error, (StoreError, OSError)) or type(error).__name__ == "OperationalError"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__
