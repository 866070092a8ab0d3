"""The web UI in a real browser: `runlog ui` serving stores filled by real training runs, driven
by headless Chromium through Playwright."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"the browser tests need Chromium at {CHROMIUM}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (pip install playwright)")
pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("runlog_ui._server", reason="the UI server (runlog_ui._server) is not there yet")

from playwright.sync_api import Browser, Page, expect  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import TOKENS, start_ui, stop  # noqa: E402
from _ui_stores import XSS, build  # noqa: E402

pytestmark = pytest.mark.timeout(300)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("ui")
    store = str(folder / "store")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        ids = build(store, folder)
    finally:
        os.chdir(cwd)
    ids["store"] = store
    return ids


@pytest.fixture(scope="module")
def printed(data: dict[str, Any]) -> Iterator[str]:
    """The URL `runlog ui --store <store> --port 0` printed, with its token: what a user opens first."""
    proc, url = start_ui("--store", data["store"])
    yield f"{url}/?token={TOKENS[url]}"
    stop(proc)


@pytest.fixture(scope="module")
def base(printed: str) -> str:
    return printed.split("/?")[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, printed: str) -> Iterator[Page]:
    """A page that fails the test on any dialog (an XSS payload that ran) or script error; logged in as a
    user is, by opening the printed URL once (its token becomes the login cookie)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    opened.goto(printed)
    assert "token=" not in opened.url
    opened.wait_for_selector("#app[data-ready]")
    problems: list[str] = []

    def on_dialog(dialog: Any) -> None:
        problems.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    opened.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    # a 400 the page expects (a bad filter) is logged by Chromium as "Failed to load resource"
    opened.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
              if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    yield opened
    context.close()
    assert not problems, problems


