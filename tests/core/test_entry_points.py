"""runlog finds its entry points without importlib.metadata (issue 18: a submitted script's start-up),
and finds exactly what importlib.metadata finds."""

from __future__ import annotations

import importlib.metadata
import sys
import zipfile
from pathlib import Path

import pytest

from runlog_core.plugins import entry_points as fast


def _dist(site: Path, folder: str, text: str | None) -> None:
    info = site / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {folder.split('-')[0]}\nVersion: 1.0\n")
    if text is not None:
        (info / "entry_points.txt").write_text(text)


def _pairs(found: object) -> list[tuple[str, str]]:
    return [(ep.name, ep.value) for ep in found]  # type: ignore[attr-defined]


@pytest.fixture
def sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Alpha_Plugin-1.0.dist-info",
          "# a comment\n[console_scripts]\nalpha = alpha:main\n\n[runlog]\n alpha = alpha_mod:Plugin.inner [extra]\n"
          "beta=beta_mod\n[other]\ngamma = gamma:x\n")
    _dist(first, "nothing-2.0.dist-info", None)
    _dist(first, "legacy.egg-info", "[runlog]\nlegacy = legacy_mod:plugin\n")
    # the same distribution again, later on sys.path: importlib.metadata takes the first one only
    _dist(second, "alpha.plugin-0.9.dist-info", "[runlog]\nshadowed = shadowed_mod\n")
    _dist(second, "zeta-1.0.dist-info", "[runlog]\nzeta = zeta_mod:z\n")
    (second / "not-a-dist.txt").write_text("x")
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "missing"), str(second), *sys.path])
    return first, second


def test_the_same_entry_points_as_importlib_metadata_in_the_same_order(sites: tuple[Path, Path]) -> None:
    found = fast._scan("runlog")
    assert found is not None  # plain folders: the fast path answered
    expected = _pairs(importlib.metadata.entry_points(group="runlog"))
    assert _pairs(found) == expected
    names = [name for name, _ in expected]
    assert {"alpha", "beta", "legacy", "zeta"} <= set(names) and "shadowed" not in names
    assert dict(_pairs(found))["alpha"] == "alpha_mod:Plugin.inner [extra]"


def test_an_entry_point_loads_the_object_its_value_names(sites: tuple[Path, Path]) -> None:
    first, _ = sites
    (first / "alpha_mod.py").write_text("class Plugin:\n    inner = 'the inner object'\n")
    alpha = next(ep for ep in fast.entry_points("runlog") if ep.name == "alpha")
    try:
        assert alpha.load() == "the inner object"
    finally:
        sys.modules.pop("alpha_mod", None)


def test_a_zip_on_sys_path_goes_through_importlib_metadata(sites: tuple[Path, Path], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        zipped.writestr("zipped-1.0.dist-info/entry_points.txt", "[runlog]\nzipped = zipped_mod\n")
    monkeypatch.setattr(sys, "path", [str(archive), *sys.path])
    assert fast._scan("runlog") is None
    found = _pairs(fast.entry_points("runlog"))
    assert ("zipped", "zipped_mod") in found
    assert found == _pairs(importlib.metadata.entry_points(group="runlog"))


class _Finder:
    """A meta path finder that finds distributions of its own (as a zipapp or a bundler's may)."""

    def find_spec(self, *args: object) -> None:
        return None

    def find_distributions(self, context: object = None) -> list[importlib.metadata.Distribution]:
        return []


def test_a_finder_with_distributions_of_its_own_goes_through_importlib_metadata(
        sites: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "meta_path", [_Finder(), *sys.meta_path])
    assert fast._scan("runlog") is None
    assert _pairs(fast.entry_points("runlog")) == _pairs(importlib.metadata.entry_points(group="runlog"))
