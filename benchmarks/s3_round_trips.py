"""S3 requests per artifact upload: what one ``upload_file`` / ``upload_folder`` costs in round trips.

    python benchmarks/s3_round_trips.py          # needs boto3 and moto[server]; about 10 seconds

It starts moto in server mode on a free loopback port (real HTTP, as MinIO or AWS would be reached),
uploads through the real :class:`~runlog_core.store.artifacts.s3.S3ArtifactStore` (alone, and under a
SQLite store with ``RUNLOG_ARTIFACTS=s3://...`` for ``Run.upload_file`` and ``Run.upload_folder``),
and counts every request the store's boto3 client sends (botocore's ``before-send.s3`` event, so
retries would count too), by operation. It also counts how often an artifact name (and the run id)
is actually checked: the evaluations of ``runlog_core.base.artifact_names._problem``.

It measures only the code it imports. The figures of the code before issue 16's optimisation (commit
dcedb80, the same scenarios, this script run against that tree):

    scenario                                    uploads  HEAD  LIST  PUT  other  total  per upload  name checks/upload
    store: outputs/model.pt (fresh store)             1     1     1    1      0      3         3.0  2 (+3 run id)
    store: a/b/c/d.bin (fresh store)                  1     3     1    1      0      5         5.0  2 (+3 run id)
    store: a/b/c/e.bin (same store)                   1     3     1    1      0      5         5.0  2 (+3 run id)
    store: a/b/c/d.bin again (overwrite)              1     3     1    1      0      5         5.0  2 (+3 run id)
    run: upload_file outputs/model.pt                 1     1     1    1      0      3         3.0  4 (+3 run id)
    run: upload_folder, 10 files in ckpt/            10    10    10   10      0     30         3.0  4.1 (+3 run id)
    run: upload_folder, 5 in ckpt/ + 5 in sub/       10    15    10   10      0     35         3.5  4.1 (+3 run id)

So ``outputs/model.pt`` cost 2 requests before its PUT (a HEAD of ``outputs`` and a LIST of
``outputs/model.pt/``), not 3; each parent folder costs a HEAD on every upload. The store alone checks
the name twice per upload (in ``put_*`` and in ``uri()``, which the benchmark calls after it as ``Run``
does) and the run id three times; ``Run`` adds two checks of the name of its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KINDS = ("HeadObject", "ListObjectsV2", "PutObject")
HEADER = ("scenario", "uploads", "HEAD", "LIST", "PUT", "other", "total", "per upload", "name checks/upload")


class Counts:
    """Requests by operation and name checks, for one scenario."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.names = 0
        self.run_ids = 0


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 in server mode on 127.0.0.1 and a free port; yields its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def point_boto3_at(endpoint: str, scratch: Path) -> None:
    """Test credentials and the endpoint in the environment; no ~/.aws file is read."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE"):
        os.environ.pop(name, None)
    os.environ.update({
        "AWS_CONFIG_FILE": str(scratch / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws"),
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench-key", "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    })


class Meter:
    """Counts the requests of the store clients it watches and the name checks, while ``active``."""

    def __init__(self) -> None:
        self.active: Counts | None = None
        self.run_ids: set[str] = set()  # checks of these are of a run id, not of an artifact name
        self._watched: set[int] = set()
        from runlog_core.base import artifact_names as names

        self._names = names
        problem = names._problem

        def counting(name: str) -> str | None:
            if self.active is not None:
                if name in self.run_ids:
                    self.active.run_ids += 1
                else:
                    self.active.names += 1
            return problem(name)

        names._problem = counting  # artifact_name_problem looks it up at each call

    def watch(self, store: Any) -> None:
        """Count the requests of ``store``'s boto3 client."""
        client = store._get_client()
        if id(client) in self._watched:
            return
        self._watched.add(id(client))

        def before_send(event_name: str, **_: Any) -> None:
            if self.active is not None:
                self.active.requests[event_name.rsplit(".", 1)[-1]] += 1

        client.meta.events.register("before-send.s3", before_send)

    @contextmanager
    def measuring(self) -> Iterator[Counts]:
        memo = getattr(self._names, "_memo", None)
        if memo is not None:  # the memo of checked names: each scenario starts without one
            memo.cache_clear()
        counts = Counts()
        self.active = counts
        try:
            yield counts
        finally:
            self.active = None


