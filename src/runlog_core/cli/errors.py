"""An error as ``runlog`` prints it: one line on stderr, its control characters shown as escapes.

An error's text can quote stored text (a run's name, a store's message about a row) or what was typed
(a filter, a path); :func:`one_line` shows it through :func:`~runlog_core.base.text.visible`, so that
neither can drive the terminal.
"""

from __future__ import annotations

import sys

from runlog_core.base.text import visible
from runlog_core.exceptions import FilterSyntaxError

__all__ = ["excerpt", "one_line", "say"]


def one_line(err: BaseException) -> str:
    """The error as one line: a filter error names the character instead of drawing a caret under it."""
    if isinstance(err, FilterSyntaxError):
        return visible(f"{err.message} at character {err.position + 1} of the filter {excerpt(err.text, err.position)}")
    lines = [visible(line.strip()) for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__


def excerpt(text: str, position: int, width: int = 60) -> str:
    """``text`` quoted, or the part around ``position`` when it is long (a filter can be 100 KB)."""
    if len(text) <= width:
        return repr(text)
    start = max(0, min(position - width // 2, len(text) - width))
    return ("..." if start else "") + repr(text[start:start + width]) + ("..." if start + width < len(text) else "")


def say(text: str) -> None:
    """Print one message line on stderr, its control characters shown as escapes."""
    print(visible(text), file=sys.stderr)
