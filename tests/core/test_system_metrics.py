"""System metrics (``system/*``): CPU, RSS and NVIDIA GPUs, for logged and submitted runs (issue 5).

Runs standalone too: ``PYTHONPATH=src pytest tests/core/test_system_metrics.py`` with only pytest
(plus psutil, nvidia-ml-py and torch for the GPU test) installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runlog_core import Experiment, ScriptRunConfig

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the /proc fallback and the tests are Linux's")


def _own_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture(params=["proc", "psutil"])
def sampler(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "proc":
        monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil -> ImportError
    else:
        pytest.importorskip("psutil")
    return request.param


def test_monitor_system_logs_cpu_and_rss(sampler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_SYSTEM_INTERVAL", "0.1")
    run = Experiment("sys", store=tmp_path / "store").start_logging(monitor_system=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # keep one core busy until four samples are in (slow under load)
        busy_until = time.monotonic() + 0.3
        while time.monotonic() < busy_until:
            sum(range(10_000))
        run.flush()
        if "system/rss_mb" in run.get_metrics() and len(run.get_metric_history("system/rss_mb")) >= 4:
            break
    rss_now = _own_rss_mb()
    run.complete()
    metrics = run.get_metrics()
    assert len(metrics["system/rss_mb"]) >= 4
    assert 0.5 * rss_now < metrics["system/rss_mb"][-1] < 2 * rss_now + 20
    assert all(0 <= v <= 100 for v in metrics["system/cpu_percent"])
    assert max(metrics["system/process_cpu_percent"]) > 40  # a busy core shows
    assert 0 < metrics["system/memory_used_percent"][-1] < 100
    count = len(metrics["system/rss_mb"])
    time.sleep(0.3)
    assert len(run.get_metrics()["system/rss_mb"]) == count  # stopped with the run


def test_submitted_run_measures_the_scripts_process_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNLOG_SYSTEM_INTERVAL", "0.1")
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(
        "import subprocess, sys, time\n"
        "held = bytearray(150 * 2**20); held[::4096] = b'x' * len(held[::4096])\n"  # 150 MB, touched, in the script...
        "child = subprocess.Popen([sys.executable, '-c', 'b = bytearray(100 * 2**20); b[::4096] = b\"x\" * len(b[::4096]); "
        "import time; time.sleep(1)'])\n"
        "time.sleep(1); child.wait()\n")  # ...and 100 MB in its child
    run = Experiment("sys", store=tmp_path / "store").submit(ScriptRunConfig(src, "train.py"))
    run.wait_for_completion()
    rss = run.get_metrics()["system/rss_mb"]
    assert max(rss) > 240, rss
    assert max(rss) < 150 + 100 + 200


def test_interval_defaults_to_10_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from runlog_core._system import _interval

    monkeypatch.delenv("RUNLOG_SYSTEM_INTERVAL", raising=False)
    assert _interval(None) == 10.0
    monkeypatch.setenv("RUNLOG_SYSTEM_INTERVAL", "2.5")
    assert _interval(None) == 2.5
    monkeypatch.setenv("RUNLOG_SYSTEM_INTERVAL", "soon")
    with pytest.warns(RuntimeWarning, match="RUNLOG_SYSTEM_INTERVAL"):
        assert _interval(None) == 10.0


def test_importing_runlog_core_imports_neither_psutil_nor_pynvml() -> None:
    code = ("import sys, runlog_core, runlog_core._system, runlog_core._submit\n"
            "print(sorted(m for m in ('psutil', 'pynvml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__import__("runlog_core").__file__).parents[1])})
    assert out.stdout.strip() == "[]"


def _gpu_count() -> int:
    try:
        import pynvml
    except ImportError:
        return 0
    try:
        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return 0


def test_gpu_series_appear_on_an_nvidia_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU machine: system/gpu{i}/* for every device, and the memory a tensor takes shows."""
    count = _gpu_count()
    if count == 0:
        pytest.skip("no NVIDIA GPU with nvidia-ml-py (pynvml) and a working driver here")
    monkeypatch.setenv("RUNLOG_SYSTEM_INTERVAL", "0.2")
    run = Experiment("gpu", store=tmp_path / "store").start_logging(monitor_system=True)
    try:
        import torch
    except ImportError:
        torch = None
    held = None
    if torch is not None and torch.cuda.is_available():
        held = torch.empty(512 * 2**20, dtype=torch.uint8, device="cuda:0")  # 512 MB on GPU 0
        deadline = time.monotonic() + 1.5
        x = torch.randn(2048, 2048, device="cuda:0")
        while time.monotonic() < deadline:
            x = x @ x
            x = x / x.norm()
        torch.cuda.synchronize()
    else:
        time.sleep(1.0)
    run.complete()
    metrics = run.get_metrics()
    for index in range(count):
        for name in ("utilization_percent", "memory_used_mb", "memory_percent"):
            series = metrics[f"system/gpu{index}/{name}"]
            assert isinstance(series, list) and len(series) >= 3, (name, series)
    if held is not None:
        assert max(metrics["system/gpu0/memory_used_mb"]) > 512
        assert max(metrics["system/gpu0/utilization_percent"]) > 0
    print({k: v[-1] for k, v in metrics.items() if k.startswith("system/gpu")})
