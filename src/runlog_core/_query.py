"""``search_runs``: find runs across a store with the filter language of :mod:`runlog_core._search`."""

from __future__ import annotations

import os

from ._experiment import Experiment
from ._plugins import open_store
from ._run import Run
from ._search import parse_filter, parse_order_by
from ._writer import get_writer
from .exceptions import InvalidArgumentError, RunNotFoundError

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from typing import Any

    from .store import Store

__all__ = ["search_runs"]


def search_runs(filter: str | None = None, order_by: list[str] | str | None = None,
                experiment: Experiment | str | None = None,
                store: str | os.PathLike[str] | Any | None = None) -> list[Run]:
    """Runs matching ``filter``, sorted by ``order_by`` (then newest first).

    Args:
        filter: e.g. ``"metrics.mse < 3000 and (params.alpha >= 0.1 or tags.team = 'vision')"``;
            ``metrics.<name>`` is the metric's latest value; attributes are ``status``, ``name``,
            ``id``, ``experiment``, ``start_time``, ``end_time`` and ``duration``. ``None`` matches all.
        order_by: keys such as ``["metrics.mse", "start_time DESC"]``; missing values sort last.
        experiment: an :class:`Experiment` or experiment name to search in; ``None`` searches all.
        store: the store to search when ``experiment`` is not an Experiment; default as everywhere.

    Raises:
        FilterSyntaxError: the filter is malformed; the message points at the bad character.

    Example::

        best = search_runs("params.alpha >= 0.1", order_by=["metrics.mse"], experiment="diabetes")[0]
    """
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
    experiments: dict[str, Experiment] = {}
    runs = []
    for info in backend.search_runs(expression, orders, experiment_id):
        owner = experiments.get(info.experiment_name)
        if owner is None:
            owner = experiment if isinstance(experiment, Experiment) else Experiment(info.experiment_name, store=backend)
            experiments[info.experiment_name] = owner
        runs.append(Run(owner, info.id, _info=info))
    return runs