def ready(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#app[data-ready]")


def scroll_all(page: Page) -> None:
    """Bring every lazy card into view once, so each loads."""
    for card in page.locator(".card").all():
        card.scroll_into_view_if_needed()


def shot(page: Page, name: str) -> None:
    """docs/images/ui-<name>.png, when RUNLOG_UI_SCREENSHOTS=1 (so a test run leaves the checkout clean)."""
    if os.environ.get("RUNLOG_UI_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"ui-{name}.png"))


def experiment_id(base: str, page: Page, name: str) -> int:
    found = page.request.get(base + "/api/experiments").json()["experiments"]
    return next(e["id"] for e in found if e["name"] == name)


def test_experiments_and_runs_table_sort_filter_columns_children_compare(page: Page, base: str, data: Any) -> None:
    ready(page, base + "/")
    for name in ("lightning", "keras", "sklearn", "xgboost", "showcase", "compare"):
        expect(page.locator("#experiments")).to_contain_text(name)

    # the search parent, with its 8 candidates folded under it
    page.get_by_role("link", name="sklearn", exact=True).click()
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("#total")).to_have_text("1–1 of 1 runs")
    page.locator(".fold-button").click()
    expect(page.locator("#runs tbody tr.child")).to_have_count(8)
    # the candidates show their own scores, under a header of their own columns
    expect(page.locator("#runs tbody tr.child-head")).to_contain_text("mean_test_score")
    child_cells = page.locator("#runs tbody tr.child").first.locator("td.num")
    expect(child_cells.filter(has_text="0.")).not_to_have_count(0)
    shot(page, "runs-table")

    ready(page, f"{base}/experiments/{experiment_id(base, page, 'compare')}")
    expect(rows).to_have_count(2)
    expect(page.locator("#runs thead")).to_contain_text("metrics.loss")
    loss_header = page.locator('th[data-sort="metrics.loss"]')
    loss_header.click()
    expect(rows.first.locator("td.name")).to_have_text("lr=0.1")  # 0.033 < 0.067
    loss_header.click()
    expect(rows.first.locator("td.name")).to_have_text("lr=0.01")
    assert "sort=metrics.loss+desc" in page.url or "sort=metrics.loss%20desc" in page.url

    page.locator("#filter").fill("params.lr < 0.05")
    page.locator("#filter").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.name")).to_have_text("lr=0.01")

    # a filter that does not parse: the error, with a caret under the position the server names
    bad = "params.lr < 0.05 and metrics.loss <"
    page.locator("#filter").fill(bad)
    page.locator("#filter").press("Enter")
    caret = page.locator("#filter-error pre.caret")
    expect(caret).to_be_visible()
    answer = page.request.get(f"{page.url.split('?')[0].replace('/experiments/', '/api/experiments/')}/runs",
                              params={"filter": bad})
    assert answer.status == 400
    position = answer.json()["position"]
    shown, marker = caret.text_content().split("\n")
    assert shown == bad and marker == " " * position + "^"

    # the column picker searches the keys and adds a param column
    page.locator("#filter").fill("")
    page.locator("#filter").press("Enter")
    expect(rows).to_have_count(2)
    page.locator("#columns-button").click()
    page.locator("#column-search").fill("see")
    seed = page.locator('#column-picker input[data-column="params.seed"]')
    expect(seed).to_be_visible()
    expect(page.locator('#column-picker input[data-column="params.lr"]')).to_have_count(0)
    seed.check()
    expect(page.locator('th[data-sort="params.seed"]')).to_be_visible()
    page.keyboard.press("Escape")

    # pick both runs and compare them
    for box in page.locator("#runs tbody input[type=checkbox]").all():
        box.check()
    page.locator("#compare").click()
    page.wait_for_url("**/compare?runs=*")
    expect(page.locator("#diff-table")).to_contain_text("lr")


def test_runs_table_pages(page: Page, base: str, data: Any) -> None:
    ready(page, f"{base}/experiments/{experiment_id(base, page, 'paging')}")
    rows = page.locator("#runs tbody tr")
    expect(page.locator("#total")).to_have_text("1–100 of 130 runs")
    expect(rows).to_have_count(100)
    expect(page.locator("#prev")).to_be_disabled()
    page.locator('th[data-sort="metrics.score"]').click()
    expect(rows.first.locator("td.name")).to_have_text("page-run-000")
    page.locator("#next").click()
    expect(page.locator("#total")).to_have_text("101–130 of 130 runs")
    expect(rows).to_have_count(30)
    expect(rows.last.locator("td.name")).to_have_text("page-run-129")
    expect(page.locator("#next")).to_be_disabled()
    page.reload()  # the page, sort and offset live in the URL
    page.wait_for_selector("#app[data-ready]")
    expect(page.locator("#total")).to_have_text("101–130 of 130 runs")


def test_run_page_shows_every_data_type(page: Page, base: str, data: Any) -> None:
    ids = data["every"]
    ready(page, f"{base}/runs/{ids['run']}")
    expect(page.locator("#run-name")).to_have_text(ids["name"])
    expect(page.locator("#run-status")).to_have_text("Completed")
    expect(page.locator("#params-table")).to_contain_text("optimizer")
    expect(page.locator("#params-table")).to_contain_text("[64,32]")
    expect(page.locator("#tags-table")).to_contain_text("vision")

    loss = page.locator('.metric-card[data-metric="loss"]')
    expect(loss.locator(".latest")).to_have_text("0.02")
    expect(loss.locator("canvas")).to_be_visible()
    expect(loss).to_have_attribute("data-points", "50")
    expect(page.locator('.metric-card[data-metric="accuracy"] .latest')).to_have_text("0.98")
    expect(page.locator('.metric-card[data-metric="flag"] .latest')).to_have_text("True")
    # system metrics in their own section, not among the run's metrics
    expect(page.locator('#metrics .metric-card[data-metric^="system/"]')).to_have_count(0)
    expect(page.locator('#system-metrics .metric-card[data-metric="system/cpu_percent"] .latest')).to_have_text("14")

    # the chart controls: wall time, relative time, log scale, smoothing, and zoom by dragging
    page.select_option("#x-axis", "relative")
    expect(loss).to_have_attribute("data-x", "relative")
    expect(loss).to_have_attribute("data-points", "50")
    page.select_option("#x-axis", "step")
    expect(loss).to_have_attribute("data-x", "step")
    page.locator("#log-scale").check()
    page.locator("#smoothing").fill("0.6")
    expect(loss.locator(".u-legend")).to_contain_text("loss (raw)")
    box = loss.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 40, steps=5)
    page.mouse.up()
    expect(loss).to_have_class("card metric-card zoomed")
    zoomed = int(loss.get_attribute("data-points") or 0)
    assert 0 < zoomed < 50
    loss.locator(".u-over").dblclick()
    expect(loss).to_have_attribute("data-points", "50")
    expect(loss).not_to_have_class("card metric-card zoomed")

    scroll_all(page)
    gallery = page.locator('.image-card[data-series="samples"]')
    expect(gallery.locator(".step-label")).to_have_text("step 20 · 3/3")
    gallery.locator(".step-slider").fill("0")
    expect(gallery.locator(".step-label")).to_have_text("step 0 · 1/3")
    page.wait_for_function("() => document.querySelector('.gallery-img').naturalWidth === 16")  # the PNG loaded

    expect(page.locator('.data-card[data-series="confusion"] table')).to_contain_text("dog")
    expect(page.locator('.data-card[data-series="per_epoch"] tbody tr')).to_have_count(3)
    expect(page.locator('.data-card[data-series="fold_scores"]')).to_contain_text("0.93")
    expect(page.locator('.data-card[data-series="notes"]')).to_contain_text("a plain string")
    expect(page.locator('pre[data-log="logs/std_log.txt"]')).to_contain_text("hello from stdout")
    expect(page.locator('pre[data-log="logs/python_logging.txt"]')).to_contain_text("a logging record")
    expect(page.locator("#files-table")).to_contain_text("outputs/model.bin")
    expect(page.locator("#sweep-table tbody tr")).to_have_count(2)  # children with scores: the sweep view
    page.get_by_role("link", name="child-a").first.click()
    expect(page.locator("#run-name")).to_have_text("child-a")
    expect(page.locator("#params-table")).to_contain_text("alpha")


