"""How runlog's costs grow with the store: the same measures at 1x and 10x today's sizes, and logging into big stores.

    python benchmarks/scale.py --folder /var/tmp/runlog-scale --fill-only   # make the stores (minutes; 3.4 GB)
    python benchmarks/scale.py --folder /var/tmp/runlog-scale               # measure (fills what is missing first)
    python benchmarks/scale.py --quick                                      # 1,000/10,000 runs, 100k/1M points

On a busy machine, fill with ``RUNLOG_STORE_TIMEOUT=300``: a run of a million points ends with
``flush()``, which raises ``StoreError`` when the writer has not committed them within the timeout
(10 s by default; seen at 40 million points under ``nice -n 19`` with a load of 10 on 2 cores).

Stores (kept in ``--folder`` when given, so the UI benchmark can use them too:
``python benchmarks/ui_load.py --skip-mlflow --folder FOLDER/runs-100000 --runs 100000 --points 10000000``):

    runs-<R>     R runs x 20 metrics x 20 params and one run "big" with a series of S points, filled by
                 ui_load.py's own fill (R, S = 10,000, 1,000,000 and 100,000, 10,000,000)
    points-<P>   P points: P / 1,000,000 runs of 20 metrics x 50,000 steps (``log_metrics`` per step)

Measures, each the median of ``--repeats`` after one untimed call (the store's files in the OS cache):

    runs table (UI API)     ``GET /api/experiments/<id>/runs``: the first page, as the runs table asks for it,
                            from ``runlog ui``; then with a filter and a sort
    search_runs             ``search_runs(FILTER, order_by=[SORT], experiment="bench")`` (Run objects), and
                            ``output="pandas"``; FILTER selects the top 10 % on a metric and a param
    runlog runs             the command, as a user types it (a fresh interpreter: its start-up included),
                            ``--limit 50``; then with ``--filter`` and ``--sort``
    chart (UI API)          ``GET /api/runs/<big>/metric?name=loss&width=1000``: the first request (the
                            server reads the series) and the next ones (its cache), and the bytes
    get_metric_history      ``Run(exp, big).get_metric_history("loss")``
    get_metrics_frame       ``Run(exp, big).get_metrics_frame(["loss"])`` (pandas)
    logging into a store    workloads A (1 x 100,000, ``run.log``) and B (20 x 5,000, ``run.log_metrics``)
                            into a new run of an empty store, of points-<P1> and of points-<P2>, the stores
                            taken in turn each repeat; caller and until-durable us per point
    size on disk            the database's bytes per point at P1 and P2, and 1 billion points extrapolated

Each measure's growth between the two sizes is printed beside what it should be (1x: a page, a cursor
or an index; 10x: the answer itself is 10 times bigger), and the goals of issue 21: runs table and
filtered search at 100,000 runs under 1 s, the 10M-point chart under 1 s and 300 KB, logging into a
store of 100 million points within 10 % of an empty one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import runlog_core  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))

from runlog_core import Experiment, Run, search_runs  # noqa: E402

perf = time.perf_counter
METRICS = PARAMS = 20


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# filling


def fill_runs(folder: Path, runs: int, points: int) -> str:
    """ui_load.py's data (its own fill), with its filled.json, so ui_load.py can use the folder as it is."""
    import ui_load

    sizes = {"runs": runs, "metrics": METRICS, "params": PARAMS, "points": points}
    filled = folder / "filled.json"
    if filled.exists():
        known = json.loads(filled.read_text())
        if known.get("sizes") == sizes:
            return str(known["big"])
        raise SystemExit(f"{folder} holds stores of other sizes")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    start = perf()
    big = ui_load.fill_runlog(str(folder / "runlog"), runs, METRICS, PARAMS, points)
    filled.write_text(json.dumps({"sizes": sizes, "big": big}))
    note(f"filled {folder}: {runs:,} runs + {points:,} points in {perf() - start:.0f} s")
    return big


