"""A run as ``runlog submit`` hands it to a script, simulated in this process (helper of the
Keras, XGBoost, autolog and contract tests).

``runlog submit`` starts the run, then runs the script with ``RUNLOG_RUN_ID`` and ``RUNLOG_STORE``
set; there ``Run.get_context()`` attaches to it. Here the run is started in the test's own store,
the variables are set with ``monkeypatch``, and ``runlog_core.run.lifecycle``'s cached context is
cleared before and after, so ``Run.get_context()`` attaches to it as in a submitted script.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from runlog_core import Experiment, Run, search_runs
from runlog_core.run import context as _context


@contextmanager
def submitted_run(monkeypatch: pytest.MonkeyPatch, experiment: str = "submitted") -> Iterator[Run]:
    """Yield the submitted run; it is Running inside, and completed (as the submitter would) after."""
    run = Experiment(experiment).start_logging()
    monkeypatch.setenv("RUNLOG_RUN_ID", run.id)
    monkeypatch.setenv("RUNLOG_STORE", os.path.abspath("runlog"))
    handlers = list(logging.getLogger().handlers)
    _context.forget_context()
    try:
        yield run
    finally:
        _context.forget_context()
        for handler in logging.getLogger().handlers:  # get_context() tees logging into the run
            if handler not in handlers:
                logging.getLogger().removeHandler(handler)
        monkeypatch.delenv("RUNLOG_RUN_ID")
        run.complete()


def runs_outside(run: Run) -> list[Run]:
    """Every run of the store that is neither ``run`` nor one of its children."""
    return [other for other in search_runs() if other.id != run.id and getattr(other.parent, "id", None) != run.id]
