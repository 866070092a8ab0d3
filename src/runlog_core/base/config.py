"""Every ``RUNLOG_*`` environment variable runlog reads, in one place.

Each setting is read when it is needed (so a test or a notebook can change it between runs),
through one function per variable. A value that cannot be used raises :class:`ConfigError`
naming the variable, its value and what it accepts; an unset or empty variable means the default.
docs/settings.md lists them all in its table.
"""

from __future__ import annotations

import os

from runlog_core.exceptions import ConfigError

__all__ = [
    "VARIABLES",
    "artifacts",
    "experiment",
    "flush_interval",
    "heartbeat_interval",
    "heartbeat_timeout",
    "keep_workdir",
    "max_buffered_points",
    "redact_patterns",
    "run_id",
    "snapshot_max_mb",
    "source_directory",
    "spill_dir",
    "stop_grace",
    "store",
    "store_timeout",
    "strict_integrations",
    "sync",
    "system_interval",
    "ui_db_connections",
    "ui_token",
]

# name -> what it sets (the table of docs/settings.md says the same)
VARIABLES: dict[str, str] = {
    "RUNLOG_STORE": "the store: a folder, sqlite:///file.db or another store URI",
    "RUNLOG_ARTIFACTS": "where artifact files go",
    "RUNLOG_EXPERIMENT": "the experiment of Run.get_context() and of the integrations' own runs",
    "RUNLOG_RUN_ID": "set by runlog submit: the run Run.get_context() attaches to",
    "RUNLOG_SOURCE_DIRECTORY": "set by runlog submit: the source folder of the submitted script",
    "RUNLOG_FLUSH_INTERVAL": "seconds between the writer's commits",
    "RUNLOG_HEARTBEAT_INTERVAL": "seconds between a live run's heartbeats",
    "RUNLOG_HEARTBEAT_TIMEOUT": "how stale a heartbeat may get before the run reads Killed",
    "RUNLOG_SYNC": "normal or full (every commit survives power loss)",
    "RUNLOG_MAX_BUFFERED_POINTS": "how many points wait in memory while the store refuses writes",
    "RUNLOG_STRICT_INTEGRATIONS": "1: integration failures raise instead of warning",
    "RUNLOG_SNAPSHOT_MAX_MB": "the largest source snapshot a submitted run keeps",
    "RUNLOG_SYSTEM_INTERVAL": "seconds between system-metric samples",
    "RUNLOG_STOP_GRACE": "seconds between SIGTERM and SIGKILL when a submitted script is stopped",
    "RUNLOG_KEEP_WORKDIR": "1: keep a submitted script's working copy after it ends",
    "RUNLOG_REDACT": "extra variable and option name patterns whose values a submitted run records as ***",
    "RUNLOG_STORE_TIMEOUT": "the longest an API call waits for a busy (locked) store before StoreError",
    "RUNLOG_SPILL_DIR": "where points a remote store could not take before the program ended wait to be written",
    "RUNLOG_UI_TOKEN": "the token runlog ui and the notebook widget ask of every request (16 characters or more; default: a random one)",
    "RUNLOG_UI_DB_CONNECTIONS": "the most connections runlog ui holds to a PostgreSQL store (idle ones are closed)",
    "RUNLOG_S3_STALE_UPLOAD_SECONDS": "multipart uploads under the S3 prefix older than this are aborted at first use",
    "RUNLOG_RAY_ADDRESS": "the Ray cluster of compute_target='ray' (host:port of the head's GCS)",
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


def _number(name: str, default: float, *, unit: str = "seconds", zero_ok: bool = False) -> float:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value >= 0 if zero_ok else value > 0) or value == float("inf"):
        raise ConfigError(name, raw, f"a finite number of {unit}, {'0 or more' if zero_ok else 'more than 0'}")
    return value


def _flag(name: str) -> bool:
    raw = _raw(name)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(name, raw, "1, true, yes or on (0, false, no or off to turn it off)")


def store() -> str | None:
    """``RUNLOG_STORE``: the default store, or ``None`` for ``./runlog``."""
    return _raw("RUNLOG_STORE")


