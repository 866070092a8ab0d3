"""runlog's modules compiled once for a sweep's children, when they could not keep compiled ones themselves.

Python keeps a module's bytecode in ``__pycache__`` beside its source, unless told not to
(``PYTHONDONTWRITEBYTECODE``). With that set and runlog's sources never compiled (an editable install,
a checkout on ``PYTHONPATH``; ``pip install`` compiles them), every child of a sweep compiles runlog
from source before it can log: about 40 ms of CPU a child, half of what runlog costs it (issue 18).

So a sweep whose children would pay that compiles ``runlog_core`` and ``runlog_integrations`` once, in
a process of its own, into a folder of its own (sourceless ``.pyc`` files, each naming its source
so that tracebacks show the real file and line), and puts that folder first on the ``PYTHONPATH`` of
the children started once it is ready. Nothing is written beside runlog's sources; the folder is
removed when the sweep ends. Children of another interpreter, with ``PYTHONOPTIMIZE`` or
``PYTHONPYCACHEPREFIX`` set, or run on a Ray cluster, are left as they are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["PACKAGES", "SweepBytecode", "children_compile_runlog", "with_bytecode"]

PACKAGES = ("runlog_core", "runlog_integrations")  # runlog_ui reads files beside its modules: left out
_CORE = Path(__file__).resolve().parents[1]  # runlog_core's folder (this is runlog_core/submit/bytecode.py)

# run as `python -c BUILD OUT PACKAGE_DIR...`: writes OUT.partial, then renames it to OUT when complete
_BUILD = """
import os, py_compile, sys
out, partial = sys.argv[1], sys.argv[1] + ".partial"
for root in sys.argv[2:]:
    parent = os.path.dirname(root)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                source = os.path.join(folder, name)
                target = os.path.join(partial, os.path.relpath(source, parent)) + "c"
                os.makedirs(os.path.dirname(target), exist_ok=True)
                py_compile.compile(source, cfile=target, dfile=source, doraise=True)
os.rename(partial, out)
"""


def _package_dirs() -> list[Path]:
    root = _CORE.parent
    return [root / name for name in PACKAGES if (root / name / "__init__.py").is_file()]


def children_compile_runlog(python: str, env: Mapping[str, str]) -> bool:
    """Whether children run by ``python`` with ``env`` compile runlog's modules from source each time."""
    try:
        if not os.path.samefile(python, sys.executable):
            return False  # another interpreter: another bytecode format, maybe
    except OSError:
        return False
    if not env.get("PYTHONDONTWRITEBYTECODE") or env.get("PYTHONOPTIMIZE") or env.get("PYTHONPYCACHEPREFIX"):
        return False
    from importlib.util import cache_from_source

    source = _CORE / "run" / "log.py"
    if not source.is_file():
        return False  # runlog itself runs from bytecode or a zip: nothing to compile
    try:
        cached = Path(cache_from_source(str(source)))
        return not cached.is_file() or cached.stat().st_mtime < source.stat().st_mtime
    except (OSError, NotImplementedError):
        return False


class SweepBytecode:
    """The compiled folder of one sweep: built in the background, removed by :meth:`remove`."""

    def __init__(self, run_id: str) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix=f"runlog-{run_id}-bytecode-"))
        self.path = self._folder / "lib"
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BUILD, str(self.path), *map(str, _package_dirs())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, start_new_session=True)
        except OSError:
            self._proc = None

    def ready(self) -> str | None:
        """The folder to put first on a child's ``PYTHONPATH`` once complete; None until then (or if it failed)."""
        if self._proc is None or self._proc.poll() is None or self._proc.returncode != 0:
            return None
        return str(self.path) if self.path.is_dir() else None

    def remove(self) -> None:
        """Stop the build if it still runs, and remove the folder (the children have ended)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def with_bytecode(env: dict[str, str], path: str) -> dict[str, str]:
    """``env`` with ``path`` first on its ``PYTHONPATH``."""
    rest = env.get("PYTHONPATH")
    env["PYTHONPATH"] = path + (os.pathsep + rest if rest else "")
    return env
