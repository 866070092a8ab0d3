"""The ``runlog`` entry points of the installed distributions, found without importing ``importlib.metadata``.

Importing ``importlib.metadata`` (email, zipfile, csv, importlib.resources...) and building a
``Distribution`` per installed package costs a submitted script more than the rest of
``Run.get_context()`` together (issue 18). The usual case is plain folders on ``sys.path`` holding
``*.dist-info`` and ``*.egg-info`` folders, searched by the standard ``PathFinder``: there this module
reads each one's ``entry_points.txt`` itself, with the rules ``importlib.metadata.entry_points()``
follows (``sys.path`` order, the first distribution of a normalized name wins, the same
``entry_points.txt`` syntax). Anything else (a zip or an egg on ``sys.path``, a meta path finder that
finds distributions of its own) goes through ``importlib.metadata`` itself.
"""

from __future__ import annotations

import os
import re
import sys
from importlib.machinery import PathFinder

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["EntryPoint", "entry_points"]

# importlib.metadata.EntryPoint.pattern
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class EntryPoint:
    """One entry point: ``name``, ``value`` (``module:attr``) and :meth:`load`, as importlib.metadata's."""

    __slots__ = ("group", "name", "value")

    def __init__(self, name: str, value: str, group: str) -> None:
        self.name, self.value, self.group = name, value, group

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"

    def load(self) -> object:
        """Import the module and return the object the value names (what importlib.metadata's ``load`` does)."""
        import importlib

        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"malformed entry point value {self.value!r}")
        found: object = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            found = getattr(found, attr)
        return found


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of ``group`` of every installed distribution, in ``importlib.metadata``'s order."""
    found = _scan(group)
    if found is None:
        from importlib.metadata import entry_points as _slow

        return [EntryPoint(ep.name, ep.value, group) for ep in _slow(group=group)]
    return found


def _scan(group: str) -> list[EntryPoint] | None:
    """The fast path, or None where it cannot promise importlib.metadata's answer."""
    for finder in sys.meta_path:
        if finder is not PathFinder and getattr(finder, "find_distributions", None) is not None:
            return None
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in sys.path:
        if not isinstance(entry, str) or entry.lower().endswith(".egg"):  # bytes, an egg folder: its own rules
            return None
        root = entry or "."
        try:
            children = os.listdir(root)
        except OSError:
            if os.path.exists(root):  # a zip file (or something else importlib.metadata may read)
                return None
            continue
        for child in children:
            low = child.lower()
            if low.endswith(".egg"):  # eggs: importlib.metadata's own rules
                return None
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            name = _normalize(low.rpartition(".")[0].partition("-")[0])
            if name in seen:
                continue
            seen.add(name)
            try:
                with open(os.path.join(root, child, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except (OSError, UnicodeDecodeError):
                continue
            found.extend(EntryPoint(key, value, group) for key, value in _section(text, group))
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _section(text: str, group: str) -> Iterator[tuple[str, str]]:
    """``(name, value)`` of the lines of ``[group]`` in an ``entry_points.txt`` (importlib.metadata's Sectioned)."""
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line.strip("[]")
            continue
        if current == group and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.strip()
