"""What the Optuna tests share: an objective whose trials complete, prune, fail and log from inside, and
the check of a study's runs against the study itself (one parent, exactly one child per finished trial)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import optuna

from runlog_core import Experiment, Run


def objective(trial: optuna.Trial) -> float:
    """Completes, prunes (every 7th trial, from 2) or raises ValueError (every 5th, from 3); logs from inside."""
    x = trial.suggest_float("x", -10.0, 10.0)
    layers = trial.suggest_int("layers", 1, 4)
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd", None])
    trial.set_user_attr("worker_note", {"layers": layers})
    Run.get_context().log("inside", x)  # the trial's run while the objective runs (tracked)
    for step in range(3):
        trial.report((x - 2) ** 2 + 3 - step, step)
    if trial.number % 7 == 2:
        raise optuna.TrialPruned()
    if trial.number % 5 == 3:
        raise ValueError(f"trial {trial.number} broke on purpose")
    return (x - 2) ** 2 + layers + (0.5 if optimizer == "sgd" else 0.0)


def ts(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def check_study_runs(experiment: Experiment, study: optuna.Study, names: list[str] | None = None,
                     inside: bool = False, more_params: bool = False) -> tuple[Run, dict[int, Run]]:
    """Assert the runs of ``experiment`` are the parent of ``study`` and one child per finished trial, each
    holding exactly what the trial holds (``more_params``: an integration inside the objective added params);
    return the parent and the children by trial number."""
    names = names or ["value"]
    runs = experiment.get_runs(include_children=True)
    parents = [run for run in runs if run.parent is None]
    assert [(p.name, p.get_tags()["optuna.study_name"]) for p in parents] == [(study.study_name, study.study_name)]
    parent = parents[0]
    children = [run for run in runs if run.parent is not None]
    finished = [t for t in study.get_trials() if t.state.is_finished()]
    by_number = {int(child.get_tags()["optuna.trial"]): child for child in children}
    assert len(children) == len(by_number) == len(finished), (len(children), len(by_number), len(finished))
    assert sorted(by_number) == sorted(t.number for t in finished)
    expected_status = {"COMPLETE": "Completed", "PRUNED": "Canceled", "FAIL": "Failed"}
    for trial in finished:
        child = by_number[trial.number]
        details = child.get_details()
        assert details["parentRunId"] == parent.id
        assert details["name"] == f"trial-{trial.number}"
        assert details["status"] == expected_status[trial.state.name], (trial.number, details)
        params = child.get_params()
        if more_params:
            params = {key: params[key] for key in trial.params}
        assert params == trial.params  # typed: float, int, str or None
        metrics = child.get_metrics()
        if trial.values is not None:
            for name, value in zip(names, trial.values):
                assert metrics[name] == value or (math.isnan(value) and math.isnan(metrics[name]))
        history = child.get_metric_history("intermediate_value") if trial.intermediate_values else []
        assert [(p.step, p.value) for p in history] == sorted(trial.intermediate_values.items())
        if inside:
            assert metrics["inside"] == trial.params["x"]
        assert ts(details["startTimeUtc"]) == pytest_approx(trial.datetime_start)
        assert ts(details["endTimeUtc"]) is not None
        if trial.state.name != "FAIL":  # a failing objective's run ends when it raises, before Optuna's tell
            assert ts(details["endTimeUtc"]) == pytest_approx(trial.datetime_complete)
        tags = details["tags"]
        for key, value in trial.user_attrs.items():
            assert tags[key] == (value if isinstance(value, str) else json.dumps(value, sort_keys=True))
        if trial.state.name == "FAIL":
            assert details["error"]
    return parent, by_number


def pytest_approx(moment: Any) -> Any:
    import pytest

    return pytest.approx(moment.timestamp(), abs=1e-3)
