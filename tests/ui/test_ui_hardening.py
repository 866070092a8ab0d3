"""Issue 24: what other local users and idle clients can do to a `runlog ui`. Real `runlog ui` processes,
real sockets; "another user" is a child process that drops to uid/gid 65534 (nobody)."""

from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest

pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import RUNLOG, get, served, start_ui, stop

TOKEN = "a-token-of-the-tests-0123456789"
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("ui_hardening")
    path = str(folder / "store")
    from runlog_core import Experiment
    from runlog_core.plugins import manager as _plugins
    from runlog_core.writer import registry as _writers

    with Experiment("private", store=path).start_logging(name="secret-run-name", outputs=None) as run:
        run.log_params({"secret_param": "hunter2-value"})
        run_id = run.id
    for opened in _plugins.open_stores():
        _writers.close_store(opened)
    yield {"store": path, "run": run_id}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RUNLOG_UI_TOKEN"}
    return {**env, **extra}


@pytest.fixture(scope="module")
def tokened(store: dict[str, str]) -> Iterator[str]:
    """A `runlog ui` whose token is RUNLOG_UI_TOKEN=TOKEN; its URL."""
    proc, url = start_ui("--store", store["store"], env=_env(RUNLOG_UI_TOKEN=TOKEN))
    yield url
    assert stop(proc) == 0


# -- 1. every local user could read every run ----------------------------------------------------------

AS_NOBODY = r"""
import json, os, sys, urllib.error, urllib.request
base, run, pid = sys.argv[1], sys.argv[2], sys.argv[3]
answers = {}
for path in ("/", "/api/experiments", "/api/runs/" + run, "/api/runs/" + run + "/log", "/runs/" + run):
    try:
        with urllib.request.urlopen(base + path, timeout=20) as response:
            answers[path] = [response.status, response.read().decode("utf-8", "replace")]
    except urllib.error.HTTPError as err:
        answers[path] = [err.code, err.read().decode("utf-8", "replace")]
seen = {}
for name in ("cmdline", "environ"):
    try:
        with open("/proc/" + pid + "/" + name, "rb") as found:
            seen[name] = found.read().decode("utf-8", "replace")
    except OSError as err:
        seen[name] = "unreadable: " + err.strerror
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "answers": answers, "seen": seen}))
"""


