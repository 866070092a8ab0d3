"""The web UI in headless Chromium, side by side with `mlflow server`'s UI on the same data.

    python benchmarks/ui_load.py                            # 10,000 runs x 20 metrics x 20 params, 1,000,000 points
    python benchmarks/ui_load.py --runs 2000 --points 200000   # quicker
    python benchmarks/ui_load.py --skip-mlflow

Both stores get the same data: ``--runs`` finished runs with ``--metrics`` metrics (one value each) and
``--params`` params, plus one run ("big") with a ``--points`` series "loss". runlog is filled through
its API, MLflow through ``MlflowClient.log_batch`` on a ``sqlite:///`` backend; then ``runlog ui`` and
``mlflow server`` serve them on free loopback ports. Every measurement opens a fresh browser context
(cold cache: the page's own scripts are fetched too) and reports the median of ``--repeats``:

    table     from the navigation's start (the page's performance.now(), checked every frame) until the
              newest run's name is in the experiment's runs table
    chart     from the navigation's start to the big run's page until its "loss" chart is drawn (runlog: the uPlot chart
              has its data; MLflow: the plotly trace path exists), with the bytes of every response
              (page, scripts, API) and of the API answers alone
    live      runlog only: a second process logs a point and flushes; the time until the page shows
              it (the run page polls about once a second); MLflow has no such measure (its charts'
              auto-refresh re-reads whole histories on a timer, and its tables do not refresh)

Targets (issue 10): table < 1 s, 1M-point chart < 1 s and < 300 KB, live point < 2 s.

With ``--aim`` (issue 21), ``aim up`` too, over the same data in an Aim repo (filled in Aim's own venv,
``benchmarks/peers/setup_venvs.py``, by ``benchmarks/peers/worker.py``: runs named as here, the params
as run attributes, the metrics tracked at step 0, the big run's "loss" tracked point by point):

    table     until the newest run's name is in Aim's runs explorer (``/runs``)
    chart     until the big run's metrics tab (``/runs/<hash>/metrics``) has drawn its "loss" line (an
              SVG path of class Line with its points)

``--fill-only`` fills the stores of ``--folder`` and stops (filling MLflow and Aim takes minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
try:
    import runlog_core  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent / "src"))

from runlog_core import Experiment  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 180_000  # how long a page may take to show the table or chart: a UI that takes longer gets no figure
perf = time.perf_counter


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fill_runlog(store: str, runs: int, metrics: int, params: int, points: int) -> str:
    exp = Experiment("bench", store=store)
    with exp.start_logging(name="big", outputs=None) as big:
        for step in range(points):
            big.log("loss", 1.0 / (step + 1) + (step % 1000) * 1e-6)
    for index in range(runs):
        with exp.start_logging(name=f"run-{index:05d}", outputs=None) as run:
            run.log_params({f"p{k}": index * k for k in range(params)})
            run.log_metrics({f"m{k}": index * 0.5 + k for k in range(metrics)}, step=0)
    return big.id


def fill_mlflow(uri: str, folder: Path, runs: int, metrics: int, params: int, points: int) -> tuple[str, str]:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("bench", artifact_location=str(folder / "mlflow-artifacts"))
    big = client.create_run(experiment_id, run_name="big").info.run_id
    now = int(time.time() * 1000)
    for start in range(0, points, 1000):
        client.log_batch(big, metrics=[Metric("loss", 1.0 / (step + 1) + (step % 1000) * 1e-6, now + step, step)
                                       for step in range(start, min(points, start + 1000))])
    client.set_terminated(big)
    for index in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"run-{index:05d}").info.run_id
        client.log_batch(run_id, metrics=[Metric(f"m{k}", index * 0.5 + k, now, 0) for k in range(metrics)],
                         params=[Param(f"p{k}", str(index * k)) for k in range(params)])
        client.set_terminated(run_id)
    return experiment_id, big


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[Any], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


def start_runlog_ui(store: str) -> tuple[subprocess.Popen[str], str]:
    runlog = shutil.which("runlog") or str(Path(sys.executable).parent / "runlog")
    proc = subprocess.Popen([runlog, "ui", "--store", store, "--port", "0", "--no-token"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().split()[0].rstrip("/")
    wait_until_up(url + "/api/experiments", proc)
    return proc, url


def start_mlflow(uri: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    proc = subprocess.Popen([mlflow, "server", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--default-artifact-root", str(folder / "mlflow-artifacts")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url + "/health", proc)
    return proc, url


def stop(proc: subprocess.Popen[Any], group: bool = False) -> None:
    """End a server; ``group``: its whole process group (``aim up`` runs uvicorn and its workers as
    children, which outlive it when only it is stopped)."""
    def send(sig: signal.Signals) -> None:
        try:
            os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(10)
    if group:
        send(signal.SIGKILL)  # workers that ignored SIGTERM


def measure(browser: Any, url: str, ready: str) -> tuple[float, int, int]:
    """Seconds from the navigation's start to the JS condition ``ready`` holding (the page's own clock,
    checked every frame), in a fresh context; bytes of all responses, and of the API ones."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response))
    page.goto(url, wait_until="commit")
    handle = page.wait_for_function(f"() => ({ready}) ? performance.now() : false", polling="raf", timeout=WAIT_MS)
    seconds = handle.json_value() / 1000
    total = api = 0
    for response in responses:
        try:
            size = len(response.body())
        except Exception:  # redirects and aborted requests have no body
            continue
        total += size
        if "/api/" in response.url or "/ajax-api/" in response.url:
            api += size
    context.close()
    return seconds, total, api


