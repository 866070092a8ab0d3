"""One vocabulary and honest messages (issue 19): what `runlog` prints, read as a user reads it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _cli_helpers import Runlog, error_line

from runlog_core import Experiment, Run, search_runs


def test_every_json_output_says_run_id_and_parent_run_id(runlog: Runlog, shared_store: dict[str, str]) -> None:
    parent, child = shared_store["parent"], shared_store["child0"]
    listed = {r["run_id"]: r for r in json.loads(runlog("runs", "--all", "--json").stdout)}
    assert listed[child]["parent_run_id"] == parent and listed[parent]["parent_run_id"] is None
    assert not {"id", "parent", "parent_id", "runId"} & set(listed[child])
    for columns in ("id,parent,started,ended,name", "run_id,parent_run_id,start_time,end_time,name"):
        picked = json.loads(runlog("runs", "--all", "--json", "--columns", columns).stdout)
        by_id = {r["run_id"]: r for r in picked}
        assert list(by_id[child]) == ["run_id", "parent_run_id", "start_time", "end_time", "name"]
        assert by_id[child]["parent_run_id"] == parent and by_id[child]["start_time"] == listed[child]["start_time"]
    shown = json.loads(runlog("show", parent, "--json").stdout)
    assert shown["run_id"] == parent and shown["parent_run_id"] is None
    assert {c["run_id"] for c in shown["children"]} == {child, shared_store["child1"]}
    assert json.loads(runlog("show", child, "--json").stdout)["parent_run_id"] == parent
    exported = json.loads(runlog("export", child, "--format", "json").stdout)
    assert (exported["run_id"], exported["parent_run_id"]) == (child, parent)
    assert exported["start_time"] == listed[child]["start_time"] and len(exported["metrics"]["loss"]) == 1
    compared = json.loads(runlog("compare", parent, child, "--json", "--columns", "id,parent").stdout)
    assert compared["runs"][1]["parent_run_id"] == parent and compared["different"] == ["run_id", "parent_run_id"]
    frame = search_runs(store=str(Path(shared_store["cwd"]) / "runlog"), output="pandas")
    assert {"run_id", "parent_run_id"} <= set(frame.columns) and "parent_id" not in frame.columns
    details = Run(Experiment("demo", store=str(Path(shared_store["cwd"]) / "runlog")), child).get_details()
    assert (details["runId"], details["parentRunId"]) == (child, parent)  # Azure's get_details keeps its camelCase


def test_runs_all_shows_each_child_under_its_parent(runlog: Runlog, shared_store: dict[str, str]) -> None:
    lines = runlog("runs", "--all", "--columns", "id,name").stdout.splitlines()[2:]
    assert [line.split(None, 1) for line in lines] == [
        [shared_store["solo"], "solo"], [shared_store["parent"], "parent"],
        [shared_store["child1"], "└ child1"], [shared_store["child0"], "└ child0"]]
    top = runlog("runs", "--columns", "id,name").stdout.splitlines()[2:]
    assert [line.split()[1] for line in top] == ["solo", "parent"]


def test_headers_are_the_keys_columns_takes(runlog: Runlog) -> None:
    head = runlog("runs", "--columns", "name,metrics.loss,params.lr,tags.team").stdout.splitlines()[0]
    assert head.split() == ["name", "metrics.loss", "params.lr", "tags.team"]
    assert "metrics.loss" in runlog("runs").stdout.splitlines()[0].split()


def test_metrics_fills_the_last_value_as_show_does(runlog: Runlog, shared_store: dict[str, str]) -> None:
    def last_values(text: str, columns: int) -> dict[str, str]:
        rows = [line.split("  ") for line in text.splitlines()]
        cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
        return {row[0]: row[3] for row in cells if len(row) == columns and row[1] in (
            "number", "bool", "list", "row", "table", "image")}

    listed = last_values(runlog("metrics", shared_store["parent"]).stdout, 5)
    shown = last_values(runlog("show", shared_store["parent"]).stdout.split("\nMetrics\n")[1].split("\n\n")[0], 5)
    assert listed == shown == {"loss": "0.5", "ok": "True", "fib": "2", "curve": "(table)", "tab": "(table)",
                               "img": "images/img/step_0.png"}


def test_booleans_read_true_in_every_table_and_json_true(runlog: Runlog, shared_store: dict[str, str]) -> None:
    parent = shared_store["parent"]
    params = runlog("show", parent).stdout.split("\nParams\n")[1].split("\n\n")[0].splitlines()[2:]
    assert [line.split() for line in params] == [["flag", "True"], ["lr", "0.1"]]
    row = runlog("runs", "--columns", "name,params.flag,metrics.ok").stdout.splitlines()[3]
    assert row.split() == ["parent", "True", "True"]
    compared = runlog("compare", parent, shared_store["solo"], "--columns", "params.flag").stdout.splitlines()[2]
    assert compared.split()[:3] == ["params.flag", "*", "True"]
    assert json.loads(runlog("show", parent, "--json").stdout)["params"]["flag"] is True


def test_bad_selections_are_refused_naming_what_to_give(runlog: Runlog, shared_store: dict[str, str],
                                                       tmp_path: Path) -> None:
    for limit in ("0", "-1"):
        assert error_line(runlog("runs", "--limit", limit, check=False)) == (
            f"runlog runs: argument --limit: give a whole number of 1 or more, got '{limit}'; "
            "see `runlog runs --help`")
    with Experiment("one").start_logging(name="only"):  # a store of one run: '' is a prefix of its id
        pass
    Experiment("one").close()
    for command in (["show", ""], ["metrics", " "], ["files", ""]):
        line = error_line(runlog(*command, check=False, cwd=tmp_path))
        assert line.startswith("runlog: give a run by its id, a unique prefix of it, or its name; got "), line
    line = error_line(runlog("compare", shared_store["parent"], check=False))
    assert line == "runlog: compare needs two or more runs (ids, id prefixes or names); to see one, `runlog show RUN`"
    line = error_line(runlog("push", "--to", str(tmp_path / "team"), check=False))
    assert line == ("runlog: say which runs to push with one of: RUN ids (or names), -e EXPERIMENT, --all; "
                    "no runs were chosen")
    assert not (tmp_path / "team").exists()
    line = error_line(runlog("runs", "--sort", "bogus", check=False))
    assert line.startswith("runlog: the sort key 'bogus' (--sort), at character 1: unknown field 'bogus'")
    assert "filter" not in line


def test_export_and_download_share_one_overwrite_rule(runlog: Runlog, shared_store: dict[str, str],
                                                     tmp_path: Path) -> None:
    parent = shared_store["parent"]
    for command, where, verb in ((["export", parent, "-o"], "-o", "exported"),
                                 (["download", parent, "outputs/model.txt"], "DEST", "downloaded")):
        target = tmp_path / f"{command[0]}.out"
        target.write_text("mine")
        line = error_line(runlog(*command, str(target), check=False))
        assert line == (f"runlog: '{target}' already exists; nothing was {verb}: "
                        f"pass --overwrite to replace it, or give another {where}")
        assert target.read_text() == "mine"
        runlog(*command, str(target), "--overwrite")
        assert target.read_text() != "mine"
        missing = tmp_path / "no such folder" / "x.out"
        line = error_line(runlog(*command, str(missing), check=False))
        assert line == (f"runlog: the folder '{missing.parent}' of {where} '{missing}' does not exist; "
                        f"create it first, or give another {where}")
        assert not missing.parent.exists()


def test_a_download_that_cannot_be_written_says_what_to_do(runlog: Runlog, shared_store: dict[str, str]) -> None:
    line = error_line(runlog("download", shared_store["parent"], "outputs/model.txt", "/sys/model.txt", check=False))
    assert "Permission denied" in line and "upload" not in line and "[Errno" not in line
    assert line.endswith("download to a folder you can write to, with space left (give DEST)")


def test_a_missing_psycopg_is_one_quoted_install_hint(runlog: Runlog, shared_store: dict[str, str]) -> None:
    import subprocess

    # the CLI as installed, with psycopg unimportable (what a machine without it sees)
    code = ("import sys; sys.modules['psycopg'] = None; from runlog_core.cli.main import main; "
            "sys.exit(main(['--store', 'postgresql://runlog@127.0.0.1:1/none', 'runs']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=shared_store["cwd"])
    line = error_line(result)
    assert line.count("pip install") == 1 and line.endswith("pip install 'runlog[postgres]'"), line
