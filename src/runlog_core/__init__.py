"""runlog: record ML training runs. The map of the public API."""

from __future__ import annotations

__all__ = [
    "ArtifactConflictError",
    "ArtifactWriteError",
    "ConfigError",
    "ConflictingArgumentsError",
    "DestinationExistsError",
    "Experiment",
    "FilterSyntaxError",
    "ImportSourceError",
    "InvalidArgumentError",
    "InvalidMetricError",
    "InvalidNameError",
    "LoggedPoint",
    "MetricKindError",
    "MetricNotFoundError",
    "MetricPoint",
    "MissingDependencyError",
    "Model",
    "ParamConflictError",
    "PushError",
    "PushInterrupted",
    "Run",
    "RunEndedError",
    "RunNotFoundError",
    "RunStateError",
    "RunlogError",
    "S3ArtifactError",
    "ScriptRunConfig",
    "ScriptRunError",
    "SnapshotTooLargeError",
    "StoreBusyError",
    "StoreError",
    "StoreVersionError",
    "UnsafeArtifactNameError",
    "UnsafeFolderNamesError",
    "autolog",
    "hookimpl",
    "push",
    "register_plugin",
    "search_runs",
    "unregister_plugin",
]


from runlog_core.base import legacy as _legacy
from runlog_core.base.records import LoggedPoint, MetricPoint
from runlog_core.exceptions import (
    ArtifactConflictError,
    ArtifactWriteError,
    ConfigError,
    ConflictingArgumentsError,
    DestinationExistsError,
    FilterSyntaxError,
    ImportSourceError,
    InvalidArgumentError,
    InvalidMetricError,
    InvalidNameError,
    MetricKindError,
    MetricNotFoundError,
    MissingDependencyError,
    ParamConflictError,
    PushError,
    PushInterrupted,
    RunEndedError,
    RunlogError,
    RunNotFoundError,
    RunStateError,
    S3ArtifactError,
    ScriptRunError,
    SnapshotTooLargeError,
    StoreBusyError,
    StoreError,
    StoreVersionError,
    UnsafeArtifactNameError,
    UnsafeFolderNamesError,
)
from runlog_core.plugins.manager import register_plugin, unregister_plugin
from runlog_core.run.experiment import Experiment
from runlog_core.run.run import Run

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from runlog_core.run.query import search_runs
_legacy.install()  # runlog 0.1's module paths, for the pickles that recorded them


def __getattr__(name: str) -> Any:
    if name == "hookimpl":  # pluggy is imported on first use, not by `import runlog_core`
        from runlog_core.hookspecs import hookimpl

        return hookimpl
    if name == "ScriptRunConfig":
        from runlog_core.submit.api import ScriptRunConfig

        return ScriptRunConfig
    if name == "Model":  # the registry loads on first use
        from runlog_core.run.models import Model

        return Model
    if name == "push":
        from runlog_core.transfer.push import push

        return push
    if name == "search_runs":  # the search language and frames load on first use: a submitted script skips them
        from runlog_core.run.query import search_runs

        return search_runs
    if name == "autolog":
        from runlog_core.integration.autolog import autolog

        return autolog
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("runlog")
        except PackageNotFoundError:
            return "0.0.0+unknown"
    raise AttributeError(f"module 'runlog_core' has no attribute {name!r}")
