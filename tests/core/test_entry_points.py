"""runlog finds its entry points without importlib.metadata (issue 18: a submitted script's start-up),
and finds exactly what importlib.metadata finds.

Each comparison runs in a fresh interpreter: frameworks imported by other tests install finders of
their own (the importlib_metadata backport's) that this process would then carry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import runlog_core

SRC = str(Path(runlog_core.__file__).resolve().parents[1])

COMPARE = """
import importlib.metadata, json, sys
sys.path[:0] = {paths!r}
if {finder!r}:
    class Finder:
        def find_spec(self, *args):
            return None
        def find_distributions(self, context=None):
            return []
    sys.meta_path.insert(0, Finder())
from runlog_core.plugins import entry_points as fast
scanned = fast._scan("runlog")
print(json.dumps({{
    "scanned": None if scanned is None else [[ep.name, ep.value] for ep in scanned],
    "found": [[ep.name, ep.value] for ep in fast.entry_points("runlog")],
    "metadata": [[ep.name, ep.value] for ep in importlib.metadata.entry_points(group="runlog")],
}}))
"""


def _compare(paths: list[str], finder: bool = False) -> dict[str, list[list[str]] | None]:
    code = COMPARE.format(paths=[*paths, SRC], finder=finder)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    answer: dict[str, list[list[str]] | None] = json.loads(done.stdout)
    return answer


def _dist(site: Path, folder: str, text: str | None) -> None:
    info = site / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {folder.split('-')[0]}\nVersion: 1.0\n")
    if text is not None:
        (info / "entry_points.txt").write_text(text)


@pytest.fixture
def sites(tmp_path: Path) -> list[str]:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Alpha_Plugin-1.0.dist-info",
          "# a comment\n[console_scripts]\nalpha = alpha:main\n\n[runlog]\n alpha = alpha_mod:Plugin.inner [extra]\n"
          "beta=beta_mod\n[other]\ngamma = gamma:x\n")
    _dist(first, "nothing-2.0.dist-info", None)
    _dist(first, "legacy.egg-info", "[runlog]\nlegacy = legacy_mod:plugin\n")
    (first / "alpha_mod.py").write_text("class Plugin:\n    inner = 'the inner object'\n")
    # the same distribution again, later on sys.path: importlib.metadata takes the first one only
    _dist(second, "alpha.plugin-0.9.dist-info", "[runlog]\nshadowed = shadowed_mod\n")
    _dist(second, "zeta-1.0.dist-info", "[runlog]\nzeta = zeta_mod:z\n")
    (second / "not-a-dist.txt").write_text("x")
    return [str(first), str(tmp_path / "missing"), str(second)]


def test_the_same_entry_points_as_importlib_metadata_in_the_same_order(sites: list[str]) -> None:
    answer = _compare(sites)
    assert answer["scanned"] is not None  # plain folders: the fast path answered
    assert answer["scanned"] == answer["metadata"]
    found = dict(map(tuple, answer["metadata"] or []))  # type: ignore[arg-type]
    assert {"alpha", "beta", "legacy", "zeta"} <= set(found) and "shadowed" not in found
    assert found["alpha"] == "alpha_mod:Plugin.inner [extra]"


def test_an_entry_point_loads_the_object_its_value_names(sites: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core.plugins.entry_points import EntryPoint

    monkeypatch.syspath_prepend(sites[0])
    try:
        assert EntryPoint("alpha", "alpha_mod:Plugin.inner [extra]", "runlog").load() == "the inner object"
    finally:
        sys.modules.pop("alpha_mod", None)


def test_a_zip_on_sys_path_goes_through_importlib_metadata(sites: list[str], tmp_path: Path) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        zipped.writestr("zipped-1.0.dist-info/entry_points.txt", "[runlog]\nzipped = zipped_mod\n")
    answer = _compare([str(archive), *sites])
    assert answer["scanned"] is None
    assert ["zipped", "zipped_mod"] in (answer["found"] or [])
    assert answer["found"] == answer["metadata"]


def test_a_finder_with_distributions_of_its_own_goes_through_importlib_metadata(sites: list[str]) -> None:
    answer = _compare(sites, finder=True)
    assert answer["scanned"] is None
    assert answer["found"] == answer["metadata"] and ["zeta", "zeta_mod:z"] in (answer["found"] or [])
