"""`runlog` listings tried as a new user would (issue 12): which columns `runs` shows, --columns, --wide,
--json, wide characters, download's --overwrite, --version and help, and commands added by other modules."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from test_cli import one_line_error, runlog

from runlog_core import Experiment
from runlog_core.cli.main import build_parser
from runlog_core.cli.table import display_width, truncate


def _headers(out: str) -> list[str]:
    return out.splitlines()[0].split()[6:]  # after id, experiment, name, status, started, duration


@pytest.fixture
def mixed() -> dict[str, str]:
    """One experiment as Lightning, XGBoost and a parameter search leave it: disjoint metric names."""
    exp = Experiment("mixed")
    ids = {}
    for k in range(3):
        with exp.start_logging(name=f"lightning-{k}") as run:
            run.log_params({"lr": 0.01 * (k + 1)})
            run.log_metrics({"train_loss": 1.0 - k / 10, "val_loss": 1.2 - k / 10, "epoch": 2})
            ids[f"lightning-{k}"] = run.id
    for k in range(2):
        with exp.start_logging(name=f"xgboost-{k}") as run:
            run.log("validation_0-logloss", 0.3 + k)
            run.log("best_iteration", 7)
            ids[f"xgboost-{k}"] = run.id
    with exp.start_logging(name="search") as parent:
        parent.log("best_score", 0.93)
        for k in range(2):
            with parent.child_run(name=f"candidate-{k}") as child:
                child.log("mean_test_score", 0.9 + k / 100)
                ids[f"candidate-{k}"] = child.id
        ids["search"] = parent.id
    with exp.start_logging(name="odd") as run:  # newest: its own names are met first, shared by no run
        for name in ("a", "b", "c", "d", "e"):
            run.log(name, 1)
        ids["odd"] = run.id
    return ids


def test_runs_shows_the_metrics_most_runs_share(mixed: dict[str, str], tmp_path: Path) -> None:
    headers = _headers(runlog("runs", cwd=tmp_path).stdout)
    assert sorted(headers[:3]) == ["metrics.epoch", "metrics.train_loss", "metrics.val_loss"]  # 3 runs have them
    assert headers[3] in ("metrics.validation_0-logloss", "metrics.best_iteration")  # then 2 runs
    assert len(headers) == 4 and "a" not in headers


def test_runs_shows_the_keys_the_filter_and_sort_name_first(mixed: dict[str, str], tmp_path: Path) -> None:
    out = runlog("runs", "--filter", "metrics.best_score > 0.5", cwd=tmp_path).stdout
    assert _headers(out)[0] == "metrics.best_score" and "0.93" in out.splitlines()[2]
    out = runlog("runs", "--filter", "params.lr > 0.015", "--sort", "metrics.val_loss", cwd=tmp_path).stdout
    lines = out.splitlines()
    assert _headers(out)[:2] == ["params.lr", "metrics.val_loss"]
    assert [line.split()[2] for line in lines[2:]] == ["lightning-2", "lightning-1"]  # val_loss ascending
    assert _headers(runlog("runs", "--sort", "metrics.best_iteration DESC", cwd=tmp_path).stdout)[0] == "metrics.best_iteration"


def test_columns_picks_exactly_those(mixed: dict[str, str], tmp_path: Path) -> None:
    with Experiment("mixed").start_logging(name="tagged") as run:
        run.tag("team", "vision")
        run.log("val_loss", 0.5)
    out = runlog("runs", "--columns", "metrics.val_loss, params.lr,tags.team,status", "--limit", "2", cwd=tmp_path).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["metrics.val_loss", "params.lr", "tags.team", "status"]  # the keys as given (#19)
    assert lines[2].split() == ["0.5", "vision", "Completed"]  # the newest, tagged run has no lr
    records = json.loads(runlog("runs", "--columns", "name,metrics.val_loss", "--json", cwd=tmp_path).stdout)
    assert records[0] == {"name": "tagged", "metrics.val_loss": 0.5}
    assert all(set(record) == {"name", "metrics.val_loss"} for record in records)


@pytest.mark.parametrize("columns", ["acc", "metric.", "metrics.x,foo.y", ",", "status,started_at"])
def test_bad_columns_are_one_line_naming_the_accepted_forms(tmp_path: Path, columns: str) -> None:
    line = one_line_error(runlog("runs", "--columns", columns, cwd=tmp_path, check=False))
    assert line.startswith("runlog: --columns ") and "metrics.NAME, params.NAME, tags.NAME" in line
    assert not (tmp_path / "runlog").exists()


def test_child_runs_are_listed_only_with_all_with_or_without_a_filter(mixed: dict[str, str], tmp_path: Path) -> None:
    for extra in ([], ["--filter", "metrics.mean_test_score > 0 or metrics.best_score > 0"]):
        out = runlog("runs", *extra, cwd=tmp_path).stdout
        assert mixed["search"] in out and mixed["candidate-0"] not in out
        out = runlog("runs", "--all", *extra, cwd=tmp_path).stdout
        assert mixed["candidate-0"] in out and mixed["candidate-1"] in out
    help_text = " ".join(runlog("runs", "--help", cwd=tmp_path).stdout.split())
    assert "Child runs (a sweep's runs, a parameter search's candidates) are listed only with --all, with or " \
           "without --filter" in help_text


def test_widths_count_wide_characters_and_cuts_never_split_one() -> None:
    assert display_width("abc") == 3 and display_width("学習") == 4 and display_width("🚀x") == 3
    assert display_width("e\u0301") == 1 and display_width("ｆｕｌｌ") == 8  # a combining accent; full-width
    assert truncate("学習率テスト", 6) == "学習…" and display_width(truncate("学習率テスト", 6)) == 5
    assert truncate("ab🚀🚀", 4) == "ab…" and truncate("short", 40) == "short"
    for width in range(1, 12):
        cut = truncate("名前🎉e\u0301xyz長い", width)
        assert display_width(cut) <= width and unicodedata.category(cut[-1]) != "Mn"


LONG = "とても長いパラメータの値です。絵文字も🎉🎉🎉 and then some ASCII text to be sure"


@pytest.fixture
def wide_run() -> str:
    with Experiment("幅").start_logging(name="学習🚀") as run:
        run.log_params({"説明": LONG})
        run.log("損失", 0.25)
        run.log("acc", float("nan"))
        run.tag("チーム", "ビジョン")
        run.log_row("表", 名前="値", n=1)
        run.upload_file(f"outputs/{LONG[:10]}.txt", io.BytesIO(b"x"))
    with Experiment("幅").start_logging(name="plain") as other:
        other.log_params({"説明": "short"})
        other.log("acc", 0.5)
    return run.id


def _last_column_aligned(out: str) -> None:
    """Every line's last cell starts at the same terminal column as the header's."""
    lines = [line for line in out.splitlines() if line and not line.startswith("-")]
    assert len({display_width(line[: line.rindex("  ") + 2]) for line in lines}) == 1, out


def test_tables_line_up_with_wide_characters_and_cut_long_values(wide_run: str, tmp_path: Path) -> None:
    out = runlog("runs", "--columns", "name,params.説明,status", cwd=tmp_path).stdout
    _last_column_aligned(out)
    cut = out.splitlines()[3].split("  ")[1]  # the run with the long value (older: second row)
    assert cut.endswith("…") and display_width(cut) in (39, 40) and LONG.startswith(cut[:-1])  # 40 or a wide one less
    wide = runlog("runs", "--columns", "name,params.説明,status", "--wide", cwd=tmp_path).stdout
    assert LONG in wide
    _last_column_aligned(wide)
    assert LONG in runlog("show", wide_run, "--wide", cwd=tmp_path).stdout
    assert LONG not in runlog("show", wide_run, cwd=tmp_path).stdout
    assert LONG in runlog("compare", wide_run, "plain", "--wide", cwd=tmp_path).stdout


def test_every_listing_prints_valid_json(wide_run: str, tmp_path: Path) -> None:
    def listed(*args: str) -> Any:
        text = runlog(*args, "--json", cwd=tmp_path).stdout
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))

    runs = listed("runs")
    mine = next(r for r in runs if r["run_id"] == wide_run)
    assert mine["params.説明"] == LONG and mine["metrics.acc"] == "NaN" and mine["tags.チーム"] == "ビジョン"
    assert mine["name"] == "学習🚀" and mine["status"] == "Completed" and mine["start_time"].endswith("+00:00")
    shown = listed("show", wide_run)
    assert shown["params"] == {"説明": LONG} and {"name": "損失", "kind": "number", "last_step": 0,
                                                 "last_value": 0.25, "points": 1} in shown["metrics"]
    assert listed("metrics", wide_run, "損失")[0]["value"] == 0.25
    assert listed("metrics", wide_run, "表") == {"名前": ["値"], "n": [1]}
    assert {m["name"] for m in listed("metrics", wide_run)} == {"損失", "acc", "表"}
    compared = listed("compare", wide_run, "plain")
    assert [r["params.説明"] for r in compared["runs"]] == [LONG, "short"]
    assert "metrics.acc" in compared["different"] and "status" not in compared["different"]
    assert listed("files", wide_run)[0]["name"] == f"outputs/{LONG[:10]}.txt"
    assert listed("runs", "--filter", "metrics.acc > 100") == []


def test_download_refuses_to_overwrite_a_local_file(tmp_path: Path) -> None:
    with Experiment("dl").start_logging() as run:
        run.upload_file("outputs/model.txt", io.BytesIO(b"new weights"))
        run.upload_file("outputs/sub/more.txt", io.BytesIO(b"more"))
    mine = tmp_path / "model.txt"
    mine.write_bytes(b"my own file")
    line = one_line_error(runlog("download", run.id, "outputs/model.txt", str(mine), cwd=tmp_path, check=False))
    assert f"{str(mine)!r} already exists" in line and "--overwrite" in line
    line = one_line_error(runlog("download", run.id, "outputs/model.txt", cwd=tmp_path, check=False))
    assert "'model.txt' already exists" in line  # the default destination: its own name, here
    assert mine.read_bytes() == b"my own file"
    (tmp_path / "outputs" / "sub").mkdir(parents=True)
    (tmp_path / "outputs" / "sub" / "more.txt").write_bytes(b"mine too")
    line = one_line_error(runlog("download", run.id, "outputs", cwd=tmp_path, check=False))
    assert "outputs/sub/more.txt" in line and "--overwrite" in line
    assert not (tmp_path / "outputs" / "model.txt").exists()  # nothing of the folder was written
    runlog("download", run.id, "outputs/model.txt", str(mine), "--overwrite", cwd=tmp_path)
    assert mine.read_bytes() == b"new weights"
    runlog("download", run.id, "outputs", "--overwrite", cwd=tmp_path)
    assert (tmp_path / "outputs" / "sub" / "more.txt").read_bytes() == b"more"


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    assert runlog("--version", cwd=tmp_path).stdout == f"runlog {version('runlog')}\n"


def _commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand's parser, nested ones (`runlog import mlflow`) included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_commands(sub)]
    return found


def test_every_positional_argument_has_help(tmp_path: Path) -> None:
    commands = _commands(build_parser())
    assert {"runlog runs", "runlog show", "runlog download", "runlog submit"} <= {c.prog for c in commands}
    for command in commands:
        text = " ".join(command.format_help().split())
        for action in command._actions:
            if action.option_strings or isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"`{command.prog} --help` says nothing of {action.dest!r}"
            assert " ".join(action.help.split()) in text
    out = " ".join(runlog("download", "--help", cwd=tmp_path).stdout.split())
    assert out.startswith("usage: runlog download [-h] [--store STORE] [--overwrite] RUN NAME [DEST]")
    assert "as `runlog files RUN` lists it" in out and "a unique prefix of its id" in out


def test_commands_added_by_other_modules_get_the_same_one_line_errors(tmp_path: Path) -> None:
    # `runlog import ...` comes from runlog_core.cli.imports; here a stand-in registers the same way
    script = ("import sys, types\n"
              "from runlog_core.cli import main as _cli\n"
              "from runlog_core.exceptions import ImportSourceError\n"
              "fake = types.ModuleType('runlog_core.cli.imports')\n"
              "def fail(args):\n"
              "    if args.kind == 'missing':\n"
              "        raise ImportError('runlog import fake needs fakelib: pip install fakelib')\n"
              "    raise ImportSourceError('Fake', args.source, 'no runs there')\n"
              "def add_import_parsers(subparsers):\n"
              "    command = subparsers.add_parser('import', help='import runs')\n"
              "    tools = command.add_subparsers(dest='tool', metavar='TOOL')\n"
              "    fake_tool = tools.add_parser('fake', help='from fake')\n"
              "    fake_tool.add_argument('source', help='where')\n"
              "    fake_tool.add_argument('--kind', default='bad')\n"
              "    fake_tool.set_defaults(func=fail)\n"
              "fake.add_import_parsers = add_import_parsers\n"
              "sys.modules['runlog_core.cli.imports'] = fake\n"
              "sys.exit(_cli.main(sys.argv[1:]))\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", script, *args], cwd=tmp_path, capture_output=True, text=True)

    assert one_line_error(run("import", "fake", "here")) == \
        "runlog: cannot import from Fake 'here': no runs there"
    assert one_line_error(run("import", "fake", "here", "--kind", "missing")) == \
        "runlog: runlog import fake needs fakelib: pip install fakelib"
    assert one_line_error(run("import")) == "runlog import: give a subcommand; see `runlog import --help`"
    assert run("import", "fake", "--help").returncode == 0


def test_scores_come_before_timings_among_metrics_every_run_shares(tmp_path: Path) -> None:
    exp = Experiment("search-children")
    for k in range(3):
        with exp.start_logging(name=f"candidate-{k}") as run:  # in the order scikit-learn's cv_results_ has them
            for name in ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time", "epoch"):
                run.log(name, 0.01 * k)
            run.log("mean_test_score", 0.9 - k / 10)
            run.log("rank_test_score", k + 1)
    headers = _headers(runlog("runs", cwd=tmp_path).stdout)
    assert headers == ["metrics.mean_test_score", "metrics.rank_test_score", "metrics.epoch", "metrics.mean_fit_time"]  # --metrics 4


def test_limit_with_a_filter_and_a_sort_lists_the_first_runs_of_the_whole_answer(tmp_path: Path) -> None:
    """Issue 21: the store finds the page; `--limit 3` lists the runs it listed when it read every run."""
    exp = Experiment("paged")
    scores = {}
    for k in range(12):
        with exp.start_logging(name=f"trial-{k}", outputs=None) as run:
            run.log_params({"group": k % 3})
            run.log("score", (k * 5) % 12)
            scores[run.name] = ((k * 5) % 12, k % 3)
            if k in (4, 9):
                with run.child_run(name=f"child-of-{k}") as child:
                    child.log("score", 100 + k)
                    child.log_params({"group": 2})
                    scores[child.name] = (100 + k, 2)

    def listed(*extra: str) -> list[str]:
        out = runlog("runs", "-e", "paged", "--json", "--columns", "name,metrics.score", *extra, cwd=tmp_path).stdout
        return [row["name"] for row in json.loads(out)]

    top = sorted((n for n, (_s, g) in scores.items() if g >= 1 and not n.startswith("child")),
                 key=lambda n: -scores[n][0])
    assert listed("--filter", "params.group >= 1", "--sort", "metrics.score DESC", "--limit", "3") == top[:3]
    assert listed("--filter", "params.group >= 1", "--sort", "metrics.score DESC") == top  # 8 of the default 50
    everyone = sorted((n for n, (_s, g) in scores.items() if g >= 1), key=lambda n: -scores[n][0])
    assert listed("--all", "--filter", "params.group >= 1", "--sort", "metrics.score DESC", "--limit", "3") == \
        everyone[:3] == ["child-of-9", "child-of-4", top[0]]
    assert listed("--limit", "2") == ["trial-11", "trial-10"]  # newest first, children left out
