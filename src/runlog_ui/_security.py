"""What every request goes through before the app: method, Host header and token checks, and the
security headers on every answer.

- Only GET and HEAD: anything else is 405 (the UI changes nothing).
- The ``Host`` header must name this server (``localhost``, ``127.0.0.1``, ``[::1]`` or the host it
  was started on) with its port: a page on another site that rebinds its DNS name to 127.0.0.1
  gets 403 (DNS rebinding). A server listening on every interface (``0.0.0.0``, ``::``) cannot know
  the names it is reached by; it accepts any Host, and its token (always required there) protects it.
- With a token, every request needs it: ``Authorization: Bearer <token>`` or the cookie that
  opening any page with ``?token=<token>`` sets (HttpOnly, SameSite=Strict), after which the page
  is reloaded without the token in its URL. Tokens are compared with ``hmac.compare_digest``.
- Every answer carries a Content-Security-Policy, ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``; never a CORS header.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["CSP", "EMBED_CSP", "Guard", "is_loopback", "COOKIE_PREFIX"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}")
CSP = _POLICY.format(ancestors="'self'")
"""The Content-Security-Policy of ``runlog ui``: no inline script or style, nothing from elsewhere,
framed only by its own pages."""
EMBED_CSP = _POLICY.format(ancestors="'self' http://localhost:* http://127.0.0.1:* https://localhost:* "
                                     "https://127.0.0.1:* vscode-webview: vscode-file:")
"""The policy of the notebook widget's server (loopback only, no token): it may be framed by a
notebook served from this machine (Jupyter on localhost, VS Code's webviews) and by nothing else."""
FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
"""A served file is never a page of the app: no script runs in it even when opened directly."""
COOKIE_PREFIX = "runlog_ui_token_"
"""The token cookie is ``runlog_ui_token_<port>``: cookies are per host, not per port, so two servers
on one machine with different tokens must not overwrite each other's."""
METHODS = ("GET", "HEAD")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host.strip("[]").lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _everywhere(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


class Guard:
    """ASGI middleware: method, Host and token checks, then the app, with security headers added."""

    def __init__(self, app: ASGIApp, host: str, token: str | None, embed: bool = False) -> None:
        self.app, self.host, self.token = app, host, token
        # the cookie holds a digest of the token, not the token (which may hold characters a cookie cannot)
        self.cookie_value = None if token is None else hashlib.sha256(b"runlog-ui:" + token.encode()).hexdigest()
        self.csp = EMBED_CSP if embed else CSP
        names = {"localhost", "127.0.0.1", "[::1]"}
        bare = host.strip("[]")
        names.add(f"[{bare}]" if ":" in bare else bare.lower())
        self.names = names
        self.any_host = _everywhere(host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        is_file = path.startswith("/api/runs/") and "/files/" in path

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-security-policy", b"x-content-type-options")]
                headers += [(b"content-security-policy", (FILE_CSP if is_file and not _is_pdf(headers)
                                                          else self.csp).encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"cross-origin-resource-policy", b"same-origin")]
                message["headers"] = headers
            await send(message)

        method = scope.get("method", "GET")
        if method not in METHODS:
            await _answer(secured, 405, f"method {method} is not allowed: the UI is read-only (GET and HEAD only)",
                          [(b"allow", b"GET, HEAD")])
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        port = (scope.get("server") or ("", 0))[1]
        if not self._host_ok(headers.get(b"host", b"").decode("latin-1"), port):
            await _answer(secured, 403, "this server answers only to its own name (Host header refused)")
            return
        if self.token is not None:
            query = scope.get("query_string", b"").decode("latin-1")
            pairs = parse_qsl(query, keep_blank_values=True)
            given = [v for k, v in pairs if k == "token"]
            cookie = f"{COOKIE_PREFIX}{port}"
            if given:
                if not self._match(given[-1]):
                    await _answer(secured, 403, "wrong token: open the URL that `runlog ui` printed")
                    return
                rest = urlencode([(k, v) for k, v in pairs if k != "token"])
                location = path + ("?" + rest if rest else "")
                set_cookie = f"{cookie}={self.cookie_value}; Path=/; HttpOnly; SameSite=Strict"
                await _answer(secured, 303, "token accepted", [(b"location", location.encode("latin-1")),
                                                               (b"set-cookie", set_cookie.encode("latin-1")),
                                                               (b"cache-control", b"no-store")])
                return
            if not self._authorized(headers, cookie):
                await _answer(secured, 403, "this server needs its token: open the URL that `runlog ui` printed "
                                            "(with ?token=...), or send Authorization: Bearer <token>")
                return
        await self.app(scope, receive, secured)

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

    def _match(self, given: str, expected: str | None = None) -> bool:
        expected = expected if expected is not None else (self.token or "")
        return bool(expected) and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())

    def _authorized(self, headers: dict[bytes, bytes], cookie_name: str) -> bool:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth[:7].lower() == "bearer " and self._match(auth[7:].strip()):
            return True
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers.get(b"cookie", b"").decode("latin-1"))
        except Exception:  # a malformed Cookie header: no token in it
            return False
        morsel = jar.get(cookie_name)
        return morsel is not None and self._match(morsel.value, self.cookie_value)


def _is_pdf(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"application/pdf") for k, v in headers)


async def _answer(send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
