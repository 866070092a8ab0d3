"""The store conformance suite: plain pytest tests that any :class:`runlog_core.store.Store` must pass.

Use it from a test module of your store plugin::

    import pytest
    from runlog_core.testing.store_conformance import *  # noqa: F403

    @pytest.fixture
    def store_factory(tmp_path):
        # a callable returning a fresh, empty store each time it is called
        return lambda: MyStore(f"mystore://{tmp_path}/db")

The tests write :class:`~runlog_core.store.Batch` objects as runlog's writer builds them and read
everything back through the protocol: experiments, runs and their filters, points of every kind
(with NaN, +/-inf, -0.0, int64 bounds, bools among numbers, unicode, rows, tables, image names),
their order across batches, params, tags, artifacts, run ends, heartbeats, search (long ``and``
and ``or`` chains included; a page of it, its count and the children of a page's runs), an all-or-nothing refused batch, reads from other threads while
writing, ``close()``, idempotent writes (a batch written twice with the same identity, a retry
after a lost reply, stored once; runs created in a batch or created again existing once) and the
optional page reads (``get_points_page``, ``get_params_page``, ``get_tags_page``: skipped by a store
without them), deleted runs hidden, restored and removed for good a slice at a time, and model
versions (issue 20). Each test gets its own store through the
``store`` fixture, which closes it afterwards. The suite takes a few seconds on SQLite.
"""

from __future__ import annotations

from ._store_data import (
    test_a_bool_in_a_number_series_or_a_list_reads_back_as_a_bool,
    test_a_number_series_keeps_each_values_type_across_batches,
    test_a_refused_batch_leaves_nothing_behind,
    test_a_series_created_twice_is_one_series,
    test_artifacts_are_listed_by_name_and_replaced,
    test_params_of_every_type_read_back_equal_and_keep_their_first_value,
    test_points_keep_their_logged_order_across_batches,
    test_points_of_every_kind_read_back_as_python_values,
    test_reads_from_other_threads_see_whole_batches_while_writing,
    test_tags_are_overwritten_by_a_later_value,
)
from ._store_helpers import store
from ._store_identity import (
    test_a_batch_at_or_below_its_writers_last_number_writes_nothing,
    test_a_batch_written_twice_with_the_same_identity_is_stored_once,
    test_a_run_created_in_a_batch_or_again_exists_once,
)
from ._store_pages import (
    test_a_page_of_params_or_tags_follows_the_key_order_from_a_cursor,
    test_a_page_of_points_is_that_slice_of_get_points,
)
from ._store_retain import (
    test_a_deleted_run_and_its_children_are_hidden_but_read_by_id,
    test_model_versions_count_up_per_name,
    test_purge_removes_a_deleted_run_slice_by_slice_and_nothing_else,
    test_restore_brings_back_what_was_deleted_with_the_run,
)
from ._store_runs import (
    test_a_run_is_found_by_id_prefix_or_name,
    test_a_run_reads_back_as_created,
    test_a_stale_heartbeat_reads_killed_and_a_new_one_revives_it,
    test_close_can_be_called_twice,
    test_experiments_are_created_once_and_listed,
    test_list_runs_filters_by_experiment_status_tags_and_parent,
    test_long_and_or_chains_search_like_short_ones,
    test_reattach_makes_an_ended_run_running_again,
    test_run_ends_set_status_end_time_and_error,
    test_search_runs_over_metrics_params_tags_and_attributes,
    test_unknown_ids_read_as_nothing,
)
from ._store_search_pages import (
    test_a_page_of_a_search_is_that_slice_of_the_whole_answer,
    test_children_are_counted_for_the_runs_asked_about,
    test_count_runs_counts_what_search_runs_finds,
    test_search_pages_refuse_a_negative_or_non_int_offset_or_limit,
)

__all__ = [
    "store",
    "test_a_batch_at_or_below_its_writers_last_number_writes_nothing",
    "test_a_batch_written_twice_with_the_same_identity_is_stored_once",
    "test_a_bool_in_a_number_series_or_a_list_reads_back_as_a_bool",
    "test_a_deleted_run_and_its_children_are_hidden_but_read_by_id",
    "test_a_number_series_keeps_each_values_type_across_batches",
    "test_a_page_of_a_search_is_that_slice_of_the_whole_answer",
    "test_a_page_of_params_or_tags_follows_the_key_order_from_a_cursor",
    "test_a_page_of_points_is_that_slice_of_get_points",
    "test_a_refused_batch_leaves_nothing_behind",
    "test_a_run_created_in_a_batch_or_again_exists_once",
    "test_a_run_is_found_by_id_prefix_or_name",
    "test_a_run_reads_back_as_created",
    "test_a_series_created_twice_is_one_series",
    "test_a_stale_heartbeat_reads_killed_and_a_new_one_revives_it",
    "test_artifacts_are_listed_by_name_and_replaced",
    "test_children_are_counted_for_the_runs_asked_about",
    "test_close_can_be_called_twice",
    "test_count_runs_counts_what_search_runs_finds",
    "test_experiments_are_created_once_and_listed",
    "test_list_runs_filters_by_experiment_status_tags_and_parent",
    "test_long_and_or_chains_search_like_short_ones",
    "test_model_versions_count_up_per_name",
    "test_params_of_every_type_read_back_equal_and_keep_their_first_value",
    "test_points_keep_their_logged_order_across_batches",
    "test_points_of_every_kind_read_back_as_python_values",
    "test_purge_removes_a_deleted_run_slice_by_slice_and_nothing_else",
    "test_reads_from_other_threads_see_whole_batches_while_writing",
    "test_reattach_makes_an_ended_run_running_again",
    "test_restore_brings_back_what_was_deleted_with_the_run",
    "test_run_ends_set_status_end_time_and_error",
    "test_search_pages_refuse_a_negative_or_non_int_offset_or_limit",
    "test_search_runs_over_metrics_params_tags_and_attributes",
    "test_tags_are_overwritten_by_a_later_value",
    "test_unknown_ids_read_as_nothing",
]
