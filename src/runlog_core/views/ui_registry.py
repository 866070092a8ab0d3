"""Which web UI servers serve which store: runs shown in a notebook link to their page.

``runlog_ui`` records each server it starts or stops with :func:`register_ui` (the core never
imports ``runlog_ui``); :func:`find_ui` answers for a store URI. A ``runlog ui`` on a loopback
address is also shared with this user's other processes (a notebook beside it) through a file per
process in ``<temp>/runlog-ui-<uid>/``. That folder is a place other users can reach first, so:

- it is used only if it is this user's own folder: a real folder (not a link), owned by this uid,
  mode 0700 (created so when missing). Anything else is refused: :func:`register_ui` returns one
  line saying so and the server goes on serving, unshared.
- every file in it is opened relative to a descriptor of that checked folder and never through a
  link: an entry is written to a new file of a random name (``O_CREAT | O_EXCL | O_NOFOLLOW``,
  mode 0600), then renamed over ``<pid>.json``, so a planted link can redirect no write.
- an entry names the store by a SHA-256 digest of its URI (no credential a URI may hold is written)
  and the URL without any token; entries of processes that ended are removed when a server registers.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import tempfile

__all__ = ["find_ui", "register_ui"]

_ui_servers: dict[str, str] = {}  # store URI -> base URL of a UI server this process runs for it
_MAX_ENTRY = 64 * 1024


class _Refused(Exception):
    """The shared folder is not this user's private folder."""


def register_ui(store_uri: str, base_url: str | None, shared: bool = False) -> str | None:
    """Record (``None``: forget) a UI server for a store: runs of that store link to it.

    Called by ``runlog_ui`` when it starts or stops a server (core never imports ``runlog_ui``).
    ``shared``: also in a file of this user's (``<temp>/runlog-ui-<uid>/<pid>.json``), so that runs shown
    in other processes (a notebook beside a ``runlog ui``) link to it while this process lives.

    Returns:
        ``None``, or (``shared`` only) one line saying why the shared file was not written: the
        folder is not this user's private folder, or it could not be written. The server this
        process runs is recorded for this process in any case.
    """
    if base_url is None:
        _ui_servers.pop(store_uri, None)
    else:
        _ui_servers[store_uri] = base_url.rstrip("/")
    return _share_ui(store_uri, base_url) if shared else None


def find_ui(store_uri: str) -> str | None:
    """The base URL of a UI server for ``store_uri``: one this process runs, else a live one another
    process of this user's shared; ``None`` when there is none."""
    return _ui_servers.get(store_uri) or _shared_ui(store_uri)


def _folder() -> str | None:
    """The folder of shared registrations; ``None`` on Windows (no uid, and os.kill would end the process)."""
    if not hasattr(os, "getuid"):
        return None
    return os.path.join(tempfile.gettempdir(), f"runlog-ui-{os.getuid()}")


def _digest(store_uri: str) -> str:
    return hashlib.sha256(store_uri.encode("utf-8", "surrogateescape")).hexdigest()


def _open_folder(path: str, create: bool) -> int:
    """A descriptor of ``path``, checked to be this user's folder, mode 0700, not a link.

    Raises:
        FileNotFoundError: it does not exist (and ``create`` is false).
        _Refused: it is a link, not a folder, another user's, or open to others.
    """
    made = False
    if create:
        try:
            os.mkdir(path, 0o700)
            made = True
        except FileExistsError:
            pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError:  # ELOOP: a link; ENOTDIR: a file
        kind = "a link" if os.path.islink(path) else "not a folder"
        raise _Refused(f"{path} is {kind}") from None
    info = os.fstat(fd)
    if made:
        os.fchmod(fd, 0o700)  # whatever the umask left
        info = os.fstat(fd)
    problem = None
    if info.st_uid != os.getuid():
        problem = f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()})"
    elif stat.S_IMODE(info.st_mode) != 0o700:
        problem = f"{path} has mode {stat.S_IMODE(info.st_mode):04o}, not 0700"
    if problem is not None:
        os.close(fd)
        raise _Refused(problem)
    return fd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: a process that exists
        return True
    return pid > 0


def _share_ui(store_uri: str, base_url: str | None) -> str | None:
    folder = _folder()
    if folder is None:
        return None
    name = f"{os.getpid()}.json"
    try:
        fd = _open_folder(folder, create=base_url is not None)
    except FileNotFoundError:
        return None
    except _Refused as err:
        return (f"runlog ui: notebooks will not link to this server: {err}; remove it, or set TMPDIR "
                "to a folder of your own")
    except OSError as err:
        return f"runlog ui: notebooks will not link to this server: {folder}: {err.strerror or err}"
    try:
        if base_url is None:
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass
            return None
        _sweep(fd)
        temporary = f".{os.getpid()}.{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(temporary, flags, 0o600, dir_fd=fd), "w", encoding="utf-8") as out:
            json.dump({"store": _digest(store_uri), "url": base_url.rstrip("/"), "pid": os.getpid()}, out)
        os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
        return None
    except OSError as err:
        return f"runlog ui: notebooks will not link to this server: {folder}: {err.strerror or err}"
    finally:
        os.close(fd)


def _sweep(fd: int) -> None:
    """Remove the entries (and leftover temporary files) of processes that ended."""
    for name in os.listdir(fd):
        pid = name[1:].split(".")[0] if name.startswith(".") and name.endswith(".tmp") else name[:-5]
        if not (name.endswith(".json") or name.endswith(".tmp")) or not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            os.unlink(name, dir_fd=fd)
        except OSError:
            pass


def _read_entry(fd: int, name: str) -> dict[str, object] | None:
    try:
        entry_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        return None
    with os.fdopen(entry_fd, "rb") as found:
        if not stat.S_ISREG(os.fstat(entry_fd).st_mode):
            return None
        try:
            entry = json.loads(found.read(_MAX_ENTRY))
        except ValueError:
            return None
    return entry if isinstance(entry, dict) else None


def _shared_ui(store_uri: str) -> str | None:
    """The URL of a live UI server another process of this user registered for ``store_uri``."""
    folder = _folder()
    if folder is None:
        return None
    try:
        fd = _open_folder(folder, create=False)
    except (OSError, _Refused):  # missing, or not this user's private folder: nothing from it is trusted
        return None
    try:
        wanted = _digest(store_uri)
        for name in sorted(os.listdir(fd)):
            if name.startswith(".") or not name.endswith(".json"):
                continue
            entry = _read_entry(fd, name)
            if entry is None or entry.get("store") != wanted:
                continue
            url, pid = entry.get("url"), entry.get("pid")
            if isinstance(url, str) and url.startswith("http://") and isinstance(pid, int) and _alive(pid):
                return url
        return None
    except OSError:
        return None
    finally:
        os.close(fd)
