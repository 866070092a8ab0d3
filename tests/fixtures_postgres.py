"""Fixtures for a real PostgreSQL server: one fresh database per test (see the team-store tests).

The server is the local PostgreSQL (``RUNLOG_TEST_PG``, default ``postgresql://postgres@127.0.0.1:5432``,
trust auth; CI starts it). Without one reachable, the tests that ask for it are skipped, with the
reason. Each database is named uniquely, created from ``template0`` and dropped ``WITH (FORCE)``
after the test (connections the test left open are ended first).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

SERVER = os.environ.get("RUNLOG_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
_reachable: str | None = None  # "" when reachable, else why not (asked once per session)


def _admin() -> Any:
    """An autocommit connection to the server's maintenance database, or skip the test."""
    global _reachable
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'runlog[postgres]')")
    if _reachable:
        pytest.skip(_reachable)
    last: Exception | None = None
    for database in ("postgres", "test"):
        try:
            conn = psycopg.connect(f"{SERVER}/{database}", autocommit=True, connect_timeout=3)
        except psycopg.Error as err:
            last = err
            continue
        _reachable = ""
        return conn
    _reachable = f"no PostgreSQL server reachable at {SERVER} ({last}); CI starts one"
    pytest.skip(_reachable)


def create_database(prefix: str = "runlog_test") -> str:
    """Create a fresh, empty database on the test server; return its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return name


def drop_database(name: str) -> None:
    """Drop a database made by :func:`create_database`, ending the connections still open to it."""
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_uri(name: str, password: str | None = None) -> str:
    """The URI of database ``name`` on the test server (trust auth ignores any ``password``)."""
    if password is None:
        return f"{SERVER}/{name}"
    scheme, rest = SERVER.split("://", 1)
    user, _, host = rest.rpartition("@")
    return f"{scheme}://{user or 'postgres'}:{password}@{host}/{name}"


@pytest.fixture
def pg_uri() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:5432/<fresh database>``, dropped after the test."""
    name = create_database()
    try:
        yield database_uri(name)
    finally:
        drop_database(name)


@pytest.fixture
def pg_store_factory(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Any]]:
    """A callable returning a fresh, empty PostgresStore (its own database) each call; all dropped after.

    Artifacts go to the test's folder (``RUNLOG_ARTIFACTS``), so no warning about local artifacts.
    """
    from runlog_core.store.postgres.store import PostgresStore

    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    made: list[tuple[str, Any]] = []

    def factory() -> Any:
        name = create_database()
        store = PostgresStore(database_uri(name))
        made.append((name, store))
        return store

    yield factory
    for name, store in made:
        store.close()
        drop_database(name)
