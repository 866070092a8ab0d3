"""What every request goes through before the app: method, Host header and token checks; the
security headers on every answer; every error as one JSON line.

- Only GET and HEAD: anything else is 405 (the UI changes nothing).
- The ``Host`` header must name this server (``localhost``, ``127.0.0.1``, ``[::1]`` or the host it
  was started on) with its port: a page on another site that rebinds its DNS name to 127.0.0.1
  gets 403 (DNS rebinding). A server listening on every interface (``0.0.0.0``, ``::``) cannot know
  the names it is reached by; it accepts any Host, and its token (always required there) protects it.
- With a token (the default, see :mod:`runlog_ui._tokens`), every request but ``/static/...`` (the
  package's own scripts and styles, the same for everyone) needs one of:

  - ``?token=<token>``: on a page (not ``/api/...``, not ``?embed=1``) it is answered with a 303 to
    the same path on this server without the token, and the login cookie; elsewhere (the API, a
    framed page) it admits that request only;
  - ``Authorization: Bearer <token>`` (scripts; the notebook's frame, which gets no cookie);
  - the login cookie ``runlog_ui_<port>``: a random value made at each server start (never the
    token, nor derived from it), HttpOnly, SameSite=Lax.

  Missing or wrong: 401. Wrong tokens wait their turn (:class:`~runlog_ui._tokens.Throttle`).
- Every answer carries a Content-Security-Policy, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer`` and ``Cross-Origin-Resource-Policy: same-origin``; never a CORS
  header. An error of the app (500 included) is one JSON line; its traceback goes to the log.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from ._tokens import Throttle, is_everywhere, is_loopback, matches

__all__ = ["CSP", "COOKIE_PREFIX", "EMBED_CSP", "Guard", "is_loopback", "security_headers"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("runlog_ui")

_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}")
CSP = _POLICY.format(ancestors="'self'")
"""The Content-Security-Policy of ``runlog ui``: no inline script or style, nothing from elsewhere,
framed only by its own pages."""
EMBED_CSP = _POLICY.format(ancestors="'self' http://localhost:* http://127.0.0.1:* https://localhost:* "
                                     "https://127.0.0.1:* vscode-webview: vscode-file:")
"""The policy of the notebook widget's server (loopback only): it may be framed by a notebook served
from this machine (Jupyter on localhost, VS Code's webviews) and by nothing else."""
FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
"""A served file is never a page of the app: no script runs in it even when opened directly."""
COOKIE_PREFIX = "runlog_ui_"
"""The login cookie is ``runlog_ui_<port>``: cookies are per host, not per port, so two servers on one
machine must not overwrite each other's."""
METHODS = ("GET", "HEAD")
NEEDS_TOKEN = ("this server needs its token: open the URL that `runlog ui` printed (it ends in ?token=...), "
               "or send Authorization: Bearer <token>")


def security_headers(csp: str = CSP) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries."""
    return [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"), (b"cross-origin-resource-policy", b"same-origin")]


def local_location(raw_path: bytes, query: list[tuple[str, str]]) -> bytes:
    """A redirect target that can only be a path on this server: a single leading ``/``, every byte
    outside a plain path percent-encoded (``\\`` included, which browsers read as ``/``), no ``//``."""
    path = quote(raw_path, safe="/%-._~!$&'()*+,;=:@")
    path = "/" + re.sub("/{2,}", "/", path).lstrip("/")
    return (path + ("?" + urlencode(query) if query else "")).encode("ascii")


class Guard:
    """ASGI middleware: method, Host and token checks, then the app, with security headers added."""

    def __init__(self, app: ASGIApp, host: str, token: str | None, embed: bool = False) -> None:
        self.app, self.host, self.token = app, host, token
        # the cookie's value: random at each start, never the token nor derived from it
        self.session = secrets.token_urlsafe(32) if token is not None else None
        self.throttle = Throttle()
        self.csp = EMBED_CSP if embed else CSP
        names = {"localhost", "127.0.0.1", "[::1]"}
        bare = host.strip("[]")
        names.add(f"[{bare}]" if ":" in bare else bare.lower())
        self.names = names
        self.any_host = is_everywhere(host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        is_file = path.startswith("/api/runs/") and "/files/" in path
        started = False

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-security-policy", b"x-content-type-options")]
                pdf = any(k.lower() == b"content-type" and v.startswith(b"application/pdf") for k, v in headers)
                message["headers"] = headers + security_headers(FILE_CSP if is_file and not pdf else self.csp)
            await send(message)

        try:
            await self._guarded(scope, receive, secured)
        except Exception:  # a bug of ours or a store's: one JSON line out, the traceback in the log
            log.exception("runlog ui: %s failed", ascii(path))
            if not started:
                await _answer(secured, 500, "internal error: the traceback is in the server's log")

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "GET")
        if method not in METHODS:
            await _answer(send, 405, f"method {method} is not allowed: the UI is read-only (GET and HEAD only)",
                          [(b"allow", b"GET, HEAD")])
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        port = (scope.get("server") or ("", 0))[1]
        if not self._host_ok(headers.get(b"host", b"").decode("latin-1"), port):
            await _answer(send, 403, "this server answers only to its own name (Host header refused)")
            return
        path: str = scope.get("path", "")
        if self.token is None or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in pairs if k == "token"]
        auth = headers.get(b"authorization", b"").decode("latin-1")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if given or bearer is not None:
            verdict = await self.throttle.check(given[-1] if given else bearer or "", self.token)
            if verdict is None:
                await _answer(send, 429, "too many wrong tokens at once: try again in a minute",
                              [(b"retry-after", b"60")])
                return
            if not verdict:
                await _answer(send, 401, "wrong token: open the URL that `runlog ui` printed", _CHALLENGE)
                return
            rest = [(k, v) for k, v in pairs if k != "token"]
            if given and not path.startswith("/api/") and ("embed", "1") not in rest:
                await self._login(send, scope, rest, port)
                return
            scope = {**scope, "query_string": urlencode(rest).encode("ascii")}
        elif not self._has_session(headers, port):
            await _answer(send, 401, NEEDS_TOKEN, _CHALLENGE)
            return
        await self.app(scope, receive, send)

    async def _login(self, send: Send, scope: Scope, rest: list[tuple[str, str]], port: int) -> None:
        """The printed URL opened: the cookie, and a 303 to the same path on this server without the token."""
        raw_path = scope.get("raw_path") or scope.get("path", "/").encode("utf-8", "surrogateescape")
        cookie = f"{COOKIE_PREFIX}{port}={self.session}; Path=/; HttpOnly; SameSite=Lax"
        await _answer(send, 303, "token accepted", [(b"location", local_location(raw_path, rest)),
                                                    (b"set-cookie", cookie.encode("ascii"))])

    def _host_ok(self, value: str, port: int) -> bool:
        if self.any_host:
            return True
        value = value.strip().lower()
        if value.startswith("["):
            name, _, rest = value.partition("]")
            name += "]"
            given_port = rest[1:] if rest.startswith(":") else ""
        else:
            name, _, given_port = value.partition(":")
        if name not in self.names:
            return False
        return given_port == str(port) or (not given_port and port == 80)

    def _has_session(self, headers: dict[bytes, bytes], port: int) -> bool:
        """Whether the Cookie header holds this server's login cookie (checked by hand: a malformed cookie
        of another service on this host must not hide ours)."""
        name = f"{COOKIE_PREFIX}{port}"
        for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
            key, eq, value = part.strip().partition("=")
            if eq and key == name and self.session is not None and matches(value.strip('"'), self.session):
                return True
        return False


_CHALLENGE = [(b"www-authenticate", b'Bearer realm="runlog ui"')]


async def _answer(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
