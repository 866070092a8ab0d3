"""Store URIs: the one parser of what ``store=``, ``RUNLOG_STORE``, ``--store`` and ``--to`` name.

A store is named by

- a folder path (``runs``, ``~/runs``, ``/srv/runs``): the SQLite store ``runlog.db`` in it, or a path
  ending in ``.db``/``.sqlite``/``.sqlite3`` that is not a folder: that database file;
- ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (three slashes, then the path);
- ``file:///folder`` (``file://relative`` is a folder relative to the working directory);
- ``postgresql://user:password@host:5432/database`` or ``postgres://...`` (libpq's URI form: several
  ``host:port`` separated by commas, percent-escapes, ``?host=...&port=...&password=...``);
- any other ``scheme://...`` a plugin opens (only its user and password are looked at here).

:func:`parse_store_uri` makes a :class:`StoreURI` of it, or says what is wrong, naming the argument or
the variable the value came from. :attr:`StoreURI.redacted` is the form to show: the password as
``***``. A URI shown that way (a pickled Experiment, ``exp.store``) connects again through
:func:`with_password`, with the password this process already used for it, or ``RUNLOG_STORE``'s.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote

from runlog_core.base import config as _config
from runlog_core.exceptions import ConfigError, InvalidArgumentError, RunlogError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

__all__ = ["POSTGRES_SCHEMES", "SQLITE_SUFFIXES", "StoreURI", "hide_password", "parse_store_uri", "with_password"]

POSTGRES_SCHEMES = ("postgresql", "postgres")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
"""A path ending so that is not a folder names the database file itself."""

_LOCAL_SCHEMES = ("", "sqlite", "file")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
_QUERY_PASSWORD = re.compile(r"(?<=[?&])(password=)([^&#]*)", re.IGNORECASE)
_ACCEPTED = ("a folder path or a store URI (sqlite:///relative.db, sqlite:////absolute.db, file:///folder, "
             "postgresql://user:password@host:5432/database)")
_PORT = "a URI whose port is a number from 1 to 65535 (postgresql://user:password@host:5432/database)"

# the URIs, password included, of the stores this process connected to, by the URI shown to users
_known: dict[str, str] = {}

# base.redact.REDACTED, the mark a hidden password reads as; not imported from there: a submitted
# script opens its store through this module, and redact's patterns are for what a submission records
REDACTED = "***"

_FIELDS = ("text", "scheme", "path", "user", "password", "host", "port", "database")


class StoreURI:
    """A parsed store URI. ``repr`` and :attr:`redacted` never show the password.

    Attributes:
        text: the URI itself, password included (what a store connects with); a folder's path as given.
        scheme: ``""`` for a folder path, else the scheme in lower case (``sqlite``, ``file``,
            ``postgresql``, ``postgres``, a plugin's).
        path: the folder or database file of a local store, as written (maybe relative); else ``""``.
        user, password, host, port, database: a server's, percent-escapes decoded; ``password`` is
            ``None`` when the URI holds none, ``"***"`` when it was shown redacted. ``host`` lists
            several hosts separated by commas; ``port`` is set for one host with a port given.
    """

    # a frozen value, written out rather than a @dataclass: `dataclasses` (and `inspect`, which it
    # imports) cost every submitted script's start-up more than the rest of this module (issue 18)
    __slots__ = _FIELDS

    text: str
    scheme: str
    path: str
    user: str
    password: str | None
    host: str
    port: int | None
    database: str

    def __init__(self, text: str, scheme: str, path: str = "", user: str = "", password: str | None = None,
                 host: str = "", port: int | None = None, database: str = "") -> None:
        for name, value in zip(_FIELDS, (text, scheme, path, user, password, host, port, database)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a StoreURI does not change")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a StoreURI does not change")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoreURI) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __reduce__(self) -> tuple[Any, ...]:
        return StoreURI, self._values()

    def __repr__(self) -> str:
        return f"StoreURI({self.redacted!r})"

    def replace(self, **changes: Any) -> StoreURI:
        """A copy with ``changes`` (field names to new values)."""
        values = dict(zip(_FIELDS, self._values()))
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"StoreURI has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return StoreURI(**values)

    @property
    def is_local(self) -> bool:
        """A folder, ``sqlite:`` or ``file:`` URI: the built-in SQLite store."""
        return self.scheme in _LOCAL_SCHEMES

    @property
    def is_postgres(self) -> bool:
        """A ``postgresql://`` or ``postgres://`` URI."""
        return self.scheme in POSTGRES_SCHEMES

    @property
    def redacted(self) -> str:
        """The URI to show: its password (in ``user:password@`` or ``?password=``) as ``***``."""
        if self.is_local:
            return self.text
        head, rest = self.text.split("://", 1)
        userinfo, at = _userinfo(rest)
        if userinfo is not None and ":" in userinfo:
            user = userinfo.partition(":")[0]
            rest = f"{user}:{REDACTED}@{rest[at + 1:]}"
        rest = _QUERY_PASSWORD.sub(lambda match: match[1] + REDACTED, rest)
        return f"{head}://{rest}"

    def absolute(self) -> StoreURI:
        """The same store named from any working directory: a relative path (``~`` too) made absolute."""
        if not self.is_local:
            return self
        path = Path(self.path).expanduser()
        if not path.is_absolute():
            path = path.absolute()
        text = {"": str(path), "sqlite": f"sqlite:///{path}", "file": f"file://{path}"}[self.scheme]
        return self.replace(text=text, path=str(path))

    def hide_password(self, text: str) -> str:
        """``text`` (a driver's message, say) with this URI's password replaced by ``***``."""
        if not self.password or self.password == REDACTED:
            return text
        for form in {self.password, quote(self.password, safe="")}:
            text = text.replace(form, REDACTED)
        return text


def parse_store_uri(value: str, argument: str = "store") -> StoreURI:
    """The :class:`StoreURI` that ``value`` names.

    Args:
        value: a folder path or a store URI (see the module's documentation).
        argument: what ``value`` was given as, for the error (``store``, ``--to``, ``RUNLOG_STORE``).

    Raises:
        InvalidArgumentError: ``value`` is empty, or a malformed URI (``sqlite://x.db``, a port that is
            not a number, a scheme with a space in it); the message shows it with its password hidden.
        ConfigError: the same, when ``argument`` is a ``RUNLOG_*`` variable.
    """
    if not isinstance(value, str) or not value.strip():
        _refuse(argument, value, _ACCEPTED)
    scheme, sep, rest = value.partition("://")
    if not sep:
        return StoreURI(value, "", path=value)
    lower = scheme.lower()
    if not _SCHEME.match(scheme):
        _refuse(argument, value, _ACCEPTED)
    if lower == "sqlite":
        if not rest.startswith("/") or rest == "/":
            _refuse(argument, value, "sqlite:///relative.db or sqlite:////absolute.db (three slashes, then a path)")
        return StoreURI(f"sqlite://{rest}", "sqlite", path=rest[1:])
    if lower == "file":
        if not rest:
            _refuse(argument, value, "file:///folder (file://, then a path)")
        return StoreURI(f"file://{rest}", "file", path=rest)
    if lower in POSTGRES_SCHEMES:
        value = f"{lower}://{rest}"  # libpq knows the schemes in lower case only
    return _parse_server(value, lower, rest, argument)


def hide_password(uri: str, text: str) -> str:
    """``text`` with the password of ``uri`` replaced by ``***``; never raises, even for a malformed ``uri``."""
    try:
        return parse_store_uri(uri).hide_password(text)
    except RunlogError:
        userinfo, _ = _userinfo(uri.partition("://")[2])
        password = unquote(userinfo.partition(":")[2]) if userinfo else ""
        return StoreURI(uri, "?", password=password).hide_password(text)


def with_password(uri: str) -> str:
    """The URI to connect with: a URI shown redacted gets back the password this process knows for it.

    A URI holding a password is remembered (by its redacted form) and returned as is. A redacted one
    gets the password of the same URI opened before in this process, else ``RUNLOG_STORE``'s when that
    is the same URI; else it is returned without the password, so that libpq uses ``PGPASSWORD`` or
    ``~/.pgpass``. Anything else is returned unchanged.
    """
    try:
        address = parse_store_uri(uri)
    except RunlogError:
        return uri
    shown = address.redacted
    if shown != address.text:
        _known[shown] = address.text
        return address.text
    if address.password != REDACTED:
        return uri
    found = _known.get(shown)
    if found is not None:
        return found
    configured = _config.store()
    if configured:
        try:
            if parse_store_uri(configured, "RUNLOG_STORE").redacted == shown:
                return configured
        except RunlogError:
            pass
    head, rest = shown.split("://", 1)
    rest = rest.replace(f":{REDACTED}@", "@", 1)
    rest = re.sub(rf"(?<=[?&])password={re.escape(REDACTED)}(&|(?=#)|$)", "", rest, flags=re.IGNORECASE)
    return f"{head}://{rest.rstrip('?&')}"


# -- parsing ------------------------------------------------------------------------------------

def _refuse(argument: str, value: object, accepted: str) -> None:
    shown = value
    if isinstance(value, str) and "://" in value:
        shown = StoreURI(value, "?").redacted
    if argument.startswith("RUNLOG_"):
        raise ConfigError(argument, str(shown), accepted)
    raise InvalidArgumentError(argument, shown, accepted)


def _userinfo(rest: str) -> tuple[str | None, int]:
    """``(user[:password], index of its @)`` of ``rest`` (a URI after ``://``), else ``(None, -1)``.

    The widest reading, so that a password is never shown: the last ``@`` before the path, or, when
    there is none, an ``@`` after an unescaped ``/`` ``?`` or ``#`` of the password (``u:p/w@host``; a
    port, ``host:5432/db@x``, is no password).
    """
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    at = rest.rfind("@", 0, end)
    if at >= 0:
        return rest[:at], at
    at = rest.find("@", end)
    if at < 0:
        return None, -1
    user, colon, password = rest[:at].partition(":")
    if not colon or "/" in user or password.split("/", 1)[0].isdigit():
        return None, -1
    return rest[:at], at


def _parse_server(value: str, scheme: str, rest: str, argument: str) -> StoreURI:
    """A server's URI: ``scheme://[user[:password]@][host[:port][,...]][/database][?key=value&...]``."""
    userinfo, at = _userinfo(rest)
    user, password = "", None
    if userinfo is not None:
        raw_user, colon, raw_password = userinfo.partition(":")
        user, password = unquote(raw_user), (unquote(raw_password) if colon else None)
    rest = rest[at + 1:]
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    hostlist, tail = rest[:end], rest[end:]
    tail = tail.partition("#")[0]
    path, _, query = tail.partition("?")
    database = unquote(path[1:]) if path.startswith("/") else ""
    strict = scheme in POSTGRES_SCHEMES
    hosts, ports = [], []
    for item in hostlist.split(",") if hostlist else []:
        host, port = _host_port(item)
        hosts.append(unquote(host))
        if port:
            ports.append(port)
    options: dict[str, str] = {}
    for pair in query.split("&") if strict else ():
        key, _, option = pair.partition("=")
        options[key] = option
    user = unquote(options.get("user", "")) or user
    password = unquote(options["password"]) if "password" in options else password
    database = unquote(options.get("dbname", "")) or database
    if options.get("host"):
        hosts = unquote(options["host"]).split(",")
    if options.get("port"):
        ports = unquote(options["port"]).split(",")
    if strict and not all(port.isdigit() and 0 < int(port) < 65536 for port in ports):
        _refuse(argument, value, _PORT)
    single = ports[0] if len(ports) == 1 and len(hosts) <= 1 and ports[0].isdigit() else None
    return StoreURI(value, scheme, user=user, password=password, host=",".join(hosts),
                    port=int(single) if single else None, database=database)


def _host_port(item: str) -> tuple[str, str]:
    """``(host, port)`` of ``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` (port ``""`` when none)."""
    if item.startswith("["):
        host, _, after = item[1:].partition("]")
        return host, after[1:] if after.startswith(":") else after
    host, _, port = item.partition(":")
    return host, port
