"""Stored text as a terminal may show it: control characters as visible escapes, never raw.

A run's name, an error message, an imported folder's name: any of them may hold an escape sequence
(``\\x1b]52;...`` writes the clipboard, ``\\x1b[2J`` clears the screen) or a bidirectional override
that reorders what the reader sees. Everything runlog prints to a terminal that came from a store or
from files it was given goes through :func:`visible`; what goes to a file or a pipe stays exact.
JSON bound for a terminal goes through :func:`visible_json`: the same characters as ``\\uXXXX``
escapes, so that it stays valid JSON of the same value.
"""

from __future__ import annotations

import unicodedata

__all__ = ["visible", "visible_json"]

# reorder or hide text without being control characters (Unicode "Cf"); a zero-width joiner stays:
# emoji need it and it moves nothing
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\u0085\u2028\u2029")
# C0 and C1 controls and DEL (Cc), line and paragraph separators (Zl, Zp), lone surrogates (Cs: a
# terminal's encoder would fail on them)
_ESCAPED_CATEGORIES = ("Cc", "Zl", "Zp", "Cs")


def _hidden(char: str) -> bool:
    return char in _BIDI or char in _LINE_BREAKS or unicodedata.category(char) in _ESCAPED_CATEGORIES


def visible(text: str, lines: bool = False) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\u202e``).

    Args:
        text: what to show.
        lines: keep newlines (``\\n``) and tabs as they are, for multi-line text such as a traceback;
            otherwise they are escaped too, so one value stays on one line.
    """
    if text.isprintable() and not (_BIDI.intersection(text)):
        return text
    out = []
    for char in text:
        if lines and char in "\n\t":
            out.append(char)
        elif _hidden(char):
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def visible_json(text: str) -> str:
    """JSON text with every character :func:`visible` escapes as a ``\\uXXXX`` escape: the same value.

    ``json.dumps`` escapes C0 controls itself, but with ``ensure_ascii=False`` it leaves DEL, C1
    controls (``\\x9b`` starts a sequence on some terminals), bidirectional overrides and line
    separators raw. Outside strings JSON text is ASCII, so every such character is inside a string,
    where ``\\uXXXX`` means the character itself.
    """
    if text.isascii() and "\x7f" not in text:
        return text
    return "".join(f"\\u{ord(char):04x}" if char > "\x7e" and _hidden(char) else char for char in text)
