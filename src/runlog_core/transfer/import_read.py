"""Reading the files of a source someone else may have written: the importers' guards.

An ``mlruns`` folder or a TensorBoard log folder can come from anyone (a colleague, an archive, a
bug report). What the importers read from one goes through here:

- :func:`open_regular`: a file is opened only when it is a regular file, never through a link: a
  FIFO (which would block the import for ever), a device or a socket is refused at once, and so is
  a link (which could lead to any file of the importing user's);
- :func:`load_yaml`: YAML read safely (no Python objects built, nothing run) with its aliases
  expanded to at most :data:`MAX_YAML_VALUES` values: a few hundred bytes of nested aliases (a
  "billion laughs") are refused instead of becoming millions of params;
- :func:`cap_params`: at most ``max_params`` params per imported run (default
  :data:`MAX_PARAMS`, the ``--max-params`` option of ``runlog import``).
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any, BinaryIO

__all__ = ["MAX_PARAMS", "MAX_YAML_BYTES", "MAX_YAML_VALUES", "SourceFileError", "cap_params", "load_yaml",
           "open_regular", "parse_yaml", "read_limited"]

MAX_PARAMS = 10_000
"""At most this many params are copied into one imported run, unless ``max_params`` says otherwise."""
MAX_YAML_VALUES = 100_000
"""A YAML file whose values, its aliases expanded, number more than this is refused."""
MAX_YAML_BYTES = 4 * 1024 * 1024
"""A YAML file (``meta.yaml``, ``hparams.yaml``) larger than this is refused."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class SourceFileError(Exception):
    """A file of the source that is not read: not a regular file, a link, too large, unsafe YAML.

    Its message is one line that says why; the importers turn it into a ``skipped`` line.
    """


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading (binary), only if it is a regular file and not a link.

    A FIFO is refused before it is opened; one put in a file's place after that check is opened
    without waiting for a writer (``O_NONBLOCK``), then refused.

    Raises:
        SourceFileError: ``path`` is a link, a FIFO, a socket, a device or a folder, or cannot be opened.
    """
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            raise SourceFileError("it is a link (links are not followed)")
        if not stat.S_ISREG(mode):  # never opened at all; checked again once open, in case it was swapped
            raise SourceFileError(f"it is {_kind(mode)}, not a regular file")
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except SourceFileError:
        raise
    except OSError as err:
        raise SourceFileError(f"it cannot be opened: {err.strerror or err}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SourceFileError(f"it is {_kind(mode)}, not a regular file")
        if _NONBLOCK and hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file ``path``; refused when it holds more than ``limit`` bytes."""
    with open_regular(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise SourceFileError(f"it is larger than {limit:,} bytes")
    return data


def load_yaml(path: str | os.PathLike[str] | Path, python_tags: bool = False, max_values: int = MAX_YAML_VALUES,
              max_bytes: int = MAX_YAML_BYTES) -> Any:
    """The YAML document in the regular file ``path``, read safely and within bounds.

    Args:
        path: the file; opened with :func:`open_regular`.
        python_tags: read a Python-specific tag (``!!python/tuple``, ``!!python/object:...``) or a
            local one (``!foo``) as the plain mapping, list or text under it; otherwise such a tag is
            refused. Either way nothing is imported, built or run.
        max_values: the most values (scalars, lists and mappings) the document may hold once every
            alias is expanded where it is used.
        max_bytes: the largest file read.

    Raises:
        SourceFileError: the file is not a regular file, is too large, is not valid YAML, holds a
            refused tag, an alias that contains itself, or more than ``max_values`` values.
    """
    return parse_yaml(read_limited(path, max_bytes), python_tags, max_values)


def parse_yaml(data: bytes, python_tags: bool = False, max_values: int = MAX_YAML_VALUES) -> Any:
    """The YAML document in ``data``, read as :func:`load_yaml` reads a file's."""
    try:
        import yaml
    except ImportError:
        raise SourceFileError("PyYAML is not installed (pip install pyyaml)") from None
    loader = _loader(python_tags)(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, max_values)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise SourceFileError(f"it is not YAML runlog reads: {_one_line(str(err))}") from None
    except RecursionError:
        raise SourceFileError("it nests too deeply") from None
    finally:
        loader.dispose()


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _loader(python_tags: bool) -> Any:
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if not python_tags:
        return base

    class PlainLoader(base):
        """Safe loading; a Python-specific or local tag reads as the plain data under it."""

    def plain(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    PlainLoader.add_multi_constructor("tag:yaml.org,2002:python/", plain)
    PlainLoader.add_multi_constructor("!", plain)
    return PlainLoader


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_size(root: Any, limit: int) -> None:
    """Refuse a node graph whose expanded size (aliases counted where used) is over ``limit``.

    Iterative, each node counted once (its size is remembered): linear in the file, whatever the
    aliases multiply to. An alias that refers to a node enclosing it is refused too.
    """
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()  # the nodes on the current path from the root
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_ids.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > limit:
                raise SourceFileError(f"its aliases expand it to more than {limit:,} values")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        open_ids.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_ids:
                raise SourceFileError("an alias in it refers to a value that contains it")
            if id(child) not in sizes:
                stack.append((child, False))


def cap_params(params: Mapping[str, Any], max_params: int) -> tuple[dict[str, Any], int]:
    """The first ``max_params`` of the flat ``params`` (in their order), and how many were left out."""
    if len(params) <= max_params:
        return dict(params), 0
    kept = dict(list(params.items())[:max_params])
    return kept, len(params) - max_params