def _as_nobody(base: str, run: str, pid: int) -> dict[str, Any]:
    if os.geteuid() != 0 or not Path(SYSTEM_PYTHON).exists():
        pytest.skip("acting as another user needs root and a system python")

    def drop() -> None:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    done = subprocess.run([SYSTEM_PYTHON, "-I", "-c", AS_NOBODY, base, run, str(pid)], preexec_fn=drop, cwd="/",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    assert (found["uid"], found["gid"]) == (65534, 65534)
    return found


def test_another_local_user_reads_nothing_without_the_token(store: dict[str, str]) -> None:
    proc, url = start_ui("--store", store["store"], env=_env())
    try:
        found = _as_nobody(url, store["run"], proc.pid)
        for path, (status, body) in found["answers"].items():
            assert status == 401, (path, status, body[:200])
            assert "secret-run-name" not in body and "hunter2" not in body and "private" not in body, path
            assert json.loads(body)["error"].startswith("this server needs its token")
        # and it cannot find the token: a random one, on no command line; the environment is the owner's
        assert get(url + "/api/experiments")[0] == 200
        from _ui_helpers import TOKENS

        assert TOKENS[url] not in found["seen"]["cmdline"] and "runlog" in found["seen"]["cmdline"]
        assert found["seen"]["environ"].startswith("unreadable")
    finally:
        assert stop(proc) == 0


def test_no_token_serves_every_local_user_and_says_so(store: dict[str, str]) -> None:
    proc, url = start_ui("--store", store["store"], "--no-token", env=_env(RUNLOG_UI_TOKEN=TOKEN))
    try:
        found = _as_nobody(url, store["run"], proc.pid)
        assert found["answers"]["/api/experiments"][0] == 200  # what --no-token means, and says
    finally:
        assert stop(proc) == 0
    assert proc.stderr is not None
    lines = proc.stderr.read().strip().splitlines()
    assert lines == ["runlog ui: --no-token: every user of this machine can read these runs at this address "
                     "(their names, params, metrics, logs and files)"]


# -- 2. idle connections locked the UI out ------------------------------------------------------------------


def _start_limited(store: str, files: int, err: Path) -> tuple[subprocess.Popen[str], str]:
    """`runlog ui --host 0.0.0.0` whose process may open ``files`` descriptors; stderr to ``err``."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    proc = subprocess.Popen([RUNLOG, "ui", "--store", store, "--port", "0", "--host", "0.0.0.0"],
                            stdout=subprocess.PIPE, stderr=err.open("wb"), text=True, preexec_fn=limit,
                            env=_env(RUNLOG_UI_TOKEN=TOKEN))
    assert proc.stdout is not None
    url = served(proc.stdout.readline())
    deadline = time.monotonic() + 30
    while get(url + "/static/app.js")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc, url


def _closed_by_peer(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_300_idle_connections_do_not_lock_out_the_owner(store: dict[str, str], tmp_path: Path) -> None:
    err = tmp_path / "stderr.txt"
    proc, url = _start_limited(store["store"], 256, err)
    port = urlsplit(url).port
    idle: list[socket.socket] = []
    try:
        for _ in range(300):  # connect, send nothing
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        time.sleep(1)
        descriptors = len(os.listdir(f"/proc/{proc.pid}/fd"))
        started = time.monotonic()
        status, _headers, body = get(url + "/api/experiments")
        answered = time.monotonic() - started
        assert status == 200 and b"private" in body
        assert answered < 5, answered
        assert descriptors < 256 - 16, descriptors  # capped below the limit, room left for the store
        time.sleep(6)  # the request timeout (5 s) has passed for every idle connection: all closed
        assert all(_closed_by_peer(sock, 0.5) for sock in idle)
        assert get(url + "/api/experiments")[0] == 200
    finally:
        for sock in idle:
            sock.close()
        assert stop(proc) == 0
    size = err.stat().st_size
    assert size < 4096, err.read_text()[:2000]
    print(f"300 idle connections, open-file limit 256: the owner's request answered in {answered * 1000:.0f} ms; "
          f"the server held {descriptors} descriptors; stderr {size} bytes")


def test_running_out_of_descriptors_is_one_line_per_10_seconds(store: dict[str, str], tmp_path: Path) -> None:
    """An open-file limit of 24 leaves the server no room at all: accepts fail for seconds on end.
    Python 3.11's asyncio logs a traceback per failed accept (60 MB in 30 s); runlog, one line per 10 s."""
    err = tmp_path / "stderr.txt"
    proc, url = _start_limited(store["store"], 24, err)
    idle: list[socket.socket] = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", urlsplit(url).port), timeout=10))
        time.sleep(12)
    finally:
        for sock in idle:
            sock.close()
        assert stop(proc) == 0
    lines = err.read_text().splitlines()
    assert 1 <= len(lines) <= 3, lines
    assert all("runlog ui: out of file descriptors (open-file limit 24): new connections wait" in line
               for line in lines)
    assert "more times since the last such message" in lines[-1] or len(lines) == 1


def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(store: dict[str, str], tmp_path: Path) -> None:
    proc, url = _start_limited(store["store"], 1024, tmp_path / "stderr.txt")
    try:
        slow = socket.create_connection(("127.0.0.1", urlsplit(url).port), timeout=10)
        started = time.monotonic()
        closed = False
        for byte in b"GET /api/experiments HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60:
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if _closed_by_peer(slow, 0.5):
                closed = True
                break
        elapsed = time.monotonic() - started
        assert closed and elapsed < 8, elapsed  # 5 s for a whole request head, not 5 s per byte
        slow.close()
    finally:
        assert stop(proc) == 0


# -- 4. token mode --------------------------------------------------------------------------------------------


def _raw(url: str, target: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("target", ["//other-host/x?token={t}", "/\\other-host?token={t}", "/%E2%80%A8?token={t}",
                                    "///other-host?token={t}", "/%2F%2Fother-host?token={t}",
                                    "/..//other-host/?token={t}", "/\\/other-host?a=1&token={t}",
                                    "/runs/x?next=//evil&token={t}"])
def test_the_token_redirect_stays_on_this_server(tokened: str, target: str) -> None:
    url = tokened
    status, headers, body = _raw(url, target.format(t=quote(TOKEN)))
    assert b"Traceback" not in body and status != 500
    assert headers["x-content-type-options"] == "nosniff" and "frame-ancestors" in headers["content-security-policy"]
    if status == 303:
        location = headers["location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location
        assert "\\" not in location and location.isascii()
        assert urlsplit(urljoin(url + "/", location)).netloc == urlsplit(url).netloc
        assert TOKEN not in location
        # and where it leads is answered: a page, or a JSON 404
        status, headers, body = _raw(url, location)
        assert status in (200, 401, 404) and b"Traceback" not in body
    else:
        assert headers["content-type"] == "application/json" and json.loads(body)["error"]


@pytest.mark.parametrize("request_bytes", [b"NOT A REQUEST LINE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                                           b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000])  # a head over 16 KiB, unfinished
def test_uvicorns_own_400_is_one_json_line_with_the_security_headers(tokened: str, request_bytes: bytes) -> None:
    with socket.create_connection(("127.0.0.1", urlsplit(tokened).port), timeout=10) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    assert lines[0] == "HTTP/1.1 400 Bad Request"
    assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer" and "default-src 'self'" in headers["content-security-policy"]
    assert body.count(b"\n") == 1 and json.loads(body)["error"].startswith("malformed request")


def _login_cookie(url: str, token: str) -> tuple[str, str]:
    status, headers, _body = get(f"{url}/?token={quote(token)}", anonymous=True)
    assert status == 303
    name, _, value = headers["set-cookie"].split(";")[0].partition("=")
    return name, value


def test_the_cookie_is_random_per_start_and_named_for_the_port(store: dict[str, str]) -> None:
    values = []
    for _ in range(2):
        proc, url = start_ui("--store", store["store"], env=_env(RUNLOG_UI_TOKEN=TOKEN))
        try:
            name, value = _login_cookie(url, TOKEN)
            assert name == f"runlog_ui_{urlsplit(url).port}"
            assert get(url + "/api/experiments", headers={"Cookie": f"{name}={value}"})[0] == 200
            values.append((url, name, value))
        finally:
            assert stop(proc) == 0
    assert values[0][2] != values[1][2]  # the same token, two starts: two cookies
    assert TOKEN not in values[0][2] and len(values[0][2]) >= 32
    # a cookie of a stopped server is worth nothing to the next one, even under its name
    proc, url = start_ui("--store", store["store"], env=_env(RUNLOG_UI_TOKEN=TOKEN))
    try:
        name = f"runlog_ui_{urlsplit(url).port}"
        assert get(url + "/api/experiments", headers={"Cookie": f"{name}={values[1][2]}"})[0] == 401
    finally:
        assert stop(proc) == 0


@pytest.mark.parametrize(("args", "env_token", "says"), [
    (["--token", "short"], None, "5 characters long: a token needs at least 16"),
    (["--token", ""], None, "0 characters long"),
    (["--token", "a token with spaces in it"], None, "holds a space"),
    ([], "tab\tinside-a-long-enough-token", "RUNLOG_UI_TOKEN holds a space"),
    ([], "x", "RUNLOG_UI_TOKEN is 1 characters long"),
    (["--host", "0.0.0.0", "--token", " " * 20], None, "holds a space"),
])
def test_a_weak_token_is_refused_at_start_in_one_line(store: dict[str, str], args: list[str], env_token: str | None,
                                                      says: str) -> None:
    env = _env() if env_token is None else _env(RUNLOG_UI_TOKEN=env_token)
    done = subprocess.run([RUNLOG, "ui", "--store", store["store"], "--port", "0", *args], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], lines


def test_wrong_tokens_are_slowed_down(tokened: str) -> None:
    url = tokened

    def timed(token: str) -> tuple[int, float]:
        started = time.monotonic()
        status = get(url + "/api/experiments", headers={"Authorization": f"Bearer {token}"})[0]
        return status, time.monotonic() - started

    timed(TOKEN)  # warm
    right = [timed(TOKEN) for _ in range(3)]
    wrong = [timed(TOKEN[:-1] + "X") for _ in range(3)]
    assert {status for status, _ in right} == {200} and {status for status, _ in wrong} == {401}
    fastest_wrong = min(seconds for _, seconds in wrong)
    slowest_right = max(seconds for _, seconds in right)
    assert fastest_wrong > 0.5 and fastest_wrong > 3 * slowest_right, (right, wrong)
    # at once they wait in line: four wrong tokens together take about four times as long as one
    results: list[tuple[int, float]] = []
    threads = [threading.Thread(target=lambda: results.append(timed("wrong-" + TOKEN))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(seconds for _, seconds in results) > 3 * fastest_wrong * 0.8, results
    print(f"right token: {slowest_right * 1000:.0f} ms at most; wrong: {fastest_wrong:.2f} s at least; "
          f"4 wrong at once: the last after {max(s for _, s in results):.2f} s")


class _Buggy:
    """A store whose listing fails with a bug (not a store error): the store contract, delegated."""

    def __init__(self, store: Any) -> None:
        self._inner, self.uri = store, store.uri + "#buggy"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def list_experiments(self) -> Any:
        raise RuntimeError("a bug in a store plugin")


def test_a_500_is_one_json_line_with_the_security_headers(store: dict[str, str]) -> None:
    from runlog_core.integration import open_store
    from runlog_ui import start_server

    url = served(start_server(_Buggy(open_store(store["store"]))))
    status, headers, body = get(url + "/api/experiments")
    assert status == 500 and headers["content-type"] == "application/json"
    assert body.count(b"\n") == 0 and json.loads(body)["error"].startswith("internal error")
    assert b"Traceback" not in body and headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors" in headers["content-security-policy"]
