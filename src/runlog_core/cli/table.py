"""What the ``runlog`` listings print: aligned tables whose widths count terminal columns, JSON output,
and which columns ``runlog runs`` shows.

A table cell is cut at :data:`CELL_WIDTH` terminal columns (``--wide``: never). East Asian wide and
full-width characters (most CJK, most emoji) take two columns, combining marks and other zero-width
characters none, so columns line up in a terminal and a cut never falls inside a character.
"""

from __future__ import annotations

import json
import math
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from runlog_core.exceptions import InvalidNameError

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "CELL_WIDTH",
    "choose_columns",
    "display_width",
    "duration",
    "format_value",
    "iso",
    "json_ready",
    "named_fields",
    "parse_columns",
    "print_json",
    "print_table",
    "truncate",
    "when",
]

CELL_WIDTH = 40
"""How many terminal columns a table cell may take unless ``--wide`` is given."""

ATTRIBUTE_COLUMNS = ("id", "experiment", "name", "status", "started", "ended", "duration", "parent")
"""The columns of ``runlog runs`` that are not a metric, param or tag."""

DEFAULT_ATTRIBUTES = ("id", "experiment", "name", "status", "started", "duration")

_NAMESPACES = {"metrics": "metrics", "metric": "metrics", "params": "params", "param": "params",
               "tags": "tags", "tag": "tags"}
_ZERO_WIDTH_CATEGORIES = ("Mn", "Me", "Cf")  # combining marks, enclosing marks, joiners and other format characters
_COLUMNS_HELP = (f"give a comma-separated list of metrics.NAME, params.NAME, tags.NAME or {', '.join(ATTRIBUTE_COLUMNS)}, "
                 "e.g. --columns status,metrics.loss,params.lr")


def char_width(char: str) -> int:
    """The terminal columns one character takes: 2 for wide and full-width, 0 for combining marks."""
    if unicodedata.category(char) in _ZERO_WIDTH_CATEGORIES:
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """The terminal columns ``text`` takes (``len`` counts a CJK character or an emoji as one)."""
    if text.isascii():
        return len(text)
    return sum(char_width(char) for char in text)


