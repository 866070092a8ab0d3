"""``HyperDriveRun``: the parent run ``exp.submit(HyperDriveConfig(...))`` returns, with Azure's reads
(the best child, the children sorted by the primary metric, every child's metrics)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runlog_core.exceptions import InvalidArgumentError
from runlog_core.hyperdrive._metrics import best_value, metric_values
from runlog_core.run.run import CANCELED, FAILED, KILLED, Run
from runlog_core.submit.sweep import SweepRun

if TYPE_CHECKING:
    from runlog_core.run.experiment import Experiment

__all__ = ["HyperDriveRun"]


class HyperDriveRun(SweepRun):
    """The parent of a HyperDrive sweep (Azure's ``HyperDriveRun``).

    Also a handle on an existing sweep: ``HyperDriveRun(experiment, run_id)``; the primary metric
    and its goal are read from the parent's tags ``runlog.sweep.primary_metric`` and
    ``runlog.sweep.goal``.
    """

    def _primary(self) -> tuple[str | None, bool]:
        tags = self._store.get_tags(self.id)
        return tags.get("runlog.sweep.primary_metric"), tags.get("runlog.sweep.goal") != "minimize"

    def get_hyperparameters(self) -> dict[str, dict[str, Any]]:
        """``{child run id: {"--name": value}}``: what each child was given."""
        return {child.id: json.loads(child.get_tags().get("runlog.sweep.hyperparameters", "{}"))
                for child in self.get_children()}

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False) -> dict[str, Any]:
        """``{child run id: that child's metrics}`` as Azure's ``HyperDriveRun.get_metrics()`` (with
        ``name``, each child's ``{name: value}`` where it logged it)."""
        result: dict[str, Any] = {}
        for child in self.get_children():
            metrics = child.get_metrics()
            result[child.id] = metrics if name is None else ({name: metrics[name]} if name in metrics else {})
        return result

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False) -> list[dict[str, Any]]:
        """The children, best first by their best primary metric value (Azure's order and dicts).

        Args:
            top: how many to return; 0 for all.
            reverse: worst first instead.
            discard_no_metric: leave out children that never logged the primary metric (otherwise
                they come last, in either order).

        Returns:
            ``[{"run_id", "hyperparameters", "best_primary_metric", "status"}, ...]``.
        """
        if isinstance(top, bool) or not isinstance(top, int) or top < 0:
            raise InvalidArgumentError("top", top, "an int >= 0 (0: every child)")
        name, maximize = self._primary()
        self.flush()
        scored: list[dict[str, Any]] = []
        unscored: list[dict[str, Any]] = []
        for child in self.get_children():
            best = best_value(metric_values(child, name), maximize) if name else None
            entry = {"run_id": child.id,
                     "hyperparameters": json.loads(child.get_tags().get("runlog.sweep.hyperparameters", "{}")),
                     "best_primary_metric": best, "status": child.get_status()}
            (unscored if best is None else scored).append(entry)
        scored.sort(key=lambda e: e["best_primary_metric"], reverse=maximize != reverse)
        ordered = scored if discard_no_metric else scored + unscored
        return ordered[:top] if top else ordered

    def get_best_run_by_primary_metric(self, include_failed: bool = True, include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> Run | None:
        """The child with the best primary metric value (its best over all it logged), or None.

        Args:
            include_failed: consider Failed and Killed children too.
            include_canceled: consider Canceled children (those the policy stopped) too.
            include_resume_from_runs: accepted for Azure compatibility.
        """
        for entry in self.get_children_sorted_by_primary_metric(discard_no_metric=True):
            if (not include_failed and entry["status"] in (FAILED, KILLED)) \
                    or (not include_canceled and entry["status"] == CANCELED):
                continue
            return Run(self.experiment, entry["run_id"])
        return None


HyperDriveRun.__module__ = "runlog_core.hyperdrive"  # its public path


def space_tag(space: Mapping[str, Any]) -> str:
    """The parent's ``runlog.sweep`` tag: ``{name: [choice values] or {"uniform": [0, 1]}}``.

    A list is always the values (what a grid sweep's tag always held); any other expression is a dict.
    """
    shown = {key.lstrip("-"): list(e.args) if e.kind == "choice" else {e.kind: list(e.args)}
             for key, e in space.items()}
    return json.dumps(shown)


def start_hyperdrive(experiment: Experiment, config: Any, tags: Mapping[str, Any] | None = None,
                     name: str | None = None) -> HyperDriveRun:
    """Start ``config`` (a :class:`~.config.HyperDriveConfig`): the parent at once, children as it goes."""
    from runlog_core.hyperdrive.plan import HyperDrivePlan
    from runlog_core.submit.sweep import start_sweep

    sampling = config.hyperparameter_sampling
    policy = config.policy
    all_tags = {
        **(tags or {}),
        "runlog.sweep": space_tag(sampling.parameter_space),
        "runlog.sweep.space": json.dumps(sampling.to_json()),  # Azure's form, argument names as given
        "runlog.sweep.sampling": type(sampling).__name__,
        "runlog.sweep.policy": json.dumps(policy.to_json() if policy is not None else {"name": "NoTerminationPolicy"}),
        "runlog.sweep.max_total_runs": str(config.max_total_runs),
        "runlog.sweep.max_parallel": str(config.max_concurrent_runs),
    }
    if config.primary_metric_name is not None:
        all_tags["runlog.sweep.primary_metric"] = config.primary_metric_name
        all_tags["runlog.sweep.goal"] = config.primary_metric_goal.value.lower()
    plan = HyperDrivePlan(config)
    duration = None if config.max_duration_minutes is None else config.max_duration_minutes * 60.0
    parent = start_sweep(experiment, config.run_config, plan, config.max_concurrent_runs, all_tags,
                         name or config.custom_run_id, run_class=HyperDriveRun, max_duration=duration)
    assert isinstance(parent, HyperDriveRun)
    return parent
