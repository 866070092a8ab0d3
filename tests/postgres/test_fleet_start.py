"""A fleet that starts together on a new database (issue 23, item 3).

16 processes (spawned: nothing shared with the test but the arguments) are released together by one
``multiprocessing.Barrier``, and each opens ``Experiment("fleet", store=URI)`` and logs one point,
against a database that does not exist yet, one that exists empty, and one holding the previous
schema version. Each scenario runs ``ROUNDS`` rounds, each on a database of its own, all by one
fleet: it imports runlog and psycopg once, then for each round waits at the barrier and opens that
round's URI (a store never opened before in the process: new connections, a new writer). Every
member must succeed in every round, and each database must end with one schema (one version row;
the same tables, indexes, sequences and functions, each once, as a database that one process
created alone), one experiment, and 16 runs with their point.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures_postgres import create_database, database_uri, drop_database

FLEET = 16
ROUNDS = 4


def _member(uris: list[str], barrier: Any, folder: str, index: int) -> None:
    """One process of the fleet: in each round, wait for the others, then open the experiment and log a point.

    A round that fails leaves ``round-<r>-member-<index>`` (the error, then its traceback) and the
    member goes on to the next round (the barrier waits for all 16 each time).
    """
    os.environ["RUNLOG_ARTIFACTS"] = os.path.join(folder, "artifacts")
    os.environ["RUNLOG_SPILL_DIR"] = os.path.join(folder, "spill")
    os.environ.pop("RUNLOG_STORE", None)
    import psycopg  # noqa: F401  (imported before the barrier, so that the members meet at the server)

    from runlog_core import Experiment
    from runlog_core.integration import open_store  # noqa: F401  (the plugin layer, loaded likewise)

    for attempt, uri in enumerate(uris):
        barrier.wait(timeout=120)
        try:
            exp = Experiment("fleet", store=uri)
            run = exp.start_logging(name=f"member-{index}", outputs=None)
            run.log("loss", float(index))
            run.complete()
            exp.close()
        except Exception as err:
            why = f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
            Path(folder, f"round-{attempt}-member-{index}").write_text(why)


def _start_fleet(uris: list[str], folder: Path) -> list[list[str]]:
    """Run the fleet through ``uris``, one round each; per round, the errors of the members that failed."""
    folder.mkdir(exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(FLEET)
    members = [ctx.Process(target=_member, args=(uris, barrier, str(folder), index)) for index in range(FLEET)]
    for member in members:
        member.start()
    deadline = time.monotonic() + 240
    for member in members:
        member.join(timeout=max(0.0, deadline - time.monotonic()))
    for index, member in enumerate(members):
        if member.is_alive():  # stuck: end the fleet rather than the test session
            member.kill()
            member.join()
            raise AssertionError(f"member {index} of the fleet was still running after 240 s")
        assert member.exitcode == 0, f"member {index} ended with {member.exitcode}"
    return [[(folder / f"round-{attempt}-member-{index}").read_text() for index in range(FLEET)
             if (folder / f"round-{attempt}-member-{index}").exists()] for attempt in range(len(uris))]


def _sql(uri: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


def _catalog(uri: str) -> list[tuple[str, str]]:
    """Every table, index, sequence and function in the database's own schemas, repeats kept."""
    relations = _sql(uri, "SELECT c.relkind::text, n.nspname || '.' || c.relname FROM pg_class c"
                          " JOIN pg_namespace n ON n.oid = c.relnamespace"
                          " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'")
    functions = _sql(uri, "SELECT 'function', n.nspname || '.' || p.proname FROM pg_proc p"
                          " JOIN pg_namespace n ON n.oid = p.pronamespace"
                          " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')")
    return sorted((kind, name) for kind, name in relations + functions)


@pytest.fixture(scope="module")
def reference_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[str, str]]]:
    """The catalog of a database that one process created alone: what every fleet must leave."""
    from runlog_core.store.postgres.store import PostgresStore

    name = create_database("runlog_test_fleet_ref")
    try:
        PostgresStore(database_uri(name), artifact_root=tmp_path_factory.mktemp("reference")).close()
        yield _catalog(database_uri(name))
    finally:
        drop_database(name)


