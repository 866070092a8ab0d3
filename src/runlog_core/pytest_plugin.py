"""runlog's pytest plugin: fixtures to test training code that logs, each test with a store of its own.

Installed with runlog (entry point ``pytest11``), so the fixtures are there in every test suite of a
project that has runlog installed, without a ``conftest.py`` line:

- ``runlog_store``: a fresh store folder in the test's ``tmp_path`` (a :class:`pathlib.Path`), with
  ``RUNLOG_STORE`` set to it for the test, so code that opens the default store (``Experiment(name)``,
  ``Run.get_context()``, the integrations) logs there. After the test, the runs left open in it end
  (Completed), everything logged is committed and the store is closed.
- ``runlog_run``: a Running run in ``runlog_store`` (experiment ``"pytest"``, named after the test),
  completed after the test unless the test ended it.

pytest imports this module in every session of every project that has runlog installed, so it
imports nothing beyond pytest at the top; runlog's own modules load when a fixture is used.

Example::

    def test_training_logs_a_falling_loss(runlog_run):
        train(epochs=3, run=runlog_run)
        losses = [point.value for point in runlog_run.get_metric_history("loss")]
        assert losses == sorted(losses, reverse=True)
"""

from __future__ import annotations

import pytest

TYPE_CHECKING = False  # typing is not imported at run time: this module loads in every pytest session
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from runlog_core import Run

__all__ = ["runlog_run", "runlog_store"]

_STORE_VARIABLE = "RUNLOG_STORE"  # set (never read) here; runlog_core.base.config reads it


@pytest.fixture
def runlog_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh runlog store folder in ``tmp_path``, the default store (``RUNLOG_STORE``) for the test.

    Yields:
        The store's folder; pass it as ``store=`` or to ``runlog --store``, or rely on the default.
    """
    from runlog_core.plugins import manager as _plugins
    from runlog_core.run import context as _context

    folder = tmp_path / "runlog"
    monkeypatch.setenv(_STORE_VARIABLE, str(folder))
    # Run.get_context() is process-wide: in this test it starts a run in this store
    context_before = _context.forget_context()
    _plugins.open_store(str(folder))  # created now: `runlog runs --store` and readers find it
    try:
        yield folder
    finally:
        _close_stores_in(folder, context_before)


def _close_stores_in(folder: Path, context_before: Run | None) -> None:
    """End the runs left open in the stores under ``folder``, commit and close them."""
    import warnings

    from runlog_core.plugins import manager as _plugins
    from runlog_core.run import context as _context
    from runlog_core.run import lifecycle as _lifecycle
    from runlog_core.writer import registry as _writers

    inside = str(folder.absolute())
    stores = [store for store in _plugins.open_stores() if inside in str(getattr(store, "uri", ""))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for store in stores:
            try:
                _lifecycle.end_owned_in(store)
            finally:
                _writers.close_store(store)
    problems = [str(warning.message) for warning in caught]
    # a context run started in this test ended with its store; the one before comes back
    _context.restore_context(context_before)
    if problems:
        warnings.warn(f"runlog_store: {problems[0]}", RuntimeWarning, stacklevel=2)


@pytest.fixture
def runlog_run(runlog_store: Path, request: pytest.FixtureRequest) -> Iterator[Run]:
    """A Running run in ``runlog_store`` (experiment ``"pytest"``, named after the test), completed after it.

    Yields:
        The :class:`~runlog_core.Run`; log into it, hand it to your training code (``run=``), read it back.
    """
    from runlog_core import Experiment

    run = Experiment("pytest", store=runlog_store).start_logging(name=request.node.name[:200], outputs=None)
    try:
        yield run
    finally:
        if not run._ended:
            run.complete()
