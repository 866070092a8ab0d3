"""Connection hygiene of every server runlog starts (``runlog ui`` and the notebook widget's): what
a client that connects and then sends nothing, or too much, can cost it.

- A connection has :data:`REQUEST_TIMEOUT` seconds to send a complete request head, counted from
  when it opens and again from each answer: one that sends nothing, or sends its head a byte at a
  time, is closed. uvicorn closes only idle keep-alive connections, and forgets that timer at the
  first byte.
- Open connections are capped below the open-file limit (:func:`limits`). At the cap a new
  connection closes the one that has waited longest for a request (nothing is lost: it had asked
  nothing); when every one is busy answering a request, the new one gets a 503.
- The listening socket is accepted from in batches of a sixteenth of the limit (about three
  batches are open before the cap closes what they displace), while the kernel's queue of
  connections waiting to be accepted stays long (:data:`LISTEN_QUEUE`): a burst waits there rather
  than costing descriptors, and its user's own connection waits in it too instead of being dropped.
- Running out of descriptors anyway is logged in one line at most once per :data:`LOG_INTERVAL`
  seconds, not per accept (Python 3.11's asyncio logs a traceback for every failed accept: 60 MB
  in 30 s); malformed requests are logged the same way.
- uvicorn's own 400 (a malformed request) is one JSON line with the security headers, as every
  other error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._security import CSP, security_headers

__all__ = ["LOG_INTERVAL", "REQUEST_TIMEOUT", "Server", "limits", "protocol_class"]

REQUEST_TIMEOUT = 5.0
LOG_INTERVAL = 10.0
LISTEN_QUEUE = 2048
_ACCEPT_FAILED = "socket.accept() out of system resource"
_NOISY = ("Invalid HTTP request received.",)


def limits() -> tuple[int, int, int]:
    """``(open-file limit, connection cap, accept batch)`` for this process: the cap and three batches
    together leave an eighth of the limit (at least 32) to the store's files, logs and the like."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        soft = 65536 if soft == resource.RLIM_INFINITY else soft
    except (ImportError, OSError, ValueError):  # Windows: no such limit on sockets
        soft = 4096
    soft = min(soft, 65536)
    batch = max(4, min(256, soft // 16))
    cap = max(8, min(10_000, soft - 3 * batch - max(32, soft // 8)))
    return soft, cap, batch


class _Every:
    """Says yes at most once per ``interval`` seconds; counts the times it said no in between."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval, self.last, self.skipped = interval, float("-inf"), 0

    def due(self) -> int | None:
        """None: not yet (counted). Else the number of times skipped since the last yes."""
        now = time.monotonic()
        if now - self.last < self.interval:
            self.skipped += 1
            return None
        skipped, self.last, self.skipped = self.skipped, now, 0
        return skipped


_out_of_files = _Every()
_noisy = {message: _Every() for message in _NOISY}


class _OncePerInterval(logging.Filter):
    """Lets uvicorn's message about a malformed request through once per interval, with a count."""

    def filter(self, record: logging.LogRecord) -> bool:
        limiter = _noisy.get(record.msg) if isinstance(record.msg, str) else None
        if limiter is None:
            return True
        skipped = limiter.due()
        if skipped is None:
            return False
        if skipped:
            record.msg = f"{record.msg} ({skipped} more since the last such message)"
        return True


def _exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if context.get("message") != _ACCEPT_FAILED:
        loop.default_exception_handler(context)
        return
    skipped = _out_of_files.due()
    if skipped is not None:
        soft = limits()[0]
        more = f"; {skipped} more times since the last such message" if skipped else ""
        logging.getLogger("uvicorn.error").error(
            "runlog ui: out of file descriptors (open-file limit %d): new connections wait%s", soft, more)


class Server(uvicorn.Server):
    """uvicorn's server with the exception handler and log filter above installed on its loop, and
    the kernel's queue of its sockets set back to :data:`LISTEN_QUEUE` (asyncio sets it to the batch)."""

    async def startup(self, sockets: Any = None) -> None:
        asyncio.get_running_loop().set_exception_handler(_exception_handler)
        error_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(found, _OncePerInterval) for found in error_log.filters):
            error_log.addFilter(_OncePerInterval())
        await super().startup(sockets=sockets)
        for sock in sockets or []:
            sock.listen(LISTEN_QUEUE)


def raw_answer(status: int, message: str, csp: str = CSP) -> bytes:
    """A whole HTTP/1.1 answer closing its connection: one JSON line and the security headers."""
    body = json.dumps({"error": message}).encode() + b"\n"
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"), (b"connection", b"close"), *security_headers(csp)]
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()] + [k + b": " + v for k, v in head]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class HygienicH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the request timeout, the connection cap and JSON 400s."""

    cap = 1000
    timeout = REQUEST_TIMEOUT
    csp = CSP

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = self.loop.time()
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(self.timeout, self._expire)
        if len(self.connections) > self.cap:
            victim = self._longest_waiting()
            if victim is not None:
                victim._close()
            else:
                self._refuse(503, "too many connections: try again in a moment")

    def _waiting(self) -> bool:
        """No request being answered: a new connection, an idle keep-alive one, or one sending its head."""
        return self.cycle is None or self.cycle.response_complete

    def _longest_waiting(self) -> HygienicH11Protocol | None:
        found: HygienicH11Protocol | None = None
        for other in self.connections:
            if (other is self or not isinstance(other, HygienicH11Protocol) or other.transport.is_closing()
                    or not other._waiting()):
                continue
            if found is None or other._since < found._since:
                found = other
        return found

    def _expire(self) -> None:
        self._timer = None
        if self.transport.is_closing() or not self._waiting():
            return  # closed already, or answering (the answer's end starts the clock again)
        left = self._since + self.timeout - self.loop.time()
        if left > 0:
            self._timer = self.loop.call_later(left, self._expire)
        else:
            self._close()

    def _close(self) -> None:
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:
            pass
        self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        if not self.transport.is_closing():
            self.transport.write(raw_answer(status, message, self.csp))
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        self._since = self.loop.time()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(self.timeout, self._expire)

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()  # type: ignore[union-attr]
            self._timer = None
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"malformed request: {msg.rstrip('.')}")


def protocol_class(cap: int, csp: str, timeout: float = REQUEST_TIMEOUT) -> type[HygienicH11Protocol]:
    """The protocol class of one server: its cap, its CSP (for the answers it writes itself), its timeout."""
    return type("RunlogH11Protocol", (HygienicH11Protocol,), {"cap": cap, "csp": csp, "timeout": timeout})
