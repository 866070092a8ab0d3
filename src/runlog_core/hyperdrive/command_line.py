"""What ``runlog submit --sweep ... --sampling ... --policy ...`` says, as HyperDrive objects.

``--sweep alpha=0.1,0.5`` is a ``choice`` of the texts ``"0.1"`` and ``"0.5"`` (the script gets them as
written; the children's params are the numbers); ``--sweep alpha=uniform(0,1)`` and the other
expressions take numbers. ``--policy`` is ``bandit:SLACK_FACTOR[:INTERVAL[:DELAY]]``,
``median[:INTERVAL[:DELAY]]``, ``truncation:PERCENT[:INTERVAL[:DELAY]]`` or ``none``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from runlog_core.exceptions import InvalidArgumentError
from runlog_core.hyperdrive import expressions
from runlog_core.hyperdrive.expressions import ParameterExpression, choice
from runlog_core.hyperdrive.policies import (
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    TruncationSelectionPolicy,
)
from runlog_core.hyperdrive.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    HyperParameterSampling,
    RandomParameterSampling,
)

__all__ = ["parse_policy", "parse_space", "sampling_for"]

_FUNCTIONS = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
              "lognormal", "qlognormal")
_CALL = re.compile(r"^([a-z]+)\((.*)\)$")
_SPEC_HINT = "NAME=V1,V2,... or NAME=uniform(0,1) (also randint, quniform, loguniform, normal, ...)"


def _number(text: str, spec: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise InvalidArgumentError("--sweep", spec, f"numbers inside the expression ({text!r} is not)") from None


def parse_space(specs: Sequence[str]) -> dict[str, ParameterExpression]:
    """``["alpha=0.1,0.5", "l1=uniform(0,1)"]`` -> ``{"alpha": choice("0.1", "0.5"), "l1": uniform(0, 1)}``.

    Raises:
        InvalidArgumentError: a spec that is neither form (naming ``--sweep``), a name given twice,
            or an expression's own error (min > max...).
    """
    space: dict[str, ParameterExpression] = {}
    for spec in specs:
        name, eq, text = spec.partition("=")
        name, text = name.strip(), text.strip()
        if not eq or not name or name.startswith("-") or not text:
            raise InvalidArgumentError("--sweep", spec, _SPEC_HINT)
        if name in space:
            raise InvalidArgumentError("--sweep", spec, f"each name once ({name!r} is given twice)")
        call = _CALL.match(text)
        if call and call.group(1) in _FUNCTIONS:
            items = [item.strip() for item in call.group(2).split(",")]
            if not all(items):
                raise InvalidArgumentError("--sweep", spec, _SPEC_HINT)
            if call.group(1) == "choice":
                space[name] = choice(items)
                continue
            try:
                space[name] = getattr(expressions, call.group(1))(*[_number(item, spec) for item in items])
            except TypeError as err:
                if isinstance(err, InvalidArgumentError):
                    raise
                raise InvalidArgumentError("--sweep", spec, f"{call.group(1)} with its arguments: {err}") from None
            continue
        items = [item.strip() for item in text.split(",")]
        if not all(items):
            raise InvalidArgumentError("--sweep", spec, _SPEC_HINT)
        space[name] = choice(items)
    return space


def sampling_for(name: str, space: dict[str, ParameterExpression], seed: int | None = None) -> HyperParameterSampling:
    """The sampling ``--sampling NAME`` means (``grid``, ``random`` or ``bayesian``)."""
    if name == "grid":
        return GridParameterSampling(space)
    if name == "random":
        return RandomParameterSampling(space, seed=seed)
    if name == "bayesian":
        return BayesianParameterSampling(space)
    raise InvalidArgumentError("--sampling", name, "grid, random or bayesian")


def parse_policy(text: str | None) -> EarlyTerminationPolicy | None:
    """``"bandit:0.1:1"`` -> ``BanditPolicy(slack_factor=0.1, evaluation_interval=1)``; ``None``/``"none"`` -> None."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    kind, *fields = [part.strip() for part in text.strip().lower().split(":")]
    hint = ("bandit:SLACK_FACTOR[:INTERVAL[:DELAY]], median[:INTERVAL[:DELAY]], "
            "truncation:PERCENT[:INTERVAL[:DELAY]] or none")
    first = 0 if kind == "median" else 1  # median has no leading number
    if kind not in ("bandit", "median", "truncation") or len(fields) < first or len(fields) > first + 2:
        raise InvalidArgumentError("--policy", text, hint)
    try:
        lead = float(fields[0]) if first else 0.0
        interval = int(fields[first]) if len(fields) > first else 1
        delay = int(fields[first + 1]) if len(fields) > first + 1 else None
        if kind == "bandit":
            return BanditPolicy(slack_factor=lead, evaluation_interval=interval, delay_evaluation=delay or 0)
        if kind == "median":
            return MedianStoppingPolicy(evaluation_interval=interval, delay_evaluation=5 if delay is None else delay)
        if not lead.is_integer():
            raise InvalidArgumentError("--policy", text, f"{hint} (PERCENT a whole number 1-99)")
        return TruncationSelectionPolicy(int(lead), evaluation_interval=interval, delay_evaluation=delay or 0)
    except ValueError:
        raise InvalidArgumentError("--policy", text, f"{hint}: numbers, INTERVAL and DELAY whole") from None
    except InvalidArgumentError as err:
        if err.argument == "--policy":
            raise
        raise InvalidArgumentError("--policy", text, f"{hint} ({err})") from None
