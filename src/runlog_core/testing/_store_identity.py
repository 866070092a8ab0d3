"""Conformance tests: every write is idempotent (issue 23).

A batch retried after a lost reply, a spill file written twice or a push resumed must store each
point once: a batch carries its writer's id and number (``batch.writer``, ``batch.seq``), and a
store writes nothing of a batch whose writer already committed that number or a later one. Runs
created in a batch, and by ``create_run`` called again, exist once.
"""

from __future__ import annotations

import time
import uuid

from runlog_core.store import NUMBER, STR, ArtifactInfo, Batch, RunInfo, SeriesRef, Store

from ._store_helpers import T0, batch_of, new_run

__all__ = [
    "test_a_batch_at_or_below_its_writers_last_number_writes_nothing",
    "test_a_batch_written_twice_with_the_same_identity_is_stored_once",
    "test_a_run_created_in_a_batch_or_again_exists_once",
]


def test_a_batch_written_twice_with_the_same_identity_is_stored_once(store: Store) -> None:
    run = new_run(store)
    loss, note = SeriesRef(run.id, "loss", NUMBER), SeriesRef(run.id, "note", STR)
    batch = batch_of([(loss, step, 1.0 / (step + 1)) for step in range(1000)] + [(note, 0, "first")],
                     new=[loss, note])
    batch.writer, batch.seq = uuid.uuid4().hex, 1
    batch.params.append((run.id, "lr", 0.1))
    batch.tags.append((run.id, "phase", "one"))
    uri = store.artifacts.uri(run.id, "model.pt")
    batch.artifacts.append(ArtifactInfo(run.id, "model.pt", 3, "c" * 64, uri, T0))
    batch.ends.append((run.id, "Completed", T0 + 5, None))
    store.write(batch)
    ids = (loss.id, note.id)
    assert None not in ids
    loss.id = note.id = None  # as the writer leaves them when the commit's reply was lost
    store.write(batch)  # the retry: the same batch, the same identity
    assert (loss.id, note.id) == ids  # its series' ids are read back all the same
    assert loss.id is not None and note.id is not None
    assert store.count_points(loss.id) == 1000 and store.count_points(note.id) == 1
    assert [step for step, _, _ in store.get_points(loss.id)] == list(range(1000))
    assert store.get_params(run.id) == {"lr": 0.1} and store.get_tags(run.id) == {"phase": "one"}
    assert [a.name for a in store.get_artifacts(run.id)] == ["model.pt"]
    ended = store.get_run(run.id)
    assert ended is not None and (ended.status, ended.end_time) == ("Completed", T0 + 5)


def test_a_batch_at_or_below_its_writers_last_number_writes_nothing(store: Store) -> None:
    run = new_run(store)
    series = SeriesRef(run.id, "x", NUMBER)
    writer, other = uuid.uuid4().hex, uuid.uuid4().hex
    for seq, (values, new) in enumerate((([0.0, 1.0], [series]), ([2.0], []), ([3.0], [])), start=1):
        batch = batch_of([(series, len(values) + seq, value) for value in values], new=new)
        batch.writer, batch.seq = writer, seq
        store.write(batch)
    assert series.id is not None
    late = batch_of([(series, 99, 99.0)])  # an older number of the same writer: committed before
    late.writer, late.seq = writer, 2
    store.write(late)
    same_number = batch_of([(series, 4, 4.0)])  # another writer's number 1: its own
    same_number.writer, same_number.seq = other, 1
    store.write(same_number)
    anonymous = batch_of([(series, 5, 5.0)])  # no identity (an importer's batch): written as it comes
    store.write(anonymous)
    assert [value for _, value, _ in store.get_points(series.id)] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    [info] = store.get_series(run.id)
    assert info.last_value == 5.0


def test_a_run_created_in_a_batch_or_again_exists_once(store: Store) -> None:
    experiment_id = store.get_or_create_experiment("made offline")
    now = time.time()
    info = RunInfo(uuid.uuid4().hex, experiment_id, "made offline", "fold-1", "Running", now, heartbeat=now,
                   heartbeat_timeout=3600.0, pid=4242, host="conformance-host")
    series = SeriesRef(info.id, "acc", NUMBER)
    batch = batch_of([(series, step, step / 10) for step in range(10)], new=[series])
    batch.runs.append(info)
    batch.writer, batch.seq = uuid.uuid4().hex, 7
    store.write(batch)  # the run's creation comes first in the batch that holds its data
    series.id = None
    store.write(batch)
    assert store.get_run(info.id) == info
    assert [run.id for run in store.list_runs(experiment_id)] == [info.id]
    assert series.id is not None and store.count_points(series.id) == 10
    again = Batch(uuid.uuid4().hex, 1)  # the same run in another writer's batch: nothing changes
    again.runs.append(info)
    store.write(again)
    store.create_run(info)  # created again after a lost reply: nothing changes, nothing raises
    assert store.get_run(info.id) == info
    assert [run.id for run in store.list_runs(experiment_id)] == [info.id]
    other = new_run(store, "made offline")
    assert sorted(run.id for run in store.list_runs(experiment_id)) == sorted([info.id, other.id])