def median_of(repeats: int, run: Callable[[], tuple[float, int, int]]) -> tuple[float, int, int]:
    results = [run() for _ in range(repeats)]
    return (statistics.median(r[0] for r in results), int(statistics.median(r[1] for r in results)),
            int(statistics.median(r[2] for r in results)))


LIVE_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])

    def signal(name, text):
        (folder / (name + ".tmp")).write_text(text)
        os.replace(folder / (name + ".tmp"), folder / name)

    with Experiment("bench-live", store=store).start_logging(name="live", outputs=None) as run:
        for step in range(count + 1):
            if step:
                while not (folder / f"go-{step}").exists():
                    time.sleep(0.005)
            run.log("value", step + 0.5)
            run.flush()
            signal(f"flushed-{step}", repr(time.time()))
            if step == 0:
                signal("run-id", run.id)
""")


def live_delays(browser: Any, base: str, store: str, count: int) -> list[float]:
    folder = Path(tempfile.mkdtemp(prefix="ui-live-"))
    script = folder / "live.py"
    script.write_text(LIVE_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), store, str(folder), str(count)])
    try:
        while not (folder / "run-id").exists():
            if proc.poll() is not None:
                raise RuntimeError("the logging process ended early")
            time.sleep(0.02)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/runs/{(folder / 'run-id').read_text()}")
        shown = ("(v) => { const el = document.querySelector('.metric-card[data-metric=\"value\"]');"
                 " return el && el.querySelector('.latest').textContent === v && el.dataset.points === String(Math.floor(v) + 1); }")
        page.wait_for_function(shown, arg="0.5", timeout=30000)
        delays = []
        for step in range(1, count + 1):
            (folder / f"go-{step}").write_text("")
            while not (folder / f"flushed-{step}").exists():
                time.sleep(0.002)
            flushed = float((folder / f"flushed-{step}").read_text())
            page.wait_for_function(shown, arg=f"{step}.5", polling="raf", timeout=30000)
            delays.append(time.time() - flushed)
        page.close()
        return delays
    finally:
        proc.wait(30) if proc.poll() is None else None
        shutil.rmtree(folder, ignore_errors=True)


# the peers of issue 21 whose UI cannot run here: their rows say why (no network, no containers)
NO_UI = {
    "W&B": "its UI is the W&B server (the cloud, or its container image), which shows an offline run after "
           "`wandb sync`: neither can run here",
    "ClearML": "its UI is the ClearML server (several containers): it cannot run here",
    "DVCLive": "no UI of its own: DVC Studio (a service) or the VS Code extension show its runs",
}

AIM_TABLE_READY = "document.evaluate(\"//*[text()='{newest}']\", document, null, 9, null).singleNodeValue"
AIM_CHART_READY = "(() => { const p = document.querySelector('svg path.Line'); return p && (p.getAttribute('d') || '').length > 100; })()"


def aim_python() -> Path:
    """The Python of Aim's own venv, made when missing (Aim is no dependency of runlog)."""
    sys.path.insert(0, str(HERE / "peers"))
    import setup_venvs

    ready, why = setup_venvs.ensure("aim")
    if not ready:
        raise RuntimeError(f"Aim cannot run here: {why}")
    return setup_venvs.python_of("aim")


