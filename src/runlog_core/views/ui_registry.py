"""Which web UI servers serve which store: runs shown in a notebook link to their page there.

``runlog_ui`` records each server it starts or stops with :func:`register_ui` (the core never
imports ``runlog_ui``); :func:`find_ui` answers for a store URI. A loopback server without a token
is also shared with this user's other processes through a file per process in
``<temp>/runlog-ui-<uid>/`` (a notebook beside a ``runlog ui``), read back only from a folder of
this user's that others cannot write, and only while the registering process lives.
"""

from __future__ import annotations

__all__ = ["find_ui", "register_ui"]

_ui_servers: dict[str, str] = {}  # store URI -> base URL of a UI server this process runs for it


def register_ui(store_uri: str, base_url: str | None, shared: bool = False) -> None:
    """Record (``None``: forget) a UI server for a store: runs of that store link to it.

    Called by ``runlog_ui`` when it starts or stops a server (core never imports ``runlog_ui``).
    ``shared``: also in a file of this user's (``<temp>/runlog-ui-<uid>/<pid>.json``), so that runs shown
    in other processes (a notebook beside a ``runlog ui``) link to it while this process lives.
    """
    if base_url is None:
        _ui_servers.pop(store_uri, None)
    else:
        _ui_servers[store_uri] = base_url.rstrip("/")
    if shared:
        _share_ui(store_uri, base_url)


def find_ui(store_uri: str) -> str | None:
    """The base URL of a UI server for ``store_uri``: one this process runs, else a live one another
    process of this user's shared; ``None`` when there is none."""
    return _ui_servers.get(store_uri) or _shared_ui(store_uri)


def _registry() -> str | None:
    """The folder of shared registrations; ``None`` on Windows (no uid, and os.kill would end the process)."""
    import os
    import tempfile

    if not hasattr(os, "getuid"):
        return None
    return os.path.join(tempfile.gettempdir(), f"runlog-ui-{os.getuid()}")


def _share_ui(store_uri: str, base_url: str | None) -> None:
    import json
    import os

    folder = _registry()
    if folder is None:
        return
    path = os.path.join(folder, f"{os.getpid()}.json")
    try:
        if base_url is None:
            os.unlink(path)
            return
        os.makedirs(folder, mode=0o700, exist_ok=True)
        temporary = f"{path}.tmp"
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump({"store": store_uri, "url": base_url.rstrip("/"), "pid": os.getpid()}, out)
        os.replace(temporary, path)
    except OSError:  # a link in notebooks is a nicety: never fail a server for it
        pass


def _shared_ui(store_uri: str) -> str | None:
    """The URL of a live UI server another process of this user registered for ``store_uri``."""
    import json
    import os

    folder = _registry()
    if folder is None:
        return None
    try:
        info = os.stat(folder)
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None  # not this user's, or writable by others: links from there are not trusted
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as found:
                entry = json.load(found)
            if entry.get("store") != store_uri or not str(entry.get("url", "")).startswith("http://"):
                continue
            os.kill(int(entry["pid"]), 0)  # still running (ProcessLookupError otherwise)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        return str(entry["url"])
    return None