def row(title: str, uploads: int, counts: Counts) -> tuple[str, ...]:
    other = sum(n for kind, n in counts.requests.items() if kind not in KINDS)
    total = sum(counts.requests.values())
    return (title, str(uploads), *(str(counts.requests[kind]) for kind in KINDS), str(other), str(total),
            f"{total / uploads:.1f}", f"{counts.names / uploads:g} (+{counts.run_ids / uploads:g} run id)")


def store_scenarios(meter: Meter, bucket: str, scratch: Path) -> list[tuple[str, ...]]:
    """Uploads through the store alone, as ``Run`` makes them (``put_file`` then ``uri``)."""
    from runlog_core.store.artifacts.s3 import S3ArtifactStore

    source = scratch / "model.pt"
    source.write_bytes(os.urandom(4096))
    rows = []

    def upload(title: str, store: S3ArtifactStore, run_id: str, name: str) -> None:
        meter.watch(store)
        meter.run_ids.add(run_id)
        with meter.measuring() as counts:
            store.put_file(run_id, name, source)
            store.uri(run_id, name)
        rows.append(row(title, 1, counts))

    plan: list[tuple[str, bool, str]] = [
        ("store: outputs/model.pt (fresh store)", True, "outputs/model.pt"),
        ("store: a/b/c/d.bin (fresh store)", True, "a/b/c/d.bin"),
        ("store: a/b/c/e.bin (same store)", False, "a/b/c/e.bin"),
        ("store: a/b/c/d.bin again (overwrite)", False, "a/b/c/d.bin"),
    ]
    store: S3ArtifactStore | None = None
    run_id = ""
    for title, fresh, name in plan:
        if fresh or store is None:
            if store is not None:
                store.close()
            store, run_id = S3ArtifactStore(f"s3://{bucket}/bench"), f"run-{uuid.uuid4().hex[:12]}"
        upload(title, store, run_id, name)
    if store is not None:
        store.close()
    return rows


def run_scenarios(meter: Meter, bucket: str, scratch: Path) -> list[tuple[str, ...]]:
    """``Run.upload_file`` and ``Run.upload_folder`` under a SQLite store with artifacts in the bucket."""
    from runlog_core import Experiment

    os.environ["RUNLOG_ARTIFACTS"] = f"s3://{bucket}/bench"
    os.environ["RUNLOG_STORE"] = str(scratch / "runlog")
    flat, nested = scratch / "flat", scratch / "nested"
    (nested / "sub").mkdir(parents=True)
    flat.mkdir()
    for i in range(10):
        (flat / f"f{i}.bin").write_bytes(os.urandom(1024))
        (nested / ("" if i < 5 else "sub") / f"f{i}.bin").write_bytes(os.urandom(1024))
    model = scratch / "model.pt"
    rows = []
    experiment = Experiment("s3-round-trips")

    def measured(title: str, uploads: int, action: Callable[[Any], object]) -> None:
        run = experiment.start_logging(outputs=None)
        meter.watch(experiment._store.artifacts)
        meter.run_ids.add(run.id)
        with meter.measuring() as counts:
            action(run)
        run.complete()
        rows.append(row(title, uploads, counts))

    measured("run: upload_file outputs/model.pt", 1, lambda run: run.upload_file("outputs/model.pt", model))
    measured("run: upload_folder, 10 files in ckpt/", 10, lambda run: run.upload_folder("ckpt", flat))
    measured("run: upload_folder, 5 in ckpt/ + 5 in sub/", 10, lambda run: run.upload_folder("ckpt", nested))
    experiment.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    try:
        import boto3
        import moto.server  # noqa: F401
    except ImportError as err:
        print(f"needs boto3 and moto[server]: {err}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="runlog-s3-bench-") as folder, moto_server() as endpoint:
        scratch = Path(folder)
        point_boto3_at(endpoint, scratch)
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        meter = Meter()
        rows = store_scenarios(meter, bucket, scratch) + run_scenarios(meter, bucket, scratch)
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for line in [HEADER, *rows]:
        print("  ".join(cell.ljust(w) if i in (0, len(HEADER) - 1) else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(line, widths))).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
