"""The built-in integrations as plugins of the entry-point group ``runlog``, as a third party's would be.

``pyproject.toml`` names the objects below under ``[project.entry-points.runlog]``; runlog
loads them once, on first use of its plugin manager. Loading them is cheap: each imports its
integration module (and so its framework) only when ``autolog()`` selects it and the framework is
installed. The integration module then does the work in ``attach_autolog(config)``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

from runlog_core.hookspecs import hookimpl

__all__ = ["keras", "lightning", "optuna", "ray", "sklearn", "xgboost"]


class LazyIntegration:
    """Implements ``runlog_autolog`` for one framework by delegating to its integration module."""

    def __init__(self, name: str, frameworks: tuple[str, ...], module: str) -> None:
        self.name, self.frameworks, self.module = name, frameworks, module

    def __repr__(self) -> str:
        return f"LazyIntegration({self.name!r}, module={self.module!r})"

    def installed(self) -> bool:
        return any(importlib.util.find_spec(framework) is not None for framework in self.frameworks)

    @hookimpl
    def runlog_autolog(self, config: dict[str, Any]) -> None:
        # here, not at the top: every process that opens a store loads this plugin (issue 18: start-up)
        from runlog_core.integration import selected

        if not selected(config, self.name):
            return
        if config.get("disable"):
            module = sys.modules.get(self.module)  # never imported: nothing was attached
            if module is not None:
                module.attach_autolog(config)
            return
        if not self.installed():
            return
        try:
            module = importlib.import_module(self.module)
        except ImportError:  # the framework is there but broken or too old: nothing to attach
            return
        module.attach_autolog(config)


sklearn = LazyIntegration("sklearn", ("sklearn",), "runlog_integrations.sklearn")
xgboost = LazyIntegration("xgboost", ("xgboost",), "runlog_integrations.xgboost")
lightning = LazyIntegration("lightning", ("lightning", "pytorch_lightning"), "runlog_integrations.lightning")
keras = LazyIntegration("keras", ("keras",), "runlog_integrations.keras")
optuna = LazyIntegration("optuna", ("optuna",), "runlog_integrations.optuna")
ray = LazyIntegration("ray", ("ray",), "runlog_integrations.ray")
