"""Azure's samplings: :class:`GridParameterSampling`, :class:`RandomParameterSampling` and
:class:`BayesianParameterSampling`, drawn by Optuna's grid, random and TPE samplers (ask/tell)."""

from __future__ import annotations

import math
from typing import Any

from runlog_core.exceptions import InvalidArgumentError
from runlog_core.hyperdrive._checks import check_space, no_unknown
from runlog_core.hyperdrive.expressions import ParameterExpression

__all__ = ["BayesianParameterSampling", "GridParameterSampling", "HyperParameterSampling",
           "RandomParameterSampling"]


class HyperParameterSampling:
    """What the samplings share: the parameter space (argument name -> expression)."""

    _name = "HyperParameterSampling"
    _allowed: tuple[str, ...] = ()  # the expressions this sampling takes; () for all

    def __init__(self, parameter_space: dict[str, ParameterExpression], properties: dict[str, Any] | None = None
                 ) -> None:
        self._parameter_space = check_space(self._name, parameter_space)
        for key, expression in self._parameter_space.items():
            if self._allowed and expression.kind not in self._allowed:
                raise InvalidArgumentError(f"{self._name}(parameter_space[{key!r}])", expression,
                                           f"one of {', '.join(self._allowed)} ({self._name} cannot sample "
                                           f"{expression.kind})")
        if properties is not None and not isinstance(properties, dict):
            raise InvalidArgumentError(f"{self._name}(properties=...)", properties, "a dict or None")
        self._properties = dict(properties or {})

    @property
    def parameter_space(self) -> dict[str, ParameterExpression]:
        """The argument names and their expressions."""
        return dict(self._parameter_space)

    def to_json(self) -> dict[str, Any]:
        """Azure's JSON of the space: ``{"--alpha": ["uniform", [0, 1]]}``."""
        return {key: expression.to_json() for key, expression in self._parameter_space.items()}

    def sampler(self) -> Any:
        """The Optuna sampler that draws this sampling's configurations."""
        raise NotImplementedError

    def size(self) -> int | None:
        """How many different configurations there are (``None``: no limit)."""
        return None

    def __repr__(self) -> str:
        return f"{self._name}({self._parameter_space!r})"


class GridParameterSampling(HyperParameterSampling):
    """Every combination of the ``choice`` values, once each (Azure: grid takes ``choice`` only).

    Raises:
        InvalidArgumentError: an expression other than ``choice`` (a grid over a continuous range).
    """

    _name = "GridParameterSampling"
    _allowed = ("choice",)

    def __init__(self, parameter_space: dict[str, ParameterExpression], properties: dict[str, Any] | None = None,
                 **unknown: Any) -> None:
        no_unknown(self._name, unknown, "parameter_space, properties")
        super().__init__(parameter_space, properties)

    def size(self) -> int:
        return math.prod(len(expression.args) for expression in self._parameter_space.values())

    def sampler(self) -> Any:
        import optuna

        return optuna.samplers.GridSampler({key: list(e.args) for key, e in self._parameter_space.items()},
                                           seed=self._properties.get("rngSeed"))


class RandomParameterSampling(HyperParameterSampling):
    """Independent random draws of every expression.

    Args:
        parameter_space: argument name -> expression.
        properties: Azure's properties; ``{"rngSeed": N}`` makes the draws repeatable.
        seed: the same as ``properties={"rngSeed": seed}`` (Azure SDK v2's name).
    """

    _name = "RandomParameterSampling"

    def __init__(self, parameter_space: dict[str, ParameterExpression], properties: dict[str, Any] | None = None,
                 seed: int | None = None, **unknown: Any) -> None:
        no_unknown(self._name, unknown, "parameter_space, properties, seed")
        super().__init__(parameter_space, properties)
        for key in self._properties:
            if key != "rngSeed":
                raise InvalidArgumentError(f"{self._name}(properties[{key!r}])", self._properties[key],
                                           'only "rngSeed" (an int)')
        if seed is not None:
            self._properties["rngSeed"] = seed
        rng = self._properties.get("rngSeed")
        if rng is not None and (isinstance(rng, bool) or not isinstance(rng, int)):
            raise InvalidArgumentError(f"{self._name}(seed=...)", rng, "an int or None")

    def sampler(self) -> Any:
        import optuna

        return optuna.samplers.RandomSampler(seed=self._properties.get("rngSeed"))


class BayesianParameterSampling(HyperParameterSampling):
    """Each draw informed by the children finished so far (Optuna's TPE sampler).

    Azure's rules hold: ``choice``, ``uniform`` and ``quniform`` only, and no early-termination
    policy (checked by :class:`HyperDriveConfig`).
    """

    _name = "BayesianParameterSampling"
    _allowed = ("choice", "uniform", "quniform")

    def __init__(self, parameter_space: dict[str, ParameterExpression], properties: dict[str, Any] | None = None,
                 **unknown: Any) -> None:
        no_unknown(self._name, unknown, "parameter_space, properties")
        super().__init__(parameter_space, properties)

    def sampler(self) -> Any:
        import optuna

        return optuna.samplers.TPESampler(seed=self._properties.get("rngSeed"), n_startup_trials=5)