@pytest.mark.parametrize(("key", "metric"), [("lightning", "train_loss"), ("keras", "loss"), ("xgboost", "valid-rmse")])
def test_real_training_runs_draw_their_charts(page: Page, base: str, data: Any, key: str, metric: str) -> None:
    ready(page, f"{base}/runs/{data[key]}")
    card = page.locator(f'.metric-card[data-metric="{metric}"]')
    card.scroll_into_view_if_needed()
    expect(card.locator("canvas")).to_be_visible()
    expect(card).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    assert page.locator("#params-table tr").count() > 0
    if key == "lightning":
        for other in page.locator("#metrics .metric-card").all():
            expect(other.locator("canvas")).to_be_visible()
        shot(page, "run-page")


def test_a_thousand_metrics_build_only_the_charts_in_view(page: Page, base: str, data: Any) -> None:
    ready(page, f"{base}/runs/{data['many']}")
    cards = page.locator("#metrics .metric-card")
    expect(cards).to_have_count(1000)
    expect(cards.first.locator("canvas")).to_be_visible()
    built = page.locator("#metrics .metric-card canvas").count()
    assert 0 < built < 60, built
    last = page.locator('.metric-card[data-metric="layer0999/grad_norm"]')
    assert last.locator("canvas").count() == 0
    page.locator("#metric-search").fill("layer0999")
    expect(page.locator("#metrics .metric-card:not(.hidden)")).to_have_count(1)
    expect(last.locator("canvas")).to_be_visible()
    expect(last).to_have_attribute("data-points", "5")
    expect(last.locator(".latest")).to_have_text("999.4")


