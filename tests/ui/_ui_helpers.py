"""Starting `runlog ui` as a user does (a subprocess; the URL it prints first, with its token) and talking
HTTP to it. `get` sends the token of a server started here (as a Bearer header) unless told not to."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RUNLOG = shutil.which("runlog") or str(Path(sys.executable).parent / "runlog")
TOKENS: dict[str, str] = {}  # base URL -> the token of a server started by these tests


def served(printed: str) -> str:
    """The base URL of the URL a server printed (or ``start_server`` returned); its token is remembered."""
    parts = urlsplit(printed.strip())
    base = f"{parts.scheme}://{parts.netloc}"
    token = parse_qs(parts.query).get("token")
    if token:
        TOKENS[base] = token[0]
    return base


def token_of(url: str) -> str | None:
    parts = urlsplit(url)
    return TOKENS.get(f"{parts.scheme}://{parts.netloc}")


def start_ui(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """`runlog ui <args> --port 0`: the process and its URL (without a trailing slash), once it answers."""
    proc = subprocess.Popen([RUNLOG, "ui", *args, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http"):
        proc.kill()
        raise AssertionError(f"runlog ui printed {line!r} instead of its URL: {proc.communicate()}")
    url = served(line)
    deadline = time.monotonic() + 30
    while True:  # the socket listens before the URL is printed; wait until the app answers
        try:
            with urllib.request.urlopen(url + "/static/index.html", timeout=5):
                return proc, url
        except urllib.error.HTTPError:  # answered (an error): it is up
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


def stop(proc: subprocess.Popen[str]) -> int:
    """Ctrl-C, as a user stops it; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def get(url: str, headers: dict[str, str] | None = None, anonymous: bool = False) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers (lower-case names) and body, errors included (no redirects followed).
    With the server's token as a Bearer header, unless ``anonymous`` or ``headers`` carry credentials."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    headers = dict(headers or {})
    token = token_of(url)
    if token and not anonymous and not {k.lower() for k in headers} & {"authorization", "cookie"}:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def get_json(url: str, status: int = 200) -> Any:
    code, headers, body = get(url)
    assert code == status, (code, body[:500])
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)


def raw_get(base: str, target: str, host: str | None = None, anonymous: bool = False) -> tuple[int, bytes]:
    """A request with ``target`` sent exactly as written (no client normalises ``..`` away)."""
    import http.client

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_host=True)
        conn.putheader("Host", parts.netloc if host is None else host)
        token = token_of(base)
        if token and not anonymous:
            conn.putheader("Authorization", f"Bearer {token}")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
