"""Script submission: ``Experiment.submit(ScriptRunConfig(...))``, ``wait_for_completion`` and sweeps.

This module gathers the submission API in one import; each concern lives in its own module:

- :mod:`._script_config`: :class:`ScriptRunConfig`, what to run, checked at construction;
- :mod:`._environment`: the script's environment, git state and packages, secrets redacted;
- :mod:`._process`: the process group, the output pump, waiting with Ctrl-C as a flag;
- :mod:`._script_run`: :class:`ScriptRun`, :func:`submit` and :func:`wait_for_completion`;
- :mod:`._sweep`: :func:`sweep`, :class:`SweepRun` and :func:`parse_sweep`.

``import runlog_core`` imports none of them: ``runlog_core.ScriptRunConfig`` and
``Experiment.submit`` import this module on first use. What a run records is listed in docs/submit.md.
"""

from __future__ import annotations

from runlog_core.exceptions import ScriptRunError, SnapshotTooLargeError
from runlog_core.submit.config import ScriptRunConfig
from runlog_core.submit.environment import redact_environment
from runlog_core.submit.script_run import ScriptRun, submit, wait_for_completion
from runlog_core.submit.sweep import SweepRun, parse_sweep, start_sweep, sweep

__all__ = [
    "ScriptRun",
    "ScriptRunConfig",
    "ScriptRunError",
    "SnapshotTooLargeError",
    "SweepRun",
    "parse_sweep",
    "redact_environment",
    "start_sweep",
    "submit",
    "sweep",
    "wait_for_completion",
]
