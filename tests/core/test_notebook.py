"""Runs, experiments and lists of runs render as HTML in Jupyter, with every logged string escaped."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from runlog_core import Experiment, search_runs
from runlog_core.views import html as html_module
from runlog_core.views.html import RunList

SCRIPT = "<script>alert(1)</script>"
ONERROR = '"onerror=alert(2)'
AMP = "&amp;"
IMG = "<img src=x onerror=alert(3)>"
EXAMPLE = Path(__file__).parents[2] / "examples" / "notebook.ipynb"


class _Page(HTMLParser):
    """What a browser would make of the markup: its tags, their attributes and the text it shows."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: dict[str, list[str]] = {}
        self.text = ""
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attributes.setdefault(name, []).append(value or "")

    def handle_data(self, data: str) -> None:
        self.text += data


def assert_only_escaped(markup: str, *shown: str) -> None:
    """No hostile string is live markup, and each of ``shown`` reads as plain text on the page."""
    page = _Page(markup)
    assert "script" not in page.tags and "img" not in page.tags
    assert not [name for name in page.attributes if name.startswith("on")]
    assert SCRIPT not in markup and ONERROR not in markup
    for text in shown:
        assert text in page.text, text


def _hostile_run(experiment: Experiment) -> Any:
    run = experiment.start_logging(name=SCRIPT, tags={"note": ONERROR, "team": AMP}, outputs=None)
    run.log_params({"comment": ONERROR, "entity": AMP, "alpha": 0.5})
    run.log("verdict", SCRIPT)
    run.log("mse", 0.125)
    run.log(IMG, 1.0)
    return run


# -- in this process ----------------------------------------------------------------------------


def test_run_card_shows_name_status_times_metrics_params_tags_and_children(experiment: Experiment) -> None:
    run = _hostile_run(experiment)
    run.child_run(name="child").complete()
    run.complete()
    markup = run._repr_html_()
    page = _Page(markup)
    assert run.id in page.text and "Completed" in page.text and "#1a7f37" in markup
    assert "0.125" in page.text and "alpha" in page.text and "0.5" in page.text
    assert "started" in page.text and "ended" in page.text and "duration" in page.text
    assert "1 child run" in page.text
    assert_only_escaped(markup, SCRIPT, ONERROR, AMP, IMG)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup and "&quot;onerror=" in markup and "&amp;amp;" in markup


def test_failed_run_shows_its_error_escaped(experiment: Experiment) -> None:
    with pytest.raises(ValueError), experiment.start_logging(name="boom", outputs=None) as run:
        raise ValueError(SCRIPT)
    markup = run._repr_html_()
    page = _Page(markup)
    assert "Failed" in page.text and "ValueError" in page.text
    assert_only_escaped(markup, SCRIPT)


def test_long_lists_are_cut_with_a_count_and_long_values_keep_a_tooltip(experiment: Experiment) -> None:
    run = experiment.start_logging(name="many", outputs=None)
    run.log_params({f"p{i:02d}": i for i in range(25)})
    run.log_metrics({f"m{i:02d}": float(i) for i in range(12)})
    run.tag("long", SCRIPT * 10)
    markup = run._repr_html_()
    page = _Page(markup)
    assert "p09" in page.text and "p10" not in page.text and "+ 15 more params" in page.text
    assert "+ 2 more metrics" in page.text
    assert SCRIPT * 10 in page.attributes["title"]  # the whole value, escaped in the tooltip
    assert_only_escaped(markup)


def test_experiment_and_run_list_show_tables_of_runs_with_shared_metrics(store: Any) -> None:
    experiment = Experiment(SCRIPT, store=store)
    hostile = _hostile_run(experiment)
    hostile.complete()
    other = experiment.start_logging(name="plain", outputs=None)
    other.log("mse", 3.5)
    markup = experiment._repr_html_()
    page = _Page(markup)
    assert "2 runs" in page.text and "Running" in page.text and "Completed" in page.text
    assert "mse" in page.text and "0.125" in page.text and "3.5" in page.text and "plain" in page.text
    assert str(store.uri) in page.text
    assert_only_escaped(markup, SCRIPT)

    found = RunList(search_runs("metrics.mse < 1", experiment=experiment))
    assert found == [hostile] and repr(found) == repr([hostile])
    listing = found._repr_html_()
    assert "1 run" in _Page(listing).text and "0.125" in listing and "plain" not in listing
    assert_only_escaped(listing, SCRIPT)
    assert "no runs" in RunList()._repr_html_()


