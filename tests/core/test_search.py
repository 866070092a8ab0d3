"""search_runs and its filter language, over a real store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runlog_core import Experiment, Run, search_runs
from runlog_core.exceptions import FilterSyntaxError
from runlog_core.store import RunInfo
from runlog_core.store.sqlite.store import SQLiteStore


@pytest.fixture
def sweep(store_dir: Path) -> dict[str, str]:
    """Five ridge runs over alpha, one failed, plus a run in another experiment; returns name -> id."""
    exp = Experiment("diabetes", store=store_dir)
    ids = {}
    for alpha, mse in [(0.0, 3400.0), (0.1, 2900.0), (0.5, 2950.0), (1.0, 3100.0)]:
        with exp.start_logging(name=f"alpha {alpha}", tags={"team": "a" if alpha < 0.5 else "b"}) as run:
            run.log_params({"alpha": alpha, "solver": "auto", "layers": [1, 2]})
            run.log("mse", mse + 1000)
            run.log("mse", mse)  # the latest value is the one searched
            ids[run.name] = run.id
    failed = exp.start_logging(name="broken")
    failed.log_params({"alpha": 2.0, "solver": "svd"})
    failed.log("val loss", 1.0)
    failed.fail("diverged")
    ids["broken"] = failed.id
    with Experiment("other", store=store_dir).start_logging(name="elsewhere") as run:
        run.log("mse", 1.0)
        ids["elsewhere"] = run.id
    return ids


def names(runs: list[Run]) -> list[str]:
    return [run.name for run in runs]


CASES = [
    ("metrics.mse < 3000", ["alpha 0.5", "alpha 0.1"]),
    ("metrics.mse < 3000 and params.alpha >= 0.1", ["alpha 0.5", "alpha 0.1"]),
    ("metrics.mse <= 2900 or params.alpha > 1.5", ["broken", "alpha 0.1"]),
    ("(params.alpha = 0 or params.alpha = 1) and metrics.mse > 3000", ["alpha 1.0", "alpha 0.0"]),
    ("params.solver != 'auto'", ["broken"]),
    ("params.solver = \"auto\" AND tags.team = 'b'", ["alpha 1.0", "alpha 0.5"]),
    ("status = 'Failed'", ["broken"]),
    ("status = completed and name = 'alpha 0.1'", ["alpha 0.1"]),
    ("metrics.`val loss` = 1", ["broken"]),
    ('metrics."val loss" >= 1.0', ["broken"]),
    ("metrics.missing > 0", []),
    ("duration >= 0 and start_time > 0 and params.alpha >= 0.5", ["broken", "alpha 1.0", "alpha 0.5"]),
    ("experiment = 'diabetes' and params.alpha < 0.1", ["alpha 0.0"]),
]


@pytest.mark.parametrize(("expression", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filters_select_the_expected_runs(sweep: dict[str, str], store_dir: Path, expression: str,
                                         expected: list[str]) -> None:
    assert names(search_runs(expression, experiment="diabetes", store=store_dir)) == expected


def test_order_by_sorts_with_missing_values_last(sweep: dict[str, str], store_dir: Path) -> None:
    exp = Experiment("diabetes", store=store_dir)
    assert names(search_runs(None, order_by=["metrics.mse"], experiment=exp)) == [
        "alpha 0.1", "alpha 0.5", "alpha 1.0", "alpha 0.0", "broken"]
    assert names(search_runs("metrics.mse > 0", order_by=["metrics.mse DESC"], experiment=exp))[0] == "alpha 0.0"
    assert names(search_runs("params.alpha >= 0", order_by=["-params.alpha"], experiment=exp))[0] == "broken"
    everywhere = search_runs("metrics.mse < 3000", order_by="metrics.mse", store=store_dir)
    assert names(everywhere) == ["elsewhere", "alpha 0.1", "alpha 0.5"]


def test_a_run_killed_by_a_stale_heartbeat_is_searchable_as_killed(store_dir: Path) -> None:
    store = SQLiteStore(store_dir / "runlog.db")
    try:  # what a process that died while logging leaves behind: a Running run with an old heartbeat
        experiment_id = store.get_or_create_experiment("stale")
        now = time.time()
        for run_id, name, heartbeat in (("deadbeef", "victim", now - 3600), ("a1ive", "alive", now)):
            store.create_run(RunInfo(run_id, experiment_id, "stale", name, "Running", now - 7200,
                                     heartbeat=heartbeat, heartbeat_timeout=60.0, pid=1, host="h"))
        assert names(search_runs("status = 'Killed'", experiment="stale", store=store)) == ["victim"]
        assert names(search_runs("status = 'Running'", experiment="stale", store=store)) == ["alive"]
        killed = search_runs("status = killed and duration < 7000", store=store)
        assert [run.id for run in killed] == ["deadbeef"]  # ended at its last heartbeat
    finally:
        store.close()


MALFORMED = [
    ("metrics.mse <", 13, "expected a number or a quoted string"),
    ("metrics.mse < 3 and", 19, "expected a field"),
    ("metrics.mse ~ 3", 12, "unexpected character '~'"),
    ("(metrics.mse < 3", 16, "expected '\\)'"),
    ("loss < 3", 0, "unknown field 'loss'"),
    ("metrics.mse < 3 params.a = 1", 16, "expected 'and', 'or'"),
    ("params.name = 'unterminated", 14, "unterminated quoted string"),
    ("attributes.color = 'red'", 11, "unknown attribute 'color'"),
    ("", 0, "empty filter"),
]


@pytest.mark.parametrize(("expression", "position", "message"), MALFORMED, ids=[m[0] or "empty" for m in MALFORMED])
def test_malformed_filters_point_at_the_offending_character(store_dir: Path, expression: str, position: int,
                                                            message: str) -> None:
    from runlog_core.store import parse_filter

    with pytest.raises(FilterSyntaxError, match=message) as caught:
        parse_filter(expression)
    assert caught.value.position == position
    assert str(caught.value).splitlines()[-1] == "  " + " " * position + "^"


def test_filter_values_are_bound_not_spliced_into_sql(sweep: dict[str, str], store_dir: Path) -> None:
    hostile = "params.solver = 'x\\' OR 1=1 --'"
    assert search_runs(hostile, store=store_dir) == []
    assert search_runs("params.`solver' OR '1'='1` = 'auto'", store=store_dir) == []
    assert len(Experiment("diabetes", store=store_dir).get_runs()) == 5  # nothing was dropped either


@pytest.fixture
def numbered(store_dir: Path) -> dict[int, str]:
    """Five runs whose metric ``k`` is 0..4; returns k -> run id."""
    exp = Experiment("numbered", store=store_dir)
    ids = {}
    for k in range(5):
        with exp.start_logging(name=f"k{k}") as run:
            run.log("k", k)
            run.log_params({"k": k})
            ids[k] = run.id
    return ids


@pytest.mark.parametrize("terms", [100, 1_000, 10_000])
def test_long_or_and_and_chains_select_the_right_runs(numbered: dict[int, str], store_dir: Path, terms: int) -> None:
    # #9: 100 terms hit SQLite's expression depth (a raw OperationalError), 1,000 Python's recursion limit
    from runlog_core.base.filter import MAX_COMPARISONS, MAX_NAMES

    wanted = " or ".join(f"metrics.k = {1000 + i}" for i in range(terms - 2)) + " or metrics.k = 1 or params.k = 3"
    assert sorted(run.id for run in search_runs(wanted, store=store_dir)) == sorted([numbered[1], numbered[3]])
    bounds = " and ".join(f"metrics.k > {-1 - i}" for i in range(terms - 1)) + " and params.k <= 2"
    assert sorted(run.name for run in search_runs(bounds, store=store_dir)) == ["k0", "k1", "k2"]
    if 2 * terms <= MAX_COMPARISONS:
        mixed = f"({wanted}) and ({bounds})"
        assert [run.name for run in search_runs(mixed, store=store_dir)] == ["k1"]
    names = min(terms, MAX_NAMES)  # different metric names: each is a lookup of its own
    distinct = " or ".join(f"metrics.other{i} = {i}" for i in range(names - 1)) + " or metrics.k = 4"
    assert [run.name for run in search_runs(distinct, store=store_dir)] == ["k4"]


def test_a_chain_parses_into_one_flat_node(store_dir: Path) -> None:
    from runlog_core.base.filter import And, Compare, Field, Or, parse_filter

    def k(n: int) -> Compare:
        return Compare(Field("metrics", "k"), "=", n)

    tree = parse_filter(" or ".join(f"metrics.k = {n}" for n in range(1_000)))
    assert type(tree) is Or and tree.terms == tuple(k(n) for n in range(1_000))
    assert parse_filter("(metrics.k = 0 or metrics.k = 1) or (metrics.k = 2 and metrics.k = 3)") == Or(
        k(0), k(1), And(k(2), k(3)))
    assert And(k(0), k(1)) != Or(k(0), k(1))
    three = And(k(0), k(1), k(2))  # the binary view stores written for two operands still work
    assert three.left == k(0) and three.right == And(k(1), k(2)) and three.right.right == k(2)


def test_the_deepest_accepted_nesting_runs_and_deeper_is_a_filter_error(numbered: dict[int, str],
                                                                      store_dir: Path) -> None:
    from runlog_core.base.filter import MAX_COMPARISONS, MAX_NESTING

    def nested(depth: int, siblings: int) -> str:
        text = "metrics.k = 2"
        for level in range(depth):  # alternating and/or, a chain of siblings at every level
            op, inner = (" and ", " or ") if level % 2 else (" or ", " and ")
            chain = inner.join(f"metrics.k != {-1 - j}" for j in range(siblings))
            text = f"(({chain}){op}{text})" if level < depth - 1 else f"({chain}{op}{text})"
        return text

    deepest = nested(MAX_NESTING // 2, (MAX_COMPARISONS - 1) // (MAX_NESTING // 2))
    assert deepest.count("(") == MAX_NESTING - 1
    assert [run.name for run in search_runs(deepest, store=store_dir)] == ["k4", "k3", "k2", "k1", "k0"]
    chain = "(" * MAX_NESTING + "metrics.k = 2" + ")" * MAX_NESTING
    assert [run.name for run in search_runs(chain, store=store_dir)] == ["k2"]
    too_deep = "(" * (MAX_NESTING + 1) + "metrics.k = 2" + ")" * (MAX_NESTING + 1)
    with pytest.raises(FilterSyntaxError, match=f"parentheses nest more than {MAX_NESTING} deep") as caught:
        search_runs(too_deep, store=store_dir)
    assert caught.value.position == MAX_NESTING
    with pytest.raises(FilterSyntaxError, match="parentheses nest"):
        search_runs("(" * 100_000 + "metrics.k = 2" + ")" * 100_000, store=store_dir)


def test_a_filter_with_too_many_comparisons_is_a_filter_error(numbered: dict[int, str], store_dir: Path) -> None:
    from runlog_core.base.filter import MAX_COMPARISONS

    at_limit = " or ".join(["metrics.k = 4"] * MAX_COMPARISONS)
    assert [run.name for run in search_runs(at_limit, store=store_dir)] == ["k4"]
    over = " or ".join(["metrics.k = 4"] * (MAX_COMPARISONS + 10))
    with pytest.raises(FilterSyntaxError, match=f"too long: it has more than {MAX_COMPARISONS} comparisons") as caught:
        search_runs(over, store=store_dir)
    assert caught.value.position == len("metrics.k = 4 or ") * MAX_COMPARISONS


def test_a_filter_naming_too_many_metrics_is_a_filter_error(store_dir: Path) -> None:
    from runlog_core.base.filter import MAX_NAMES, parse_filter

    text = " or ".join(f"params.p{i} = 1" for i in range(MAX_NAMES + 1))
    with pytest.raises(FilterSyntaxError, match=f"names more than {MAX_NAMES} different metrics") as caught:
        parse_filter(text)
    assert caught.value.position == text.rindex("params.")