def test_compare_and_sweep(page: Page, base: str, data: Any) -> None:
    a, b = data["compare"]
    ready(page, f"{base}/compare?runs={a},{b}")
    expect(page.locator('#diff-table tr[data-key="params.lr"]')).to_have_class("differs")
    expect(page.locator('#diff-table tr[data-key="params.batch"]')).to_have_class("same")
    page.locator("#only-differences").check()
    expect(page.locator('#diff-table tr[data-key="params.batch"]')).to_have_count(0)
    chart = page.locator('#compare-charts .metric-card[data-metric="loss"]')
    expect(chart.locator("canvas")).to_be_visible()
    expect(chart.locator(".u-legend")).to_contain_text("lr=0.1")
    expect(chart.locator(".u-legend")).to_contain_text("lr=0.01")
    chart.locator("button.widen").click()  # the whole width of the page
    page.wait_for_function("() => document.querySelector('#compare-charts .metric-card').compareCard.chart.plot.width > 1000")
    shot(page, "compare")

    # the grid search: children sorted by their score (the search tags it as its objective), and a param
    # against a metric, and every param against the score
    ready(page, f"{base}/compare?runs={data['sklearn']}")
    rows = page.locator("#sweep-table tbody tr")
    expect(rows).to_have_count(8)
    expect(page.locator("#sweep-objective")).to_have_text("objective: mean_test_score (maximize)")
    axes = page.locator("#parallel g.pc-axis")
    expect(axes).to_have_count(3)
    assert [a.get_attribute("data-axis") for a in axes.all()] == ["alpha", "fit_intercept", "mean_test_score"]
    expect(page.locator("#parallel path.pc-line")).to_have_count(8)
    scores = [float(x) for x in page.locator("#sweep-table tbody tr td:nth-child(4)").all_text_contents()]
    assert scores == sorted(scores, reverse=True)
    expect(page.locator("#sweep .chart canvas")).to_be_visible()
    page.select_option("#sweep-param", "fit_intercept")
    expect(page.locator("#sweep .chart canvas")).to_be_visible()
    ready(page, f"{base}/runs/{data['sklearn']}")
    expect(page.locator("#sweep-table tbody tr")).to_have_count(8)
    expect(page.locator('#values .value-card[data-metric="best_score"]')).to_be_visible()
    page.locator("#children-section").scroll_into_view_if_needed()
    expect(page.locator("#sweep .chart canvas")).to_be_visible()
    page.locator("#children-section").evaluate("el => el.scrollIntoView()")
    shot(page, "sweep")


def test_logged_strings_are_text_never_html(page: Page, base: str, data: Any) -> None:
    ids = data["every"]
    ready(page, f"{base}/runs/{ids['run']}")
    scroll_all(page)
    expect(page.locator('.data-card[data-series="xss_list"]')).to_contain_text(XSS[2])
    expect(page.locator('.data-card[data-series="per_epoch"]')).to_contain_text(XSS[1])
    expect(page.locator('.data-card[data-series="confusion"]')).to_contain_text(XSS[2])
    expect(page.locator('.data-card[data-series="notes"]')).to_contain_text(XSS[0])
    expect(page.locator("#run-name")).to_have_text(ids["name"])
    expect(page.locator(f'.metric-card[data-metric="{XSS[1]}"] .metric-name')).to_have_text(XSS[1])
    for text in (XSS[1], XSS[2]):
        expect(page.locator("#params-table")).to_contain_text(text)
    for text in (XSS[0], XSS[1]):
        expect(page.locator("#tags-table")).to_contain_text(text)
    expect(page.locator('pre[data-log="logs/std_log.txt"]')).to_contain_text(XSS[0])
    expect(page.locator('pre[data-log="logs/python_logging.txt"]')).to_contain_text(XSS[2])
    if ids["xss_file"]:
        expect(page.locator("#files-table")).to_contain_text(ids["xss_file"])
    expect(page.locator("#sweep-table")).to_contain_text(XSS[2])
    _no_markup_ran(page)

    ready(page, f"{base}/experiments/{experiment_id(base, page, 'showcase')}")
    expect(page.locator("#runs tbody")).to_contain_text(ids["name"])
    page.locator(".fold-button").click()
    expect(page.locator("#runs tbody")).to_contain_text(XSS[2])
    _no_markup_ran(page)

    children = page.request.get(f"{base}/api/runs/{ids['run']}").json()["children"]
    ready(page, f"{base}/compare?runs={ids['run']},{children[0]['id']},{children[1]['id']}")
    expect(page.locator("#diff-table")).to_contain_text(XSS[2])
    expect(page.locator(".run-legend")).to_contain_text(ids["name"])
    _no_markup_ran(page)