def fill_aim(folder: Path, runs: int, metrics: int, params: int, points: int) -> str:
    job = {"task": "fill-aim", "repo": str(folder / "aim"), "runs": runs, "metrics": metrics, "params": params,
           "points": points}
    proc = subprocess.run([str(aim_python()), str(HERE / "peers" / "worker.py"), json.dumps(job)],
                          capture_output=True, text=True)
    answer = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    if not answer.get("ok"):
        raise RuntimeError(f"filling Aim failed: {answer.get('why')}")
    return str(answer["big"])


def start_aim(folder: Path, seconds: float) -> tuple[subprocess.Popen[bytes], str, float]:
    """``aim up`` over the repo, its output in ``aim-up.log``; waits up to ``seconds`` for its API (over a
    big repo Aim indexes the runs before it answers) and returns how long that took."""
    port = free_port()
    aim = aim_python().parent / "aim"
    log = (folder / "aim-up.log").open("wb")
    start = perf()
    proc = subprocess.Popen([str(aim), "up", "--repo", str(folder / "aim"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    # up when its port takes connections; then its first API answer, asked once and waited for (each call of
    # /api/projects opens every run's RocksDB to look for damaged runs: minutes over 10,000 runs, and asking
    # again on a short timeout piled up dozens of these scans)
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("did not take connections") from None
                time.sleep(0.2)
        with urllib.request.urlopen(url + "/api/projects", timeout=max(1.0, deadline - time.monotonic())):
            pass
    except (RuntimeError, OSError):
        stop(proc, group=True)
        lines = (folder / "aim-up.log").read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"`aim up` did not answer /api/projects within {seconds:.0f} s"
                           + (f" (its last line: {lines[-1][:160]!r})" if lines else "")) from None
    return proc, url, perf() - start


def attempt(what: str, run: Callable[[], tuple[float, int, int]]) -> tuple[float | None, int, int, str]:
    """A measurement, or why there is none (a peer's page that never shows what is waited for)."""
    try:
        return (*run(), "")
    except Exception as error:  # playwright's TimeoutError and a crashed page alike
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, 0, 0, f"{what}: {first[:200]}"


def visited(browser: Any, repeats: int, url: str, ready: str, what: str) -> tuple[float | None, int, int, str]:
    """One untimed visit, then the median of ``repeats``; a page that never shows ``ready`` is visited
    once (each such visit waits out ``WAIT_MS``) and its row says ``what`` and why."""
    warm = attempt(what, lambda: measure(browser, url, ready))
    if warm[0] is None:
        return warm
    return attempt(what, lambda: median_of(repeats, lambda: measure(browser, url, ready)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--params", type=int, default=20)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--live-points", type=int, default=5)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--folder", type=Path, default=None, help="keep the stores here (default: a temporary folder)")
    parser.add_argument("--aim", action="store_true", help="also `aim up` over the same data (Aim in its own venv)")
    parser.add_argument("--fill-only", action="store_true", help="fill the stores of --folder, measure nothing")
    parser.add_argument("--aim-start-timeout", type=float, default=1800,
                        help="seconds to wait for `aim up` to answer (it indexes a big repo first)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="ui-load-"))
    folder.mkdir(parents=True, exist_ok=True)
    store = str(folder / "runlog")
    mlflow_uri = f"sqlite:///{folder / 'mlflow.db'}"
    newest = f"run-{args.runs - 1:05d}"

    # a --folder filled before with the same sizes is used again (MLflow takes minutes to fill)
    sizes = {"runs": args.runs, "metrics": args.metrics, "params": args.params, "points": args.points}
    filled = folder / "filled.json"
    known = json.loads(filled.read_text()) if filled.exists() else {}
    if known.get("sizes") == sizes and (args.skip_mlflow or "ml_big" in known):
        big, ml_experiment, ml_big = known["big"], known.get("ml_experiment", ""), known.get("ml_big", "")
        note(f"using the stores filled before in {folder}")
    else:
        if filled.exists():
            raise SystemExit(f"{folder} holds stores of other sizes: give another --folder")
        start = perf()
        big = fill_runlog(store, args.runs, args.metrics, args.params, args.points)
        note(f"runlog filled: {args.runs:,} runs x {args.metrics} metrics x {args.params} params "
             f"+ {args.points:,} points in {perf() - start:.1f} s")
        ml_experiment = ml_big = ""
        if not args.skip_mlflow:
            start = perf()
            ml_experiment, ml_big = fill_mlflow(mlflow_uri, folder, args.runs, args.metrics, args.params, args.points)
            note(f"MLflow filled (log_batch) in {perf() - start:.1f} s")
        filled.write_text(json.dumps({"sizes": sizes, "big": big, **(
            {} if args.skip_mlflow else {"ml_experiment": ml_experiment, "ml_big": ml_big})}))

    known = json.loads(filled.read_text())
    aim_big = known.get("aim_big", "")
    if args.aim and not aim_big:
        start = perf()
        aim_big = fill_aim(folder, args.runs, args.metrics, args.params, args.points)
        note(f"Aim filled (Run.track) in {perf() - start:.1f} s")
        filled.write_text(json.dumps({**known, "aim_big": aim_big}))
    if args.fill_only:
        return

    rows: list[tuple[str, str, float | None, int, int, str]] = []
    table_ready = f"document.evaluate(\"//*[text()='{newest}']\", document, null, 9, null).singleNodeValue"
    runlog_chart = "document.querySelector('.metric-card[data-metric=\"loss\"][data-points] canvas')"
    mlflow_chart = "document.querySelector('.js-plotly-plot .scatterlayer .trace path')"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        # one server at a time, so neither's start-up or background work lands in the other's figures;
        # one untimed visit first, so neither pays its own warm-up (imports, caches)
        ui, base = start_runlog_ui(store)
        try:
            with urllib.request.urlopen(base + "/api/experiments") as answer:
                experiment = next(e["id"] for e in json.load(answer)["experiments"] if e["name"] == "bench")
            measure(browser, f"{base}/experiments/{experiment}", table_ready)
            rows.append(("runlog", "table", *median_of(args.repeats, lambda: measure(
                browser, f"{base}/experiments/{experiment}", table_ready)), ""))
            rows.append(("runlog", "chart", *median_of(args.repeats, lambda: measure(
                browser, f"{base}/runs/{big}", runlog_chart)), ""))
            delays = live_delays(browser, base, store, args.live_points)
        finally:
            stop(ui)
        if not args.skip_mlflow:
            ml, ml_base = start_mlflow(mlflow_uri, folder)
            try:
                ml_table = f"{ml_base}/#/experiments/{ml_experiment}/runs"
                ml_chart = f"{ml_base}/#/experiments/{ml_experiment}/runs/{ml_big}/model-metrics"
                attempt("untimed first visit", lambda: measure(browser, ml_table, table_ready))
                rows.append(("MLflow", "table", *attempt("the runs table never showed the newest run", lambda: median_of(
                    args.repeats, lambda: measure(browser, ml_table, table_ready)))))
                rows.append(("MLflow", "chart", *attempt("the run's chart never drew its loss trace", lambda: median_of(
                    args.repeats, lambda: measure(browser, ml_chart, mlflow_chart)))))
            finally:
                stop(ml)
        if args.aim:
            try:
                aim, aim_base, aim_start = start_aim(folder, args.aim_start_timeout)
            except RuntimeError as error:
                rows += [("Aim", what, None, 0, 0, str(error)) for what in ("table", "chart")]
            else:
                note(f"aim up answered after {aim_start:.1f} s")
                try:
                    aim_table = AIM_TABLE_READY.format(newest=newest)
                    aim_runs, aim_chart = f"{aim_base}/runs", f"{aim_base}/runs/{aim_big}/metrics"
                    rows.append(("Aim", "table", *visited(browser, args.repeats, aim_runs, aim_table,
                                                          "the runs explorer never showed the newest run")))
                    rows.append(("Aim", "chart", *visited(browser, args.repeats, aim_chart, AIM_CHART_READY,
                                                          "the run's metrics tab never drew its loss line")))
                finally:
                    stop(aim, group=True)
                print(f"aim up: {aim_start:.1f} s from start to answering its API over this repo", flush=True)
        browser.close()
    if args.aim:  # the peers' rows: figures where they run here, else why not
        rows += [(peer, what, None, 0, 0, why) for peer, why in NO_UI.items() for what in ("table", "chart")]

    print(f"\n{args.runs:,} runs x {args.metrics} metrics x {args.params} params; one run of {args.points:,} points; "
          f"median of {args.repeats}, cold browser cache\n")
    print(f"{'UI':<8}{'measure':<8}{'seconds':>9}{'all bytes':>12}{'API bytes':>12}")
    for ui_name, what, seconds, total, api, why in rows:
        if seconds is None:
            print(f"{ui_name:<8}{what:<8}{'-':>9}{'-':>12}{'-':>12}   no figure: {why}")
        else:
            print(f"{ui_name:<8}{what:<8}{seconds:>9.3f}{total:>12,}{api:>12,}")
    figures = {(u, w): (s, t, a) for u, w, s, t, a, _ in rows}
    ours_of = {w: (s, t) for u, w, s, t, _a, _ in rows if u == "runlog" and s is not None}
    if not args.skip_mlflow:
        print()
        for what in ("table", "chart"):
            ours, theirs = ours_of[what], figures[("MLflow", what)]
            if theirs[0] is None:
                print(f"{what}: MLflow/runlog: no ratio (MLflow has no figure, see its row)")
                continue
            print(f"{what}: MLflow/runlog time {theirs[0] / ours[0]:.1f}x, bytes {theirs[1] / max(1, ours[1]):.1f}x")
    if args.aim:
        print()
        for what in ("table", "chart"):
            ours, theirs = ours_of[what], figures[("Aim", what)]
            if theirs[0] is None:
                print(f"{what}: Aim/runlog: no ratio (Aim has no figure, see its row)")
            else:
                print(f"{what}: Aim/runlog time {theirs[0] / ours[0]:.1f}x, bytes {theirs[1] / max(1, ours[1]):.1f}x")
    print(f"\nlive (runlog): flush to screen {statistics.median(delays):.2f} s median, {max(delays):.2f} s max "
          f"over {len(delays)} points; MLflow: not measured (its tables do not refresh; its charts re-read on a timer)")
    table, chart = ours_of["table"], ours_of["chart"]
    print("\ntargets: table < 1 s: {}; chart < 1 s: {}; chart < 300 KB: {}; live < 2 s: {}".format(
        *("yes" if ok else "NO" for ok in (table[0] < 1, chart[0] < 1, chart[1] < 300_000, max(delays) < 2))))
    if args.folder is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