def _check_one_store(uri: str, reference: list[tuple[str, str]], folder: Path) -> None:
    from runlog_core.store.postgres.schema import SCHEMA_VERSION
    from runlog_core.store.postgres.store import PostgresStore

    assert _sql(uri, "SELECT version FROM runlog_schema") == [(SCHEMA_VERSION,)]
    assert _catalog(uri) == reference
    assert _sql(uri, "SELECT name FROM experiments") == [("fleet",)]
    runs = _sql(uri, "SELECT r.name, r.status, s.name FROM runs r JOIN experiments e ON e.id = r.experiment_id"
                     " JOIN series s ON s.run_id = r.id WHERE e.name = 'fleet' ORDER BY r.name")
    assert runs == sorted((f"member-{index}", "Completed", "loss") for index in range(FLEET))
    store = PostgresStore(uri, artifact_root=folder)
    try:
        for info in store.list_runs():
            [series] = store.get_series(info.id)
            assert [value for _, value, _ in store.get_points(series.id)] == [float(info.name.split("-")[1])]
    finally:
        store.close()


def _create_empty(name: str) -> None:
    _sql(database_uri("postgres"), f'CREATE DATABASE "{name}" TEMPLATE template0')


def _create_older(name: str) -> None:
    """The schema of the version before this one, from its migrations, holding the experiment already."""
    import psycopg

    from runlog_core.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION

    _create_empty(name)
    with psycopg.connect(database_uri(name)) as conn:  # one transaction, as the older runlog made it
        conn.execute("CREATE TABLE runlog_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO runlog_schema VALUES (%s)", (SCHEMA_VERSION - 1,))
        for version in range(1, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        conn.execute("INSERT INTO experiments(name, created) VALUES ('fleet', 0)")


# how each scenario readies a round's database before the fleet starts
SCENARIOS: dict[str, Callable[[str], None]] = {
    "missing": lambda name: None, "empty": _create_empty, "older": _create_older}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[tuple[str, list[str]]]]]:
    """One fleet through ``ROUNDS`` rounds of each scenario (it imports runlog once, not once a scenario:
    the test stays within a minute on two cores): per scenario, each round's URI and its members' errors."""
    from runlog_core.store.postgres.schema import SCHEMA_VERSION

    scenarios = [scenario for scenario in SCENARIOS if scenario != "older" or SCHEMA_VERSION >= 2]
    names = {scenario: [f"runlog_test_fleet_{uuid.uuid4().hex[:12]}" for _ in range(ROUNDS)] for scenario in scenarios}
    try:
        for scenario, round_names in names.items():
            for name in round_names:
                SCENARIOS[scenario](name)
        uris = [database_uri(name) for round_names in names.values() for name in round_names]
        failed = iter(_start_fleet(uris, tmp_path_factory.mktemp("fleet")))
        yield {scenario: [(database_uri(name), next(failed)) for name in round_names]
               for scenario, round_names in names.items()}
    finally:
        for round_names in names.values():
            for name in round_names:
                drop_database(name)


def _check_scenario(rounds: list[tuple[str, list[str]]], reference: list[tuple[str, str]], folder: Path) -> None:
    """Every member succeeded in every round, and each round's database holds one store."""
    summary = [f"round {attempt}: {len(errors)} of {FLEET} failed" for attempt, (_, errors) in enumerate(rounds)]
    first = next((errors[0] for _, errors in rounds if errors), "")
    assert not any(errors for _, errors in rounds), "\n".join(summary) + "\nthe first error: " + first
    for uri, _ in rounds:
        _check_one_store(uri, reference, folder)


def test_a_fleet_creates_a_missing_database_once(fleet: Any, reference_catalog: Any, tmp_path: Path) -> None:
    _check_scenario(fleet["missing"], reference_catalog, tmp_path)


def test_a_fleet_creates_the_schema_of_an_empty_database_once(fleet: Any, reference_catalog: Any,
                                                              tmp_path: Path) -> None:
    _check_scenario(fleet["empty"], reference_catalog, tmp_path)


def test_a_fleet_upgrades_an_older_schema_once(fleet: Any, reference_catalog: Any, tmp_path: Path) -> None:
    if "older" not in fleet:
        pytest.skip("no older schema version to upgrade from")
    _check_scenario(fleet["older"], reference_catalog, tmp_path)
