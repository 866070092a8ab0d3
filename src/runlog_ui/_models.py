"""The model registry in the web UI (issue 20): ``/api/models`` and ``/api/runs/<run id>/models``
(docs/ui.md), read through the store contract's ``list_models``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ._http import ApiError, json_response

__all__ = ["ModelsApi"]


def _model(info: Any) -> dict[str, Any]:
    return {"name": info.name, "version": info.version, "run_id": info.run_id,
            "experiment_name": info.experiment_name, "path": info.path,
            "files": [{"name": name, "size": size} for name, size, _sha in info.files],
            "tags": info.tags, "properties": info.properties, "description": info.description,
            "created_time": info.created_time}


class ModelsApi:
    """The endpoints of the model registry over one store (a store without a registry lists none)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def _list(self, **where: Any) -> list[dict[str, Any]]:
        lister = getattr(self.store, "list_models", None)
        return [] if lister is None else [_model(info) for info in lister(**where)]

    def models(self, request: Request) -> Response:
        """Every model version, newest first; ``?name=`` only that model's."""
        name = request.query_params.get("name") or None
        return json_response({"models": self._list(name=name)})

    def run_models(self, request: Request) -> Response:
        """The model versions registered from one run, newest first."""
        run_id = request.path_params["run_id"]
        if self.store.get_run(run_id) is None and not self._list(run_id=run_id):
            raise ApiError(404, f"no run {run_id!r}")
        return json_response({"models": self._list(run_id=run_id)})
