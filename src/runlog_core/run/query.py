"""``search_runs``: find runs across a store with the filter language of :mod:`runlog_core.base.filter`."""

from __future__ import annotations

import os

from runlog_core.base.filter import parse_filter, parse_order_by
from runlog_core.exceptions import InvalidArgumentError, RunNotFoundError
from runlog_core.plugins.manager import open_store
from runlog_core.run.experiment import Experiment
from runlog_core.run.run import Run
from runlog_core.views.frames import FRAME_OUTPUTS, check_output, frame_library, runs_frame
from runlog_core.views.html import RunList
from runlog_core.writer.registry import get_writer

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any, Literal, overload

    from runlog_core.store import Store
else:
    def overload(function: object) -> object:  # typing.overload's work, without importing typing
        return function

__all__ = ["search_runs"]


@overload
def search_runs(filter: str | None = None, order_by: list[str] | str | None = None,
                experiment: Experiment | str | None = None, store: str | os.PathLike[str] | Any | None = None,
                output: Literal["runs"] = "runs") -> RunList: ...


@overload
def search_runs(filter: str | None = None, order_by: list[str] | str | None = None,  # noqa: F811
                experiment: Experiment | str | None = None, store: str | os.PathLike[str] | Any | None = None,
                *, output: Literal["pandas", "polars"]) -> Any: ...


def search_runs(filter: str | None = None, order_by: list[str] | str | None = None,  # noqa: F811 (the overloads)
                experiment: Experiment | str | None = None,
                store: str | os.PathLike[str] | Any | None = None, output: str = "runs") -> RunList | Any:
    """Runs matching ``filter``, sorted by ``order_by`` (then newest first), as Runs or a DataFrame.

    Args:
        filter: e.g. ``"metrics.mse < 3000 and (params.alpha >= 0.1 or tags.team = 'vision')"``;
            ``metrics.<name>`` is the metric's latest value; attributes are ``status``, ``name``,
            ``id``, ``experiment``, ``start_time``, ``end_time`` and ``duration``. ``None`` matches all.
        order_by: keys such as ``["metrics.mse", "start_time DESC"]``; missing values sort last.
        experiment: an :class:`Experiment` or experiment name to search in; ``None`` searches all.
        store: the store to search when ``experiment`` is not an Experiment; default as everywhere.
        output: ``"runs"`` (a list of :class:`Run`), ``"pandas"`` or ``"polars"``: a DataFrame with one
            row per run and the columns ``run_id, name, status, start_time, end_time, duration,
            experiment, parent_run_id``, then ``metrics.*`` (latest values), ``params.*`` and ``tags.*``,
            as ``mlflow.search_runs`` gives (see docs/dataframes.md).

    Returns:
        A list of :class:`Run`, or a pandas or polars DataFrame.

    Raises:
        FilterSyntaxError: the filter is malformed; the message points at the bad character.
        InvalidArgumentError: ``output`` is not one of ``"runs"``, ``"pandas"``, ``"polars"``.
        MissingDependencyError: pandas (or polars) is not installed.

    Example::

        best = search_runs("params.alpha >= 0.1", order_by=["metrics.mse"], experiment="diabetes")[0]
        frame = search_runs(experiment="diabetes", output="pandas")
    """
    check_output(output, ("runs", *FRAME_OUTPUTS))
    if output != "runs":
        frame_library(output, f"search_runs(output={output!r})")  # before the search: say what to install now
    if filter is not None and not isinstance(filter, str):
        raise InvalidArgumentError("filter", filter, 'a str such as "metrics.loss < 0.5", or None')
    expression = parse_filter(filter) if filter is not None and filter.strip() else None
    orders = parse_order_by(order_by)
    backend: Store = experiment._store if isinstance(experiment, Experiment) else open_store(store)
    experiment_id = None
    if isinstance(experiment, Experiment):
        experiment_id = experiment.id
    elif isinstance(experiment, str):
        experiment_id = backend.get_experiment_id(experiment)
        if experiment_id is None:
            raise RunNotFoundError("experiment", experiment, backend.uri)
    elif experiment is not None:
        raise InvalidArgumentError("experiment", experiment, "an Experiment, an experiment name or None")
    get_writer(backend).flush()
    infos = backend.search_runs(expression, orders, experiment_id)
    if output != "runs":
        return runs_frame(backend, infos, output)
    experiments: dict[str, Experiment] = {}
    runs: RunList[Run] = RunList()  # a list that shows as a table in Jupyter
    for info in infos:
        owner = experiments.get(info.experiment_name)
        if owner is None:
            owner = experiment if isinstance(experiment, Experiment) else Experiment(info.experiment_name, store=backend)
            experiments[info.experiment_name] = owner
        runs.append(Run(owner, info.id, _info=info))
    return runs
