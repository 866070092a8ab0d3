"""HyperDrive's objects as Azure defines them: expressions, samplings, policies and the config, with
their bad input refused at construction (issue 18). No process is started here."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from statistics import NormalDist

import pytest

import runlog_core
from runlog_core import ScriptRunConfig
from runlog_core.exceptions import ConflictingArgumentsError, InvalidArgumentError, RunlogError
from runlog_core.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    TruncationSelectionPolicy,
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from runlog_core.hyperdrive.command_line import parse_policy, parse_space

pytest.importorskip("optuna", reason="HyperDrive samples with Optuna: pip install 'runlog[hyperdrive]'")


@pytest.fixture
def run_config(tmp_path: Path) -> ScriptRunConfig:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("")
    return ScriptRunConfig(tmp_path / "src", "train.py")


def test_expressions_map_the_samplers_draw_to_azures_values() -> None:
    assert choice("linear", "rbf").args == ["linear", "rbf"] == choice(["linear", "rbf"]).args
    assert choice(range(3)).args == [0, 1, 2]
    assert randint(5).distribution().low == 0 and randint(5).distribution().high == 4
    assert uniform(0, 2).value(1.5) == 1.5
    assert quniform(0, 10, 2).value(4.9) == 4.0
    assert loguniform(-3, 0).value(-1.0) == pytest.approx(math.exp(-1.0))  # Azure: bounds are logarithms
    assert qloguniform(0, 3, 5).value(2.5) == pytest.approx(round(math.exp(2.5) / 5) * 5)
    assert normal(10, 2).value(0.5) == pytest.approx(10.0)
    assert normal(10, 2).value(0.975) == pytest.approx(NormalDist(10, 2).inv_cdf(0.975))
    assert qnormal(10, 2, 3).value(0.9) == pytest.approx(round(NormalDist(10, 2).inv_cdf(0.9) / 3) * 3)
    assert lognormal(0, 1).value(0.5) == pytest.approx(1.0)
    assert qlognormal(1, 1, 0.5).value(0.5) == pytest.approx(round(math.e / 0.5) * 0.5)
    assert json.dumps(uniform(0, 1).to_json()) == '["uniform", [0.0, 1.0]]'
    assert choice(1, 2).to_json() == ["choice", [[1, 2]]]


@pytest.mark.parametrize(("make", "argument"), [
    (lambda: uniform(2, 1), "uniform(min_value=...)"),
    (lambda: quniform(5, 1, 1), "quniform(min_value=...)"),
    (lambda: loguniform(0, -1), "loguniform(min_value=...)"),
    (lambda: qloguniform(1, 0, 1), "qloguniform(min_value=...)"),
    (lambda: quniform(0, 1, 0), "quniform(q=...)"),
    (lambda: normal(0, -1), "normal(sigma=...)"),
    (lambda: uniform("0", 1), "uniform(min_value=...)"),
    (lambda: uniform(0, math.inf), "uniform(max_value=...)"),
    (lambda: randint(0), "randint(upper=...)"),
    (lambda: choice(), "choice(options)"),
    (lambda: choice([1, [2]]), "choice(options)"),
], ids=["uniform", "quniform", "loguniform", "qloguniform", "q-zero", "sigma", "text", "inf", "randint", "empty",
        "nested"])
def test_bad_expressions_are_refused_naming_the_argument(make: object, argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.argument == argument
    assert isinstance(caught.value, RunlogError)


def test_samplings_check_their_space_and_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match=r"GridParameterSampling\(parameter_space\['--lr'\]\)") as caught:
        GridParameterSampling({"--kernel": choice("a", "b"), "--lr": uniform(0, 1)})  # a grid over a range
    assert "choice" in str(caught.value)
    with pytest.raises(InvalidArgumentError, match="BayesianParameterSampling"):
        BayesianParameterSampling({"--lr": loguniform(-3, 0)})  # Azure: choice, uniform, quniform only
    with pytest.raises(InvalidArgumentError, match=r"RandomParameterSampling\(sed=...\)") as caught:
        RandomParameterSampling({"--lr": uniform(0, 1)}, sed=3)  # type: ignore[call-arg]
    assert "parameter_space, properties, seed" in str(caught.value)
    with pytest.raises(InvalidArgumentError, match="rngSeed"):
        RandomParameterSampling({"--lr": uniform(0, 1)}, properties={"seed": 1})
    with pytest.raises(InvalidArgumentError, match="parameter_space"):
        RandomParameterSampling({})
    with pytest.raises(InvalidArgumentError, match="parameter_space"):
        RandomParameterSampling({"--lr": [0.1, 0.2]})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentError, match="each parameter once"):
        RandomParameterSampling({"--lr": uniform(0, 1), "lr": uniform(0, 1)})
    assert GridParameterSampling({"a": choice(1, 2), "b": choice("x", "y", "z")}).size() == 6
    assert RandomParameterSampling({"a": uniform(0, 1)}, properties={"rngSeed": 7}).sampler()._rng.rng is not None


def test_policies_refuse_bad_arguments() -> None:
    with pytest.raises(ConflictingArgumentsError):
        BanditPolicy(slack_factor=0.1, slack_amount=0.2)
    with pytest.raises(ConflictingArgumentsError):
        BanditPolicy(evaluation_interval=2)
    with pytest.raises(InvalidArgumentError, match=r"BanditPolicy\(slack_factor=...\)"):
        BanditPolicy(slack_factor=-0.1)
    with pytest.raises(InvalidArgumentError, match=r"BanditPolicy\(evaluation_interval=...\)"):
        BanditPolicy(slack_factor=0.1, evaluation_interval=0)
    with pytest.raises(InvalidArgumentError, match=r"BanditPolicy\(slack=...\)"):
        BanditPolicy(slack=0.1)  # type: ignore[call-arg]
    with pytest.raises(InvalidArgumentError, match="truncation_percentage"):
        TruncationSelectionPolicy(truncation_percentage=100)
    with pytest.raises(InvalidArgumentError, match=r"MedianStoppingPolicy\(delay_evaluation=...\)"):
        MedianStoppingPolicy(delay_evaluation=-1)


def test_when_a_policy_applies_follows_evaluation_interval_and_delay_evaluation() -> None:
    policy = BanditPolicy(evaluation_interval=2, slack_factor=0.1, delay_evaluation=5)
    assert [policy.interval_to_judge(n) for n in range(1, 10)] == [None, None, None, None, None, 6, 6, 8, 8]
    assert [MedianStoppingPolicy().interval_to_judge(n) for n in (4, 5, 6)] == [None, 5, 6]  # Azure: delay 5


def test_bandit_policy_keeps_runs_within_the_slack_of_the_best() -> None:
    factor = BanditPolicy(slack_factor=0.2)
    best = [0.8]
    # maximize: the bound is 0.8 / 1.2 = 0.667 (Azure's example)
    assert factor.judge([0.6], [(best, False), ([0.6], False)], 1, maximize=True) is not None
    assert factor.judge([0.7], [(best, False), ([0.7], False)], 1, maximize=True) is None
    # the run's best value up to the interval counts, not only its latest
    assert factor.judge([0.75, 0.5], [([0.8, 0.8], True), ([0.75, 0.5], False)], 2, maximize=True) is None
    # minimize: the bound is 0.8 * 1.2 = 0.96
    assert factor.judge([1.0], [(best, False), ([1.0], False)], 1, maximize=False) is not None
    amount = BanditPolicy(slack_amount=0.1)
    assert amount.judge([0.65], [(best, True), ([0.65], False)], 1, maximize=True) is not None
    assert amount.judge([0.75], [(best, True), ([0.75], False)], 1, maximize=True) is None
    assert amount.judge([0.95], [(best, True), ([0.95], False)], 1, maximize=False) is not None


def test_median_stopping_compares_the_best_value_with_the_median_of_running_averages() -> None:
    policy = MedianStoppingPolicy(delay_evaluation=1)
    runs = [([0.9, 0.9], True), ([0.5, 0.7], False), ([0.1, 0.2], False)]  # running averages 0.9, 0.6, 0.15
    assert policy.judge(runs[1][0], runs, 2, maximize=True) is None  # best 0.7 >= median 0.6
    assert "median" in (policy.judge(runs[2][0], runs, 2, maximize=True) or "")
    assert policy.judge(runs[2][0], runs, 2, maximize=False) is None  # minimizing, 0.1 is the best


def test_truncation_selection_stops_the_lowest_percentage() -> None:
    policy = TruncationSelectionPolicy(truncation_percentage=50)
    values = [[0.1], [0.2], [0.3], [0.4]]
    population = [(v, False) for v in values]
    stopped = [v for v in values if policy.judge(v, population, 1, maximize=True)]
    assert stopped == [[0.1], [0.2]]
    assert TruncationSelectionPolicy(truncation_percentage=20).judge([0.1], population[:4], 1, True) is None  # 4*20% < 1
    only_running = TruncationSelectionPolicy(truncation_percentage=50, exclude_finished_jobs=True)
    mixed = [([0.1], True), ([0.2], True), ([0.3], False), ([0.4], False)]
    assert only_running.judge([0.3], mixed, 1, maximize=True) is not None
    assert only_running.judge([0.4], mixed, 1, maximize=True) is None


def test_config_checks_its_arguments(run_config: ScriptRunConfig) -> None:
    random = RandomParameterSampling({"--lr": uniform(0, 1)})
    ok = HyperDriveConfig(run_config=run_config, hyperparameter_sampling=random, primary_metric_name="mse",
                          primary_metric_goal=PrimaryMetricGoal.MINIMIZE, max_total_runs=4)
    assert ok.max_concurrent_runs == min(4, os.cpu_count() or 1) and ok.policy is None  # this machine's CPUs
    grid = GridParameterSampling({"--k": choice(1, 2, 3)})
    assert HyperDriveConfig(grid, "acc", "maximize", max_total_runs=10, run_config=run_config).max_total_runs == 3
    cases = [
        (dict(max_concurrent_runs=0), "max_concurrent_runs"),
        (dict(max_total_runs=0), "max_total_runs"),
        (dict(max_total_runs=None), "max_total_runs"),  # random sampling has no size of its own
        (dict(primary_metric_goal="upwards"), "primary_metric_goal"),
        (dict(max_duration_minutes=0), "max_duration_minutes"),
        (dict(policy="bandit"), "policy"),
        (dict(run_config="train.py"), "run_config"),
        (dict(estimator=object()), "estimator"),
        (dict(max_concurent_runs=2), "max_concurent_runs"),
        (dict(hyperparameter_sampling={"--lr": uniform(0, 1)}), "hyperparameter_sampling"),
        (dict(hyperparameter_sampling=BayesianParameterSampling({"--lr": uniform(0, 1)}),
              policy=BanditPolicy(slack_factor=0.1)), "policy"),
        (dict(primary_metric_name=None, primary_metric_goal=None, policy=MedianStoppingPolicy()),
         "primary_metric_name"),
    ]
    for change, argument in cases:
        arguments = dict(run_config=run_config, hyperparameter_sampling=random, primary_metric_name="mse",
                         primary_metric_goal="minimize", max_total_runs=4)
        arguments.update(change)
        with pytest.raises(InvalidArgumentError, match=rf"HyperDriveConfig\({argument}=") as caught:
            HyperDriveConfig(**arguments)  # type: ignore[arg-type]
        assert argument in caught.value.argument
    no_policy = HyperDriveConfig(random, "mse", "minimize", 4, policy=NoTerminationPolicy(), run_config=run_config)
    assert no_policy.policy is None


def test_the_command_line_forms() -> None:
    space = parse_space(["alpha=0.1,0.5", "lr=loguniform(-5,0)", "k=choice(a,b)", "n=randint(4)"])
    assert space == {"alpha": choice("0.1", "0.5"), "lr": loguniform(-5, 0), "k": choice("a", "b"),
                     "n": randint(4)}
    policy = parse_policy("bandit:0.1:2:4")
    assert isinstance(policy, BanditPolicy)
    assert (policy.slack_factor, policy.evaluation_interval, policy.delay_evaluation) == (0.1, 2, 4)
    assert isinstance(parse_policy("median"), MedianStoppingPolicy)
    assert parse_policy("truncation:20").truncation_percentage == 20  # type: ignore[union-attr]
    assert parse_policy("none") is None
    for bad in ("bandit", "bandit:x", "bandit:0.1:1.5", "median:1:2:3", "truncation:120", "greedy:1"):
        with pytest.raises(InvalidArgumentError, match="--policy"):
            parse_policy(bad)
    for bad in ("alpha", "alpha=uniform(1,0)", "alpha=uniform(a,1)", "x=1,,2", "a=1"):
        with pytest.raises(InvalidArgumentError):
            parse_space([bad, "a=2"] if bad == "a=1" else [bad])


def test_importing_runlog_core_does_not_import_optuna() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(runlog_core.__file__).resolve().parents[1])}  # the code under test
    for code in ("import sys, runlog_core\nfrom runlog_core import Experiment, ScriptRunConfig",
                 "import sys, runlog_core.hyperdrive"):  # optuna comes when a sweep starts
        done = subprocess.run([sys.executable, "-c", code + "\nprint('optuna' in sys.modules)"], env=env,
                              capture_output=True, text=True, check=True)
        assert done.stdout.strip() == "False"
