"""What every API endpoint shares: its errors (:class:`ApiError`), its JSON answers and its query arguments."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runlog_core.views import json_ready

__all__ = ["ApiError", "error_response", "float_arg", "int_arg", "json_response"]


class ApiError(Exception):
    """An answer other than 200: its status and one line (and more fields for the JSON body)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def json_response(value: Any, status: int = 200) -> Response:
    body = json.dumps(json_ready(value), allow_nan=False, default=str, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})


def error_response(err: ApiError) -> Response:
    return json_response({"error": err.message, **err.extra}, err.status)


def int_arg(request: Request, name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}" if high is not None
                       else f"{name} must be {low} or more, got {value}")
    return value


def float_arg(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a number, got {raw!r}") from None
    if math.isnan(value):
        raise ApiError(400, f"{name} must be a number, got {raw!r}")
    return value
