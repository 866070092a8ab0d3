"""The Starlette application: the pages (all ``static/index.html``), ``/static/...`` and ``/api/...``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from runlog_core.exceptions import RunlogError

from ._api import Api, ApiError, error_response, json_response
from ._models import ModelsApi
from ._security import Guard

__all__ = ["STATIC", "build_app"]

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger(__name__)


def _endpoint(method: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """An API endpoint whose errors are JSON: ``ApiError`` as its status, a store's error as 503, a bug as 500."""

    def endpoint(request: Request) -> Response:
        try:
            return method(request)
        except ApiError as err:
            return error_response(err)
        except RunlogError as err:
            line = "; ".join(part.strip() for part in str(err).splitlines() if part.strip())
            return json_response({"error": line or type(err).__name__}, 503)
        except Exception as err:  # a bug of ours or of a store plugin: one line, the traceback in the log
            log.exception("runlog ui: %s failed", request.url.path)
            return json_response({"error": f"internal error: {err!r}"}, 500)

    return endpoint


def _page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-cache"})


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "not found", 405: "method not allowed"}.get(status, "error")
    return json_response({"error": f"{message}: {request.url.path}"}, status)


async def _internal(request: Request, exc: Exception) -> Response:
    """Starlette's answer to an error no endpoint caught: one JSON line (the traceback: the server's log)."""
    return json_response({"error": "internal error: the traceback is in the server's log"}, 500)


def build_app(store: Any, host: str = "127.0.0.1", token: str | None = None, embed: bool = False) -> Guard:
    """The whole app for ``store`` behind the security checks of :mod:`runlog_ui._security`."""
    api = Api(store)
    models = ModelsApi(store)
    get = ["GET", "HEAD"]
    routes = [
        Route("/", _page, methods=get),
        Route("/experiments/{experiment_id}", _page, methods=get),
        Route("/runs/{run_id}", _page, methods=get),
        Route("/compare", _page, methods=get),
        Route("/models", _page, methods=get),
        Route("/api/models", _endpoint(models.models), methods=get),
        Route("/api/runs/{run_id}/models", _endpoint(models.run_models), methods=get),
        Route("/api/experiments", _endpoint(api.experiments), methods=get),
        Route("/api/experiments/{experiment_id}/runs", _endpoint(api.runs), methods=get),
        Route("/api/experiments/{experiment_id}/keys", _endpoint(api.keys), methods=get),
        Route("/api/runs/{run_id}", _endpoint(api.run), methods=get),
        Route("/api/runs/{run_id}/live", _endpoint(api.live), methods=get),
        Route("/api/runs/{run_id}/params", _endpoint(api.params), methods=get),
        Route("/api/runs/{run_id}/tags", _endpoint(api.tags), methods=get),
        Route("/api/runs/{run_id}/metric", _endpoint(api.metric), methods=get),
        Route("/api/runs/{run_id}/series", _endpoint(api.series), methods=get),
        Route("/api/runs/{run_id}/log", _endpoint(api.log), methods=get),
        Route("/api/runs/{run_id}/files/{name:path}", _endpoint(api.file), methods=get),
        Route("/api/compare", _endpoint(api.compare), methods=get),
        Route("/api/compare/metric", _endpoint(api.compare_metric), methods=get),
        Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found, Exception: _internal})
    app.state.api = api
    return Guard(app, host, token, embed=embed)