def fill_points(folder: Path, points: int) -> None:
    done = folder / "filled.json"
    if done.exists() and json.loads(done.read_text()).get("points") == points:
        return
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    steps, per_run = 50_000, METRICS * 50_000
    names = [f"metric_{j:02d}" for j in range(METRICS)]
    start = perf()
    with Experiment("fill", store=folder / "runlog") as exp:
        for r in range((points + per_run - 1) // per_run):
            with exp.start_logging(name=f"fill-{r:04d}", outputs=None) as run:
                log_metrics = run.log_metrics
                for i in range(min(steps, (points - r * per_run) // METRICS)):
                    log_metrics({name: (i * 0.001 + j) * 0.5 for j, name in enumerate(names)}, step=i)
            if r % 10 == 9:
                note(f"  {folder.name}: {(r + 1) * per_run:,} points ({perf() - start:.0f} s)")
    done.write_text(json.dumps({"points": points}))
    note(f"filled {folder}: {points:,} points in {perf() - start:.0f} s")


# ------------------------------------------------------------------------------------------------
# measuring


def timed(action: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(first call's seconds, median of the next ``repeats``, the last result)."""
    start = perf()
    result = action()
    first = perf() - start
    times = []
    for _ in range(repeats):
        start = perf()
        result = action()
        times.append(perf() - start)
    return first, statistics.median(times), result


class UI:
    def __init__(self, store: Path) -> None:
        runlog = shutil.which("runlog") or str(Path(sys.executable).parent / "runlog")
        self.proc = subprocess.Popen([runlog, "ui", "--store", str(store), "--port", "0", "--no-token"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        self.base = self.proc.stdout.readline().strip().split()[0].rstrip("/")
        deadline = time.monotonic() + 120
        while True:
            try:
                self.get("/api/experiments")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("runlog ui did not come up") from None
                time.sleep(0.1)

    def get(self, path: str, **query: Any) -> bytes:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=600) as answer:
            return answer.read()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cli(store: Path, *args: str) -> float:
    runlog = shutil.which("runlog") or str(Path(sys.executable).parent / "runlog")
    start = perf()
    subprocess.run([runlog, "runs", "--store", str(store), "-e", "bench", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return perf() - start


def measure_runs(folder: Path, runs: int, points: int, big: str, repeats: int) -> dict[str, Any]:
    store = folder / "runlog"
    cut_metric, cut_param = runs * 0.9 * 0.5 + 3, int(runs * 0.9) * 2
    flt = f"metrics.m3 >= {cut_metric} and params.p2 >= {cut_param}"
    sort = "metrics.m5 DESC"
    out: dict[str, Any] = {"filter": flt, "sort": sort}
    ui = UI(store)
    try:
        experiment = next(e["id"] for e in json.loads(ui.get("/api/experiments"))["experiments"] if e["name"] == "bench")
        path = f"/api/experiments/{experiment}/runs"
        out["table"] = timed(lambda: len(ui.get(path)), repeats)
        out["table filtered"] = timed(lambda: len(ui.get(path, filter=flt, sort=sort)), repeats)
        metric = f"/api/runs/{big}/metric"
        out["chart"] = timed(lambda: len(ui.get(metric, name="loss", width=1000)), repeats)
    finally:
        ui.close()
    exp = Experiment("bench", store=store)
    out["search_runs"] = timed(lambda: len(search_runs(flt, order_by=[sort], experiment=exp)), repeats)
    out["search_runs pandas"] = timed(lambda: len(search_runs(flt, order_by=[sort], experiment=exp,
                                                              output="pandas")), repeats)
    out["runlog runs"] = timed(lambda: cli(store, "--limit", "50"), repeats)
    out["runlog runs filtered"] = timed(lambda: cli(store, "--limit", "50", "--filter", flt, "--sort", sort),
                                        repeats)
    run = Run(exp, big)
    out["get_metric_history"] = timed(lambda: len(run.get_metric_history("loss")), max(1, repeats // 2))
    out["get_metrics_frame"] = timed(lambda: len(run.get_metrics_frame(["loss"])), max(1, repeats // 2))
    exp.close()
    return out


def log_once(store: Path, metrics: int, steps: int) -> tuple[float, float]:
    names = ["loss"] if metrics == 1 else [f"metric_{j:02d}" for j in range(metrics)]
    rows = [[(i * 0.001 + j) * 0.5 for j in range(metrics)] for i in range(steps)]
    exp = Experiment("bench-log", store=store)
    run = exp.start_logging(outputs=None)
    if metrics == 1:
        values, log = [row[0] for row in rows], run.log
        t0 = perf()
        for i, value in enumerate(values):
            log("loss", value, step=i)
    else:
        dicts, log_metrics = [dict(zip(names, row)) for row in rows], run.log_metrics
        t0 = perf()
        for i, d in enumerate(dicts):
            log_metrics(d, step=i)
    t1 = perf()
    run.flush()
    t2 = perf()
    n = len(run.get_metric_history(names[-1]))
    assert n == steps, f"{store}: {n} points of {names[-1]}, not {steps}"
    run.complete()
    exp.close()
    return (t1 - t0) / (metrics * steps) * 1e6, (t2 - t0) / (metrics * steps) * 1e6


def measure_logging(stores: dict[str, Path], repeats: int) -> dict[str, dict[str, tuple[float, float]]]:
    """{workload: {store label: (caller us/pt, durable us/pt)}}, the stores taken in turn each repeat."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for key, metrics, steps in (("A", 1, 100_000), ("B", METRICS, 5_000)):
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in stores}
        labels = list(stores)
        for label in labels:  # one untimed run each: the store's pages read once
            log_once(stores[label], metrics, steps)
        for r in range(repeats):
            for label in labels[r % len(labels):] + labels[:r % len(labels)]:
                samples[label].append(log_once(stores[label], metrics, steps))
        out[key] = {label: (statistics.median(s[0] for s in v), statistics.median(s[1] for s in v))
                    for label, v in samples.items()}
    return out


# ------------------------------------------------------------------------------------------------
# reporting


def human(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:g}{unit}"
    return f"{n:g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=None, help="keep the stores here (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=["runs", "logging"], choices=["runs", "logging"])
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    runs_sizes = [(10_000 // scale, 1_000_000 // scale), (100_000 // scale, 10_000_000 // scale)]
    point_sizes = [10_000_000 // scale, 100_000_000 // scale]
    folder = args.folder or Path(tempfile.mkdtemp(prefix="runlog-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    bigs = {}
    if "runs" in args.only:
        for runs, points in runs_sizes:
            bigs[runs] = fill_runs(folder / f"runs-{runs}", runs, points)
    if "logging" in args.only:
        for points in point_sizes:
            fill_points(folder / f"points-{points}", points)
    if args.fill_only:
        return 0

    import platform

    print(f"`python benchmarks/scale.py{''.join(' ' + a for a in sys.argv[1:])}`")
    print(f"runlog scale: Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}; "
          f"medians of {args.repeats} after one untimed call")
    if hasattr(os, "getloadavg"):
        print(f"load average at start: {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)")
    goals: list[list[str]] = []
    if "runs" in args.only:
        results = {}
        for runs, points in runs_sizes:
            note(f"measuring runs-{runs} ...")
            results[runs] = measure_runs(folder / f"runs-{runs}", runs, points, bigs[runs], args.repeats)
        (small, s_points), (large, l_points) = runs_sizes
        a, b = results[small], results[large]
        print(f"\nruns: {small:,} and {large:,} runs x 20 metrics x 20 params; the big run's series: "
              f"{s_points:,} and {l_points:,} points")
        print(f"filter: {b['filter']}  (top 10 %), sort: {b['sort']}\n")
        head = ["measure", f"{human(small)} first s", f"{human(small)} s", f"{human(large)} first s", f"{human(large)} s",
                "growth", "should be", "answer", "verdict"]
        rows = []
        expected = {"table": 1, "table filtered": 10, "chart": 10, "search_runs": 10, "search_runs pandas": 10,
                    "runlog runs": 1, "runlog runs filtered": 10, "get_metric_history": 10, "get_metrics_frame": 10}
        # what grows with the store although the answer does not: a page of 100 runs, 50 rows of a command, a
        # chart of 2,000 points; the filtered answers hold 10 x more runs at 10 x the store
        for key, should in expected.items():
            f1, m1, r1 = a[key]
            f2, m2, r2 = b[key]
            growth = m2 / m1 if m1 else float("nan")
            answer = (f"{r2:,} B" if key.startswith(("table", "chart")) else
                      "exit 0" if key.startswith("runlog") else f"{r2:,} rows")
            verdict = "faster than it should" if growth > 1.5 * should else "ok"
            rows.append([key, f"{f1:.3f}", f"{m1:.3f}", f"{f2:.3f}", f"{m2:.3f}", f"{growth:.1f}x", f"{should}x",
                         answer, verdict])
        table = b["table"][1]
        goals += [[f"runs table (UI API) at {human(large)} runs < 1 s", f"{table:.2f} s", "ok" if table < 1 else "MISSED"],
                  [f"filtered search_runs at {human(large)} runs < 1 s", f"{b['search_runs'][1]:.2f} s",
                   "ok" if b["search_runs"][1] < 1 else "MISSED"],
                  [f"filtered runs table (UI API) at {human(large)} runs < 1 s", f"{b['table filtered'][1]:.2f} s",
                   "ok" if b["table filtered"][1] < 1 else "MISSED"],
                  [f"{human(l_points)}-point chart (UI API) < 1 s (first request / cached)",
                   f"{b['chart'][0]:.2f} / {b['chart'][1]:.2f} s", "ok" if b["chart"][0] < 1 else "MISSED"],
                  [f"{human(l_points)}-point chart < 300 KB", f"{b['chart'][2] / 1000:.0f} KB",
                   "ok" if b["chart"][2] < 300_000 else "MISSED"]]
        from log_throughput import markdown, plain

        print(plain(head, rows))
        print("\n--- markdown ---\n")
        print(markdown(head, rows))
    if "logging" in args.only:
        p1, p2 = point_sizes
        with tempfile.TemporaryDirectory(prefix="runlog-scale-empty-") as empty:
            stores = {"empty": Path(empty) / "runlog", human(p1): folder / f"points-{p1}" / "runlog",
                      human(p2): folder / f"points-{p2}" / "runlog"}
            note("measuring logging into the stores ...")
            logging_results = measure_logging(stores, args.repeats)
        sizes = {p: (folder / f"points-{p}" / "runlog" / "runlog.db").stat().st_size for p in point_sizes}
        head = ["workload", "store", "caller us/pt", "durable us/pt", "x empty (caller)", "x empty (durable)"]
        rows = []
        for key, by_store in logging_results.items():
            base = by_store["empty"]
            for label, (caller, durable) in by_store.items():
                rows.append([key, label, f"{caller:.2f}", f"{durable:.2f}", f"{caller / base[0]:.2f}x",
                             f"{durable / base[1]:.2f}x"])
            worst = by_store[human(p2)][1] / base[1]
            goals.append([f"{key}: logging into {human(p2)} points within 10 % of empty (durable)",
                          f"{worst:.2f}x", "ok" if worst <= 1.10 else "MISSED"])
        from log_throughput import markdown, plain

        print(f"\nlogging a new run into stores of 0, {p1:,} and {p2:,} points (stores in turn each repeat)\n")
        print(plain(head, rows))
        size_head = ["store", "runlog.db bytes", "bytes/point", "1 billion points (extrapolated)"]
        size_rows = [[f"{p:,} points", f"{size:,}", f"{size / p:.1f}", f"{size / p * 1e9 / 1e9:.1f} GB"]
                     for p, size in sizes.items()]
        print()
        print(plain(size_head, size_rows))
        print("\n--- markdown ---\n")
        print(markdown(head, rows))
        print()
        print(markdown(size_head, size_rows))
    if goals:
        from log_throughput import markdown, plain

        print()
        print(plain(["goal (issue 21)", "measured", "verdict"], goals))
        print()
        print(markdown(["goal (issue 21)", "measured", "verdict"], goals))
    if hasattr(os, "getloadavg"):
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    if args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
