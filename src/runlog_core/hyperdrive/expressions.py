"""Azure's parameter expressions: ``choice``, ``randint``, ``uniform``, ``quniform``, ``loguniform``,
``qloguniform``, ``normal``, ``qnormal``, ``lognormal`` and ``qlognormal``, checked when written.

Each expression knows the Optuna distribution a sampler draws from and how that draw becomes the
value the script gets. ``loguniform(a, b)`` is ``exp(uniform(a, b))`` as in Azure (``a`` and ``b`` are
logarithms); the normal family draws ``u`` uniformly in (0, 1) and takes the normal quantile of
``u``, so a random draw has exactly the normal distribution and TPE models the same space. The
``q`` forms round as Azure does: ``round(value / q) * q``. Optuna is imported by :meth:`distribution`
only, when a sweep starts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

from runlog_core.exceptions import InvalidArgumentError

__all__ = ["ParameterExpression", "choice", "lognormal", "loguniform", "normal", "qlognormal",
           "qloguniform", "qnormal", "quniform", "randint", "uniform"]

_EDGE = 1e-12  # keeps the normal quantile finite


def _number(function: str, argument: str, value: object, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InvalidArgumentError(f"{function}({argument}=...)", value, "a finite number")
    if positive and float(value) <= 0:
        raise InvalidArgumentError(f"{function}({argument}=...)", value, "a number > 0")
    return float(value)


def _ordered(function: str, low: float, high: float) -> None:
    if low > high:
        raise InvalidArgumentError(f"{function}(min_value=...)", low,
                                   f"a number <= max_value ({high!r}); min_value > max_value is empty")


class ParameterExpression:
    """One parameter's distribution, as Azure writes it: ``["uniform", [0.0, 1.0]]``.

    Attributes:
        kind: the function's name (``"choice"``, ``"uniform"``...).
        args: its arguments (for ``choice``, the list of options).
    """

    def __init__(self, kind: str, args: list[Any]) -> None:
        self.kind, self.args = kind, args

    def __repr__(self) -> str:
        return f"{self.kind}({', '.join(map(repr, self.args))})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParameterExpression) and (other.kind, other.args) == (self.kind, self.args)

    def __hash__(self) -> int:
        return hash((self.kind, repr(self.args)))

    def to_json(self) -> list[Any]:
        """Azure's form: ``["choice", [[...]]]`` or ``["uniform", [0, 1]]``."""
        return [self.kind, [self.args] if self.kind == "choice" else list(self.args)]

    @property
    def is_discrete(self) -> bool:
        """True for ``choice`` (what a grid can enumerate)."""
        return self.kind == "choice"

    def distribution(self) -> Any:
        """The Optuna distribution a sampler draws this parameter from (before :meth:`value`)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(self.args)
        if self.kind == "randint":
            return IntDistribution(0, int(self.args[0]) - 1)
        if self.kind in ("uniform", "quniform", "loguniform", "qloguniform"):
            return FloatDistribution(float(self.args[0]), float(self.args[1]))
        return FloatDistribution(_EDGE, 1.0 - _EDGE)  # the normal family: the quantile u

    def value(self, drawn: Any) -> Any:
        """The script's value for what the sampler drew from :meth:`distribution`."""
        kind, args = self.kind, self.args
        if kind in ("choice", "randint", "uniform"):
            return drawn
        if kind in ("normal", "qnormal", "lognormal", "qlognormal"):
            drawn = NormalDist(args[0], args[1]).inv_cdf(min(max(float(drawn), _EDGE), 1.0 - _EDGE))
        if kind in ("loguniform", "qloguniform", "lognormal", "qlognormal"):
            drawn = math.exp(drawn)
        if kind.startswith("q"):
            q = args[2]
            drawn = round(drawn / q) * q
        return drawn


def choice(*options: Any) -> ParameterExpression:
    """One of ``options`` (``choice(1, 2, 3)`` or ``choice([1, 2, 3])``, ``choice(range(5))``).

    Raises:
        InvalidArgumentError: no options, or an option that is not a str, int, float or bool.
    """
    if len(options) == 1 and not isinstance(options[0], (str, bytes)) and isinstance(options[0], (Sequence, range)):
        options = tuple(options[0])
    if not options:
        raise InvalidArgumentError("choice(options)", list(options), "at least one value")
    for option in options:
        if option is not None and not isinstance(option, (str, int, float, bool)):
            raise InvalidArgumentError("choice(options)", option, "str, int, float or bool values")
    return ParameterExpression("choice", list(options))


def randint(upper: int) -> ParameterExpression:
    """An integer in ``[0, upper)``."""
    if isinstance(upper, bool) or not isinstance(upper, int) or upper < 1:
        raise InvalidArgumentError("randint(upper=...)", upper, "an int >= 1 (values are 0 .. upper-1)")
    return ParameterExpression("randint", [upper])


def uniform(min_value: float, max_value: float) -> ParameterExpression:
    """A value uniformly distributed between ``min_value`` and ``max_value``."""
    low, high = _number("uniform", "min_value", min_value), _number("uniform", "max_value", max_value)
    _ordered("uniform", low, high)
    return ParameterExpression("uniform", [low, high])


def quniform(min_value: float, max_value: float, q: float) -> ParameterExpression:
    """``round(uniform(min_value, max_value) / q) * q``."""
    low, high = _number("quniform", "min_value", min_value), _number("quniform", "max_value", max_value)
    _ordered("quniform", low, high)
    return ParameterExpression("quniform", [low, high, _number("quniform", "q", q, positive=True)])


def loguniform(min_value: float, max_value: float) -> ParameterExpression:
    """``exp(uniform(min_value, max_value))``: the logarithm of the value is uniform (Azure's meaning)."""
    low, high = _number("loguniform", "min_value", min_value), _number("loguniform", "max_value", max_value)
    _ordered("loguniform", low, high)
    return ParameterExpression("loguniform", [low, high])


def qloguniform(min_value: float, max_value: float, q: float) -> ParameterExpression:
    """``round(exp(uniform(min_value, max_value)) / q) * q``."""
    low, high = _number("qloguniform", "min_value", min_value), _number("qloguniform", "max_value", max_value)
    _ordered("qloguniform", low, high)
    return ParameterExpression("qloguniform", [low, high, _number("qloguniform", "q", q, positive=True)])


def normal(mu: float, sigma: float) -> ParameterExpression:
    """A normally distributed value with mean ``mu`` and standard deviation ``sigma``."""
    return ParameterExpression("normal", [_number("normal", "mu", mu), _number("normal", "sigma", sigma, True)])


def qnormal(mu: float, sigma: float, q: float) -> ParameterExpression:
    """``round(normal(mu, sigma) / q) * q``."""
    return ParameterExpression("qnormal", [_number("qnormal", "mu", mu), _number("qnormal", "sigma", sigma, True),
                                           _number("qnormal", "q", q, positive=True)])


def lognormal(mu: float, sigma: float) -> ParameterExpression:
    """``exp(normal(mu, sigma))``."""
    return ParameterExpression("lognormal", [_number("lognormal", "mu", mu),
                                             _number("lognormal", "sigma", sigma, True)])


def qlognormal(mu: float, sigma: float, q: float) -> ParameterExpression:
    """``round(exp(normal(mu, sigma)) / q) * q``."""
    return ParameterExpression("qlognormal", [_number("qlognormal", "mu", mu),
                                              _number("qlognormal", "sigma", sigma, True),
                                              _number("qlognormal", "q", q, positive=True)])
