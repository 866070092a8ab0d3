"""A PostgreSQL store still down when a program ends: what waited is kept on local disk and written
into the store the next time it is opened, with nothing lost or doubled. The outage is real: the
program reaches the server through a TCP relay that the test cuts and restores."""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path

import pytest
from _team_helpers import start_program

from runlog_core import Experiment, Run
from tcp_relay import Relay

SCRIPT = textwrap.dedent("""
    import math, sys, time
    from pathlib import Path
    from runlog_core import Experiment

    store, folder = sys.argv[1], Path(sys.argv[2])
    run = Experiment("spill", store=store).start_logging(name="cut-off")
    for step in range(100):
        run.log("loss", 1.0 / (step + 1))
    run.flush()
    (folder / "run-id").write_text(run.id)
    while not (folder / "cut").exists():
        time.sleep(0.02)
    for step in range(100, 600):
        run.log("loss", 1.0 / (step + 1))
    run.log("odd", math.nan)
    run.log("note", "after the cut")
    run.log_row("per_class", cls="cat", precision=0.5)
    run.log_params({"lr": 0.1, "layers": [64, 32]})
    run.tag("phase", "offline")
    # the program ends here: the run is ended Completed at exit, the store is down
""")


def test_points_waiting_when_the_program_ends_are_written_when_the_store_is_next_opened(
        pg_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    relay = Relay()
    relay.start()
    through = pg_uri.replace(":5432/", f":{relay.port}/")
    spill_dir = tmp_path / "spill"
    env = {**os.environ, "RUNLOG_SPILL_DIR": str(spill_dir), "RUNLOG_STORE_TIMEOUT": "2",
           "RUNLOG_ARTIFACTS": str(tmp_path / "artifacts")}
    proc, run_id, deadline = start_program(SCRIPT, tmp_path, [through, str(tmp_path)], env)
    relay.cut()
    (tmp_path / "cut").write_text("")
    out, err = proc.communicate(timeout=120)
    assert "kept in" in err and str(spill_dir) in err, err
    assert list(spill_dir.rglob("*.json"))

    # while the relay is down, the database itself holds only what came before the cut
    direct = Run(Experiment("spill", store=pg_uri), run_id)
    assert len(direct.get_metric_history("loss")) == 100
    assert direct.get_status() == "Running"

    relay.start()
    monkeypatch.setenv("RUNLOG_SPILL_DIR", str(spill_dir))
    with pytest.warns(RuntimeWarning, match="wrote into"):
        again = Run(Experiment("spill", store=through), run_id)
    history = again.get_metric_history("loss")
    assert [p.step for p in history] == list(range(600))
    assert [p.value for p in history] == [1.0 / (step + 1) for step in range(600)]
    metrics = again.get_metrics()
    assert math.isnan(metrics["odd"]) and metrics["note"] == "after the cut"
    assert metrics["per_class"] == {"cls": ["cat"], "precision": [0.5]}
    assert again.get_params() == {"lr": 0.1, "layers": [64, 32]}
    assert again.get_tags()["phase"] == "offline"
    assert again.get_status() == "Completed"
    assert not list(spill_dir.rglob("*.json"))

    # opened again: nothing is written twice
    Experiment("spill", store=through).close()
    assert len(Run(Experiment("spill", store=through), run_id).get_metric_history("loss")) == 600
    relay.cut()
