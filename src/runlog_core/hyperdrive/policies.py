"""Azure's early-termination policies, with Azure's semantics.

Each time a child logs the primary metric counts as one interval. A policy is applied at interval
``k`` when ``k`` is a multiple of ``evaluation_interval`` and ``k >= delay_evaluation``; a running
child is judged at the latest such interval it reached, against every child (running or finished)
that reached that interval too, and is stopped (SIGTERM, then ``RUNLOG_STOP_GRACE``) when:

- :class:`BanditPolicy`: its best value up to ``k`` is not within the slack of the best value any
  child had up to ``k``: maximizing, ``best_k / (1 + slack_factor)`` or ``best_k - slack_amount``;
  minimizing, ``best_k * (1 + slack_factor)`` or ``best_k + slack_amount``.
- :class:`MedianStoppingPolicy`: its best value up to ``k`` is worse than the median of the children's
  running averages (the mean of their values at intervals 1..k).
- :class:`TruncationSelectionPolicy`: its value at ``k`` is among the lowest ``truncation_percentage``
  percent of the values at ``k`` (the count rounded down; finished children left out with
  ``exclude_finished_jobs=True``).
- :class:`NoTerminationPolicy`: never.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Sequence
from typing import Any

from runlog_core.exceptions import ConflictingArgumentsError, InvalidArgumentError
from runlog_core.hyperdrive._checks import check_int, no_unknown

__all__ = ["BanditPolicy", "EarlyTerminationPolicy", "MedianStoppingPolicy", "NoTerminationPolicy",
           "TruncationSelectionPolicy"]

Series = Sequence[float]


def _best(values: Series, maximize: bool) -> float:
    return max(values) if maximize else min(values)


class EarlyTerminationPolicy:
    """What the policies share: when they are applied (``evaluation_interval``, ``delay_evaluation``)."""

    _name = "EarlyTerminationPolicy"

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0) -> None:
        self.evaluation_interval = check_int(self._name, "evaluation_interval", evaluation_interval, 1)
        self.delay_evaluation = check_int(self._name, "delay_evaluation", delay_evaluation, 0)

    def interval_to_judge(self, reported: int) -> int | None:
        """The latest interval (1-based) up to ``reported`` at which the policy applies, or None."""
        assert self.evaluation_interval is not None
        k = reported - reported % self.evaluation_interval
        return k if k >= max(1, self.delay_evaluation or 0) else None

    def judge(self, candidate: Series, population: Sequence[tuple[Series, bool]], k: int,
              maximize: bool) -> str | None:
        """Why ``candidate`` (its values) must stop at interval ``k``, or None to let it go on.

        ``population`` is every child's values with ``finished``, the candidate included; each
        has reached ``k``.
        """
        return None

    def to_json(self) -> dict[str, Any]:
        return {"name": self._name, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}

    def __repr__(self) -> str:
        return f"{self._name}({', '.join(f'{k}={v!r}' for k, v in vars(self).items() if not k.startswith('_'))})"


class NoTerminationPolicy(EarlyTerminationPolicy):
    """Let every child run to its end."""

    _name = "NoTerminationPolicy"

    def __init__(self, **unknown: Any) -> None:
        no_unknown(self._name, unknown, "none")
        super().__init__()


class BanditPolicy(EarlyTerminationPolicy):
    """Stop a child whose best primary metric falls outside a slack of the best child's.

    Args:
        slack_factor: the allowed ratio (0.1: within 1/1.1 of the best when maximizing).
        slack_amount: the allowed absolute distance instead. Give exactly one of the two.
        evaluation_interval: apply the policy every N intervals (each primary-metric log is one).
        delay_evaluation: apply it first at interval N.

    Raises:
        ConflictingArgumentsError: both slack_factor and slack_amount, or neither.
        InvalidArgumentError: a slack that is not a number > 0, intervals that are not ints.
    """

    _name = "BanditPolicy"

    def __init__(self, evaluation_interval: int = 1, slack_factor: float | None = None,
                 slack_amount: float | None = None, delay_evaluation: int = 0, **unknown: Any) -> None:
        no_unknown(self._name, unknown, "evaluation_interval, slack_factor, slack_amount, delay_evaluation")
        super().__init__(evaluation_interval, delay_evaluation)
        if (slack_factor is None) == (slack_amount is None):
            raise ConflictingArgumentsError("BanditPolicy(slack_factor=...)", "slack_amount=...",
                                            "give exactly one of them")
        for name, value in (("slack_factor", slack_factor), ("slack_amount", slack_amount)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                      or not math.isfinite(value) or value <= 0):
                raise InvalidArgumentError(f"BanditPolicy({name}=...)", value, "a finite number > 0")
        self.slack_factor, self.slack_amount = slack_factor, slack_amount

    def judge(self, candidate: Series, population: Sequence[tuple[Series, bool]], k: int,
              maximize: bool) -> str | None:
        best = _best([_best(values[:k], maximize) for values, _ in population], maximize)
        mine = _best(candidate[:k], maximize)
        if self.slack_factor is not None:
            bound = best / (1 + self.slack_factor) if maximize else best * (1 + self.slack_factor)
            slack = f"slack_factor {self.slack_factor}"
        else:
            assert self.slack_amount is not None
            bound = best - self.slack_amount if maximize else best + self.slack_amount
            slack = f"slack_amount {self.slack_amount}"
        if (mine < bound) if maximize else (mine > bound):
            return (f"BanditPolicy at interval {k}: best {mine:g} is outside the {slack} of the best run's "
                    f"{best:g} (bound {bound:g})")
        return None


class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stop a child whose best value is worse than the median of the children's running averages.

    Args:
        evaluation_interval: apply the policy every N intervals (default 1).
        delay_evaluation: apply it first at interval N (default 5, as Azure).
    """

    _name = "MedianStoppingPolicy"

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 5, **unknown: Any) -> None:
        no_unknown(self._name, unknown, "evaluation_interval, delay_evaluation")
        super().__init__(evaluation_interval, delay_evaluation)

    def judge(self, candidate: Series, population: Sequence[tuple[Series, bool]], k: int,
              maximize: bool) -> str | None:
        median = statistics.median(statistics.fmean(values[:k]) for values, _ in population)
        mine = _best(candidate[:k], maximize)
        if (mine < median) if maximize else (mine > median):
            return (f"MedianStoppingPolicy at interval {k}: best {mine:g} is worse than the median "
                    f"{median:g} of {len(population)} runs' running averages")
        return None


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """Stop the children in the lowest ``truncation_percentage`` percent at each evaluation.

    Args:
        truncation_percentage: 1-99.
        evaluation_interval: apply the policy every N intervals.
        delay_evaluation: apply it first at interval N.
        exclude_finished_jobs: rank only children still running.
    """

    _name = "TruncationSelectionPolicy"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0,
                 exclude_finished_jobs: bool = False, **unknown: Any) -> None:
        no_unknown(self._name, unknown,
                   "truncation_percentage, evaluation_interval, delay_evaluation, exclude_finished_jobs")
        super().__init__(evaluation_interval, delay_evaluation)
        if isinstance(truncation_percentage, bool) or not isinstance(truncation_percentage, int) \
                or not 1 <= truncation_percentage <= 99:
            raise InvalidArgumentError("TruncationSelectionPolicy(truncation_percentage=...)",
                                       truncation_percentage, "an int from 1 to 99")
        if not isinstance(exclude_finished_jobs, bool):
            raise InvalidArgumentError("TruncationSelectionPolicy(exclude_finished_jobs=...)",
                                       exclude_finished_jobs, "True or False")
        self.truncation_percentage = truncation_percentage
        self.exclude_finished_jobs = exclude_finished_jobs

    def judge(self, candidate: Series, population: Sequence[tuple[Series, bool]], k: int,
              maximize: bool) -> str | None:
        ranked = [values[k - 1] for values, finished in population
                  if not (finished and self.exclude_finished_jobs) or values is candidate]
        cut = len(ranked) * self.truncation_percentage // 100
        if cut == 0:
            return None
        ranked.sort(reverse=not maximize)  # worst first
        mine = candidate[k - 1]
        if (mine < ranked[cut]) if maximize else (mine > ranked[cut]):
            return (f"TruncationSelectionPolicy at interval {k}: {mine:g} is in the lowest "
                    f"{self.truncation_percentage}% of {len(ranked)} runs")
        return None
