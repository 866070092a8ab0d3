"""Conformance tests: deleting, restoring and removing runs for good, and the model registry (issue 20)."""

from __future__ import annotations

import time

from runlog_core.base.records import ArtifactInfo, ModelInfo
from runlog_core.store import NUMBER, STR, Batch, SeriesRef, Store

from ._store_helpers import batch_of, new_run, write_points

__all__ = [
    "test_a_deleted_run_and_its_children_are_hidden_but_read_by_id",
    "test_model_versions_count_up_per_name",
    "test_purge_removes_a_deleted_run_slice_by_slice_and_nothing_else",
    "test_restore_brings_back_what_was_deleted_with_the_run",
]


def _ended(store: Store, *run_ids: str) -> None:
    batch = Batch()
    batch.ends = [(run_id, "Completed", time.time(), None) for run_id in run_ids]
    store.write(batch)


def test_a_deleted_run_and_its_children_are_hidden_but_read_by_id(store: Store) -> None:
    parent, kept = new_run(store, "exp"), new_run(store, "exp")
    child = new_run(store, "exp", parent_id=parent.id)
    grandchild = new_run(store, "exp", parent_id=child.id)
    experiment_id = parent.experiment_id
    when = time.time()
    assert sorted(store.delete_runs([parent.id], when)) == sorted([parent.id, child.id, grandchild.id])
    assert store.delete_runs([parent.id], when + 5) == []  # already deleted: its time is kept
    assert [info.id for info in store.list_runs(experiment_id=experiment_id)] == [kept.id]
    assert store.list_runs(parent_id=parent.id) == []
    assert [info.id for info in store.search_runs(None, [], experiment_id)] == [kept.id]
    listed = {info.id for info in store.list_runs(experiment_id=experiment_id, include_deleted=True)}
    assert listed == {parent.id, kept.id, child.id, grandchild.id}
    found = store.get_run(child.id)
    assert found is not None and found.deleted_time == when and found.status == "Running"
    assert kept.id not in {info.id for info in store.deleted_runs()}
    assert {info.id for info in store.deleted_runs(when - 1)} == set()
    assert {info.id for info in store.deleted_runs(when)} == {parent.id, child.id, grandchild.id}


def test_restore_brings_back_what_was_deleted_with_the_run(store: Store) -> None:
    parent = new_run(store, "exp")
    early = new_run(store, "exp", parent_id=parent.id)
    later = new_run(store, "exp", parent_id=parent.id)
    store.delete_runs([early.id], 100.0)  # deleted on its own, before its parent
    store.delete_runs([parent.id], 200.0)
    assert sorted(store.restore_runs([parent.id])) == sorted([parent.id, later.id])
    got = store.get_run(early.id)
    assert got is not None and got.deleted_time == 100.0
    store.delete_runs([parent.id], 300.0)
    assert sorted(store.restore_runs([early.id])) == sorted([early.id, parent.id])  # with the parent it shows under
    assert store.restore_runs([early.id]) == []
    assert {info.id for info in store.list_runs(parent_id=parent.id)} == {early.id}


def test_purge_removes_a_deleted_run_slice_by_slice_and_nothing_else(store: Store) -> None:
    gone, kept = new_run(store, "exp"), new_run(store, "exp")
    for run in (gone, kept):
        many = [SeriesRef(run.id, f"m{index}", NUMBER) for index in range(601)]  # more chunks than one slice
        store.write(batch_of([(series, step, 0.5 * step) for series in many for step in (0, 1)], new=many))
        write_points(store, SeriesRef(run.id, "note", STR), ["a", "b"])
        extra = Batch()
        extra.params = [(run.id, "alpha", 0.1)]
        extra.tags = [(run.id, "team", "a")]
        extra.artifacts = [ArtifactInfo(run.id, "outputs/m.pkl", 3, "ab" * 32, "file:///m.pkl", time.time())]
        store.write(extra)
    _ended(store, gone.id, kept.id)
    assert store.run_size(gone.id) == (1204, 3)
    assert store.start_purge(gone.id) is False  # not deleted
    store.delete_runs([gone.id], time.time())
    assert store.start_purge(gone.id) is True
    assert store.restore_runs([gone.id]) == []  # gc has begun: no way back
    steps = 1
    while not store.purge_step(gone.id):
        steps += 1
    assert steps > 1
    assert store.get_run(gone.id) is None and store.get_series(gone.id) == []
    assert store.get_params(gone.id) == {} and store.get_tags(gone.id) == {} and store.get_artifacts(gone.id) == []
    assert store.deleted_runs() == [] and store.purge_step(gone.id) is True  # again: nothing left to do
    series = store.get_series(kept.id)
    assert len(series) == 602 and sum(store.count_points(info.id) for info in series) == 1204
    assert store.get_params(kept.id) == {"alpha": 0.1} and len(store.get_artifacts(kept.id)) == 1


def test_model_versions_count_up_per_name(store: Store) -> None:
    run = new_run(store, "exp")
    files = [["outputs/m.pkl", 3, "ab" * 32]]

    def record(name: str, tags: dict[str, str]) -> ModelInfo:
        return ModelInfo(name, 0, run.id, "exp", "outputs/m.pkl", files, tags, {"k": "v"}, "desc é", time.time())

    first = store.register_model(record("ridge", {"stage": "dev"}))
    other = store.register_model(record("lasso", {}))
    second = store.register_model(record("ridge", {"stage": "prod"}))
    assert (first.version, other.version, second.version) == (1, 1, 2)
    latest = store.get_model("ridge")
    assert latest == second and latest.tags == {"stage": "prod"} and latest.files == files
    assert store.get_model("ridge", 1) == first and store.get_model("ridge", 3) is None
    assert store.get_model("missing") is None
    assert [(m.name, m.version) for m in store.list_models()] == [("ridge", 2), ("lasso", 1), ("ridge", 1)]
    assert [m.version for m in store.list_models(name="ridge")] == [2, 1]
    assert len(store.list_models(run_id=run.id)) == 3 and store.list_models(run_id="other") == []
