"""What the ``runlog`` listings print: aligned tables whose widths count terminal columns, and JSON output.

A table cell is cut at :data:`CELL_WIDTH` terminal columns (``--wide``: never). East Asian wide and
full-width characters (most CJK, most emoji) take two columns, combining marks and other zero-width
characters none, so columns line up in a terminal and a cut never falls inside a character. Which
columns ``runlog runs`` shows, and values as JSON gives them, live in :mod:`runlog_core.views.columns`
(the web UI shares them).
"""

from __future__ import annotations

import json
import math
import sys
import time
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from runlog_core.base.text import visible, visible_json
from runlog_core.views.columns import json_ready

__all__ = [
    "CELL_WIDTH",
    "display_width",
    "duration",
    "format_value",
    "iso",
    "on_terminal",
    "print_json",
    "print_table",
    "truncate",
    "when",
]

CELL_WIDTH = 40
"""How many terminal columns a table cell may take unless ``--wide`` is given."""

_ZERO_WIDTH_CATEGORIES = ("Mn", "Me", "Cf")  # combining marks, enclosing marks, joiners and other format characters


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


def format_value(value: Any, width: int | None = CELL_WIDTH) -> str:
    """A cell's text: numbers to 6 significant digits, lists and dicts as JSON, control characters as
    escapes (``\\x1b``, ``\\n``: see :func:`~runlog_core.base.text.visible`), cut at ``width`` (None: never)."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = str(value) if not math.isfinite(value) else f"{value:.6g}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = visible(text)  # an ESC in a logged string must not drive the terminal; one value, one line
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


def on_terminal(out: TextIO) -> bool:
    """Whether ``out`` is a terminal: stored text then shows its control characters as escapes."""
    try:
        return out.isatty()
    except (AttributeError, ValueError, OSError):  # a closed or odd stream: not a terminal
        return False


def print_json(value: Any, out: TextIO | None = None) -> None:
    """Write ``value`` as valid JSON (NaN and infinities as strings, see :func:`json_ready`), then a newline.

    To a terminal, C1 controls, bidirectional overrides and line separators in strings are written as
    ``\\uXXXX`` escapes (JSON escapes C0 controls, ESC among them, itself): the same JSON value.
    """
    out = out if out is not None else sys.stdout
    readable = "utf" in (getattr(out, "encoding", None) or "").lower()  # else \u escapes, which any console shows
    options: dict[str, Any] = {"indent": 2, "default": str, "allow_nan": False, "ensure_ascii": not readable}
    if on_terminal(out):
        out.write(visible_json(json.dumps(json_ready(value), **options)))
    else:  # a file or a pipe: exact, and written as it is made (an export can be large)
        json.dump(json_ready(value), out, **options)
    out.write("\n")


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
