"""Issue 24: stored text reaches a terminal with its control characters shown as escapes, never raw.

Each command runs as a user runs it, a real `runlog` process, with stdout and stderr on terminals of
their own (ptys in raw mode, so the bytes read are the bytes written); what goes to a file or a pipe
where the data must stay exact (export, --json, download's paths) is checked byte for byte too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import select
import shutil
import subprocess
import sys
import textwrap
import tty
from pathlib import Path

import pytest

from runlog_core import Experiment
from runlog_core.base.text import visible, visible_json

# OSC 52 writes "Hello" into the viewer's clipboard, then CSI 2J clears the screen
OSC52 = "\x1b]52;c;SGVsbG8=\x07\x1b[2J"
RLO = "\u202e"  # right-to-left override: reorders what the reader sees
CSI = "\x9b"  # the one-byte (C1) CSI; names refuse C0 controls but take C1
HOSTILE = OSC52 + RLO + CSI  # what a value holds
NAME = RLO + CSI  # what a name may hold

RAW = (b"\x1b", b"\x07", RLO.encode(), CSI.encode())
SHOWN = (rb"\x1b]52;c;SGVsbG8=\x07\x1b[2J", rb"\u202e", rb"\x9b")
SHOWN_IN_NAMES = (rb"\u202e", rb"\x9b")


def _runlog() -> list[str]:
    executable = shutil.which("runlog", path=os.path.dirname(sys.executable))
    return [executable] if executable else [sys.executable, "-m", "runlog_core.cli.main"]


def on_terminal(*args: str, command: list[str] | None = None) -> tuple[int, bytes, bytes]:
    """Run ``runlog ARGS`` with stdout and stderr each on a terminal; its exit status and the bytes of each."""
    terminals = [os.openpty(), os.openpty()]
    for _master, slave in terminals:
        tty.setraw(slave)  # no newline translation: the bytes read are those written
    env = {**os.environ, "PYTHONUTF8": "1", "TERM": "xterm"}
    process = subprocess.Popen([*(command or _runlog()), *args], stdin=subprocess.DEVNULL,
                               stdout=terminals[0][1], stderr=terminals[1][1], env=env)
    for _master, slave in terminals:
        os.close(slave)
    got = {master: bytearray() for master, _slave in terminals}
    reading = list(got)
    while reading:
        ready, _, _ = select.select(reading, [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError(f"runlog {args} wrote nothing for 120 s")
        for master in ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process closed its end
                chunk = b""
            if chunk:
                got[master] += chunk
            else:
                reading.remove(master)
                os.close(master)
    status = process.wait(timeout=60)
    return status, bytes(got[terminals[0][0]]), bytes(got[terminals[1][0]])


def to_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*_runlog(), *args], capture_output=True, env={**os.environ, "PYTHONUTF8": "1"})


def assert_shown(data: bytes, shown: tuple[bytes, ...] = SHOWN) -> None:
    """Nothing of the hostile text raw; its escapes there to read."""
    for raw in RAW:
        assert raw not in data, (raw, data)
    for escape in shown:
        assert escape in data, (escape, data)


def terminal_output(*args: str, shown: tuple[bytes, ...] = SHOWN) -> bytes:
    status, out, err = on_terminal(*args)
    assert status == 0, err
    assert err == b""
    assert_shown(out, shown)
    return out


@pytest.fixture
def hostile() -> dict[str, str]:
    """A run holding control characters wherever the store takes them, and a failed run whose error has OSC 52."""
    exp = Experiment("exp" + NAME)
    with exp.start_logging(name="run" + NAME) as run:
        run.log_params({"key" + RLO: HOSTILE, "plain": 1})
        run.set_tags({"tag": HOSTILE})
        run.log("loss" + NAME, 0.5)
        run.log("note", HOSTILE)
        run.log_row("row", col=HOSTILE)
        run.upload_file(f"out/{NAME}.txt", io.BytesIO(b"weights"))
        ids = {"hostile": run.id}
    with pytest.raises(ValueError), exp.start_logging(name="failed" + NAME) as failed:
        ids["failed"] = failed.id
        raise ValueError("boom" + OSC52)
    return ids


# --- base/text.py -------------------------------------------------------------------------------------


def test_visible_escapes_what_drives_or_reorders_a_terminal_and_keeps_the_rest() -> None:
    assert visible(HOSTILE) == r"\x1b]52;c;SGVsbG8=\x07\x1b[2J\u202e\x9b"
    assert visible("a\x7fb\u2028c\u2029d\x85e\u2066f") == r"a\x7fb\u2028c\u2029d\x85e\u2066f"
    assert visible("lone \ud800 surrogate") == r"lone \ud800 surrogate"  # else a terminal's encoder fails
    assert visible("line 1\n\tline 2\r") == r"line 1\n\tline 2\r"
    assert visible("line 1\n\tline 2\r", lines=True) == "line 1\n\tline 2\\r"
    for kept in ("plain", "日本語", "👩\u200d💻", "é", "a\\x1b"):  # a backslash is text: shown as it is
        assert visible(kept) == kept


def test_visible_json_is_the_same_json_value_without_raw_controls() -> None:
    value = {"k" + NAME: ["\x7f" + HOSTILE + "\u2028\ud800", "日本語"]}
    text = json.dumps(value, ensure_ascii=False)
    shown = visible_json(text)
    assert json.loads(shown) == value
    assert not any(char in shown for char in ("\x1b", "\x07", "\x7f", RLO, CSI, "\u2028", "\ud800"))
    assert "日本語" in shown and visible_json('{"a": 1}') == '{"a": 1}'


# --- listings -----------------------------------------------------------------------------------------


def test_runs_tables_on_a_terminal_show_escapes(hostile: dict[str, str]) -> None:
    terminal_output("runs", "--all", shown=SHOWN_IN_NAMES)  # names, a str metric cut at 40 columns
    out = terminal_output("runs", "--all", "--wide", "--metrics", "9")
    assert rb"v\x1b" not in out and rb"\x1b]52" in out
    out = terminal_output("runs", "--all", "--columns", f"name,experiment,params.key{RLO},tags.tag,metrics.note")
    assert rb"key\u202e" in out  # a header from a name


def test_runs_json_on_a_terminal_escapes_and_keeps_the_values(hostile: dict[str, str]) -> None:
    out = terminal_output("runs", "--all", "--json", shown=())
    for raw in RAW:
        assert raw not in out
    runs = {run["run_id"]: run for run in json.loads(out)}
    assert runs[hostile["hostile"]]["name"] == "run" + NAME
    assert runs[hostile["hostile"]][f"params.key{RLO}"] == HOSTILE
    assert runs[hostile["hostile"]]["metrics.note"] == HOSTILE
    piped = to_pipe("runs", "--all", "--json")  # a pipe: the same value
    assert json.loads(piped.stdout) == json.loads(out)


def test_show_escapes_names_values_and_the_error_keeping_its_lines(hostile: dict[str, str]) -> None:
    out = terminal_output("show", hostile["failed"], shown=(rb"\x1b]52;c;SGVsbG8=\x07\x1b[2J", *SHOWN_IN_NAMES))
    lines = out.decode().split("\n")
    assert "  error:" in lines
    traceback = lines[lines.index("  error:") + 1:]
    assert traceback[0] == "    Traceback (most recent call last):"
    assert r"    ValueError: boom\x1b]52;c;SGVsbG8=\x07\x1b[2J" in traceback
    out = terminal_output("show", hostile["hostile"])
    assert out.startswith(f"Run {hostile['hostile']}  (run\\u202e\\x9b)\n".encode())
    assert rb"experiment exp\u202e\x9b" in out and rb"out/\u202e\x9b.txt" in out
    out = terminal_output("show", hostile["failed"], "--json", shown=())
    for raw in RAW:
        assert raw not in out
    assert json.loads(out)["error"].endswith("ValueError: boom" + OSC52 + "\n")


def test_metrics_and_compare_on_a_terminal_show_escapes(hostile: dict[str, str]) -> None:
    out = terminal_output("metrics", hostile["hostile"])
    assert rb"loss\u202e\x9b" in out
    terminal_output("metrics", hostile["hostile"], "note")
    out = terminal_output("metrics", hostile["hostile"], "row")
    assert out.startswith(b"col")  # the row's column, one cell
    out = terminal_output("compare", hostile["hostile"], hostile["failed"], "--wide",
                          "--columns", f"name,params.key{RLO},tags.tag")
    assert rb"run\u202e\x9b (" in out and rb"failed\u202e\x9b (" in out


def test_files_and_download_escape_names_on_a_terminal_and_keep_them_to_a_pipe(
        hostile: dict[str, str], tmp_path: Path) -> None:
    terminal_output("files", hostile["hostile"], shown=SHOWN_IN_NAMES)
    name = f"out/{NAME}.txt"
    out = terminal_output("download", hostile["hostile"], name, shown=SHOWN_IN_NAMES)  # here, under its name
    assert out == rb"\u202e\x9b.txt" + b"\n" and (tmp_path / f"{NAME}.txt").read_bytes() == b"weights"
    (tmp_path / "folder").mkdir()
    out = terminal_output("download", hostile["hostile"], "out", str(tmp_path / "folder"), shown=SHOWN_IN_NAMES)
    assert (tmp_path / "folder" / name).read_bytes() == b"weights"  # the file keeps its exact name
    assert out == f"{tmp_path}/folder/out/\\u202e\\x9b.txt\n".encode()
    piped = to_pipe("download", hostile["hostile"], "out", str(tmp_path / "piped"))
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == f"{tmp_path}/piped/{name}\n".encode()  # a pipe: the exact path, for xargs and scripts


# --- export -------------------------------------------------------------------------------------------


def test_export_csv_escapes_on_a_terminal_and_is_exact_to_a_pipe_and_a_file(
        hostile: dict[str, str], tmp_path: Path) -> None:
    out = terminal_output("export", hostile["hostile"])
    rows = list(csv.reader(io.StringIO(out.decode())))
    assert ["note", "0", visible(HOSTILE)] == rows[[r[1] for r in rows].index("note")][1:4]
    assert "loss" + visible(NAME) in [row[1] for row in rows]
    piped = to_pipe("export", hostile["hostile"])
    rows = list(csv.reader(io.StringIO(piped.stdout.decode(), newline="")))
    assert ["note", "0", HOSTILE] == rows[[r[1] for r in rows].index("note")][1:4]
    assert "loss" + NAME in [row[1] for row in rows]
    assert piped.stdout.count(OSC52.encode()) >= 1
    status, out, err = on_terminal("export", hostile["hostile"], "-o", str(tmp_path / "run.csv"))
    assert (status, out, err) == (0, b"", b"")
    assert (tmp_path / "run.csv").read_bytes() == piped.stdout  # a file: exact, even when run from a terminal


def test_export_json_escapes_on_a_terminal_is_valid_json_and_exact_to_a_file(
        hostile: dict[str, str], tmp_path: Path) -> None:
    out = terminal_output("export", hostile["hostile"], "--format", "json", shown=())
    for raw in RAW:
        assert raw not in out
    shown = json.loads(out)
    assert shown["name"] == "run" + NAME and shown["params"]["key" + RLO] == HOSTILE
    assert shown["metrics"]["note"][0]["value"] == HOSTILE and shown["tags"]["tag"] == HOSTILE
    piped = to_pipe("export", hostile["hostile"], "--format", "json")
    assert json.loads(piped.stdout) == shown
    assert RLO.encode() in piped.stdout  # a pipe: JSON as json.dump writes it, not escaped for a terminal
    status, _out, err = on_terminal("export", hostile["hostile"], "--format", "json", "-o", str(tmp_path / "run.json"))
    assert status == 0, err
    assert (tmp_path / "run.json").read_bytes() == piped.stdout


# --- messages -----------------------------------------------------------------------------------------


def one_escaped_error_line(args: list[str]) -> bytes:
    status, out, err = on_terminal(*args)
    assert status != 0 and out == b""
    assert err.endswith(b"\n") and err.count(b"\n") == 1, err  # one line, never a traceback
    for raw in RAW:
        assert raw not in err, (raw, err)
    assert b"\\x1b" in err
    return err


@pytest.mark.parametrize("args", [
    ["runs", "--store", f"no-store{HOSTILE}"],  # the store's path in "no store at ..."
    ["runs", f"stray{HOSTILE}"],  # argparse quotes an unrecognized argument as it is
])
def test_errors_quoting_what_was_typed_are_one_escaped_line(args: list[str]) -> None:
    one_escaped_error_line(args)


@pytest.mark.parametrize("args", [
    ["show", f"no-such-run{HOSTILE}"],
    ["runs", "-e", f"no-such-experiment{HOSTILE}"],
    ["runs", "--filter", f"params.a = '{HOSTILE}"],
    ["download", "RUN", f"no-such-file{HOSTILE}"],
])
def test_errors_quoting_names_stay_one_escaped_line(hostile: dict[str, str], args: list[str]) -> None:
    """These quote with repr() and were escaped before issue 24; kept so that they stay so."""
    one_escaped_error_line([hostile["hostile"] if arg == "RUN" else arg for arg in args])


def test_version_is_escaped(tmp_path: Path) -> None:
    """Whatever an installed package's metadata says, it reaches the terminal escaped."""
    script = ("import importlib.metadata as metadata, sys\n"
              f"metadata.version = lambda name: '1.0{HOSTILE}'\n"
              "from runlog_core.cli.main import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    status, out, _err = on_terminal("--version", command=[sys.executable, "-c", script])
    assert status == 0
    assert out == rb"runlog 1.0\x1b]52;c;SGVsbG8=\x07\x1b[2J\u202e\x9b" + b"\n"


def test_push_lines_quoting_run_names_are_escaped(hostile: dict[str, str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from runlog_core.cli.main import main
    from runlog_core.transfer import push as _push
    from runlog_core.transfer.push_summary import PushSummary

    def push(source: object, to: str, **_kwargs: object) -> PushSummary:
        summary = PushSummary(f"{to}{RLO}")
        summary.skipped.append(f"run {hostile['hostile']} (run{HOSTILE}): not pushed, its parent run was not")
        return summary

    monkeypatch.setattr(_push, "push", push)
    assert main(["push", "--to", str(tmp_path / "elsewhere"), "--all"]) == 1
    out, err = capsys.readouterr()
    assert err == rf"runlog: run {hostile['hostile']} (run\x1b]52;c;SGVsbG8=\x07\x1b[2J\u202e\x9b): " \
                  "not pushed, its parent run was not\n"
    assert out.startswith(f"0 runs pushed to {tmp_path / 'elsewhere'}\\u202e ")


def test_submit_escapes_its_own_messages_and_passes_the_script_output_on_exactly(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(textwrap.dedent("""\
        import sys
        sys.stdout.write("\\x1b[1mbold\\x1b[0m from the script\\n")
        sys.stdout.flush()
    """))
    status, out, err = on_terminal("submit", "train.py", "-d", str(source), "-e", f"exp{NAME}", "-n", f"run{NAME}")
    assert status == 0, err
    assert b"\x1b[1mbold\x1b[0m from the script" in out + err  # the user's own program: exact
    for raw in RAW:
        assert raw not in err.replace(b"\x1b[1mbold\x1b[0m", b""), (raw, err)
    assert rb"(run\u202e\x9b) in experiment 'exp\u202e\x9b'" in err
