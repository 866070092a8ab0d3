"""Store URIs (issue 16): one parser, base/uri.py, for every place a store is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from runlog_core.base import uri as _uri
from runlog_core.base.redact import redact_url
from runlog_core.base.uri import StoreURI, hide_password, parse_store_uri, with_password
from runlog_core.exceptions import ConfigError, InvalidArgumentError

SECRET = "hunter2-Sup3rSecret"


@pytest.fixture(autouse=True)
def _no_known_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_uri, "_known", {})
    monkeypatch.delenv("RUNLOG_STORE", raising=False)


@pytest.mark.parametrize(("text", "scheme", "path"), [
    ("runs", "", "runs"),
    ("~/runs", "", "~/runs"),
    ("/srv/runs", "", "/srv/runs"),
    ("exp/store.db", "", "exp/store.db"),
    ("sqlite:///runs.db", "sqlite", "runs.db"),
    ("sqlite:///sub/runs.db", "sqlite", "sub/runs.db"),
    ("sqlite:////srv/runs.db", "sqlite", "/srv/runs.db"),
    ("SQLite:///runs.db", "sqlite", "runs.db"),
    ("file:///srv/runs", "file", "/srv/runs"),
    ("file://runs", "file", "runs"),
])
def test_local_stores_are_a_scheme_and_a_path(text: str, scheme: str, path: str) -> None:
    address = parse_store_uri(text)
    assert (address.scheme, address.path) == (scheme, path)
    assert address.is_local and not address.is_postgres
    assert address.redacted == address.text and address.password is None


def test_relative_paths_are_made_absolute_against_the_working_directory(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parse_store_uri("runs").absolute().text == str(tmp_path / "runs")
    assert parse_store_uri("~/runs").absolute().text == str(tmp_path / "home" / "runs")
    assert parse_store_uri("sqlite:///sub/runs.db").absolute().text == f"sqlite:///{tmp_path}/sub/runs.db"
    assert parse_store_uri("sqlite:///~/runs.db").absolute().text == f"sqlite:///{tmp_path}/home/runs.db"
    assert parse_store_uri("file://runs").absolute().text == f"file://{tmp_path}/runs"
    absolute = parse_store_uri("sqlite:////srv/runs.db").absolute()
    assert absolute.text == "sqlite:////srv/runs.db" and absolute.path == "/srv/runs.db"
    server = parse_store_uri("postgresql://u@db.example.com/runs")
    assert server.absolute() is server
    # made absolute once, it stays the same
    again = parse_store_uri(parse_store_uri("sqlite:///runs.db").absolute().text)
    assert again.absolute().text == again.text


@pytest.mark.parametrize(("text", "user", "password", "host", "port", "database"), [
    (f"postgresql://runlog:{SECRET}@db.example.com:5433/runs", "runlog", SECRET, "db.example.com", 5433, "runs"),
    ("postgresql://runlog@db.example.com/runs", "runlog", None, "db.example.com", None, "runs"),
    ("postgres://runlog:pw@10.0.0.5/runs", "runlog", "pw", "10.0.0.5", None, "runs"),
    ("postgresql://me:p%40ss%2Fw@localhost:5432/my%20runs", "me", "p@ss/w", "localhost", 5432, "my runs"),
    ("postgresql://u:pw@[::1]:6543/runs?sslmode=require", "u", "pw", "::1", 6543, "runs"),
    ("postgresql://u:@host/runs", "u", "", "host", None, "runs"),
    ("postgresql://host1,host2:5433/runs", "", None, "host1,host2", None, "runs"),
    ("postgresql:///runs?host=/var/run/postgresql&port=5444&user=me&password=pw", "me", "pw",
     "/var/run/postgresql", 5444, "runs"),
    ("postgresql://", "", None, "", None, ""),
])
def test_postgres_uris_are_split_into_user_password_host_port_database(
        text: str, user: str, password: str | None, host: str, port: int | None, database: str) -> None:
    address = parse_store_uri(text)
    assert address.is_postgres and not address.is_local
    assert (address.user, address.password, address.host, address.port, address.database) == (
        user, password, host, port, database)
    assert address.text == text


def test_the_scheme_of_a_postgres_uri_is_written_as_libpq_reads_it() -> None:
    assert parse_store_uri("PostgreSQL://u@h/db").text == "postgresql://u@h/db"
    assert parse_store_uri("postgres://u@h/db").scheme == "postgres"


def test_the_password_is_redacted_for_display_and_in_repr() -> None:
    address = parse_store_uri(f"postgresql://runlog:{SECRET}@db.example.com:5432/runs")
    assert address.redacted == "postgresql://runlog:***@db.example.com:5432/runs"
    assert SECRET not in repr(address) and SECRET not in str(address) and SECRET not in f"{address!r}"
    assert address.password == SECRET and SECRET in address.text  # what a store connects with
    query = parse_store_uri(f"postgresql://db.example.com/runs?sslmode=require&password={SECRET}")
    assert query.redacted == "postgresql://db.example.com/runs?sslmode=require&password=***"
    # an unescaped / or @ in the password is hidden whole
    assert parse_store_uri(f"postgresql://u:{SECRET}/x@h/db").redacted == "postgresql://u:***@h/db"
    assert parse_store_uri(f"postgresql://u:{SECRET}@x@h/db").redacted == "postgresql://u:***@h/db"
    # a plugin's URI too
    assert parse_store_uri(f"mystore://me:{SECRET}@host/db").redacted == "mystore://me:***@host/db"
    # no password: nothing to hide
    assert parse_store_uri("postgresql://runlog@h:5432/db").redacted == "postgresql://runlog@h:5432/db"


@pytest.mark.parametrize("text", [
    f"postgresql://runlog:{SECRET}@db.example.com:5432/runs",
    f"postgres://runlog:{SECRET}@db/runs",
    "postgresql://runlog@db/runs",
    f"postgresql://u:{SECRET}/x@h/db",
    "postgresql://host:5432/db@x",
])
def test_redaction_agrees_with_redact_url(text: str) -> None:
    """The redacted URI is the spill folder's and the shown URI's key: it must not change with this parser."""
    assert parse_store_uri(text).redacted == redact_url(text)


def test_hide_password_scrubs_driver_messages() -> None:
    address = parse_store_uri("postgresql://u:p%40ss@h/db")
    assert address.hide_password("auth failed for p@ss (p%40ss)") == "auth failed for *** (***)"
    assert parse_store_uri("postgresql://u@h/db").hide_password("nothing p@ss") == "nothing p@ss"
    assert parse_store_uri("postgresql://u:@h/db").hide_password("empty") == "empty"
    # the module function never raises, even for a URI the parser refuses
    assert hide_password(f"postgresql://u:{SECRET}@h:notaport/db", f"error {SECRET}") == "error ***"
    assert hide_password("runs", "a message") == "a message"


@pytest.mark.parametrize(("text", "says"), [
    ("", "a folder path or a store URI"),
    ("   ", "a folder path or a store URI"),
    ("sqlite://runs.db", "three slashes"),
    ("sqlite:///", "three slashes"),
    ("sqlite://", "three slashes"),
    ("file://", "file:///folder"),
    ("my store://x", "a folder path or a store URI"),
    ("://x", "a folder path or a store URI"),
    (f"postgresql://u:{SECRET}@h:notaport/db", "port is a number"),
    ("postgresql://h:99999/db", "port is a number"),
    ("postgresql://h/db?port=fast", "port is a number"),
])
def test_a_malformed_uri_is_a_clear_error_naming_the_argument(text: str, says: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_store_uri(text, "--store")
    message = str(caught.value)
    assert message.startswith("--store must be ") and says in message, message
    assert SECRET not in message and SECRET not in repr(caught.value.value)
    with pytest.raises(InvalidArgumentError, match="^store must be "):
        parse_store_uri(text)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="store must be a folder path"):
        parse_store_uri(42)  # type: ignore[arg-type]


def test_a_malformed_runlog_variable_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="RUNLOG_STORE") as caught:
        parse_store_uri(f"postgresql://u:{SECRET}@h:port/db", "RUNLOG_STORE")
    assert SECRET not in str(caught.value) and caught.value.variable == "RUNLOG_STORE"
    assert SECRET not in caught.value.value


def test_stores_are_resolved_through_the_parser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from runlog_core import Experiment
    from runlog_core.plugins.manager import resolve_store_uri

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNLOG_STORE", "sqlite://runs.db")
    with pytest.raises(ConfigError, match="RUNLOG_STORE='sqlite://runs.db' is invalid"):
        Experiment("x")
    monkeypatch.setenv("RUNLOG_STORE", "sqlite:///runs.db")
    assert resolve_store_uri(None) == f"sqlite:///{tmp_path}/runs.db"
    assert resolve_store_uri(Path("sub")) == str(tmp_path / "sub")
    with pytest.raises(InvalidArgumentError, match="^--store must be "):
        resolve_store_uri("sqlite://x.db", "--store")
    assert not (tmp_path / "runs.db").exists()


def test_with_password_gives_a_redacted_uri_its_password_back(monkeypatch: pytest.MonkeyPatch) -> None:
    full = f"postgresql://runlog:{SECRET}@db.example.com:5432/runs"
    shown = "postgresql://runlog:***@db.example.com:5432/runs"
    # before this process used it: libpq's own password (PGPASSWORD, ~/.pgpass)
    assert with_password(shown) == "postgresql://runlog@db.example.com:5432/runs"
    # RUNLOG_STORE's, when it is the same URI
    monkeypatch.setenv("RUNLOG_STORE", full)
    assert with_password(shown) == full
    monkeypatch.delenv("RUNLOG_STORE")
    # once used with its password in this process
    assert with_password(full) == full
    assert with_password(shown) == full
    assert with_password("postgresql://runlog:***@other.example.com/runs") == "postgresql://runlog@other.example.com/runs"
    # a query password
    assert with_password("postgresql://h/runs?sslmode=require&password=***") == "postgresql://h/runs?sslmode=require"
    # nothing to give back: unchanged
    for text in ("postgresql://runlog@db/runs", "runs", "sqlite:///runs.db", "not a store://x"):
        assert with_password(text) == text


def test_the_submitted_script_gets_the_password_and_an_absolute_local_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.submit.environment import _absolute_store_uri

    monkeypatch.chdir(tmp_path)
    with_password(f"postgresql://runlog:{SECRET}@db/runs")
    assert _absolute_store_uri("postgresql://runlog:***@db/runs") == f"postgresql://runlog:{SECRET}@db/runs"
    assert _absolute_store_uri("sqlite:///runs.db") == f"sqlite:///{tmp_path}/runs.db"
    assert _absolute_store_uri("file://runs") == f"file://{tmp_path}/runs"
    assert _absolute_store_uri("runs") == str(tmp_path / "runs")
    assert _absolute_store_uri("custom://team") == "custom://team"


def test_the_sqlite_plugin_finds_the_database_of_a_folder_or_a_file(tmp_path: Path) -> None:
    from runlog_core.plugins.builtin import store_exists
    from runlog_core.store.sqlite.store import database_of

    assert database_of(parse_store_uri(str(tmp_path / "runs"))) == (tmp_path / "runs" / "runlog.db",
                                                                   str(tmp_path / "runs"))
    assert database_of(parse_store_uri(str(tmp_path / "r.db"))) == (tmp_path / "r.db", str(tmp_path / "r.db"))
    (tmp_path / "folder.db").mkdir()
    assert database_of(parse_store_uri(str(tmp_path / "folder.db")))[0] == tmp_path / "folder.db" / "runlog.db"
    uri = f"sqlite:///{tmp_path}/x.sqlite"
    assert database_of(parse_store_uri(uri)) == (tmp_path / "x.sqlite", uri)
    assert store_exists(uri) is False and not (tmp_path / "x.sqlite").exists()
    assert store_exists("custom://team") is None


def test_store_uri_is_a_small_frozen_value() -> None:
    address = parse_store_uri("postgresql://u:pw@h/db")
    assert address == StoreURI("postgresql://u:pw@h/db", "postgresql", user="u", password="pw", host="h",
                               database="db")
    with pytest.raises(AttributeError):
        address.text = "x"  # type: ignore[misc]
    assert hash(address) == hash(parse_store_uri("postgresql://u:pw@h/db"))


def test_the_redaction_mark_is_the_one_redact_uses() -> None:
    from runlog_core.base import redact, uri

    assert uri.REDACTED == redact.REDACTED == "***"