def spill_dir() -> str:
    """``RUNLOG_SPILL_DIR``: where a remote store's unwritten points wait at exit (``~/.local/state/runlog/spill``)."""
    found = _raw("RUNLOG_SPILL_DIR")
    if found:
        return found
    state = _raw("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "runlog", "spill")


def artifacts() -> str | None:
    """``RUNLOG_ARTIFACTS``: the artifact root, or ``None`` for the store's own folder."""
    return _raw("RUNLOG_ARTIFACTS")


def experiment() -> str | None:
    """``RUNLOG_EXPERIMENT``: the default experiment name, or ``None``."""
    return _raw("RUNLOG_EXPERIMENT")


def run_id() -> str | None:
    """``RUNLOG_RUN_ID``: the submitted run's id inside ``runlog submit``, else ``None``."""
    return _raw("RUNLOG_RUN_ID")


def source_directory() -> str | None:
    """``RUNLOG_SOURCE_DIRECTORY``: the submitted script's source folder, else ``None``."""
    return _raw("RUNLOG_SOURCE_DIRECTORY")


def flush_interval() -> float:
    """``RUNLOG_FLUSH_INTERVAL``: seconds between the writer's commits (1)."""
    return _number("RUNLOG_FLUSH_INTERVAL", 1.0)


def heartbeat_interval() -> float:
    """``RUNLOG_HEARTBEAT_INTERVAL``: seconds between heartbeats of a live run (5)."""
    return _number("RUNLOG_HEARTBEAT_INTERVAL", 5.0)


def heartbeat_timeout() -> float:
    """``RUNLOG_HEARTBEAT_TIMEOUT``: seconds without a heartbeat before a run reads Killed (20)."""
    return _number("RUNLOG_HEARTBEAT_TIMEOUT", 20.0)


def sync() -> str:
    """``RUNLOG_SYNC``: ``"normal"`` (default) or ``"full"``."""
    raw = _raw("RUNLOG_SYNC")
    if raw is None:
        return "normal"
    if raw.lower() in ("normal", "full"):
        return raw.lower()
    raise ConfigError("RUNLOG_SYNC", raw, "normal or full")


def max_buffered_points() -> int:
    """``RUNLOG_MAX_BUFFERED_POINTS``: points kept in memory while the store refuses writes (5,000,000)."""
    raw = _raw("RUNLOG_MAX_BUFFERED_POINTS")
    if raw is None:
        return 5_000_000
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError("RUNLOG_MAX_BUFFERED_POINTS", raw, "a whole number of points greater than 0")
    return value


def strict_integrations() -> bool:
    """``RUNLOG_STRICT_INTEGRATIONS``: integration failures raise instead of warning."""
    return _flag("RUNLOG_STRICT_INTEGRATIONS")


def snapshot_max_mb() -> float:
    """``RUNLOG_SNAPSHOT_MAX_MB``: the largest source snapshot, in MiB (300)."""
    return _number("RUNLOG_SNAPSHOT_MAX_MB", 300.0, unit="MiB")


def system_interval() -> float:
    """``RUNLOG_SYSTEM_INTERVAL``: seconds between system-metric samples (10)."""
    return _number("RUNLOG_SYSTEM_INTERVAL", 10.0)


def stop_grace() -> float:
    """``RUNLOG_STOP_GRACE``: seconds between SIGTERM and SIGKILL for a stopped script (10)."""
    return _number("RUNLOG_STOP_GRACE", 10.0, zero_ok=True)


def store_timeout() -> float:
    """``RUNLOG_STORE_TIMEOUT``: seconds an API call waits for a locked store before ``StoreError`` (10)."""
    return _number("RUNLOG_STORE_TIMEOUT", 10.0)


def s3_stale_upload_seconds(default: float) -> float:
    """``RUNLOG_S3_STALE_UPLOAD_SECONDS``: age after which an open multipart upload under the S3 prefix is aborted."""
    return _number("RUNLOG_S3_STALE_UPLOAD_SECONDS", default, zero_ok=True)


def ray_address() -> str | None:
    """``RUNLOG_RAY_ADDRESS``: the Ray cluster ``compute_target="ray"`` runs on (else Ray's discovery)."""
    return _raw("RUNLOG_RAY_ADDRESS")


def keep_workdir() -> bool:
    """``RUNLOG_KEEP_WORKDIR``: keep a submitted script's working copy after it ends."""
    return _flag("RUNLOG_KEEP_WORKDIR")


def redact_patterns() -> tuple[str, ...]:
    """``RUNLOG_REDACT``: extra secret-name patterns, comma-separated (none).

    Each pattern is matched case-insensitively: a glob (``*``, ``?``, ``[...]``) against the
    whole name, anything else as a substring. An empty entry (``A,,B``, a trailing comma) is
    refused: it would match nothing, or everything, and either is surely a typo.
    """
    raw = _raw("RUNLOG_REDACT")
    if raw is None:
        return ()
    patterns = tuple(part.strip() for part in raw.split(","))
    if not all(patterns):
        raise ConfigError("RUNLOG_REDACT", raw,
                          "comma-separated name patterns without empty entries, e.g. INTERNAL,MYCO_*_ID")
    return patterns


def ui_db_connections() -> int:
    """``RUNLOG_UI_DB_CONNECTIONS``: the most connections the web UI holds to a store's server (4)."""
    raw = _raw("RUNLOG_UI_DB_CONNECTIONS")
    if raw is None:
        return 4
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError("RUNLOG_UI_DB_CONNECTIONS", raw, "a whole number of connections greater than 0")
    return value


def ui_token() -> str | None:
    """``RUNLOG_UI_TOKEN``: the token ``runlog ui`` requires of every request, or ``None`` (none)."""
    return _raw("RUNLOG_UI_TOKEN")
