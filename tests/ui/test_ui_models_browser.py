"""The web UI and issue 20: the models page, a run's models on its page, a deleted run hidden from the
runs list yet shown (marked deleted) at its own address. Real server, real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (pip install playwright)")
pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

from _ui_helpers import TOKENS, get_json, start_ui, stop  # noqa: E402
from playwright.sync_api import expect  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from runlog_core import Experiment

    folder = tmp_path_factory.mktemp("ui-models")
    (folder / "outputs").mkdir()
    (folder / "outputs" / "ridge.pkl").write_bytes(b"ridge")
    exp = Experiment("registry", store=folder / "store")
    with exp.start_logging(name="trained", outputs=str(folder / "outputs")) as trained:
        trained.log("mse", 3000.0)
    with exp.start_logging(name="<b>gone</b>") as gone:
        gone.log("mse", 9000.0)
    trained.register_model("ridge", "outputs/ridge.pkl", tags={"stage": "<i>prod</i>"})
    trained.register_model("ridge", "outputs/ridge.pkl")
    gone.delete()
    exp.close()
    proc, url = start_ui("--store", str(folder / "store"))
    yield {"url": url, "trained": trained.id, "gone": gone.id, "experiment": exp.id}
    stop(proc)


def test_the_api_lists_models_and_a_runs_models(served: dict[str, Any]) -> None:
    url = served["url"]
    listed = get_json(f"{url}/api/models")["models"]
    assert [(m["name"], m["version"], m["run_id"]) for m in listed] == [("ridge", 2, served["trained"]),
                                                                          ("ridge", 1, served["trained"])]
    assert listed[1]["tags"] == {"stage": "<i>prod</i>"} and listed[1]["files"] == [{"name": "outputs/ridge.pkl",
                                                                                       "size": 5}]
    assert len(get_json(f"{url}/api/runs/{served['trained']}/models")["models"]) == 2
    assert get_json(f"{url}/api/runs/{served['gone']}/models")["models"] == []
    assert get_json(f"{url}/api/runs/nope/models", status=404)["error"] == "no run 'nope'"
    runs = get_json(f"{url}/api/experiments/{served['experiment']}/runs")
    assert served["gone"] not in str(runs) and served["trained"] in str(runs)
    assert get_json(f"{url}/api/runs/{served['gone']}")["deleted_time"] is not None


def test_the_models_page_and_the_run_page(served: dict[str, Any], tmp_path: Path) -> None:
    url = served["url"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        problems: list[str] = []
        page.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(f"{url}/?token={TOKENS[url]}")
        page.wait_for_selector("#app[data-ready]")
        page.click("#models-link")
        expect(page.locator("#models tbody tr")).to_have_count(2)
        first = page.locator("#models tbody tr").nth(1)
        expect(first).to_contain_text("ridge")
        expect(first).to_contain_text("stage=<i>prod</i>")  # text, never HTML
        first.locator("a").click()
        page.wait_for_selector("#app[data-ready]")
        expect(page.locator("#run-name")).to_have_text("trained")
        expect(page.locator("#run-models tbody tr")).to_have_count(2)
        page.goto(f"{url}/runs/{served['gone']}")
        page.wait_for_selector("#app[data-ready]")
        expect(page.locator("#run-name")).to_have_text("<b>gone</b>")
        expect(page.locator("#run-deleted")).to_contain_text("Deleted")
        expect(page.locator("#models-section")).to_be_hidden()
        page.goto(f"{url}/experiments/{served['experiment']}")
        page.wait_for_selector("#app[data-ready]")
        expect(page.get_by_text("trained", exact=True)).to_be_visible()
        expect(page.get_by_text("<b>gone</b>")).to_have_count(0)
        browser.close()
        assert not problems, problems