def truncate(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` terminal columns, ending in "…" when cut; never inside a character."""
    if display_width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        size = char_width(char)
        if used + size > width - 1:  # one column for the ellipsis
            break
        kept.append(char)
        used += size
    while kept and unicodedata.category(kept[-1]) == "Cf":
        kept.pop()  # a joiner left at the end would glue the ellipsis to the character before it
    return "".join(kept) + "…"


def _printable(text: str) -> str:
    """One line of text a terminal shows as it is: newlines and tabs as spaces, other control characters escaped."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(char) == "Cc":  # an ESC in a logged string must not drive the terminal
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def format_value(value: Any, width: int | None = CELL_WIDTH) -> str:
    """A cell's text: numbers to 6 significant digits, lists and dicts as JSON, cut at ``width`` (None: never)."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = str(value) if not math.isfinite(value) else f"{value:.6g}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = _printable(text)
    return text if width is None else truncate(text, width)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None,
                wide: bool = False) -> None:
    """Print rows as an aligned plain-text table; ``wide``: cells are never cut."""
    out = out if out is not None else sys.stdout
    limit = None if wide else CELL_WIDTH
    heads = [format_value(header, limit) for header in headers]
    cells = [[format_value(cell, limit) for cell in row] for row in rows]
    widths = [display_width(head) for head in heads]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], display_width(cell))
    out.write("  ".join(_pad(head, widths[i]) for i, head in enumerate(heads)).rstrip() + "\n")
    out.write("  ".join("-" * width for width in widths) + "\n")
    for row in cells:
        out.write("  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


def json_ready(value: Any) -> Any:
    """``value`` with NaN and +/-inf as the strings "NaN", "Infinity", "-Infinity": JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def print_json(value: Any, out: TextIO | None = None) -> None:
    """Write ``value`` as valid JSON (NaN and infinities as strings, see :func:`json_ready`), then a newline."""
    out = out if out is not None else sys.stdout
    readable = "utf" in (getattr(out, "encoding", None) or "").lower()  # else \u escapes, which any console shows
    json.dump(json_ready(value), out, indent=2, default=str, allow_nan=False, ensure_ascii=not readable)
    out.write("\n")


def parse_columns(text: str) -> list[str]:
    """``--columns`` as a list of column keys: ``metrics.NAME``, ``params.NAME``, ``tags.NAME`` or an attribute.

    Raises:
        InvalidNameError: an item is none of those (the message lists the accepted forms).
    """
    columns: list[str] = []
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise InvalidNameError("--columns", text, _COLUMNS_HELP)
    for item in items:
        if not item:
            continue
        namespace, dot, name = item.partition(".")
        if dot and namespace.lower() in _NAMESPACES and name:
            key = f"{_NAMESPACES[namespace.lower()]}.{name}"
        elif not dot and item.lower() in ATTRIBUTE_COLUMNS:
            key = item.lower()
        elif not dot:
            raise InvalidNameError("--columns", item, f"{_COLUMNS_HELP} (for the metric, write metrics.{item})")
        else:
            raise InvalidNameError("--columns", item, _COLUMNS_HELP)
        if key not in columns:
            columns.append(key)
    return columns


def named_fields(expression: Any, order_by: Iterable[tuple[Any, bool]]) -> list[str]:
    """The ``metrics.``/``params.``/``tags.`` keys a filter tree and sort keys name, in order, once each."""
    keys: list[str] = []
    stack = [expression] if expression is not None else []
    found = []
    while stack:  # depth first, left to right, without recursion (a filter may hold 10,000 terms)
        node = stack.pop()
        terms = getattr(node, "terms", None)
        if terms is not None and not hasattr(node, "field"):
            stack.extend(reversed(terms))
        else:
            found.append(node.field)
    found.extend(field for field, _descending in order_by)
    for field in found:
        if field.namespace in ("metrics", "params", "tags"):
            key = f"{field.namespace}.{field.key}"
            if key not in keys:
                keys.append(key)
    return keys


def choose_columns(named: Sequence[str], metrics_per_run: Iterable[Iterable[str]], shared: int) -> list[str]:
    """The columns ``runlog runs`` shows when no ``--columns`` is given.

    The run's attributes, then every key the filter and sort name, then the ``shared`` metrics that
    most of the listed runs have (ties: the one met first), so that a metric a few runs share is shown
    before one a single run has and a mixed experiment (Lightning, XGBoost and search runs together)
    still shows each kind's metrics. System metrics (``system/...``) are left out unless named.
    """
    counts: Counter[str] = Counter()
    for names in metrics_per_run:
        counts.update(f"metrics.{name}" for name in names if not name.startswith("system/"))
    chosen = list(named)
    # most_common keeps the order of first appearance among equal counts; among those, scores and
    # losses come before other metrics, and timings (a search's mean_fit_time) after them
    ranked = sorted(enumerate(counts.most_common()), key=lambda item: (-item[1][1], _rank(item[1][0]), item[0]))
    extra = [key for _position, (key, _count) in ranked if key not in chosen]
    return [*DEFAULT_ATTRIBUTES, *chosen, *extra[:max(shared, 0)]]


_SCORE_WORDS = ("score", "loss", "acc", "auc", "f1", "err", "mse", "mae", "precision", "recall", "r2")


def _rank(key: str) -> int:
    """0 for a metric that reads as a score or a loss, 2 for a timing, 1 for the rest."""
    name = key[len("metrics."):].lower()
    if name.endswith("time") or "_time" in name or name.endswith(("_s", "_ms")):
        return 2
    return 0 if any(word in name for word in _SCORE_WORDS) else 1


def when(moment: float | None) -> str:
    """A time as a table shows it: local, to the second."""
    return "" if moment is None else datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M:%S")


def iso(moment: float | None) -> str | None:
    """A time as JSON gives it: UTC ISO 8601."""
    return None if moment is None else datetime.fromtimestamp(moment, timezone.utc).isoformat()


def duration(start: float, end: float | None) -> str:
    """A run's length as a table shows it (a running run: so far)."""
    seconds = (end if end is not None else time.time()) - start
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
