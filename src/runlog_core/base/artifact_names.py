"""Which artifact names are safe: relative paths of plain segments that stay inside the run's folder.

A name is checked as given and again after NFKC normalisation, so a look-alike that some tool
later folds into something dangerous (full-width ``．．`` into ``..``, ``ｃｏｎ`` into ``con``,
``com¹`` into ``com1``) is refused too (issue 9). Names are stored as given.

One upload meets its name several times (the run checks it, the store checks it in ``put_*`` and
again in ``uri``): the verdicts of the last :data:`MEMO_SIZE` names are memoised, so a name is
checked once and its later checks are a dictionary lookup.
"""

from __future__ import annotations

import functools
import re

from runlog_core.exceptions import InvalidArgumentError, UnsafeArtifactNameError

__all__ = ["MAX_NAME_CHARS", "MAX_SEGMENT_BYTES", "artifact_name_problem", "check_artifact_name"]

MAX_NAME_CHARS = 1024
"""The longest artifact name, in characters."""
MAX_SEGMENT_BYTES = 255
"""The longest path segment, in bytes of UTF-8: what ext4, APFS, NTFS and most file systems allow."""
MEMO_SIZE = 1024
"""How many names' verdicts are kept (names up to :data:`MAX_NAME_CHARS` characters, plain ``str`` only)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_PERCENT_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_LOOKALIKE_SLASHES = "\u2215\u2044\uff0f\u29f8\uff3c\u2216"
_DIGITS = "0123456789\u00b9\u00b2\u00b3"  # Windows reserves COM¹..COM³ and LPT¹..LPT³ as well
_RESERVED = frozenset({"con", "prn", "aux", "nul", "conin$", "conout$"}
                      | {f"com{d}" for d in _DIGITS} | {f"lpt{d}" for d in _DIGITS})


def _windows_reserved(segment: str) -> bool:
    """Windows' rule: the part before the first dot, trailing spaces dropped (``con .txt``, ``nul..x``)."""
    return segment.partition(".")[0].rstrip(" ").lower() in _RESERVED


def _problem(name: str) -> str | None:
    if _CONTROL.search(name):
        return "it contains a control character"
    if _SURROGATE.search(name):
        return "it contains a lone surrogate (not valid Unicode text)"
    if "\\" in name:
        return "it contains a backslash"
    if any(ch in name for ch in _LOOKALIKE_SLASHES):
        return "it contains a character that looks like a slash"
    if _PERCENT_ENCODED.search(name):
        return "it contains a percent-encoded character"
    if name.startswith("/") or _DRIVE.match(name) or "://" in name:
        return "it is absolute"
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            return f"it contains the path segment {segment!r}"
        if segment != segment.rstrip(" ."):
            return "a path segment ends with a dot or a space"
        if _windows_reserved(segment):
            return f"{segment!r} is a reserved device name on Windows"
        if ":" in segment:
            return "it contains ':'"
        size = len(segment.encode("utf-8", "surrogatepass"))
        if size > MAX_SEGMENT_BYTES:
            return (f"its segment {segment[:20] + '...'!r} is {size} bytes long in UTF-8, at most "
                    f"{MAX_SEGMENT_BYTES} are allowed: shorten it")
    return None


def _name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME_CHARS:
        return f"it has {len(name)} characters, at most {MAX_NAME_CHARS} are allowed"
    problem = _problem(name)
    if problem is not None:
        return problem
    import unicodedata  # not at import: `import runlog_core` stays light

    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        problem = _problem(normal)
        if problem is not None:
            return f"it reads {normal!r} once Unicode-normalised (NFKC), and {problem}"
    return None


_memo = functools.lru_cache(maxsize=MEMO_SIZE)(_name_problem)


def artifact_name_problem(name: str) -> str | None:
    """Why the str ``name`` is not a safe artifact name, or ``None`` when it is."""
    if type(name) is str and len(name) <= MAX_NAME_CHARS:  # a str subclass may hash or compare as it likes
        return _memo(name)
    return _name_problem(name)


def check_artifact_name(name: object) -> str:
    """Return ``name`` if it is a safe relative artifact path.

    Raises:
        InvalidArgumentError: ``name`` is not a str.
        UnsafeArtifactNameError: it is empty, too long, absolute, has an empty, ``.`` or ``..``
            segment (also once NFKC-normalised), a backslash, a look-alike slash, a control
            character, ``%xx``, ``:``, a Windows device name, a trailing dot or space, or a
            segment over 255 bytes of UTF-8.
    """
    if not isinstance(name, str):
        raise InvalidArgumentError("name", name, "a str such as 'outputs/model.pt'")
    problem = artifact_name_problem(name)
    if problem is not None:
        raise UnsafeArtifactNameError(name, problem)
    return name
