"""Pickles outlive the layout: what runlog 0.1 pickled still loads, and new pickles name only public paths.

``data/v0_1_0`` was written by runlog 0.1 (the flat ``runlog_core/_*.py`` layout, commit 4315c7e):
a store with one run (``loss`` 0.5, param ``lr`` 0.1, Completed) and ``pickles.pkl`` holding that
run and a ``RunlogLogger(run=run)`` pickled then, when the store was at ``/tmp/pk2/store``.
"""

from __future__ import annotations

import pickle
import pickletools
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runlog_core import Experiment, MetricPoint, Run, ScriptRunConfig

DATA = Path(__file__).parent / "data" / "v0_1_0"


@pytest.fixture
def old_store() -> Iterator[dict]:
    """The old store copied to a fresh folder whose path has the old path's length, and the
    pickles with that path put in place of the old one (same length: the pickle stays valid)."""
    old = b"/tmp/pk2/store"
    with open(DATA / "pickles.pkl", "rb") as f:
        pickles = pickle.load(f)
    folder = None
    while folder is None:
        candidate = Path(f"/tmp/rl{secrets.token_hex(4)[:7]}")
        try:
            candidate.mkdir(mode=0o700)
            folder = candidate
        except FileExistsError:
            continue
    assert len(str(folder).encode()) == len(old)
    try:
        shutil.copytree(DATA / "store", folder, dirs_exist_ok=True)
        yield {key: value.replace(old, str(folder).encode()) if isinstance(value, bytes) else value
               for key, value in pickles.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _modules(data: bytes) -> set[str]:
    """The modules a pickle names for its classes and functions."""
    pushed: list[object] = []
    memo: dict[int, object] = {}
    found = set()
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            pushed.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushed.append(memo.get(int(arg)))
        elif op.name == "STACK_GLOBAL":
            found.add(str(pushed[-2]))
        elif op.name == "GLOBAL":
            found.add(str(arg).split()[0])
        elif op.name not in ("FRAME", "PROTO"):
            pushed.append(None)
    return found


def test_a_run_pickled_by_runlog_0_1_loads(old_store: dict) -> None:
    assert "runlog_core._experiment" in _modules(old_store["run"])  # what 0.1 recorded
    run = pickle.loads(old_store["run"])
    assert isinstance(run, Run)
    assert run.id == old_store["run_id"] and run.name == "pickled-run"
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"loss": 0.5}
    assert run.get_params() == {"lr": 0.1}


def test_a_lightning_logger_pickled_by_runlog_0_1_loads(old_store: dict) -> None:
    pytest.importorskip("lightning")
    from runlog_integrations.lightning import RunlogLogger

    assert "runlog_core._guard" in _modules(old_store["logger"])
    logger = pickle.loads(old_store["logger"])
    assert isinstance(logger, RunlogLogger)
    assert logger.experiment.id == old_store["run_id"]
    assert logger.experiment.get_metrics() == {"loss": 0.5}


def test_new_pickles_name_only_public_modules(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    from runlog_integrations.lightning import RunlogLogger

    exp = Experiment("pickles", store=str(tmp_path / "store"))
    (tmp_path / "train.py").write_text("print('hello')\n")
    with exp.start_logging() as run:
        run.log("acc", 0.75)
        logger = RunlogLogger(run=run)
        pickled = {"run": pickle.dumps(run), "logger": pickle.dumps(logger), "exp": pickle.dumps(exp),
                   "point": pickle.dumps(run.get_metric_history("acc")[0]),
                   "config": pickle.dumps(ScriptRunConfig(str(tmp_path), "train.py", arguments=["--alpha", "0.1"]))}
        info = run._store.get_run(run.id)
        pickled["info"] = pickle.dumps(info)
    public = {"builtins", "runlog_core", "runlog_core.integration", "runlog_core.store", "runlog_integrations.lightning"}
    for what, data in pickled.items():
        assert _modules(data) <= public, what
    again = pickle.loads(pickled["run"])
    assert again == run and again.get_metrics() == {"acc": 0.75}
    assert pickle.loads(pickled["logger"]).experiment.id == run.id
    assert pickle.loads(pickled["point"]) == MetricPoint(0, 0.75, run.get_metric_history("acc")[0].timestamp)
    assert pickle.loads(pickled["config"]).arguments == ["--alpha", "0.1"]
    assert pickle.loads(pickled["info"]).id == run.id


def test_callbacks_and_searches_pickle_under_public_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What users pickle with a model (a Keras or XGBoost callback, a fitted TrackedSearch via joblib)
    names only public modules, so a later layout still loads it."""
    pytest.importorskip("keras")
    pytest.importorskip("xgboost")
    pytest.importorskip("sklearn")
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV

    from runlog_integrations.keras import RunlogCallback as KerasCallback
    from runlog_integrations.sklearn import TrackedSearch
    from runlog_integrations.xgboost import RunlogCallback as XGBoostCallback

    monkeypatch.chdir(tmp_path)
    search = TrackedSearch(GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=2), experiment="search")
    search.fit([[0.0], [1.0], [2.0], [3.0]], [0.0, 1.0, 2.0, 3.0])
    public = {"runlog_core.integration", "runlog_integrations.keras", "runlog_integrations.xgboost",
              "runlog_integrations.sklearn"}
    for thing in (KerasCallback(experiment="k"), XGBoostCallback(experiment="x"), search):
        data = pickle.dumps(thing)
        assert {m for m in _modules(data) if m.startswith("runlog")} <= public, type(thing)
        assert type(pickle.loads(data)) is type(thing)
    assert pickle.loads(pickle.dumps(search)).best_params_ == search.best_params_
