"""System metrics (``system/*``): CPU, RSS and NVIDIA GPUs, for logged and submitted runs (issue 5).

Runs standalone too: ``PYTHONPATH=src pytest tests/core/test_system_metrics.py`` with only pytest
(plus psutil, nvidia-ml-py and torch for the GPU test) installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runlog_core import Experiment, ScriptRunConfig
from runlog_core.exceptions import ConfigError, InvalidArgumentError

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
    started, cpu_at_start = time.monotonic(), time.process_time()

    def cpu_share() -> float:
        """The CPU this process used since the monitor started, in percent of one core, as the OS
        counts it: near 100 while it spins on a quiet machine, far less on a loaded one."""
        return 100 * (time.process_time() - cpu_at_start) / (time.monotonic() - started)

    def sampled_enough(metrics: dict[str, Any]) -> bool:
        busy = _as_list(metrics.get("system/process_cpu_percent"))
        return len(_as_list(metrics.get("system/rss_mb"))) >= 4 and max(busy, default=0) > cpu_share() / 2

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # keep one core busy until the samples show it (slow under load)
        busy_until = time.monotonic() + 0.3
        while time.monotonic() < busy_until:
            sum(range(10_000))
        run.flush()
        if sampled_enough(run.get_metrics()):
            break
    share = cpu_share()
    rss_now = _own_rss_mb()
    run.complete()
    metrics = run.get_metrics()
    assert len(metrics["system/rss_mb"]) >= 4
    assert 0.5 * rss_now < metrics["system/rss_mb"][-1] < 2 * rss_now + 20
    assert all(0 <= v <= 100 for v in metrics["system/cpu_percent"])
    # a busy core shows: as much of a core as this process was given (all of it on a quiet machine,
    # a fraction while other processes compete for the cores), not a fixed share of it
    assert max(metrics["system/process_cpu_percent"]) > share / 2, (share, metrics["system/process_cpu_percent"])
    assert 0 < metrics["system/memory_used_percent"][-1] < 100
    # stopped with the run: its thread is gone, so no sample can come later
    assert not any(thread.name == f"runlog-system-{run.id}" for thread in threading.enumerate())
    assert len(run.get_metrics()["system/rss_mb"]) == len(metrics["system/rss_mb"])


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
    from runlog_core.run.system import _interval

    monkeypatch.delenv("RUNLOG_SYSTEM_INTERVAL", raising=False)
    assert _interval(None) == 10.0
    monkeypatch.setenv("RUNLOG_SYSTEM_INTERVAL", "2.5")
    assert _interval(None) == 2.5
    assert _interval(0.01) == 0.05  # an explicit interval wins, down to a floor


@pytest.mark.parametrize("value", ["abc", "0", "-1", "inf"])
def test_a_bad_interval_raises_when_the_monitor_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       value: str) -> None:
    from runlog_core.run.system import start_monitor

    monkeypatch.setenv("RUNLOG_SYSTEM_INTERVAL", value)
    with Experiment("sys", store=tmp_path / "store").start_logging() as run:
        with pytest.raises(ConfigError, match="RUNLOG_SYSTEM_INTERVAL") as caught:
            start_monitor(run)
        assert (caught.value.variable, caught.value.value) == ("RUNLOG_SYSTEM_INTERVAL", value)
        with pytest.raises(InvalidArgumentError, match="interval"):
            start_monitor(run, interval="soon")  # type: ignore[arg-type]
    assert not any(thread.name == f"runlog-system-{run.id}" for thread in threading.enumerate())
    assert run.get_metrics() == {}


def test_importing_runlog_core_imports_neither_psutil_nor_pynvml() -> None:
    code = ("import sys, runlog_core, runlog_core.run.system, runlog_core.submit.api\n"
            "print(sorted(m for m in ('psutil', 'pynvml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__import__("runlog_core").__file__).parents[1])})
    assert out.stdout.strip() == "[]"


def _as_list(value: object) -> list[object]:
    """A metric as get_metrics returns it (absent, one value, or a list) as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


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
        x = torch.randn(2048, 2048, device="cuda:0")
    names = ("utilization_percent", "memory_used_mb", "memory_percent")

    def enough(metrics: dict[str, object]) -> bool:
        if not all(len(_as_list(metrics.get(f"system/gpu{i}/{name}"))) >= 3 for i in range(count) for name in names):
            return False
        return held is None or (max(_as_list(metrics["system/gpu0/memory_used_mb"])) > 512  # type: ignore[type-var]
                                and max(_as_list(metrics["system/gpu0/utilization_percent"])) > 0)  # type: ignore[type-var]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # keep GPU 0 busy (if torch can) until the samples show it
        if held is not None:
            for _ in range(50):
                x = x @ x
                x = x / x.norm()
            torch.cuda.synchronize()
        else:
            time.sleep(0.05)
        run.flush()
        if enough(run.get_metrics()):
            break
    run.complete()
    metrics = run.get_metrics()
    for index in range(count):
        for name in names:
            series = metrics[f"system/gpu{index}/{name}"]
            assert isinstance(series, list) and len(series) >= 3, (name, series)
    if held is not None:
        assert max(metrics["system/gpu0/memory_used_mb"]) > 512
        assert max(metrics["system/gpu0/utilization_percent"]) > 0
    print({k: v[-1] for k, v in metrics.items() if k.startswith("system/gpu")})
