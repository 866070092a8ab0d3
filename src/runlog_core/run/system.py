"""System metrics: CPU, memory and (NVIDIA) GPU use sampled into a run as ``system/*`` metrics.

A daemon thread samples every ``RUNLOG_SYSTEM_INTERVAL`` seconds (10 by default) and logs:

- ``system/cpu_percent``: the whole machine's CPU use, 0-100 over all cores;
- ``system/memory_used_percent``: the whole machine's memory in use;
- ``system/process_cpu_percent``: CPU use of the watched process and its descendants
  (100 = one core busy);
- ``system/rss_mb``: resident memory of the watched process and its descendants;
- ``system/gpu{i}/utilization_percent``, ``system/gpu{i}/memory_used_mb``,
  ``system/gpu{i}/memory_percent`` for each NVIDIA GPU, when nvidia-ml-py (``pynvml``) is
  importable and NVML starts.

psutil is used when it is installed; otherwise Linux's ``/proc`` gives the same numbers.
Neither psutil nor pynvml is imported before a monitor starts.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from runlog_core.base import config as _config
from runlog_core.exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from runlog_core.run.run import Run

__all__ = ["SystemMonitor", "sample_once", "start_monitor"]

_MB = 1024.0 * 1024.0


def _interval(interval: float | None) -> float:
    """``interval`` (at least 0.05 s), else ``RUNLOG_SYSTEM_INTERVAL`` (10 s).

    Raises:
        InvalidArgumentError: ``interval`` is not a positive number.
        ConfigError: ``interval`` is ``None`` and ``RUNLOG_SYSTEM_INTERVAL`` is not a positive number.
    """
    if interval is None:
        return _config.system_interval()
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval < float("inf"):
        raise InvalidArgumentError("interval", interval, "a positive number of seconds, or None")
    return max(0.05, float(interval))


class _ProcSampler:
    """CPU and memory from ``/proc`` (Linux), for when psutil is not installed."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._last_cpu: tuple[float, float] | None = None  # (busy ticks, total ticks) machine-wide
        self._last_tree: tuple[float, dict[int, float]] | None = None  # (wall time, cpu seconds per pid)

    @staticmethod
    def available() -> bool:
        return os.path.exists("/proc/self/stat") and os.path.exists("/proc/stat")

    def _tree(self) -> list[int]:
        parents: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry))
        tree, todo = [], [self._pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(parents.get(pid, []))
        return tree

    def sample(self) -> dict[str, float]:
        values: dict[str, float] = {}
        with open("/proc/stat") as handle:
            cpu = [float(x) for x in handle.readline().split()[1:]]
        idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0.0)
        total = sum(cpu[:8])
        if self._last_cpu is not None and total > self._last_cpu[1]:
            busy_delta = (total - idle) - self._last_cpu[0]
            values["system/cpu_percent"] = round(100.0 * busy_delta / (total - self._last_cpu[1]), 2)
        self._last_cpu = (total - idle, total)
        meminfo = {}
        with open("/proc/meminfo") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                meminfo[key] = float(rest.split()[0])
        if "MemAvailable" in meminfo and meminfo.get("MemTotal"):
            values["system/memory_used_percent"] = round(
                100.0 * (1.0 - meminfo["MemAvailable"] / meminfo["MemTotal"]), 2)
        rss = 0.0
        seconds: dict[int, float] = {}
        for pid in self._tree():
            fields = _stat_fields(pid)
            if fields is None:
                continue
            if fields[0] in (b"Z", b"X"):  # exited, not yet reaped: no longer uses anything
                continue
            seconds[pid] = (int(fields[11]) + int(fields[12])) / self._ticks  # utime + stime
            rss += int(fields[21]) * self._page
        if not seconds:
            return values
        now = time.monotonic()
        if self._last_tree is not None and now > self._last_tree[0]:
            before = self._last_tree[1]
            used = sum(max(0.0, s - before.get(pid, 0.0)) for pid, s in seconds.items() if pid in before)
            values["system/process_cpu_percent"] = round(100.0 * used / (now - self._last_tree[0]), 2)
        self._last_tree = (now, seconds)
        values["system/rss_mb"] = round(rss / _MB, 3)
        return values


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or ``None`` if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()


