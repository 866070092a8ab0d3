"""The UI points of #19 and #17 in a real browser: a resumed run's charts, lists, booleans, run counts,
compare's single values, id prefixes, wide charts, and a sweep parent ranked by its objective with its
parallel coordinates. One small store of plain runs (no framework), `runlog ui` serving it, Chromium."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"the browser tests need Chromium at {CHROMIUM}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (pip install playwright)")
pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

from playwright.sync_api import Browser, Page, expect  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import TOKENS, get, get_json, start_ui, stop  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def _build(store: str) -> dict[str, Any]:
    from runlog_core import Experiment

    ids: dict[str, Any] = {}
    exp = Experiment("resumed", store=store)
    with exp.start_logging(name="interrupted", outputs=None) as run:
        for step in range(10):
            run.log("loss", 1.0 / (step + 1), step=step)
        run.log_list("folds", [0.91, 0.93, 0.92])
        run.log_list("folds", [0.5, 0.6])
        run.log("flag", True)
        run.log_params({"shuffle": False})
        ids["resumed"] = run.id
    # resumed from the checkpoint of step 5: steps 5 to 12 logged again, with other values
    with exp.start_logging(run_id=ids["resumed"], outputs=None) as run:
        for step in range(5, 13):
            run.log("loss", 2.0 / (step + 1), step=step)

    with Experiment("family", store=store).start_logging(name="parent", outputs=None) as parent:
        for index in range(20):
            with parent.child_run(name=f"kid-{index}") as kid:
                kid.log("score", index)
        ids["family"] = parent.id

    compare = Experiment("compare", store=store)
    ids["compare"] = []
    for lr in (0.1, 0.01):
        with compare.start_logging(name=f"lr={lr}", outputs=None) as run:
            run.log_params({"lr": lr})
            for step in range(30):
                run.log("loss", lr / (step + 1))
            run.log("test_acc", 0.9 - lr)
            ids["compare"].append(run.id)

    # a sweep parent tagged as the Optuna, Ray Tune and HyperDrive integrations tag theirs: the objective
    # is `value`, lower is better; each child also has an `accuracy` the name heuristics would pick
    with Experiment("study", store=store).start_logging(name="study", outputs=None) as parent:
        parent.set_tags({"runlog.sweep.primary_metric": "value", "runlog.sweep.goal": "minimize"})
        trials = [(0.001, "adam", 0.30), (0.01, "sgd", 0.10), (0.1, "adam", 0.05), (1.0, "sgd", 0.80),
                  (0.03, "rmsprop", 0.20)]
        for number, (lr, optimizer, value) in enumerate(trials):
            with parent.child_run(name=f"trial-{number}") as trial:
                trial.log_params({"lr": lr, "optimizer": optimizer})
                trial.log("value", value)
                trial.log("accuracy", 1 - value / 2)
        ids["study"] = parent.id
    return ids


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = str(tmp_path_factory.mktemp("ui-charts") / "store")
    ids = _build(store)
    proc, url = start_ui("--store", store)
    ids.update(base=url, printed=f"{url}/?token={TOKENS[url]}")
    yield ids
    stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, data: dict[str, Any]) -> Iterator[Page]:
    """A wide screen, logged in by the printed URL; any script error fails the test."""
    context = browser.new_context(viewport={"width": 1920, "height": 1000})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    opened.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
              if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    opened.goto(data["printed"])
    opened.wait_for_selector("#app[data-ready]")
    yield opened
    context.close()
    assert not problems, problems


def ready(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#app[data-ready]")


def shot(page: Page, selector: str, name: str) -> None:
    """docs/images/ui-<name>.png of one part of the page, when RUNLOG_UI_SCREENSHOTS=1."""
    if os.environ.get("RUNLOG_UI_SCREENSHOTS") == "1":
        page.locator(selector).screenshot(path=str(Path(__file__).resolve().parents[2] / "docs" / "images" / f"ui-{name}.png"))


def drawn(page: Page, card: str) -> list[list[Any]]:
    """The data the chart of a card draws: [xs, line 1, line 2...]."""
    return page.locator(card).evaluate("el => el.runlogCard.chart.plot.data.map((a) => Array.from(a))")


def test_a_resumed_run_draws_its_latest_pass_with_the_earlier_one_on_request(page: Page, data: Any) -> None:
    run_id = data["resumed"]
    ready(page, f"{data['base']}/runs/{run_id}")
    card = page.locator('.metric-card[data-metric="loss"]')
    expect(card).to_have_attribute("data-points", "13")  # steps 0 to 12 once each, not 18 points back in time
    expect(card).to_have_attribute("data-resumed", "5")
    expect(card.locator(".resume-note")).to_be_visible()
    expect(card.locator(".resume-note")).to_contain_text("resumed at step 5")
    xs, ys = drawn(page, '.metric-card[data-metric="loss"]')
    assert xs == list(range(13))
    assert ys[:5] == pytest.approx([1.0 / (s + 1) for s in range(5)])  # the first pass before the resume
    assert ys[5:] == pytest.approx([2.0 / (s + 1) for s in range(5, 13)])  # the resumed pass after it

    card.locator(".earlier-toggle").check()
    expect(card).to_have_attribute("data-earlier-points", "5")
    expect(card.locator(".u-legend")).to_contain_text("earlier pass")
    xs, latest, earlier = drawn(page, '.metric-card[data-metric="loss"]')
    assert xs == list(range(13)) and latest[5:] == pytest.approx([2.0 / (s + 1) for s in range(5, 13)])
    replaced = [(x, y) for x, y in zip(xs, earlier) if y is not None]
    assert [x for x, _y in replaced] == [5, 6, 7, 8, 9]
    assert [y for _x, y in replaced] == pytest.approx([1.0 / (s + 1) for s in range(5, 10)])
    card.locator("button.widen").click()
    expect(card).to_have_attribute("data-earlier-points", "5")
    page.wait_for_function("() => document.querySelector('.metric-card[data-metric=\"loss\"]').runlogCard.chart.plot.height >= 300")
    shot(page, '.metric-card[data-metric="loss"]', "resumed")
    card.locator("button.widen").click()
    card.locator(".earlier-toggle").uncheck()
    expect(card).not_to_have_attribute("data-earlier-points", "5")
    assert len(drawn(page, '.metric-card[data-metric="loss"]')) == 2

    # the mark stays where the run resumed on a time axis too; the store keeps every point
    page.select_option("#x-axis", "time")
    expect(card).to_have_attribute("data-x", "time")
    assert len(drawn(page, '.metric-card[data-metric="loss"]')[0]) == 13
    series = get_json(f"{data['base']}/api/runs/{run_id}/series?name=loss")
    assert series["count"] == 18
    assert [p["step"] for p in series["points"]] == [*range(10), *range(5, 13)]
    # a page that drew the first pass (10 points) and polls from there is told to draw it all again;
    # one that drew past the resume gets only the new points
    assert get_json(f"{data['base']}/api/runs/{run_id}/metric?name=loss&since=10")["reload"] is True
    tail = get_json(f"{data['base']}/api/runs/{run_id}/metric?name=loss&since=15")
    assert "reload" not in tail and tail["x"] == [10, 11, 12] and tail["cursor"] == 18


def test_lists_show_their_values_and_booleans_read_as_python_prints_them(page: Page, data: Any) -> None:
    ready(page, f"{data['base']}/runs/{data['resumed']}")
    folds = page.locator('.data-card[data-series="folds"]')
    folds.scroll_into_view_if_needed()
    rows = folds.locator("tbody tr")
    expect(rows).to_have_count(2)  # one row per list logged, its items as values
    expect(rows.nth(0)).to_have_text("0–20.91, 0.93, 0.92")
    expect(rows.nth(1)).to_have_text("3–40.5, 0.6")
    expect(folds.locator("ol, li")).to_have_count(0)
    expect(page.locator('.metric-card[data-metric="flag"] .latest')).to_have_text("True")
    expect(page.locator("#params-table")).to_contain_text("False")
    expect(page.locator("#params-table")).not_to_contain_text("false")


def test_the_experiment_page_counts_its_runs_as_its_table_does(page: Page, data: Any) -> None:
    experiments = get_json(f"{data['base']}/api/experiments")["experiments"]
    family = next(e for e in experiments if e["name"] == "family")
    assert (family["runs"], family["children"]) == (21, 20)
    ready(page, f"{data['base']}/experiments/{family['id']}")
    expect(page.locator("#total")).to_have_text("1–1 of 1 runs")
    expect(page.locator(".page-head .muted")).to_have_text("1 run · 20 child runs folded under it")


def test_compare_shows_single_values_as_table_rows_and_series_as_charts(page: Page, data: Any) -> None:
    a, b = data["compare"]
    ready(page, f"{data['base']}/compare?runs={a},{b}")
    charts = page.locator("#compare-charts .metric-card")
    expect(charts.locator("canvas").first).to_be_visible()
    assert [c.get_attribute("data-metric") for c in charts.all()] == ["loss"]
    # a chart there can be widened too
    charts.first.locator("button.widen").click()
    page.wait_for_function("() => document.querySelector('#compare-charts .metric-card').compareCard.chart.plot.width > 1500")
    row = page.locator('#diff-table tr[data-key="metrics.test_acc"]')
    expect(row).to_contain_text("0.8")
    expect(row).to_contain_text("0.89")


def test_a_unique_id_prefix_opens_the_run_and_an_ambiguous_one_says_so(page: Page, data: Any) -> None:
    base, run_id = data["base"], data["resumed"]
    answer = get_json(f"{base}/api/runs/{run_id[:6]}")
    assert answer["id"] == run_id
    assert get_json(f"{base}/api/runs/{run_id[:6]}/metric?name=loss")["count"] == 18
    ready(page, f"{base}/runs/{run_id[:6]}")
    expect(page.locator("#run-name")).to_have_text("interrupted")
    assert page.url.endswith(f"/runs/{run_id}")

    # 30 runs, 16 hex digits: some one-character prefix starts two of them
    everyone = [r["id"] for e in get_json(f"{base}/api/experiments")["experiments"]
                for r in get_json(f"{base}/api/experiments/{e['id']}/runs?children=1&limit=1000")["runs"]]
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in everyone) > 1)
    status, _headers, body = get(f"{base}/api/runs/{shared}")
    assert status == 409
    error = json.loads(body)
    assert "give more of the id" in error["error"]
    assert sorted(error["matches"]) == sorted(i for i in everyone if i.startswith(shared))
    status, _headers, body = get(f"{base}/api/runs/nosuchrun")
    assert status == 404 and json.loads(body)["error"] == "no run 'nosuchrun'"


def test_a_chart_can_be_widened_to_the_page(page: Page, data: Any) -> None:
    ready(page, f"{data['base']}/runs/{data['resumed']}")
    card = page.locator('.metric-card[data-metric="loss"]')
    expect(card.locator("canvas")).to_be_visible()
    grid = page.locator("#metrics").bounding_box()
    before = card.bounding_box()
    assert grid is not None and before is not None
    assert before["width"] < grid["width"] / 3  # a card of the grid on a 1920-pixel screen
    with page.expect_request(lambda r: "/metric?" in r.url and "width=" in r.url) as asked:
        card.locator("button.widen").click()
    expect(card.locator("button.widen")).to_have_attribute("aria-pressed", "true")
    after = card.bounding_box()
    assert after is not None and after["width"] > 0.95 * grid["width"] and after["height"] > before["height"]
    width = int(asked.value.url.split("width=")[1].split("&")[0])
    assert width > 2 * before["width"]  # drawn again at its new width
    page.wait_for_function("""() => {
        const u = document.querySelector('.metric-card[data-metric="loss"]').runlogCard.chart.plot;
        return u.width > 1500 && u.height >= 300; }""")


def test_a_sweep_parent_is_ranked_by_its_objective_with_parallel_coordinates(page: Page, data: Any) -> None:
    ready(page, f"{data['base']}/runs/{data['study']}")
    expect(page.locator("#sweep-objective")).to_have_text("objective: value (minimize)")
    expect(page.locator("#sweep-score")).to_have_value("value")
    expect(page.locator("#sweep-order")).to_have_value("asc")
    names = page.locator("#sweep-table tbody tr td:nth-child(3)")
    expect(names).to_have_text(["trial-2", "trial-1", "trial-4", "trial-0", "trial-3"])

    parallel = page.locator("#parallel")
    parallel.scroll_into_view_if_needed()
    expect(parallel.locator("path.pc-line")).to_have_count(5)
    axes = parallel.locator("g.pc-axis")
    assert [a.get_attribute("data-axis") for a in axes.all()] == ["lr", "optimizer", "value"]
    assert [a.get_attribute("data-kind") for a in axes.all()] == ["param", "param", "objective"]
    # a categorical param: its values evenly spaced, in order
    ticks = parallel.locator('g.pc-axis[data-axis="optimizer"] text.pc-tick')
    assert [t.get_attribute("data-value") for t in ticks.all()] == ["adam", "rmsprop", "sgd"]
    ys = [float(t.get_attribute("y") or 0) for t in ticks.all()]
    assert ys[0] > ys[1] > ys[2] and ys[0] - ys[1] == pytest.approx(ys[1] - ys[2])
    expect(parallel.locator('g.pc-axis[data-axis="lr"] text.pc-name')).to_have_text("lr (log)")
    # colored by the objective: the best trial (lowest value) the reddest, drawn last (on top)
    lines = parallel.locator("path.pc-line")
    best_line = lines.last
    expect(best_line.locator("title")).to_contain_text("trial-2")
    assert best_line.get_attribute("stroke") == "rgb(220, 38, 38)"
    expect(lines.first.locator("title")).to_contain_text("trial-3")
    assert lines.first.get_attribute("stroke") == "rgb(147, 197, 253)"
    # each line goes through its child's values: trial-2 (lr 0.1, adam, 0.05) at adam's tick
    adam_y = ys[0]
    path = best_line.get_attribute("d") or ""
    points = [tuple(float(v) for v in p.split(",")) for p in path.replace("M", " ").replace("L", " ").split()]
    assert len(points) == 3 and points[1][1] == pytest.approx(adam_y - 3, abs=0.2)

    shot(page, "#sweep", "parallel")

    # choosing another score redraws the ranking and the last axis
    page.select_option("#sweep-score", "accuracy")
    page.select_option("#sweep-order", "desc")
    expect(names.first).to_have_text("trial-2")
    expect(parallel.locator("g.pc-axis").last).to_have_attribute("data-axis", "accuracy")
    # a click on a line opens its child
    box = parallel.locator("svg").bounding_box()
    assert box is not None
    path = best_line.get_attribute("d") or ""
    (x0, y0), (x1, y1) = [tuple(float(v) for v in p.split(",")) for p in path.replace("M", " ").replace("L", " ").split()][:2]
    page.mouse.click(box["x"] + (x0 + x1) / 2, box["y"] + (y0 + y1) / 2)
    expect(page.locator("#run-name")).to_have_text("trial-2")
