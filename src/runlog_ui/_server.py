"""Serving the app with uvicorn: ``serve`` (``runlog ui``, blocking) and ``start_server`` (a background
thread, for the notebook widget).

The socket is bound before anything is printed, so the URL printed first is already accepting
connections (they wait in the listen queue until uvicorn takes them); ``--port 0`` picks a free port.
Both ask for a token by default (see :mod:`runlog_ui._tokens`) and run with the connection hygiene
of :mod:`runlog_ui._connections`.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from typing import Any, TextIO
from urllib.parse import quote

from runlog_core.exceptions import RunlogError
from runlog_core.integration import open_store
from runlog_core.views import register_ui, ui_token

from ._app import build_app
from ._connections import LISTEN_QUEUE, REQUEST_TIMEOUT, Server, limits, protocol_class
from ._security import CSP, EMBED_CSP
from ._tokens import is_loopback, resolve_token

__all__ = ["background_server", "check_host", "login_url", "serve", "start_server"]

_started: dict[str, tuple[str, str]] = {}  # "pid:store uri:store object" -> (base URL, token) of a background server
_start_lock = threading.Lock()
NO_TOKEN_WARNING = ("runlog ui: --no-token: every user of this machine can read these runs at this address "
                    "(their names, params, metrics, logs and files)")


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
    sock.listen(LISTEN_QUEUE)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    bare = host.strip("[]")
    shown = "127.0.0.1" if bare in ("0.0.0.0", "") else "[::1]" if bare == "::" else bare
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def login_url(base: str, token: str | None, path: str = "/") -> str:
    """``base + path`` with ``?token=`` when there is a token: the URL to open."""
    if token is None:
        return base + path
    return f"{base}{path}{'&' if '?' in path else '?'}token={quote(token, safe='')}"


def _server(app: Any, csp: str) -> Server:
    import uvicorn

    _soft, cap, batch = limits()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2,
                            server_header=False, http=protocol_class(cap, csp), backlog=batch,
                            timeout_keep_alive=int(REQUEST_TIMEOUT))
    return Server(config)


def _store(store: Any) -> Any:
    return open_store(store)


def check_host(host: str, token: str | None, no_token: bool = False) -> str | None:
    """The token a server on ``host`` will require (``None``: ``no_token``, loopback only); raises
    ``RunlogError`` in one line for a token that is too short or not plain, or ``no_token`` elsewhere."""
    return resolve_token(host, token, no_token, ui_token())


class _Terminated(BaseException):
    """SIGTERM arrived: stop as Ctrl-C does, so that what serve set up is undone."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


def serve(store: Any = None, host: str = "127.0.0.1", port: int = 5005, token: str | None = None,
          out: TextIO | None = None, no_token: bool = False) -> None:
    """Serve the UI for ``store`` until Ctrl-C or SIGTERM (then return); print the URL to open (with
    ``?token=``) as the first line of ``out``.

    Args:
        store: a store object, a folder or a URI (default: ``RUNLOG_STORE``, else ``./runlog``).
        host: the address to listen on.
        port: the port, 0 for any free one.
        token: required by every request (default: ``RUNLOG_UI_TOKEN``, else a random one).
        no_token: serve without a token (a loopback ``host`` only): every local user can read the runs.

    Raises:
        RunlogError: a bad token, ``no_token`` on another host, or a port that cannot be listened on.
    """
    token = check_host(host, token, no_token)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main else None
    url = None
    shared = is_loopback(host) or host.strip("[]") in ("0.0.0.0", "::")
    try:
        opened = _store(store)
        sock = _bind(host, port)
        url = _url(host, sock.getsockname()[1])
        problem = register_ui(opened.uri, url, shared=shared)  # notebooks of this user link their runs here
        out = out if out is not None else sys.stdout
        out.write(login_url(url, token) + "\n")
        out.flush()
        for line in (NO_TOKEN_WARNING if token is None else None, problem):
            if line:
                print(line, file=sys.stderr, flush=True)
        try:
            _server(build_app(opened, host=host, token=token), CSP).run(sockets=[sock])
        finally:
            sock.close()
    except (KeyboardInterrupt, _Terminated):  # uvicorn re-raises the Ctrl-C or SIGTERM it handled once stopped
        pass
    finally:
        if main:  # first: a second SIGTERM now ends the process (an entry left behind is swept later)
            signal.signal(signal.SIGTERM, previous)
        if url is not None:
            register_ui(opened.uri, None, shared=shared)


def start_server(store: Any = None, port: int = 0, host: str = "127.0.0.1", token: str | None = None) -> str:
    """Start (once per process and store) a UI server in a daemon thread; return the URL to open:
    its base URL and ``/?token=<token>``.

    It listens on a loopback address only and asks for a token (``token``, else ``RUNLOG_UI_TOKEN``,
    else a random one); it may be framed by notebooks served from this machine (see docs/ui.md,
    "Notebook widget"). It stops with the process.
    """
    base, token = background_server(store, port, host, token)
    return login_url(base, token)


def background_server(store: Any, port: int, host: str, token: str | None) -> tuple[str, str]:
    """``(base URL, token)`` of this process' background server for ``store``, started if need be."""
    if not is_loopback(host):
        raise RunlogError(f"start_server listens on this machine only (127.0.0.1, localhost, ::1), not {host!r}; "
                          "use `runlog ui --host ...` to serve other machines")
    opened = _store(store)
    key = f"{os.getpid()}:{opened.uri}:{id(opened)}"  # a store closed and opened again gets a new server
    with _start_lock:
        found = _started.get(key)
        if found is not None:
            return found
        required = check_host(host, token)
        assert required is not None
        sock = _bind(host, port)
        url = _url(host, sock.getsockname()[1])
        server = _server(build_app(opened, host=host, token=required, embed=True), EMBED_CSP)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="runlog-ui", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RunlogError(f"the runlog ui server for {opened.uri} did not start")
            time.sleep(0.01)
        _started[key] = (url, required)
        register_ui(opened.uri, url)
        return url, required