class _PsutilSampler:
    def __init__(self, pid: int, psutil: Any) -> None:
        self._psutil = psutil
        self._root = psutil.Process(pid)
        self._procs: dict[int, Any] = {}
        psutil.cpu_percent(None)

    def sample(self) -> dict[str, float]:
        psutil = self._psutil
        values = {"system/cpu_percent": float(psutil.cpu_percent(None)),
                  "system/memory_used_percent": float(psutil.virtual_memory().percent)}
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return values
        cpu = rss = 0.0
        seen = {}
        for proc in procs:
            known = self._procs.get(proc.pid, proc)
            try:
                percent = known.cpu_percent(None)
                rss += known.memory_info().rss
            except psutil.Error:
                continue
            if proc.pid in self._procs:
                cpu += percent
            seen[proc.pid] = known
        first = not self._procs
        self._procs = seen
        if not first:
            values["system/process_cpu_percent"] = round(cpu, 2)
        values["system/rss_mb"] = round(rss / _MB, 3)
        return values


class _GpuSampler:
    def __init__(self, pynvml: Any) -> None:
        self._nvml = pynvml
        pynvml.nvmlInit()
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def sample(self) -> dict[str, float]:
        nvml = self._nvml
        values: dict[str, float] = {}
        for index, handle in enumerate(self._handles):
            try:
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            except Exception:
                continue
            prefix = f"system/gpu{index}/"
            values[prefix + "utilization_percent"] = float(rates.gpu)
            values[prefix + "memory_used_mb"] = round(memory.used / _MB, 3)
            if memory.total:
                values[prefix + "memory_percent"] = round(100.0 * memory.used / memory.total, 2)
        return values

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass


def _samplers(pid: int) -> tuple[Any, Any]:
    try:
        import psutil
    except ImportError:
        psutil = None
    host: Any = None
    if psutil is not None:
        try:
            host = _PsutilSampler(pid, psutil)
        except Exception:
            host = None
    if host is None and _ProcSampler.available():
        host = _ProcSampler(pid)
    gpu: Any = None
    try:
        import pynvml

        gpu = _GpuSampler(pynvml)
    except Exception:  # not installed, no driver, no GPU: no GPU series
        gpu = None
    return host, gpu


def sample_once(pid: int | None = None) -> dict[str, float]:
    """One sample now (CPU percentages need two samples, so they are absent from the first)."""
    host, gpu = _samplers(os.getpid() if pid is None else pid)
    values: dict[str, float] = {}
    for sampler in (host, gpu):
        if sampler is not None:
            values.update(sampler.sample())
    if gpu is not None:
        gpu.close()
    return values


class SystemMonitor:
    """Samples into ``run`` on a daemon thread until :meth:`stop`."""

    def __init__(self, run: Run, interval: float, pid: int) -> None:
        self.run = run
        self.interval = interval
        self.pid = pid
        self.samples = 0
        self._stopped = threading.Event()
        self._host, self._gpu = _samplers(pid)
        self._thread = threading.Thread(target=self._loop, name=f"runlog-system-{run.id}", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        values: dict[str, float] = {}
        for sampler in (self._host, self._gpu):
            if sampler is None:
                continue
            try:
                values.update(sampler.sample())
            except Exception:  # a process that vanished mid-read, a GPU that fell off the bus
                continue
        if values:
            self.run.log_metrics(values)
            self.samples += 1

    def _loop(self) -> None:
        try:
            self._sample()  # a first point at once (memory); CPU % needs a second one
            while not self._stopped.wait(self.interval):
                self._sample()
        except Exception as err:
            warnings.warn(f"runlog: system metrics stopped for run {self.run.id}: {err!r}", RuntimeWarning,
                          stacklevel=2)
        finally:
            if self._gpu is not None:
                self._gpu.close()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)


def start_monitor(run: Run, interval: float | None = None, pid: int | None = None) -> SystemMonitor:
    """Start sampling into ``run`` every ``interval`` seconds (``RUNLOG_SYSTEM_INTERVAL``, 10 s).

    Args:
        run: the run the ``system/*`` metrics go into.
        interval: seconds between samples; ``None`` reads ``RUNLOG_SYSTEM_INTERVAL``.
        pid: the process whose tree (it and its descendants) CPU and RSS are measured for;
            this process by default, the script's for a submitted run.

    Raises:
        InvalidArgumentError: ``interval`` is not a positive number.
        ConfigError: ``interval`` is ``None`` and ``RUNLOG_SYSTEM_INTERVAL`` is not a positive number.
    """
    return SystemMonitor(run, _interval(interval), os.getpid() if pid is None else pid)