def test_experiment_shows_its_latest_runs_and_counts_the_rest(experiment: Experiment) -> None:
    for index in range(23):
        experiment.start_logging(name=f"run-{index:02d}", outputs=None).complete()
    page = _Page(experiment._repr_html_())
    assert "23 runs" in page.text and "+ 3 more runs" in page.text
    assert "run-22" in page.text and "run-03" in page.text and "run-02" not in page.text


def test_ui_link_is_none_until_a_ui_serves_the_store_and_is_escaped_when_given(
        run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert html_module._ui_link(run) is None
    assert "<a " not in run._repr_html_()
    monkeypatch.setattr(html_module, "_ui_link", lambda run: f'http://127.0.0.1:5005/runs/{run.id}?x="><script>')
    page = _Page(run._repr_html_())
    assert page.attributes["href"] == [f'http://127.0.0.1:5005/runs/{run.id}?x="><script>']
    assert "script" not in page.tags and "img" not in page.tags


# -- in a real notebook, run by a real kernel ---------------------------------------------------

HOSTILE_CELLS = {
    "setup": f"""
from runlog_core.views.html import RunList
SCRIPT, ONERROR, AMP = {SCRIPT!r}, {ONERROR!r}, {AMP!r}
bad = Experiment(SCRIPT)
with bad.start_logging(name=SCRIPT, tags={{"note": ONERROR, "team": AMP}}) as hostile:
    hostile.log_params({{"comment": ONERROR, "entity": AMP}})
    hostile.log("verdict", SCRIPT)
    hostile.log("mse", 0.125)
try:
    with bad.start_logging(name="failing") as failing:
        raise ValueError(SCRIPT)
except ValueError:
    pass
""",
    "hostile": "hostile",
    "failing": "failing",
    "bad": "bad",
    "found": "RunList(search_runs('metrics.mse < 1', experiment=bad))",
}


@pytest.fixture
def kernel_name(kernel_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The conftest's kernel, with this test's store as RUNLOG_STORE."""
    monkeypatch.setenv("RUNLOG_STORE", str(tmp_path / "store"))
    return kernel_name


def _html_of(cell: Any) -> str:
    return "".join(output["data"].get("text/html", "") for output in cell.outputs
                   if output.output_type in ("execute_result", "display_data"))


def test_example_notebook_renders_runs_experiments_and_searches_escaped(kernel_name: str, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(EXAMPLE, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells), "the example is stored without outputs"
    for tag, source in HOSTILE_CELLS.items():
        notebook.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": [tag]}))
    client = nbclient.NotebookClient(notebook, kernel_name=kernel_name, timeout=60, startup_timeout=60,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    by_source = {cell.source.strip(): cell for cell in notebook.cells if cell.cell_type == "code"}
    by_tag = {cell.metadata["tags"][0]: cell for cell in notebook.cells if cell.metadata.get("tags")}

    run_page = _Page(_html_of(by_source["run"]))
    assert "lr-0.03" in run_page.text and "Completed" in run_page.text and "loss" in run_page.text
    assert "optimizer.name" in run_page.text and "sgd" in run_page.text
    experiment_page = _Page(_html_of(by_source["exp"]))
    assert "notebook-demo" in experiment_page.text and "3 runs" in experiment_page.text
    assert all(f"lr-{lr}" in experiment_page.text for lr in (0.3, 0.1, 0.03))
    assert str(tmp_path / "store") in experiment_page.text

    hostile = _html_of(by_tag["hostile"])
    assert "Completed" in hostile and "0.125" in hostile
    assert_only_escaped(hostile, SCRIPT, ONERROR, AMP)
    failing = _html_of(by_tag["failing"])
    assert "Failed" in failing and "ValueError" in failing
    assert_only_escaped(failing, SCRIPT)
    experiment = _html_of(by_tag["bad"])
    assert "2 runs" in _Page(experiment).text
    assert_only_escaped(experiment, SCRIPT)
    found = _html_of(by_tag["found"])
    assert "0.125" in found and "failing" not in found
    assert_only_escaped(found, SCRIPT)
