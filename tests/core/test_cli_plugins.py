"""Commands of the `runlog` command line that plugins add (`runlog ui` is runlog_ui's), through entry points.

Each test puts a distribution's metadata on PYTHONPATH, where importlib.metadata finds it as it finds
an installed one, and runs `runlog` in a subprocess: nothing depends on where runlog is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pluggy
import pytest

from runlog_core import hookspecs

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
RUNLOG_MAIN = "import sys\nfrom runlog_core.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


def _runlog_entry_points() -> dict[str, str]:
    """The `[project.entry-points.runlog]` table of this source tree's pyproject.toml."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    table: dict[str, str] = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]["runlog"]
    return table


def _distribution(site: Path, name: str, entry_points: dict[str, str], modules: dict[str, str] | None = None) -> None:
    """A distribution ``name`` with these `runlog` entry points (and modules), as pip would leave it in site-packages."""
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[runlog]\n{lines}")
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


def _runlog(site: Path, *args: str, cwd: Path, before: str = "") -> subprocess.CompletedProcess[str]:
    """`runlog ARGS` with ``site`` first on the path (``before``: Python run first, in the same process)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", before + RUNLOG_MAIN, *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_pyproject_registers_runlog_ui_whose_plugin_adds_the_ui_command() -> None:
    table = _runlog_entry_points()
    assert table["runlog.ui"] == "runlog_ui._cli"
    plugin = EntryPoint("runlog.ui", table["runlog.ui"], "runlog").load()  # what the plugin manager does
    pm = pluggy.PluginManager("runlog")
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name="runlog.ui")
    parser = argparse.ArgumentParser(prog="runlog")
    sub = parser.add_subparsers(dest="command")
    pm.hook.runlog_cli_commands(subparsers=sub, store_for=lambda args: None)
    args = parser.parse_args(["ui", "--port", "0", "--store", "somewhere"])
    assert (args.command, args.port, args.store, args.host) == ("ui", 0, "somewhere", "127.0.0.1")
    assert callable(args.func)
    assert importlib.util.find_spec("runlog_core.cli.ui") is None  # the core has no `ui` command of its own


def test_runlog_ui_comes_from_the_entry_point_and_only_from_it(tmp_path: Path) -> None:
    table = _runlog_entry_points()
    with_ui, without_ui = tmp_path / "with", tmp_path / "without"
    # a distribution named runlog first on the path stands for runlog as installed from this tree
    _distribution(with_ui, "runlog", table)
    _distribution(without_ui, "runlog", {k: v for k, v in table.items() if k != "runlog.ui"})
    shown = _runlog(with_ui, "ui", "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: runlog ui [-h] [--store STORE] [--host HOST] [--port PORT]")
    assert "ui " in _runlog(with_ui, "--help", cwd=tmp_path).stdout
    missing = _runlog(without_ui, "ui", "--help", cwd=tmp_path)
    assert missing.returncode == 2 and "invalid choice: 'ui'" in missing.stderr, missing.stderr


def test_runlog_ui_without_the_ui_extra_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    _distribution(tmp_path / "site", "runlog", _runlog_entry_points())
    # Starlette, uvicorn and numpy as if not installed: an import of each fails
    missing = "import sys\nsys.modules.update(starlette=None, uvicorn=None, numpy=None)\n"
    (tmp_path / "runlog").mkdir()
    for args in (["ui"], ["ui", "--store", str(tmp_path / "nothing"), "--port", "0"]):
        result = _runlog(tmp_path / "site", *args, cwd=tmp_path, before=missing)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            "runlog: runlog ui needs the ui extra (numpy is missing): pip install 'runlog[ui]'"]
    assert _runlog(tmp_path / "site", "ui", "--help", cwd=tmp_path, before=missing).returncode == 0
    code = missing + "try:\n    from runlog_ui import RunDetails\nexcept ImportError as err:\n    print(err)\n"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.stdout == "runlog_ui needs the ui extra (numpy is missing): pip install 'runlog[ui]'\n"


COMMANDS_PLUGIN = """
    from runlog_core import hookimpl

    @hookimpl
    def runlog_cli_commands(subparsers, store_for):
        hello = subparsers.add_parser("hello", help="say hello to the store")
        hello.set_defaults(func=lambda args: print("hello", store_for(args).uri) or 0)
"""

BROKEN_PLUGIN = """
    from runlog_core import hookimpl

    @hookimpl
    def runlog_cli_commands(subparsers):
        raise RuntimeError("boom")
"""


def test_a_plugins_command_runs_on_the_store_runlog_commands_read(tmp_path: Path) -> None:
    _distribution(tmp_path / "site", "runlog-hello", {"hello": "runlog_hello"}, {"runlog_hello": COMMANDS_PLUGIN})
    result = _runlog(tmp_path / "site", "hello", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("runlog: no store at "), result.stderr
    from runlog_core import Experiment

    with Experiment("hello", store=tmp_path / "store").start_logging():
        pass
    result = _runlog(tmp_path / "site", "--store", str(tmp_path / "store"), "hello", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"hello {tmp_path / 'store'}\n"


def test_a_plugin_whose_command_hook_raises_stops_runlog_naming_it(tmp_path: Path) -> None:
    _distribution(tmp_path / "site", "runlog-broken", {"broken": "runlog_broken"}, {"runlog_broken": BROKEN_PLUGIN})
    for args in (["runs"], ["--help"], ["ui", "--help"]):
        result = _runlog(tmp_path / "site", *args, cwd=tmp_path)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.splitlines() == [
            "runlog: plugin 'broken' failed to add its commands: boom (RuntimeError); fix or uninstall it"]


@pytest.mark.parametrize("module", ["runlog_core.cli.submit", "runlog_core.cli.imports", "runlog_core.cli.export"])
def test_a_core_cli_module_that_cannot_be_imported_is_an_error_not_a_missing_command(tmp_path: Path,
                                                                                     module: str) -> None:
    halted = f"import sys\nsys.modules[{module!r}] = None\n"  # its import fails, as a broken module's would
    result = _runlog(tmp_path, "runs", cwd=tmp_path, before=halted)
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert module in result.stderr and (len(lines) == 1 or "Traceback" in result.stderr), result.stderr
