"""What the team-store fault tests share: a training program started as a user starts one, and
waiting on the files it writes to say where it is; for the S3 fault tests, the relay to S3, an
object as the bucket holds it, and the ``runlog`` command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tcp_relay import Relay


def runlog_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """The messages of the warnings runlog gave (a test's ``warnings.catch_warnings(record=True)``)."""
    return [str(w.message) for w in caught if str(w.message).startswith("runlog")]


def wait_for_file(path: Path, proc: subprocess.Popen[str], deadline: float) -> None:
    """Wait until ``proc`` writes ``path``; fail (with its output) if it ends or ``deadline`` passes first."""
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)


def start_program(script: str, tmp_path: Path, args: list[str], env: dict[str, str],
                  name: str = "train.py") -> tuple[subprocess.Popen[str], str, float]:
    """Write ``script`` to ``tmp_path/name`` and run it with ``args`` (stdout and stderr piped); return
    the process, the run id it writes to ``tmp_path/run-id`` once its run exists, and the deadline
    (60 s from now) for waiting on it."""
    path = tmp_path / name
    path.write_text(script)
    proc = subprocess.Popen([sys.executable, str(path), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    wait_for_file(tmp_path / "run-id", proc, deadline)
    return proc, (tmp_path / "run-id").read_text(), deadline


def relay_to_s3(s3_endpoint: str) -> Iterator[Relay]:
    """A started relay to the moto server at ``s3_endpoint`` (the S3 tests' ``s3_relay`` fixture: runlog's
    only way to S3 there); closed when the generator is."""
    started = Relay(urlparse(s3_endpoint).port or 80, postgres=False)
    started.start()
    yield started
    started.resume()  # a stalled relay forwards again, so closing it waits on nothing
    started.cut()


def s3_object(s3_client: Any, s3_bucket: str, key: str) -> bytes | None:
    """The bytes the bucket holds under ``key`` of the artifact root ``s3_bucket`` (``s3://bucket/prefix``), or None."""
    bucket, _, prefix = s3_bucket[len("s3://"):].partition("/")
    try:
        return bytes(s3_client.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read())
    except s3_client.exceptions.NoSuchKey:
        return None


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``runlog ARGS`` in a fresh interpreter run in ``cwd``, with this process's environment."""
    return subprocess.run([sys.executable, "-c", "import sys; from runlog_core.cli.main import main; "
                           "sys.exit(main(sys.argv[1:]))", *args], cwd=cwd, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120)
