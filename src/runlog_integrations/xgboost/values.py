"""XGBoost values as runlog stores them: a booster's parameters from its saved config,
evaluation results as numbers, and which process of a distributed training writes.

Helpers of :mod:`runlog_integrations.xgboost`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import xgboost

__all__ = ["booster_params", "config_value", "first_booster", "is_cv_pack", "put_result", "rank"]


def put_result(out: dict[str, Any], name: str, value: Any) -> None:
    """One evaluation result: a number, or under ``xgb.cv`` a (mean, std) pair as ``-mean``/``-std``."""
    if isinstance(value, tuple):
        out[f"{name}-mean"] = float(value[0])
        out[f"{name}-std"] = float(value[1])
    else:
        out[name] = float(value)


def config_value(text: Any) -> Any:
    """A config string as a number where it is one (float32 values shown as the user wrote them)."""
    if not isinstance(text, str):
        return text
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        return number if -(2**63) <= number < 2**63 else text
    try:
        value = float(text)
    except ValueError:
        return text
    # XGBoost stores float32: "0.300000012" is the user's 0.3
    return float(f"{value:.7g}") if value == value and abs(value) != float("inf") else value


def booster_params(config: str | Mapping[str, Any]) -> dict[str, Any]:
    """The training parameters in a booster's saved config, flat: ``{"max_depth": 3, ...}``.

    Takes the leaves of every ``*_param`` section except the model state ones
    (``*_model_param``: tree counts, base score), plus ``eval_metric`` and ``booster``.
    A name met twice with different values keeps its section as a prefix.
    """
    tree = json.loads(config) if isinstance(config, str) else config
    found: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if isinstance(value, Mapping):
                if key.endswith("_param") and not key.endswith("model_param"):
                    for name, leaf in value.items():
                        if isinstance(leaf, (Mapping, list)):
                            continue
                        converted = config_value(leaf)
                        if name in found and found[name] != converted:
                            found[f"{key}.{name}"] = converted
                        else:
                            found.setdefault(name, converted)
                else:
                    walk(value, f"{path}.{key}")

    learner = tree.get("learner", {}) if isinstance(tree, Mapping) else {}
    walk(learner, "learner")
    metrics = learner.get("metrics") if isinstance(learner, Mapping) else None
    if isinstance(metrics, list) and metrics:
        found["eval_metric"] = [m.get("name") for m in metrics if isinstance(m, Mapping)]
    return found


def is_cv_pack(model: Any) -> bool:
    return not isinstance(model, xgboost.Booster) and hasattr(model, "cvfolds")


def first_booster(model: Any) -> xgboost.Booster | None:
    if isinstance(model, xgboost.Booster):
        return model
    folds = getattr(model, "cvfolds", None)
    if folds:
        return getattr(folds[0], "bst", None)
    return None


def rank() -> int:
    try:
        from xgboost import collective

        return int(collective.get_rank())
    except Exception:  # not initialised, or an XGBoost without collective: a single process
        return 0
