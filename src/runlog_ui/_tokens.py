"""The token of a UI server: where it comes from, which are accepted, and how wrong ones are slowed down.

- ``runlog ui`` and the notebook widget's server ask for a token by default, on loopback too, as
  Jupyter does: ``--token`` (or ``token=``), else ``RUNLOG_UI_TOKEN``, else a random one made at
  start (``secrets.token_urlsafe(32)``, 43 characters), which the printed URL carries.
- ``--no-token`` serves without one, on a loopback address only; ``runlog ui`` then says on stderr
  that every local user can read the runs.
- A token given is refused at start, in one line, when it is under 16 characters or holds anything
  but printable ASCII without spaces (it travels in URLs, headers and the printed line).
- Wrong tokens are slowed down (:class:`Throttle`): each wrong one waits its turn and holds the line
  for a second, so however many come at once, about one guess a second is answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import secrets

from runlog_core.exceptions import RunlogError

__all__ = ["FAIL_DELAY", "MIN_LENGTH", "Throttle", "is_everywhere", "is_loopback", "matches", "new_token",
           "resolve_token"]

MIN_LENGTH = 16
FAIL_DELAY = 1.0
"""Seconds each wrong token holds the line of wrong tokens."""
MAX_WAITING = 32
"""Wrong tokens waiting at most; one more is answered 429 without being checked."""


def new_token() -> str:
    """A random token: 32 bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def check_token(token: str, source: str) -> str:
    """``token`` if it is long enough and plain; else ``RunlogError`` in one line naming ``source``."""
    if len(token) < MIN_LENGTH:
        raise RunlogError(f"{source} is {len(token)} characters long: a token needs at least {MIN_LENGTH} "
                          "(leave it out and runlog ui makes a random one)")
    if not all("!" <= char <= "~" for char in token):
        raise RunlogError(f"{source} holds a space, a control or a non-ASCII character: a token is printable "
                          "ASCII without spaces (leave it out and runlog ui makes a random one)")
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host.strip("[]").lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_everywhere(host: str) -> bool:
    """Whether ``host`` means every interface (``0.0.0.0``, ``::``)."""
    return host.strip("[]") in ("0.0.0.0", "::", "")


def resolve_token(host: str, token: str | None, no_token: bool, from_env: str | None) -> str | None:
    """The token a server on ``host`` requires: ``token``, else ``from_env`` (``RUNLOG_UI_TOKEN``), else a
    random one; ``None`` with ``no_token``, allowed on a loopback address only.

    Raises:
        RunlogError: ``no_token`` for another host, or a token that is too short or not plain.
    """
    if no_token:
        if token is not None:
            raise RunlogError("give either a token or --no-token, not both")
        if not is_loopback(host):
            raise RunlogError(f"--no-token serves this machine only: --host {host} reaches other machines, "
                              "which need a token (--token or RUNLOG_UI_TOKEN)")
        return None
    if token is not None:
        return check_token(token, "--token")
    if from_env is not None:
        return check_token(from_env, "RUNLOG_UI_TOKEN")
    return new_token()


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


def matches(given: str, expected: str) -> bool:
    """``given == expected`` in a time that depends on neither (digests compared in constant time)."""
    return hmac.compare_digest(_digest(given), _digest(expected))


class Throttle:
    """Wrong tokens wait in one line: each holds it for :data:`FAIL_DELAY` seconds before its 401, so
    about one guess a second is answered however many come at once. With :data:`MAX_WAITING`
    waiting, a new token is answered 429 before it is even compared (so nothing is learnt from it);
    a right token is never held up. A browser holding the login cookie is not affected: the cookie
    is checked without this line.
    """

    def __init__(self, delay: float = FAIL_DELAY, max_waiting: int = MAX_WAITING) -> None:
        self.delay, self.max_waiting = delay, max_waiting
        self._lock: asyncio.Lock | None = None
        self._waiting = 0

    async def check(self, given: str, expected: str) -> bool | None:
        """True: right. False: wrong (after its turn in line). None: too many waiting, not compared."""
        if self._waiting >= self.max_waiting:
            return None
        if matches(given, expected):
            return True
        if self._lock is None:
            self._lock = asyncio.Lock()
        self._waiting += 1
        try:
            async with self._lock:
                await asyncio.sleep(self.delay)
        finally:
            self._waiting -= 1
        return False
