"""Serving the app with uvicorn: ``serve`` (``runlog ui``, blocking) and ``start_server`` (a background
thread, for the notebook widget).

The socket is bound before anything is printed, so the URL printed first is already accepting
connections (they wait in the listen queue until uvicorn takes them); ``--port 0`` picks a free port.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import Any, TextIO

from runlog_core.exceptions import RunlogError
from runlog_core.integration import open_store
from runlog_core.views import register_ui, ui_token

from ._app import build_app
from ._security import is_loopback

__all__ = ["check_host", "serve", "start_server"]

_started: dict[str, str] = {}  # "pid:store uri:store object" -> base URL of this process' background server
_start_lock = threading.Lock()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise RunlogError(f"runlog ui cannot listen on {host}:{port}: {err.strerror or err}; "
                          "pick another --port (0: any free one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    bare = host.strip("[]")
    shown = "127.0.0.1" if bare in ("0.0.0.0", "") else "[::1]" if bare == "::" else bare
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _server(app: Any) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2,
                            server_header=False)
    return uvicorn.Server(config)


def _store(store: Any) -> Any:
    return open_store(store)


def check_host(host: str, token: str | None) -> None:
    """Refuse to serve another host than this machine without a token."""
    if not is_loopback(host) and not token:
        raise RunlogError(f"--host {host} serves other machines: give a token with --token or RUNLOG_UI_TOKEN "
                          "(anyone who can reach the port could read every run otherwise)")


def serve(store: Any = None, host: str = "127.0.0.1", port: int = 5005, token: str | None = None,
          out: TextIO | None = None) -> None:
    """Serve the UI for ``store`` until Ctrl-C (then return); print the URL as the first line of ``out``.

    Args:
        store: a store object, a folder or a URI (default: ``RUNLOG_STORE``, else ``./runlog``).
        host: the address to listen on; anything but a loopback address needs ``token``.
        port: the port, 0 for any free one.
        token: required by every request (default: ``RUNLOG_UI_TOKEN``).

    Raises:
        RunlogError: a non-loopback host without a token, or a port that cannot be listened on.
    """
    token = token if token is not None else ui_token()
    check_host(host, token)
    opened = _store(store)
    sock = _bind(host, port)
    actual = sock.getsockname()[1]
    url = _url(host, actual)
    # a loopback server without a token: notebooks of this user link their runs to it
    register_ui(opened.uri, url, shared=is_loopback(host) and not token)
    out = out if out is not None else sys.stdout
    try:
        out.write((f"{url}/?token={token}" if token else f"{url}/") + "\n")
        out.flush()
        server = _server(build_app(opened, host=host, token=token or None))
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled once it has stopped; or one came first
        pass
    finally:
        register_ui(opened.uri, None, shared=is_loopback(host) and not token)
        sock.close()


def start_server(store: Any = None, port: int = 0, host: str = "127.0.0.1") -> str:
    """Start (once per process and store) a UI server in a daemon thread; return its base URL.

    It listens on a loopback address only, needs no token, and may be framed by notebooks served
    from this machine (see docs/ui.md, "Notebook widget"). It stops with the process.
    """
    if not is_loopback(host):
        raise RunlogError(f"start_server listens on this machine only (127.0.0.1, localhost, ::1), not {host!r}; "
                          "use `runlog ui --host ... --token ...` to serve other machines")
    opened = _store(store)
    key = f"{os.getpid()}:{opened.uri}:{id(opened)}"  # a store closed and opened again gets a new server
    with _start_lock:
        found = _started.get(key)
        if found is not None:
            return found
        sock = _bind(host, port)
        url = _url(host, sock.getsockname()[1])
        server = _server(build_app(opened, host=host, embed=True))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="runlog-ui", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RunlogError(f"the runlog ui server for {opened.uri} did not start")
            time.sleep(0.01)
        _started[key] = url
        register_ui(opened.uri, url)
        return url
