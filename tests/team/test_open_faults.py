"""Issue 23, the rest of point 1 and the silent network: a COMMIT reply lost while the store creates its
schema at open, and a network that goes silent under a synchronous read. The real PostgreSQL behind
the test's TCP relay."""

from __future__ import annotations

import threading
import time
import warnings
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


@pytest.mark.parametrize("silence", ["stall", "stall_open"])
def test_a_read_on_a_network_gone_silent_fails_naming_the_timeout(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silence: str) -> None:
    """``stall``: nothing gets through any more; ``stall_open``: the open connection is half dead while
    new ones get through (the server answers the watchdog's question: not working on the call)."""
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
    getattr(relay, silence)()  # nothing forwarded, nothing closed: before, the next read waited forever
    go.set()
    reader.join(60)  # a bound for the test itself, far above the documented 2 x RUNLOG_STORE_TIMEOUT
    assert not reader.is_alive(), "the read still waits on the silent network"
    error = outcome[1]
    assert isinstance(error, StoreError), error
    assert "did not answer within 2 s" in str(error) and "RUNLOG_STORE_TIMEOUT" in str(error), error
    relay.resume()  # the network is back: the next read works, on a new connection
    assert store.get_run(run.id).status == "Completed"


def test_a_slow_read_on_a_live_server_is_left_alone(pg_uri: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "1")  # 2 s: the least the store waits
    store = Experiment("slow", store=pg_uri)._store
    # a read that takes twice the timeout: the server is working on it each time it is asked
    assert store._run(lambda conn: conn.execute("SELECT pg_sleep(4.5), 7").fetchone())[1] == 7


def test_a_write_on_a_half_dead_connection_is_given_up_and_written_again(
        pg_uri: str, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("RUNLOG_STORE_TIMEOUT", "2")
    monkeypatch.setenv("RUNLOG_FLUSH_INTERVAL", "0.05")
    exp = Experiment("half-dead", store=relay.uri(pg_uri))
    run = exp.start_logging(name="train", outputs=None)
    for step in range(100):
        run.log("loss", step / 100)
    run.flush()
    relay.stall_open()  # the writer's connection goes silent; new connections get through
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for step in range(100, 200):
            run.log("loss", step / 100)
        direct = Experiment("half-dead", store=pg_uri)
        deadline = time.monotonic() + 60  # before: the writer waited on the dead connection for good
        while len(Run(direct, run.id).get_metric_history("loss")) < 200:
            assert time.monotonic() < deadline, "the points never arrived"
            time.sleep(0.1)
        run.complete()
    assert [p.value for p in Run(direct, run.id).get_metric_history("loss")] == [s / 100 for s in range(200)]
    assert Run(direct, run.id).get_status() == "Completed"
