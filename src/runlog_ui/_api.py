"""The JSON API under ``/api/`` (docs/ui.md): every read goes through the public store contract.

Endpoints are plain functions of the request run in Starlette's thread pool (store reads block).
A request with a bad argument gets 400 and ``{"error": ...}``, an unknown experiment, run, metric
or file 404; NaN and infinities are sent as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

import json
import math
import mimetypes
import threading
import time
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from runlog_core.exceptions import FilterSyntaxError, RunlogError
from runlog_core.store import BOOL, NUMBER, STR, check_artifact_name, parse_filter, parse_order_by
from runlog_core.views import choose_columns, json_ready, named_fields, parse_columns

from ._downsample import ColumnCache, downsample

__all__ = ["Api", "ApiError"]

SCALAR = (NUMBER, BOOL)  # what a chart draws
LATEST = (NUMBER, BOOL, STR)  # what a runs table shows as a metric's latest value
MAX_LIMIT = 1000
KEYS_SCAN = 500  # runs whose keys the column picker offers (the newest)
LOG_TAIL = 64 * 1024
LOG_CHUNK = 1024 * 1024
INLINE = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif", "text/plain",
          "text/csv", "text/markdown", "application/json", "application/pdf"}
TEXT_TYPES = {".log": "text/plain", ".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv",
              ".json": "application/json", ".yaml": "text/plain", ".yml": "text/plain", ".jsonl": "text/plain"}


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


def _int(request: Request, name: str, default: int, low: int = 0, high: int | None = None) -> int:
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


def _float(request: Request, name: str) -> float | None:
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


def _duration(start: float, end: float | None) -> float:
    return (end if end is not None else time.time()) - start


class Api:
    """The API's endpoints over one store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.columns = ColumnCache(store)
        self._keys: dict[int, tuple[float, int, dict[str, list[str]], int]] = {}
        self._lock = threading.Lock()

    # -- helpers ----------------------------------------------------------------------------

    def _experiment(self, raw: str) -> int:
        try:
            experiment_id = int(raw)
        except ValueError:
            raise ApiError(404, f"no experiment {raw!r}") from None
        if experiment_id not in {e for e, _name in self.store.list_experiments()}:
            raise ApiError(404, f"no experiment {experiment_id}")
        return experiment_id

    def _run(self, run_id: str) -> Any:
        info = self.store.get_run(run_id)
        if info is None:
            raise ApiError(404, f"no run {run_id!r}")
        return info

    def _series(self, run_id: str, name: str | None) -> Any:
        if not name:
            raise ApiError(400, "give the series' name: ?name=...")
        for series in self.store.get_series(run_id):
            if series.name == name:
                return series
        raise ApiError(404, f"run {run_id!r} has no metric {name!r}")

    def _row(self, info: Any, children: int) -> dict[str, Any]:
        return {"id": info.id, "name": info.name, "status": info.status, "start_time": info.start_time,
                "end_time": info.end_time, "duration": _duration(info.start_time, info.end_time),
                "parent_id": info.parent_id, "children": children}

    def _latest(self, run_id: str) -> dict[str, Any]:
        return {s.name: s.last_value for s in self.store.get_series(run_id) if s.kind in LATEST}

    # -- experiments and runs ---------------------------------------------------------------

    def experiments(self, request: Request) -> Response:
        out = []
        for experiment_id, name in self.store.list_experiments():
            runs = self.store.list_runs(experiment_id=experiment_id)
            out.append({"id": experiment_id, "name": name, "runs": len(runs),
                        "running": sum(1 for r in runs if r.status == "Running"),
                        "last_start": max((r.start_time for r in runs), default=None)})
        return json_response({"experiments": out})

    def runs(self, request: Request) -> Response:
        experiment_id = self._experiment(request.path_params["experiment_id"])
        query = request.query_params
        offset = _int(request, "offset", 0)
        limit = _int(request, "limit", 100, 1, MAX_LIMIT)
        text = query.get("filter", "").strip()
        try:
            expression = parse_filter(text) if text else None
        except FilterSyntaxError as err:
            raise ApiError(400, f"{err.message} at character {err.position + 1}", filter=err.text,
                           position=err.position) from None
        sort = query.get("sort", "").strip()
        try:
            order_by = parse_order_by(sort) if sort else []
        except FilterSyntaxError as err:
            raise ApiError(400, f"sort: {err.message} at character {err.position + 1}", sort=err.text,
                           position=err.position) from None
        asked = query.get("columns")
        try:
            wanted = [c for c in parse_columns(asked) if "." in c] if asked and asked.strip() else None
        except RunlogError as err:
            raise ApiError(400, str(err)) from None
        parent = query.get("parent")
        counts: dict[str, int] | None = None
        if parent:
            self._run(parent)
            if order_by:
                infos = [i for i in self.store.search_runs(None, order_by, experiment_id) if i.parent_id == parent]
            else:
                infos = self.store.list_runs(parent_id=parent)
        else:
            infos = self.store.search_runs(expression, order_by, experiment_id)
            # children counted from the whole experiment when the filter may have left some out
            everyone = infos if expression is None else self.store.list_runs(experiment_id=experiment_id)
            found: dict[str, int] = {}
            for info in everyone:
                if info.parent_id is not None:
                    found[info.parent_id] = found.get(info.parent_id, 0) + 1
            counts = found
            if query.get("children") != "1":
                infos = [i for i in infos if i.parent_id is None]
        page = infos[offset:offset + limit]
        if counts is None:
            counts = {i.id: len(self.store.list_runs(parent_id=i.id)) for i in page}
        latest = {i.id: self._latest(i.id) for i in page}
        if wanted is None:
            chosen = choose_columns(named_fields(expression, order_by), (latest[i.id] for i in page), 4)
            wanted = [c for c in chosen if "." in c]
        need_params = any(c.startswith("params.") for c in wanted)
        need_tags = any(c.startswith("tags.") for c in wanted)
        rows = []
        for info in page:
            row = self._row(info, counts.get(info.id, 0))
            params = self.store.get_params(info.id) if need_params else {}
            tags = self.store.get_tags(info.id) if need_tags else {}
            sources = {"metrics": latest[info.id], "params": params, "tags": tags}
            row.update({"metrics": {}, "params": {}, "tags": {}})
            for column in wanted:
                namespace, _dot, key = column.partition(".")
                if key in sources[namespace]:
                    row[namespace][key] = sources[namespace][key]
            rows.append(row)
        return json_response({"total": len(infos), "offset": offset, "limit": limit, "runs": rows, "columns": wanted})

    def keys(self, request: Request) -> Response:
        experiment_id = self._experiment(request.path_params["experiment_id"])
        needle = request.query_params.get("q", "").strip().lower()
        limit = _int(request, "limit", 200, 1, 10_000)
        keys, scanned, total = self._experiment_keys(experiment_id)
        out: dict[str, Any] = {}
        truncated = False
        for namespace in ("metrics", "params", "tags"):
            found = [k for k in keys[namespace] if needle in k.lower()]
            truncated = truncated or len(found) > limit
            out[namespace] = found[:limit]
        out.update(truncated=truncated, scanned=scanned, runs=total)
        return json_response(out)

    def _experiment_keys(self, experiment_id: int) -> tuple[dict[str, list[str]], int, int]:
        """The keys of the experiment's newest :data:`KEYS_SCAN` runs, cached while its run count holds (10 s)."""
        infos = self.store.list_runs(experiment_id=experiment_id)
        with self._lock:
            cached = self._keys.get(experiment_id)
        if cached is not None and cached[1] == len(infos) and time.monotonic() - cached[0] < 10:
            return cached[2], cached[3], len(infos)
        metrics: dict[str, None] = {}
        params: dict[str, None] = {}
        tags: dict[str, None] = {}
        scanned = infos[:KEYS_SCAN]
        for info in scanned:
            metrics.update(dict.fromkeys(s.name for s in self.store.get_series(info.id) if s.kind in LATEST))
            params.update(dict.fromkeys(self.store.get_params(info.id)))
            tags.update(dict.fromkeys(self.store.get_tags(info.id)))
        keys = {"metrics": sorted(metrics, key=str.lower), "params": sorted(params, key=str.lower),
                "tags": sorted(tags, key=str.lower)}
        with self._lock:
            self._keys[experiment_id] = (time.monotonic(), len(infos), keys, len(scanned))
        return keys, len(scanned), len(infos)

    # -- one run ----------------------------------------------------------------------------

    def _series_rows(self, run_id: str) -> list[dict[str, Any]]:
        return [{"name": s.name, "kind": s.kind, "count": self.store.count_points(s.id), "last_step": s.last_step,
                 "last_value": s.last_value, "last_time": s.last_time, "description": s.description}
                for s in self.store.get_series(run_id)]

    def run(self, request: Request) -> Response:
        info = self._run(request.path_params["run_id"])
        children = self.store.list_runs(parent_id=info.id)
        return json_response({
            "id": info.id, "name": info.name, "experiment_id": info.experiment_id,
            "experiment_name": info.experiment_name, "status": info.status, "start_time": info.start_time,
            "end_time": info.end_time, "heartbeat": info.heartbeat,
            "duration": _duration(info.start_time, info.end_time), "error": info.error,
            "parent_id": info.parent_id, "host": info.host, "pid": info.pid,
            "params": self.store.get_params(info.id), "tags": self.store.get_tags(info.id),
            "series": self._series_rows(info.id),
            "children": [{"id": c.id, "name": c.name, "status": c.status} for c in children],
            "files": [{"name": a.name, "size": a.size, "time": a.time} for a in self.store.get_artifacts(info.id)],
        })

    def live(self, request: Request) -> Response:
        info = self._run(request.path_params["run_id"])
        return json_response({"status": info.status, "end_time": info.end_time, "heartbeat": info.heartbeat,
                              "duration": _duration(info.start_time, info.end_time), "error": info.error,
                              "series": self._series_rows(info.id),
                              "files": len(self.store.get_artifacts(info.id))})

    def _chart(self, run_id: str, request: Request) -> dict[str, Any]:
        series = self._series(run_id, request.query_params.get("name"))
        if series.kind not in SCALAR:
            raise ApiError(400, f"{series.name!r} is a {series.kind} series, not a number: "
                                "read it from /api/runs/<id>/series")
        axis = request.query_params.get("x", "step") or "step"
        if axis not in ("step", "time"):
            raise ApiError(400, f"x must be step or time, got {axis!r}")
        width = _int(request, "width", 1000, 1, 10_000)
        start, end = _float(request, "start"), _float(request, "end")
        since = request.query_params.get("since")
        cursor = _int(request, "since", 0) if since not in (None, "") else None
        count = self.store.count_points(series.id)
        columns = self.columns.get(series.id, count)
        answer = downsample(columns, axis, width, start, end, cursor)
        return {"name": series.name, "count": columns.count, **answer}

    def metric(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        self._run(run_id)
        return json_response(self._chart(run_id, request))

    def series(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        self._run(run_id)
        series = self._series(run_id, request.query_params.get("name"))
        offset = _int(request, "offset", 0)
        limit = _int(request, "limit", 500, 1, 5000)
        if series.kind in SCALAR:
            columns = self.columns.get(series.id, self.store.count_points(series.id))
            count = columns.count
            steps = columns.steps[offset:offset + limit].tolist()
            values = columns.values[offset:offset + limit].tolist()
            times = columns.times[offset:offset + limit].tolist()
            points = [{"step": s, "value": v, "time": t} for s, v, t in zip(steps, values, times)]
        else:
            every = self.store.get_points(series.id)
            count = len(every)
            points = [{"step": s, "value": v, "time": t} for s, v, t in every[offset:offset + limit]]
        return json_response({"name": series.name, "kind": series.kind, "count": count, "offset": offset,
                              "points": points})

    # -- files and logs ---------------------------------------------------------------------

    def _artifact(self, run_id: str, name: str) -> Any:
        self._run(run_id)
        try:
            check_artifact_name(name)
        except RunlogError:
            raise ApiError(404, "no such file") from None
        for artifact in self.store.get_artifacts(run_id):
            if artifact.name == name:
                return artifact
        raise ApiError(404, f"run {run_id!r} has no file {name!r}")

    def file(self, request: Request) -> Response:
        run_id, name = request.path_params["run_id"], request.path_params["name"]
        artifact = self._artifact(run_id, name)
        stream = self.store.artifacts.open(run_id, artifact.name)
        kind = _content_type(artifact.name)
        base = kind.split(";")[0]
        filename = artifact.name.rsplit("/", 1)[-1]
        from urllib.parse import quote

        disposition = "inline" if base in INLINE else "attachment"
        headers = {"content-disposition": f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}",
                   "cache-control": "no-cache"}
        try:
            size = stream.seek(0, 2)
            stream.seek(0)
            headers["content-length"] = str(size)
        except (OSError, AttributeError, ValueError):
            pass

        def chunks() -> Iterator[bytes]:
            try:
                while True:
                    chunk = stream.read(256 * 1024)
                    if not chunk:
                        return
                    yield chunk
            finally:
                stream.close()

        if request.method == "HEAD":
            stream.close()
            return Response(b"", media_type=kind, headers=headers)
        return StreamingResponse(chunks(), media_type=kind, headers=headers)

    def log(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        name = request.query_params.get("name") or "logs/std_log.txt"
        artifact = self._artifact(run_id, name)
        asked = request.query_params.get("offset")
        with self.store.artifacts.open(run_id, artifact.name) as stream:
            try:
                size = stream.seek(0, 2)
                seekable = True
            except (OSError, AttributeError, ValueError):
                data = stream.read()
                size, seekable = len(data), False
            offset = max(0, size - LOG_TAIL) if asked in (None, "") else min(_int(request, "offset", 0), size)
            if seekable:
                stream.seek(offset)
                data = stream.read(min(LOG_CHUNK, size - offset))
            else:
                data = data[offset:offset + LOG_CHUNK]
        start = 0
        if asked in (None, "") and offset > 0:  # a tail may start inside a line (and a character): from the next line
            newline = data.find(b"\n")
            start = newline + 1 if 0 <= newline < len(data) - 1 else 0
        while start < len(data) and start < 4 and (data[start] & 0xC0) == 0x80:
            start += 1
        end = len(data)
        for back in range(1, min(4, end - start) + 1):  # an unfinished character at the end waits for the next call
            byte = data[end - back]
            if byte & 0xC0 == 0xC0:
                need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
                if back < need:
                    end -= back
                break
            if byte & 0x80 == 0:
                break
        text = data[start:end].decode("utf-8", errors="replace")
        return json_response({"name": artifact.name, "offset": offset + start, "next": offset + end, "size": size,
                              "text": text})

    # -- compare ----------------------------------------------------------------------------

    def _compared(self, request: Request) -> list[Any]:
        ids = [i for i in (request.query_params.get("runs") or "").split(",") if i.strip()]
        if not 2 <= len(ids) <= 20:
            raise ApiError(400, f"give 2 to 20 runs to compare: ?runs=<id>,<id>,... (got {len(ids)})")
        return [self._run(i.strip()) for i in ids]

    def compare(self, request: Request) -> Response:
        infos = self._compared(request)
        params = [self.store.get_params(i.id) for i in infos]
        metrics = [self._latest(i.id) for i in infos]

        def side_by_side(per_run: list[dict[str, Any]]) -> dict[str, list[Any]]:
            keys = dict.fromkeys(k for values in per_run for k in values)
            return {k: [values.get(k) for values in per_run] for k in keys}

        table = {"params": side_by_side(params), "metrics": side_by_side(metrics)}
        differs = {ns: [k for k, row in rows.items()
                        if len({json.dumps(json_ready(v), sort_keys=True, default=str) for v in row}) > 1]
                   for ns, rows in table.items()}
        runs = [{**self._row(i, len(self.store.list_runs(parent_id=i.id))), "experiment_id": i.experiment_id,
                 "experiment_name": i.experiment_name} for i in infos]
        return json_response({"runs": runs, **table, "differs": differs})

    def compare_metric(self, request: Request) -> Response:
        infos = self._compared(request)
        name = request.query_params.get("name")
        out = []
        for info in infos:
            try:
                chart = self._chart(info.id, request)
            except ApiError as err:
                if err.status != 404:
                    raise
                continue  # a run without that metric: no curve
            out.append({"run": info.id, "name": info.name, "x": chart["x"], "y": chart["y"],
                        "count": chart["count"], "downsampled": chart["downsampled"]})
        return json_response({"name": name, "series": out})


def _content_type(name: str) -> str:
    lowered = name.lower()
    suffix = lowered[lowered.rfind("."):] if "." in lowered.rsplit("/", 1)[-1] else ""
    kind = TEXT_TYPES.get(suffix) or mimetypes.guess_type(lowered)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind == "application/json":
        kind += "; charset=utf-8"
    return kind
