"""The run and compare pages of runs with 200,000 params in headless Chromium (#24): usable at once, with
the first page of params and a control that loads the next one; a filter asks the server."""

from __future__ import annotations

import sys
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

from playwright.sync_api import Page, expect  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import TOKENS, start_ui, stop  # noqa: E402

pytestmark = pytest.mark.timeout(300)
PARAMS = 200_000
A, B = "a" * 32, "b" * 32


def key(n: int) -> str:
    return f"layer.{n:07d}.weight_decay"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from runlog_core.store import Batch, RunInfo
    from runlog_core.store.sqlite.store import SQLiteStore

    folder = tmp_path_factory.mktemp("wide") / "store"
    store = SQLiteStore(folder / "runlog.db", folder / "artifacts", uri=str(folder))
    experiment = store.get_or_create_experiment("wide")
    for run_id in (A, B):
        store.create_run(RunInfo(id=run_id, experiment_id=experiment, experiment_name="wide", name=f"wide-{run_id[0]}",
                                 status="Completed", start_time=time.time(), end_time=time.time() + 1))
        for first in range(0, PARAMS, 50_000):
            batch = Batch()
            batch.params.extend((run_id, key(n), n * (2 if run_id == B else 1)) for n in range(first, first + 50_000))
            store.write(batch)
    batch = Batch()
    batch.tags.extend((A, f"tag.{n:04d}", str(n)) for n in range(250))
    store.write(batch)
    store.close()
    proc, url = start_ui("--store", str(folder))
    yield url
    stop(proc)


@pytest.fixture
def page() -> Iterator[Page]:
    """A page that fails the test on a script error or a dialog."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        opened = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        opened.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        opened.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        yield opened
        browser.close()
        assert not problems, problems


def rows(page: Page, table: str) -> Any:
    return page.locator(f"#{table} tr")


def test_the_run_page_shows_the_first_page_of_params_and_loads_more(base: str, page: Page) -> None:
    started = time.perf_counter()
    page.goto(f"{base}/?token={TOKENS[base]}")  # the printed URL logs the browser in
    page.goto(f"{base}/runs/{A}")
    page.wait_for_selector("#app[data-ready]", timeout=30_000)
    print(f"run page of a run with {PARAMS:,} params ready in {time.perf_counter() - started:.2f} s")
    expect(rows(page, "params-table")).to_have_count(200)  # before #24: every one of 200,000
    expect(page.locator("#params-table tr").first).to_contain_text(key(0))
    expect(page.locator("#params-count")).to_have_text("200 of 200,000")
    more = page.locator("#params-more")
    expect(more).to_be_visible()
    more.click()
    expect(rows(page, "params-table")).to_have_count(400)
    expect(page.locator("#params-table tr").last).to_contain_text(key(399))
    expect(page.locator("#params-count")).to_have_text("400 of 200,000")
    # the filter asks the server, which looks through all 200,000
    page.locator("#params-filter").fill("0199998")
    expect(rows(page, "params-table")).to_have_count(1)
    expect(page.locator("#params-table")).to_contain_text(key(199_998))
    expect(more).to_be_hidden()
    page.locator("#params-filter").fill("")
    expect(rows(page, "params-table")).to_have_count(200)
    # tags: 250, two pages
    expect(rows(page, "tags-table")).to_have_count(200)
    page.locator("#tags-more").click()
    expect(rows(page, "tags-table")).to_have_count(250)
    expect(page.locator("#tags-more")).to_be_hidden()


def test_the_compare_page_shows_the_first_page_of_params_and_loads_more(base: str, page: Page) -> None:
    page.goto(f"{base}/?token={TOKENS[base]}")  # the printed URL logs the browser in
    page.goto(f"{base}/compare?runs={A},{B}")
    page.wait_for_selector("#app[data-ready]", timeout=30_000)
    params = page.locator('#diff-table tr[data-key^="params."]')
    expect(params).to_have_count(200)
    expect(page.locator(f'#diff-table tr[data-key="params.{key(0)}"]')).to_have_class("same")
    expect(page.locator(f'#diff-table tr[data-key="params.{key(1)}"]')).to_have_class("differs")
    page.locator("#compare-params-more").click()
    expect(params).to_have_count(400)
    expect(page.locator(f'#diff-table tr[data-key="params.{key(399)}"]')).to_contain_text("798")
    page.locator("#only-differences").check()
    expect(params).to_have_count(399)  # every key but layer.0000000 differs
