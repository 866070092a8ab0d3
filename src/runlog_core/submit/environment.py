"""Where and how a submitted script runs: its environment, git state and packages, secrets hidden.

:func:`child_environment` builds the script's environment (the submitter's, plus the
config's variables and what ``Run.get_context()`` needs inside the script);
:func:`record_environment` stores what a run keeps of it: queryable tags and the
``environment/`` artifacts, with secrets hidden by :mod:`._redact` (the environment, the command
line and the git remote).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runlog_core.base import config as _config
from runlog_core.base.redact import (
    REDACTED,
    SECRET_MARKERS,
    redact_arguments,
    redact_environment,
    redact_url,
    redact_value,
)

if TYPE_CHECKING:
    from runlog_core.run.experiment import Experiment
    from runlog_core.run.run import Run
    from runlog_core.submit.config import ScriptRunConfig

__all__ = ["REDACTED", "SECRET_MARKERS", "child_environment", "git_info", "installed_packages",
           "record_environment", "redact_environment"]

_PACKAGES_CODE = ("import importlib.metadata as m, json\n"
                  "print(json.dumps(sorted({(d.metadata['Name'] or '?', d.version) for d in m.distributions()})))")


def _git(folder: str, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", folder, *args], capture_output=True, text=True, timeout=10,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(folder: str) -> dict[str, str]:
    """The git remote, branch, commit and dirty flag of the repository holding ``folder`` (empty if none)."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return {}
    info = {"commit": commit}
    branch = _git(folder, "rev-parse", "--abbrev-ref", "HEAD")
    if branch:
        info["branch"] = branch
    remote = _git(folder, "config", "--get", "remote.origin.url")
    if remote:
        info["remote"] = redact_value(redact_url(remote, hide_user=True))
    status = _git(folder, "status", "--porcelain")
    if status is not None:
        info["dirty"] = "true" if status else "false"
    return info


def installed_packages(python: str) -> list[tuple[str, str]]:
    """``(name, version)`` of every distribution ``python`` can import (ours, or the script's interpreter)."""
    try:
        same = os.path.samefile(python, sys.executable)
    except OSError:
        same = False
    if same:
        from importlib.metadata import distributions

        return sorted({(d.metadata["Name"] or "?", d.version) for d in distributions()})
    try:
        done = subprocess.run([python, "-c", _PACKAGES_CODE], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        return [(str(name), str(version)) for name, version in json.loads(done.stdout)]
    except (OSError, subprocess.SubprocessError, ValueError, TypeError):
        return []


def _absolute_store_uri(uri: str) -> str:
    """The store URI as the script (running in another folder) must see it."""
    from runlog_core.base.uri import parse_store_uri, with_password

    address = parse_store_uri(uri)
    if address.is_postgres:  # the script must connect: the password it was shown without (never recorded)
        return with_password(address.text)
    return address.absolute().text


def child_environment(experiment: Experiment, run: Run, config: ScriptRunConfig) -> dict[str, str]:
    """The script's environment: ours, then ``config.environment_variables``, then the run's ``RUNLOG_*``."""
    env = dict(os.environ)
    env.update(config.environment_variables)
    # the config's own value wins over ours, as it does for every other variable
    artifacts = config.environment_variables.get("RUNLOG_ARTIFACTS") or _config.artifacts()
    if artifacts and "://" not in artifacts:  # the script runs elsewhere: a relative folder meant "from here"
        env["RUNLOG_ARTIFACTS"] = os.path.abspath(artifacts)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else p
                                            for p in env["PYTHONPATH"].split(os.pathsep))
    env.update({
        "RUNLOG_RUN_ID": run.id,
        "RUNLOG_STORE": _absolute_store_uri(experiment.store),
        "RUNLOG_EXPERIMENT": experiment.name,
        "RUNLOG_SOURCE_DIRECTORY": config.source_directory,
        "PYTHONUNBUFFERED": "1",
    })
    return env


def record_environment(run: Run, config: ScriptRunConfig, command: list[str], env: Mapping[str, str],
                       workdir: Path, full: bool, git: dict[str, str] | None = None) -> None:
    """Tags (queryable) and, when ``full``, ``environment/`` artifacts describing where and how the script ran.

    Secrets in the command line, the git remote and the environment are recorded as ``***``.
    ``git`` is the source folder's :func:`git_info` when the caller has it already.

    Raises:
        ConfigError: ``RUNLOG_REDACT`` holds an empty pattern.
    """
    patterns = _config.redact_patterns()
    shown = redact_arguments(command, patterns)
    if git is None:  # a sweep's children pass their parent's: the snapshot they run is the parent's too
        git = git_info(config.source_directory)
    tags = {
        "runlog.script": config.script,
        "runlog.command": shlex.join(shown),
        "runlog.python": platform.python_version(),
        "runlog.platform": platform.platform(),
    }
    tags.update({f"runlog.git.{key}": value for key, value in git.items()})
    run.set_tags(tags)
    if not full:
        return
    info = {
        "command": shown,
        "source_directory": config.source_directory,
        "working_directory": str(workdir),
        "python": {"version": sys.version if config.python == sys.executable else None,
                   "executable": config.python, "implementation": platform.python_implementation()},
        "platform": platform.platform(), "machine": platform.machine(), "host": platform.node(),
        "git": git,
    }
    run.upload_file("environment/info.json", json.dumps(info, indent=2).encode())
    variables = redact_environment(env, patterns)
    run.upload_file("environment/environment_variables.json", json.dumps(variables, indent=2).encode())
    packages = installed_packages(config.python)
    run.upload_file("environment/packages.txt", "".join(f"{name}=={version}\n" for name, version in packages).encode())
