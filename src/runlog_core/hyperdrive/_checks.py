"""Argument checks the HyperDrive classes share: unknown keyword arguments, numbers, parameter spaces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runlog_core.exceptions import InvalidArgumentError
from runlog_core.hyperdrive.expressions import ParameterExpression

__all__ = ["check_int", "check_space", "no_unknown"]


def no_unknown(owner: str, unknown: Mapping[str, Any], accepted: str) -> None:
    """Refuse keyword arguments ``owner`` does not take, naming the first and what it accepts."""
    for name, value in unknown.items():
        raise InvalidArgumentError(f"{owner}({name}=...)", value, f"one of {owner}'s arguments: {accepted}")


def check_int(owner: str, name: str, value: object, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidArgumentError(f"{owner}({name}=...)", value, f"an int >= {low}" + (" or None" if allow_none else ""))
    return value


def check_space(owner: str, space: object) -> dict[str, ParameterExpression]:
    """A dict of argument name (``"--alpha"`` or ``"alpha"``) to a parameter expression."""
    if not isinstance(space, Mapping) or not space:
        raise InvalidArgumentError(f"{owner}(parameter_space=...)", space,
                                   'a non-empty dict of argument name to expression, e.g. {"--alpha": uniform(0, 1)}')
    checked: dict[str, ParameterExpression] = {}
    names: set[str] = set()
    for key, expression in space.items():
        if not isinstance(key, str) or not key.lstrip("-") or any(c.isspace() for c in key):
            raise InvalidArgumentError(f"{owner}(parameter_space) key", key, 'an argument name such as "--alpha"')
        if not isinstance(expression, ParameterExpression):
            raise InvalidArgumentError(f"{owner}(parameter_space[{key!r}])", expression,
                                       "a parameter expression: choice(...), uniform(...), ...")
        if key.lstrip("-") in names:
            raise InvalidArgumentError(f"{owner}(parameter_space) key", key, "each parameter once")
        names.add(key.lstrip("-"))
        checked[key] = expression
    return checked
