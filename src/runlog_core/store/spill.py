"""What a remote store could not take before the program ended, kept on local disk and written later.

A PostgreSQL (or other remote) store that is down when a program ends would cost the points still
waiting in memory. Instead, the writer hands them here: each waiting batch is written, as JSON (never
pickle: nothing here is unpickled), into one file under ``RUNLOG_SPILL_DIR`` (default
``~/.local/state/runlog/spill``), in a folder named after the store's URI (its password left out).
The next time any process of this user opens that store, the files are written into it, oldest
first, each in its own transaction, and deleted once written. Points keep their steps, values and
times; series created in the meantime are created then.

A local SQLite store never spills: when it refuses writes at exit, the disk it lives on is the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from runlog_core.base import config as _config
from runlog_core.base.records import ArtifactInfo, Batch, SeriesRef

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.store import Store

__all__ = ["replay", "spill", "spills_for"]

_VERSION = 1


def _folder(uri: str) -> Path:
    digest = hashlib.sha256(uri.encode()).hexdigest()[:24]
    return Path(_config.spill_dir()) / digest


def spills_for(uri: str) -> list[Path]:
    """The spill files waiting for the store ``uri``, oldest first."""
    folder = _folder(uri)
    try:
        return sorted(folder.glob("*.json"))
    except OSError:
        return []


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
    batch = Batch()
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
    batches = [batch for batch in batches if batch.series or batch.columns or batch.params or batch.tags
               or batch.artifacts or batch.ends]
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


def replay(store: Store) -> int:
    """Write the spill files waiting for ``store`` into it, oldest first; returns how many were written.

    Each file is one batch, one transaction, deleted once written; a store that refuses one leaves it
    and the later ones for the next time (the refusal propagates).
    """
    written = 0
    for path in spills_for(store.uri):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            continue  # another process of this user wrote it first
        if data.get("version") != _VERSION or data.get("store") != store.uri:
            continue
        try:
            os.rename(path, path.with_suffix(".writing"))  # one process writes it, never two
        except FileNotFoundError:
            continue
        try:
            store.write(_decode(data))
        except BaseException:
            os.rename(path.with_suffix(".writing"), path)
            raise
        path.with_suffix(".writing").unlink()
        written += 1
    return written
