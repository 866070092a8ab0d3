"""What `runlog ui` refuses: other Host names, writes, paths outside a run's files, requests without its
token; and the headers every answer carries. A real `runlog ui` process, spoken to over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

pytest.importorskip("starlette", reason="the UI needs the ui extra: pip install 'runlog[ui]'")
pytest.importorskip("uvicorn", reason="the UI needs the ui extra: pip install 'runlog[ui]'")

sys.path.insert(0, str(Path(__file__).parent))
from _ui_helpers import RUNLOG, get, raw_get, start_ui, stop

SECRET_BYTES = b"not in the index"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("ui_security")
    store = str(folder / "store")
    from runlog_core import Experiment
    from runlog_core.plugins import manager as _plugins
    from runlog_core.writer import registry as _writers

    exp = Experiment("safety", store=store)
    with exp.start_logging(name="files", outputs=None) as run:
        run.upload_file("outputs/report.html", b"<html><script>alert(1)</script></html>")
        run.upload_file("outputs/plot.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
        run.upload_file("outputs/feed.xml", b"<a/>")
        run.upload_file("outputs/notes.txt", b"plain notes")
        run.upload_file("outputs/data.json", b'{"a": 1}')
        run.upload_file("outputs/model.bin", b"\x00weights")
        run.upload_file("outputs/caf\u00e9 & co.txt", b"accented")
        run_id = run.id
    # a file in the run's own artifact folder that the run never logged: never served
    notes = Path(urlsplit(exp._store.artifacts.uri(run_id, "outputs/notes.txt")).path)
    (notes.parent / "secret.txt").write_bytes(SECRET_BYTES)
    (folder / "outside.txt").write_bytes(SECRET_BYTES)
    for opened in _plugins.open_stores():
        _writers.close_store(opened)
    proc, url = start_ui("--store", store)
    yield {"url": url, "run": run_id, "store": store, "folder": folder}
    assert stop(proc) == 0


def test_files_are_served_with_their_type_and_html_svg_xml_as_attachments(served: dict[str, Any]) -> None:
    base = f"{served['url']}/api/runs/{served['run']}/files/"
    expected = {
        "outputs/report.html": ("text/html", "attachment"),
        "outputs/plot.svg": ("image/svg+xml", "attachment"),
        "outputs/feed.xml": ("xml", "attachment"),
        "outputs/model.bin": ("application/octet-stream", "attachment"),
        "outputs/notes.txt": ("text/plain", "inline"),
        "outputs/data.json": ("application/json", "inline"),
    }
    for name, (kind, disposition) in expected.items():
        status, headers, body = get(base + quote(name))
        assert status == 200, name
        assert kind in headers["content-type"] and headers["content-disposition"].startswith(disposition), name
        assert headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in headers["content-security-policy"], name  # opened directly, no script runs
    status, headers, body = get(base + quote("outputs/caf\u00e9 & co.txt"))
    assert status == 200 and body == b"accented"
    assert "filename*=UTF-8''caf%C3%A9%20%26%20co.txt" in headers["content-disposition"]


@pytest.mark.parametrize("target", [
    "/api/runs/{run}/files/../../../../etc/passwd",
    "/api/runs/{run}/files/outputs/../../../outside.txt",
    "/api/runs/{run}/files/outputs/%2e%2e/%2e%2e/%2e%2e/outside.txt",
    "/api/runs/{run}/files/outputs%2f..%2f..%2f..%2foutside.txt",
    "/api/runs/{run}/files//etc/passwd",
    "/api/runs/{run}/files/%2fetc%2fpasswd",
    "/api/runs/{run}/files/outputs/secret.txt",
    "/api/runs/{run}/files/outputs/notes.txt%00.png",
    "/api/runs/{run}/files/outputs\\..\\..\\outside.txt",
    "/api/runs/..%2f..%2f/files/outputs/notes.txt",
    "/api/runs/{run}/files/",
])
def test_nothing_outside_the_runs_file_index_is_served(served: dict[str, Any], target: str) -> None:
    status, body = raw_get(served["url"], target.format(run=served["run"]))
    assert status == 404, (target, status, body[:200])
    assert SECRET_BYTES not in body and b"root:" not in body


@pytest.mark.parametrize("host", ["evil.com", "evil.com:{port}", "127.0.0.1:1", "localhost.evil.com:{port}",
                                  "127.0.0.1.nip.io:{port}", ""])
def test_a_foreign_host_header_is_refused(served: dict[str, Any], host: str) -> None:
    port = urlsplit(served["url"]).port
    status, body = raw_get(served["url"], "/api/experiments", host=host.format(port=port))
    assert status == 403 and b"Host" in body


def test_its_own_names_are_answered(served: dict[str, Any]) -> None:
    port = urlsplit(served["url"]).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        status, _body = raw_get(served["url"], "/api/experiments", host=host)
        assert status == 200, host


def test_only_get_and_head(served: dict[str, Any]) -> None:
    import http.client

    parts = urlsplit(served["url"])
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request(method, "/api/experiments", body=b"{}", headers={"Origin": "http://evil.com"})
        response = conn.getresponse()
        assert response.status == 405, method
        assert response.getheader("allow") == "GET, HEAD"
        assert response.getheader("access-control-allow-origin") is None
        conn.close()
    status, headers, _body = get(served["url"] + "/api/experiments", headers={"Origin": "http://evil.com"})
    assert status == 200 and not [h for h in headers if h.startswith("access-control-")]


def test_every_answer_carries_the_security_headers(served: dict[str, Any]) -> None:
    for path in ("/", "/api/experiments", "/static/app.js", "/api/runs/nope"):
        _status, headers, _body = get(served["url"] + path)
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
    _status, headers, _body = get(served["url"] + "/")
    csp = headers["content-security-policy"]
    for part in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
                 "object-src 'none'", "frame-ancestors 'self'"):
        assert part in csp
    assert "unsafe-inline" not in csp


def test_no_token_is_for_this_machine_only(served: dict[str, Any]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RUNLOG_UI_TOKEN"}
    done = subprocess.run([RUNLOG, "ui", "--store", served["store"], "--host", "0.0.0.0", "--port", "0", "--no-token"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--no-token" in lines[0] and "RUNLOG_UI_TOKEN" in lines[0]


def test_a_host_for_other_machines_gets_a_random_token(served: dict[str, Any]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RUNLOG_UI_TOKEN"}
    proc, url = start_ui("--store", served["store"], "--host", "0.0.0.0", env=env)
    try:
        assert get(url + "/api/experiments", anonymous=True)[0] == 401
        assert get(url + "/api/experiments")[0] == 200  # with the token of the printed URL
    finally:
        assert stop(proc) == 0


def test_a_missing_store_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([RUNLOG, "ui", "--store", str(tmp_path / "nothing"), "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "no store at" in done.stderr and done.stdout == ""
    assert not (tmp_path / "nothing").exists()


def test_the_url_comes_first_and_ctrl_c_stops_cleanly(served: dict[str, Any]) -> None:
    proc, url = start_ui("--store", served["store"])
    assert url.startswith("http://127.0.0.1:") and urlsplit(url).port
    status, _headers, _body = get(url + "/api/experiments")
    assert status == 200
    assert stop(proc) == 0
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_the_token_by_cookie_or_bearer(served: dict[str, Any]) -> None:
    token = "s3cret-token/+=-and-long-enough"
    env = {**os.environ, "RUNLOG_UI_TOKEN": token}
    proc, url = start_ui("--store", served["store"], env=env)
    try:
        status, headers, body = get(url + "/api/experiments", anonymous=True)
        assert status == 401 and b"token" in body and headers["www-authenticate"].startswith("Bearer")
        assert get(url + "/", anonymous=True)[0] == 401
        assert get(url + "/api/experiments?token=wrong", anonymous=True)[0] == 401
        assert get(url + "/api/experiments", headers={"Authorization": "Bearer wrong"})[0] == 401
        status, _headers, body = get(url + "/api/experiments", headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and b"safety" in body
        status, _headers, body = get(f"{url}/api/experiments?token={quote(token)}", anonymous=True)
        assert status == 200 and b"safety" in body  # the API: that request only, no cookie, no redirect
        # opening the printed URL: the token becomes a cookie and leaves the address bar
        status, headers, _body = get(f"{url}/runs/{served['run']}?x=1&token={quote(token)}", anonymous=True)
        assert status == 303 and headers["location"] == f"/runs/{served['run']}?x=1"
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert token not in cookie and quote(token) not in cookie
        pair = cookie.split(";")[0]
        status, _headers, body = get(url + "/api/experiments", headers={"Cookie": pair})
        assert status == 200 and b"safety" in body
        name, _eq, value = pair.partition("=")
        assert name == f"runlog_ui_{urlsplit(url).port}"
        assert get(url + "/api/experiments", headers={"Cookie": f"{name}=x{value}"})[0] == 401
        status, _headers, _body = get(url + "/", headers={"Cookie": f'other="a,b;c"; {pair}; x=1'})
        assert status == 200
        # a framed page (the notebook's) is served with the token, no redirect: it gets no cookie
        status, headers, body = get(f"{url}/runs/{served['run']}?embed=1&token={quote(token)}", anonymous=True)
        assert status == 200 and b"app.js" in body and "set-cookie" not in headers
    finally:
        assert stop(proc) == 0


def test_the_printed_url_carries_the_token(served: dict[str, Any]) -> None:
    proc = subprocess.Popen([RUNLOG, "ui", "--store", served["store"], "--port", "0", "--token", "abc/def+ghi=jkl-mno"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:") and line.endswith("/?token=abc%2Fdef%2Bghi%3Djkl-mno")
    finally:
        assert stop(proc) == 0


@pytest.mark.parametrize("target", ["/static/../_api.py", "/static/%2e%2e/_api.py", "/static/..%2f_server.py",
                                    "/static//etc/passwd", "/static/%2fetc%2fpasswd"])
def test_static_files_stay_in_their_folder(served: dict[str, Any], target: str) -> None:
    for anonymous in (False, True):  # /static/ needs no token: it must still lead nowhere else
        status, body = raw_get(served["url"], target, anonymous=anonymous)
        assert status == 404, (target, status)
        assert b"def " not in body and b"root:" not in body


@pytest.mark.parametrize("target", ["/static/../api/experiments", "/static/%2e%2e/api/experiments",
                                    "/static/..%2fapi/experiments", "/static", "/static/../runs/x"])
def test_the_public_static_prefix_reaches_no_data(served: dict[str, Any], target: str) -> None:
    status, body = raw_get(served["url"], target, anonymous=True)
    assert status in (401, 404), (target, status)
    assert b"safety" not in body