def _no_markup_ran(page: Page) -> None:
    found = page.evaluate("""() => ({
        scripts: [...document.scripts].map((s) => s.getAttribute('src')),
        imgs: document.querySelectorAll('img[src="x"], img[onerror]').length,
        svgs: document.querySelectorAll('svg[onload]').length})""")
    assert found == {"scripts": ["/static/vendor/uPlot.iife.min.js", "/static/app.js"], "imgs": 0, "svgs": 0}


def test_html_artifact_is_downloaded_not_rendered(page: Page, base: str, data: Any) -> None:
    ids = data["every"]
    ready(page, f"{base}/runs/{ids['run']}")
    with page.expect_download() as download:
        page.get_by_role("link", name="outputs/report.html").click()
    assert download.value.suggested_filename == "report.html"
    assert "alert('artifact')" in Path(download.value.path()).read_text()
    assert page.url.endswith(f"/runs/{ids['run']}")
    answer = page.request.get(f"{base}/api/runs/{ids['run']}/files/outputs/report.html")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_embed_hides_the_navigation(page: Page, base: str, data: Any) -> None:
    ready(page, f"{base}/runs/{data['lightning']}?embed=1")
    expect(page.locator("#topbar")).to_be_hidden()
    expect(page.locator(".metric-card").first).to_be_visible()


LIVE_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder = sys.argv[1], Path(sys.argv[2])

    def signal(name, text):  # whole or not at all: the test polls for the file
        (folder / (name + ".tmp")).write_text(text)
        os.replace(folder / (name + ".tmp"), folder / name)

    def wait_for(name):
        while not (folder / name).exists():
            time.sleep(0.02)

    with Experiment("live", store=store).start_logging(name="live-run", capture_output=True, outputs=None) as run:
        for step in range(3):
            run.log("loss", 1.0 / (step + 2))
            print(f"line {step}", flush=True)
            run.flush()
            signal(f"flushed-{step}", str(time.time()))
            if step == 0:
                signal("run-id", run.id)
            wait_for(f"go-{step}")
""")


def test_a_live_run_shows_new_points_and_log_lines_without_a_reload(page: Page, base: str, data: Any, tmp_path: Path) -> None:
    script = tmp_path / "live.py"
    script.write_text(LIVE_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), data["store"], str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "run-id").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the logging process did not start"
            time.sleep(0.05)
        run_id = (tmp_path / "run-id").read_text()
        ready(page, f"{base}/runs/{run_id}")
        expect(page.locator("#run-status")).to_have_text("Running")
        card = page.locator('.metric-card[data-metric="loss"]')
        expect(card.locator(".latest")).to_have_text("0.5")
        expect(card.locator("canvas")).to_be_visible()
        start = page.locator("#run-duration").text_content()

        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url) if "/metric?" in request.url else None)
        for step, shown in ((1, "0.33333"), (2, "0.25")):
            (tmp_path / f"go-{step - 1}").write_text("")
            while not (tmp_path / f"flushed-{step}").exists():
                assert proc.poll() is None, "the logging process died"
                time.sleep(0.01)
            # the page polls and shows the point without a reload (how fast: benchmarks/ui_load.py measures it)
            expect(card.locator(".latest")).to_have_text(shown, timeout=5000)
            expect(card).to_have_attribute("data-points", str(step + 1), timeout=5000)
            expect(page.locator('pre[data-log="logs/std_log.txt"]')).to_contain_text(f"line {step}", timeout=5000)
        # only the new points were fetched, from the cursor
        assert fetched and all("since=" in url for url in fetched), fetched
        assert page.locator("#run-duration").text_content() != start
        shot(page, "live")

        # the runs table polls the statuses of its running runs too
        table = page.context.new_page()
        ready(table, f"{base}/experiments/{experiment_id(base, table, 'live')}")
        status = table.locator(f'#runs tr[data-run="{run_id}"] .status')
        expect(status).to_have_text("Running")

        (tmp_path / "go-2").write_text("")
        expect(page.locator("#run-status")).to_have_text("Completed", timeout=10000)
        expect(status).to_have_text("Completed", timeout=10000)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = page.locator('pre[data-log="logs/std_log.txt"]').text_content() or ""
    assert json.dumps(log).count("line 1") == 1  # appended once, never fetched whole again
