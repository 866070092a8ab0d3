"""``ScriptRunConfig``: what a submitted run runs (Azure ML's ``ScriptRunConfig``), checked at construction."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runlog_core.exceptions import InvalidArgumentError

__all__ = ["ScriptRunConfig"]


class ScriptRunConfig:
    """What to run: a script in a source folder, with arguments (Azure ML's ``ScriptRunConfig``).

    Args:
        source_directory: the folder copied (as its snapshot keeps it: ``.gitignore`` and
            ``.runlogignore`` honoured) into a fresh working folder where the script runs.
        script: the script's path, relative to ``source_directory``.
        arguments: the script's command-line arguments; numbers are turned into strings.
            They reach the script unchanged: no shell ever sees them.
        python: the interpreter; the submitter's own by default.
        environment_variables: added to (or replacing) the submitter's environment for the script.
        compute_target: where the script runs: ``"local"`` (this machine, the default), ``"ray"``
            (a task on the Ray cluster at ``RUNLOG_RAY_ADDRESS``, else the one Ray discovers) or
            ``"ray://host:port"`` (docs/hyperdrive.md, "Running on a Ray cluster").

    Raises:
        InvalidArgumentError: a folder or script that does not exist, or arguments that are not
            a list of str/int/float, or an unknown compute_target.

    Example::

        config = ScriptRunConfig(source_directory=".", script="train.py", arguments=["--alpha", 0.5])
        run = Experiment("diabetes").submit(config)
        run.wait_for_completion(show_output=True)
    """

    def __init__(self, source_directory: str | os.PathLike[str] = ".", script: str | os.PathLike[str] | None = None,
                 arguments: Sequence[Any] | None = None, python: str | os.PathLike[str] | None = None,
                 environment_variables: Mapping[str, str] | None = None, compute_target: str = "local") -> None:
        if not isinstance(source_directory, (str, os.PathLike)) or not Path(source_directory).is_dir():
            raise InvalidArgumentError("source_directory", source_directory, "an existing folder")
        if script is None or not isinstance(script, (str, os.PathLike)):
            raise InvalidArgumentError("script", script, "the path of a Python script inside source_directory")
        root = Path(source_directory).resolve()
        script_path = (root / script).resolve()
        if not script_path.is_file():
            raise InvalidArgumentError("script", script, f"an existing file inside {root}")
        try:
            relative = script_path.relative_to(root)
        except ValueError:
            raise InvalidArgumentError("script", script, f"a file inside source_directory {root}") from None
        if arguments is None:
            arguments = []
        if isinstance(arguments, (str, bytes)) or not isinstance(arguments, Sequence):
            raise InvalidArgumentError("arguments", arguments, 'a list of arguments, e.g. ["--alpha", "0.5"]')
        args = []
        for index, argument in enumerate(arguments):
            if isinstance(argument, bool) or not isinstance(argument, (str, int, float, os.PathLike)):
                raise InvalidArgumentError(f"arguments[{index}]", argument, "a str, int, float or path")
            args.append(os.fspath(argument) if isinstance(argument, os.PathLike) else str(argument))
        if python is not None and not isinstance(python, (str, os.PathLike)):
            raise InvalidArgumentError("python", python, "the path of a Python interpreter")
        env = {}
        if environment_variables is not None:
            if not isinstance(environment_variables, Mapping):
                raise InvalidArgumentError("environment_variables", environment_variables, "a dict of str to str")
            for key, value in environment_variables.items():
                if not isinstance(key, str) or not key or "=" in key or not isinstance(value, str):
                    raise InvalidArgumentError(f"environment_variables[{key!r}]", value, "a str value under a str name")
                env[key] = value
        self.compute_target = _check_compute_target(compute_target)
        self.source_directory = str(root)
        self.script = relative.as_posix()
        self.arguments = args
        self.python = os.fspath(python) if python is not None else sys.executable
        self.environment_variables = env

    def command(self, extra: Sequence[str] = ()) -> list[str]:
        """The command line the script runs with (an argument list, run without a shell)."""
        return [self.python, self.script, *self.arguments, *extra]

    def __repr__(self) -> str:
        return (f"ScriptRunConfig(source_directory={self.source_directory!r}, script={self.script!r}, "
                f"arguments={self.arguments!r}"
                + (f", compute_target={self.compute_target!r})" if self.compute_target != "local" else ")"))


def _check_compute_target(value: object) -> str:
    """``"local"``, ``"ray"`` or ``"ray://host:port"``, else an :class:`InvalidArgumentError`."""
    accepted = ('"local" (this machine), "ray" (the Ray cluster at RUNLOG_RAY_ADDRESS, else the one Ray '
                'discovers) or "ray://host:port"')
    if value in ("local", "ray"):
        return str(value)
    if isinstance(value, str) and value.startswith("ray://"):
        host, _, port = value[len("ray://"):].rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536 and "/" not in host:
            return value
    raise InvalidArgumentError("compute_target", value, accepted)


ScriptRunConfig.__module__ = "runlog_core"  # pickled under its public path, wherever this module moves
