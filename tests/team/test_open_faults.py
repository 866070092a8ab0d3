"""Issue 23, the rest of point 1 and the silent network: a COMMIT reply lost while the store creates its
schema at open, and a network that goes silent under a synchronous read. The real PostgreSQL behind
the test's TCP relay."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from runlog_core import Experiment, Run
from runlog_core.exceptions import StoreError
from runlog_core.store.postgres.schema import SCHEMA_VERSION
from tcp_relay import Relay


def test_a_lost_commit_reply_while_the_schema_is_created_is_recovered_once(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    relay.lose_commit_replies(1)  # the schema's transaction commits; its reply never arrives
    exp = Experiment("opened", store=relay.uri(pg_uri))  # before: StoreError "cannot create the schema"
    assert relay.replies_lost == 1
    with exp.start_logging(name="after", outputs=None) as run:
        run.log("x", 1.0)
    exp.close()
    with psycopg.connect(pg_uri) as conn:
        assert conn.execute("SELECT version FROM runlog_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("SELECT name FROM experiments").fetchall() == [("opened",)]
    assert Run(Experiment("opened", store=pg_uri), run.id).get_metrics() == {"x": 1.0}


def test_a_read_on_a_network_gone_silent_fails_naming_the_timeout(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "2")
    exp = Experiment("silent", store=relay.uri(pg_uri))
    with exp.start_logging(name="before", outputs=None) as run:
        run.log("x", 1.0)
    store = exp._store
    outcome: list[BaseException | object] = []
    connected, go = threading.Event(), threading.Event()

    def read() -> None:  # a thread whose connection is open when the network goes silent
        outcome.append(store.get_run(run.id).status)
        connected.set()
        go.wait()
        try:
            outcome.append(store.get_run(run.id))
        except BaseException as err:
            outcome.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert connected.wait(30) and outcome == ["Completed"]
    relay.stall()  # nothing forwarded, nothing closed: before, the next read waited forever
    go.set()
    reader.join(60)  # a bound for the test itself, far above the documented 2 x RUNLOG_STORE_TIMEOUT
    assert not reader.is_alive(), "the read still waits on the silent network"
    error = outcome[1]
    assert isinstance(error, StoreError), error
    assert "did not answer within 2 s" in str(error) and "RUNLOG_STORE_TIMEOUT" in str(error), error
    relay.resume()  # the network is back: the next read works, on a new connection
    assert store.get_run(run.id).status == "Completed"
