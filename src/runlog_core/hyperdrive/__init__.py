"""HyperDrive: Azure ML v1's ``azureml.train.hyperdrive`` on runlog, sampling on Optuna (docs/hyperdrive.md).

``exp.submit(HyperDriveConfig(...))`` starts a sweep of a :class:`~runlog_core.ScriptRunConfig`'s
script and returns its parent, a :class:`HyperDriveRun`, at once. Optuna is imported when a
sweep starts, never by ``import runlog_core``: ``pip install 'runlog[hyperdrive]'``.
"""

from __future__ import annotations

from runlog_core.hyperdrive.config import HyperDriveConfig, PrimaryMetricGoal
from runlog_core.hyperdrive.expressions import (
    ParameterExpression,
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
from runlog_core.hyperdrive.policies import (
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    TruncationSelectionPolicy,
)
from runlog_core.hyperdrive.run import HyperDriveRun
from runlog_core.hyperdrive.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    HyperParameterSampling,
    RandomParameterSampling,
)

__all__ = [
    "BanditPolicy",
    "BayesianParameterSampling",
    "EarlyTerminationPolicy",
    "GridParameterSampling",
    "HyperDriveConfig",
    "HyperDriveRun",
    "HyperParameterSampling",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "ParameterExpression",
    "PrimaryMetricGoal",
    "RandomParameterSampling",
    "TruncationSelectionPolicy",
    "choice",
    "lognormal",
    "loguniform",
    "normal",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
]
