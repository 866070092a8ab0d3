"""The JSON API under ``/api/`` (docs/ui.md): every read goes through the public store contract.

Endpoints are plain functions of the request run in Starlette's thread pool (store reads block).
A request with a bad argument gets 400 and ``{"error": ...}``, an unknown experiment, run, metric
or file 404; NaN and infinities are sent as the strings "NaN", "Infinity" and "-Infinity".
What may be huge goes a page at a time (:mod:`._pages`: a run's params and tags, compare's keys, a
series' points); files and logs are streamed by :mod:`._files`; errors and arguments are :mod:`._http`'s.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runlog_core.exceptions import FilterSyntaxError, RunlogError
from runlog_core.store import BOOL, NUMBER, STR, check_artifact_name, parse_filter, parse_order_by
from runlog_core.views import choose_columns, json_ready, named_fields, parse_columns, ui_db_connections

from ._downsample import ColumnCache, downsample
from ._files import file_response, log_response
from ._http import ApiError, error_response, float_arg, int_arg, json_response
from ._pages import KEYS_PAGE, MAX_KEYS_PAGE, dict_page, key_page, points_page, side_by_side

__all__ = ["Api", "ApiError", "error_response", "json_response"]

SCALAR = (NUMBER, BOOL)  # what a chart draws
LATEST = (NUMBER, BOOL, STR)  # what a runs table shows as a metric's latest value
MAX_LIMIT = 1000
KEYS_SCAN = 500  # runs whose keys the column picker offers (the newest)
KEYS_PER_RUN = 2000  # params and tags the column picker takes from each of them (the first by key)
IDLE_SECONDS = 10.0  # a store's connection to its server unused that long is closed (PostgreSQL)


def _duration(start: float, end: float | None) -> float:
    return (end if end is not None else time.time()) - start


class Api:
    """The API's endpoints over one store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        bound = getattr(store, "limit_connections", None)
        if callable(bound):  # a server's store (PostgreSQL): a few connections, not one per request thread
            bound(ui_db_connections(), IDLE_SECONDS)
        self.columns = ColumnCache(store)
        self._keys: dict[int, tuple[float, int, dict[str, list[str]], int, bool]] = {}
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
        """The run with id ``run_id``, or with a unique id prefix ``run_id`` (as ``runlog`` commands take it)."""
        info = self.store.get_run(run_id)
        if info is not None:
            return info
        found = [i for i in self.store.find_run_ids(run_id) if i.startswith(run_id)] if run_id else []
        if len(found) == 1 and (info := self.store.get_run(found[0])) is not None:
            return info
        if len(found) > 1:
            raise ApiError(409, f"{run_id!r} is the start of {len(found)}{'+' if len(found) >= 20 else ''} run ids "
                                f"({', '.join(found[:3])}...): give more of the id", matches=found[:20])
        raise ApiError(404, f"no run {run_id!r}")

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
        running = parse_filter("status = 'Running'")
        for experiment_id, name in self.store.list_experiments():
            # issue 21: counted by the store, not read run by run (an experiment of 100,000 runs: 0.6 s)
            runs = self.store.count_runs(None, experiment_id)
            newest = self.store.search_runs(None, [], experiment_id, limit=1)  # newest first: the latest start
            out.append({"id": experiment_id, "name": name, "runs": runs,
                        "children": runs - self.store.count_runs(None, experiment_id, include_children=False),
                        "running": self.store.count_runs(running, experiment_id),
                        "last_start": newest[0].start_time if newest else None})
        return json_response({"experiments": out})

    def runs(self, request: Request) -> Response:
        experiment_id = self._experiment(request.path_params["experiment_id"])
        query = request.query_params
        offset = int_arg(request, "offset", 0)
        limit = int_arg(request, "limit", 100, 1, MAX_LIMIT)
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
        # issue 21: the store finds the page, counts the runs and the page's children; nothing is read
        # per run of the experiment
        if parent:
            self._run(parent)
            # a run's children in any experiment, newest first; sorted, those of this experiment (as before)
            within = experiment_id if order_by else None
            page = self.store.search_runs(None, order_by, within, parent_id=parent, offset=offset, limit=limit)
            total = self.store.count_runs(None, within, parent_id=parent)
            counts = self.store.count_children([i.id for i in page])
        else:
            everyone = query.get("children") == "1"
            page = self.store.search_runs(expression, order_by, experiment_id, include_children=everyone,
                                          offset=offset, limit=limit)
            total = self.store.count_runs(expression, experiment_id, include_children=everyone)
            # children counted whether or not the filter matches them
            counts = self.store.count_children([i.id for i in page], experiment_id)
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
        return json_response({"total": total, "offset": offset, "limit": limit, "runs": rows, "columns": wanted})

    def keys(self, request: Request) -> Response:
        experiment_id = self._experiment(request.path_params["experiment_id"])
        needle = request.query_params.get("q", "").strip().lower()
        limit = int_arg(request, "limit", 200, 1, 10_000)
        keys, scanned, total, cut = self._experiment_keys(experiment_id)
        out: dict[str, Any] = {}
        truncated = cut
        for namespace in ("metrics", "params", "tags"):
            found = [k for k in keys[namespace] if needle in k.lower()]
            truncated = truncated or len(found) > limit
            out[namespace] = found[:limit]
        out.update(truncated=truncated, scanned=scanned, runs=total)
        return json_response(out)

    def _experiment_keys(self, experiment_id: int) -> tuple[dict[str, list[str]], int, int, bool]:
        """The keys of the experiment's newest :data:`KEYS_SCAN` runs, cached while its run count holds (10 s);
        and whether a run had more than :data:`KEYS_PER_RUN` params or tags (the rest are left out)."""
        infos = self.store.list_runs(experiment_id=experiment_id)
        with self._lock:
            cached = self._keys.get(experiment_id)
        if cached is not None and cached[1] == len(infos) and time.monotonic() - cached[0] < 10:
            return cached[2], cached[3], len(infos), cached[4]
        metrics: dict[str, None] = {}
        params: dict[str, None] = {}
        tags: dict[str, None] = {}
        scanned = infos[:KEYS_SCAN]
        cut = False
        for info in scanned:
            metrics.update(dict.fromkeys(s.name for s in self.store.get_series(info.id) if s.kind in LATEST))
            for namespace, found in (("params", params), ("tags", tags)):
                values, count = key_page(self.store, namespace, info.id, None, KEYS_PER_RUN, None)
                found.update(dict.fromkeys(values))
                cut = cut or count > len(values)
        keys = {"metrics": sorted(metrics, key=str.lower), "params": sorted(params, key=str.lower),
                "tags": sorted(tags, key=str.lower)}
        with self._lock:
            self._keys[experiment_id] = (time.monotonic(), len(infos), keys, len(scanned), cut)
        return keys, len(scanned), len(infos), cut

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
            "parent_id": info.parent_id, "host": info.host, "pid": info.pid, "deleted_time": info.deleted_time,
            **self._keys_page("params", info.id, None, KEYS_PAGE, None, "params_"),
            **self._keys_page("tags", info.id, None, KEYS_PAGE, None, "tags_"),
            "series": self._series_rows(info.id),
            "children": [{"id": c.id, "name": c.name, "status": c.status} for c in children],
            "files": [{"name": a.name, "size": a.size, "time": a.time} for a in self.store.get_artifacts(info.id)],
        })

    def _keys_page(self, namespace: str, run_id: str, after: str | None, limit: int, contains: str | None,
                   prefix: str = "") -> dict[str, Any]:
        """``{namespace: {...}, total, next}`` (names prefixed): a page of the run's params or tags by key."""
        values, total = key_page(self.store, namespace, run_id, after, limit, contains)
        more = len(values) >= limit and bool(values)
        return {namespace: values, f"{prefix}total": total, f"{prefix}next": list(values)[-1] if more else None}

    def params(self, request: Request) -> Response:
        return self._keys_endpoint("params", request)

    def tags(self, request: Request) -> Response:
        return self._keys_endpoint("tags", request)

    def _keys_endpoint(self, namespace: str, request: Request) -> Response:
        run_id = self._run(request.path_params["run_id"]).id
        after = request.query_params.get("after")
        limit = int_arg(request, "limit", KEYS_PAGE, 1, MAX_KEYS_PAGE)
        return json_response(self._keys_page(namespace, run_id, after, limit, request.query_params.get("q") or None))

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
        width = int_arg(request, "width", 1000, 1, 10_000)
        start, end = float_arg(request, "start"), float_arg(request, "end")
        since = request.query_params.get("since")
        cursor = int_arg(request, "since", 0) if since not in (None, "") else None
        count = self.store.count_points(series.id)
        columns = self.columns.get(series.id, count)
        rewinds, latest, earlier = columns.passes()
        # a resumed run that went back in steps: the latest pass at each step, the passes it replaced
        # on request (``earlier=1``), and where each pass began (#19); every point stays in the store
        resumed = [{"step": int(columns.steps[i]), "time": float(columns.times[i])} for i in rewinds.tolist()]
        if cursor is not None and len(rewinds) and int(rewinds[-1]) >= cursor:
            # the new points went back in steps: what is drawn is replaced; the page asks for all again
            return {"name": series.name, "count": columns.count, "x": [], "y": [], "downsampled": False,
                    "cursor": cursor, "reload": True, "resumed": resumed}
        answer = downsample(columns if cursor is not None else latest, axis, width, start, end, cursor)
        answer["cursor"] = columns.count
        if earlier is not None and cursor is None and request.query_params.get("earlier") == "1":
            replaced = downsample(earlier, axis, width, start, end)
            answer["earlier"] = {"x": replaced["x"], "y": replaced["y"], "count": earlier.count}
        return {"name": series.name, "count": columns.count, **answer, "resumed": resumed}

    def metric(self, request: Request) -> Response:
        run_id = self._run(request.path_params["run_id"]).id
        return json_response(self._chart(run_id, request))

    def series(self, request: Request) -> Response:
        run_id = self._run(request.path_params["run_id"]).id
        series = self._series(run_id, request.query_params.get("name"))
        offset = int_arg(request, "offset", 0)
        limit = int_arg(request, "limit", 500, 1, 5000)
        count = self.store.count_points(series.id)
        page = points_page(self.store, series.id, offset, limit) if offset < count else []
        points = [{"step": s, "value": v, "time": t} for s, v, t in page]
        return json_response({"name": series.name, "kind": series.kind, "count": count, "offset": offset,
                              "points": points})

    # -- files and logs ---------------------------------------------------------------------

    def _artifact(self, run_id: str, name: str) -> Any:
        """The file ``name`` of the run ``run_id`` (an id or a unique prefix: the artifact's ``run_id`` is the id)."""
        run_id = self._run(run_id).id
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
        return file_response(self.store, artifact.run_id, artifact.name, request)

    def log(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        name = request.query_params.get("name") or "logs/std_log.txt"
        artifact = self._artifact(run_id, name)
        return log_response(self.store, artifact.run_id, artifact.name, request)

    # -- compare ----------------------------------------------------------------------------

    def _compared(self, request: Request) -> list[Any]:
        ids = [i for i in (request.query_params.get("runs") or "").split(",") if i.strip()]
        if not 2 <= len(ids) <= 20:
            raise ApiError(400, f"give 2 to 20 runs to compare: ?runs=<id>,<id>,... (got {len(ids)})")
        return [self._run(i.strip()) for i in ids]

    def compare(self, request: Request) -> Response:
        infos = self._compared(request)
        limit = int_arg(request, "limit", KEYS_PAGE, 1, MAX_KEYS_PAGE)
        contains = request.query_params.get("q") or None
        part = request.query_params.get("part") or None
        if part not in (None, "params", "metrics"):
            raise ApiError(400, f"part must be params or metrics, got {part!r}")
        out: dict[str, Any] = {"differs": {}}
        for namespace in [part] if part else ["params", "metrics"]:
            if namespace == "params":
                pages = [lambda after, size, i=i: key_page(self.store, "params", i.id, after, size, contains)
                         for i in infos]
            else:
                pages = [lambda after, size, latest=self._latest(i.id): dict_page(latest, after, size, contains)
                         for i in infos]
            rows, following, totals = side_by_side(pages, request.query_params.get(f"{namespace}_after"), limit)
            out.update({namespace: rows, f"{namespace}_next": following, f"{namespace}_totals": totals})
            out["differs"][namespace] = [k for k, row in rows.items() if len(
                {json.dumps(json_ready(v), sort_keys=True, default=str) for v in row}) > 1]
            if namespace == "metrics":  # a single value is a row of the table, a series a chart (#19)
                out["metrics_points"] = self._point_counts(infos, list(rows))
        if not part:
            out["runs"] = [{**self._row(i, len(self.store.list_runs(parent_id=i.id))), "experiment_id": i.experiment_id,
                            "experiment_name": i.experiment_name} for i in infos]
        return json_response(out)

    def _point_counts(self, infos: list[Any], keys: list[str]) -> dict[str, list[int | None]]:
        """Each run's number of points of each metric in ``keys`` (``None``: the run has no such metric)."""
        wanted = set(keys)
        found = [{s.name: s.id for s in self.store.get_series(i.id) if s.name in wanted} for i in infos]
        return {k: [self.store.count_points(ids[k]) if k in ids else None for ids in found] for k in keys}

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
