"""Fixtures for a real S3 endpoint: moto in server mode on a free loopback port, reached over HTTP.

``s3_endpoint`` (session): the server's URL. ``s3_bucket``: a fresh bucket, with ``AWS_ENDPOINT_URL``
and test credentials set for the test, as ``s3://<bucket>/team``. ``s3_client``: a boto3 client for it.
Nothing is mocked in process: runlog's boto3 client talks HTTP to the server like to MinIO or AWS.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

ACCESS_KEY = "runlog-test-key"
SECRET_KEY = "runlog-test-secret-never-shown"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 and a free port, for the whole session; yields its URL."""
    server_module = pytest.importorskip("moto.server")
    # werkzeug logs every request at INFO: kept off the console, and out of runs capturing `logging`
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Point boto3 at the server with test credentials (no ~/.aws, no profile); returns the endpoint."""
    missing = tmp_path_factory.mktemp("no-aws") / "none"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3",
                 "AWS_CA_BUNDLE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_endpoint


@pytest.fixture
def s3_client(s3_env: str) -> Any:
    """A boto3 S3 client of the test's own for the server (to create, list and read objects)."""
    boto3 = pytest.importorskip("boto3")
    return boto3.client("s3", endpoint_url=s3_env)


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A fresh, empty bucket; returns ``s3://<bucket>/team`` (set it as ``RUNLOG_ARTIFACTS``)."""
    bucket = f"runlog-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    return f"s3://{bucket}/team"
