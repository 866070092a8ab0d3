"""runlog quick start: log every kind of data into the default store (./runlog), read it back,
then show the run with the command line.

    python examples/quickstart.py

It follows the Azure ML "logging API" notebook: a scalar, a series, a list, rows, a table,
an image, params, tags and files, then the run reopened by id.
"""

from __future__ import annotations

import logging
import math
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from runlog_core import Experiment, Run, search_runs


def gradient_png(path: Path, size: int = 64) -> None:
    """Write a small PNG without numpy or Pillow, so the quick start needs nothing but runlog."""
    raw = b"".join(b"\x00" + bytes(v for x in range(size) for v in (x * 255 // size, y * 255 // size, 160))
                   for y in range(size))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def main() -> None:
    experiment = Experiment("quickstart")
    scratch = Path(tempfile.mkdtemp(prefix="runlog-quickstart-"))
    outputs = scratch / "outputs"  # usually ./outputs; a scratch folder here, to leave yours alone
    outputs.mkdir()

    with experiment.start_logging(tags={"purpose": "quick start"}, outputs=outputs, capture_output=True) as run:
        print(f"logging into run {run.id} ({run.name}) in {experiment.store}")
        logging.getLogger("quickstart").warning("captured into the run's logs too")

        # params: nested dicts flatten to "a.b"; lists and empty values are kept
        run.log_params({"alpha": 0.03, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "notes": ""})

        # a scalar, logged once
        run.log("alpha value", 0.03, description="the regularisation strength")
        # a series: the same name logged again; step counts up, NaN and inf are kept
        for step in range(10):
            run.log("loss", 1.0 / (step + 1))
        run.log("loss", math.nan)
        run.log_metrics({"accuracy": 0.91, "f1": 0.88}, step=10)
        # a list, rows and a table
        run.log_list("Fibonacci numbers", [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89])
        for x in range(5):
            run.log_row("Y over X", x=x, y=x * x)
        run.log_table("Sine Wave", {"angle": [0.0, 1.57, 3.14], "sine": [0.0, 1.0, 0.0]})
        # an image (a PNG file here; a matplotlib figure, an array or a PIL image work as well)
        image = scratch / "gradient.png"
        gradient_png(image)
        run.log_image("gradient", path=image)
        # files: one uploaded now, and the outputs folder, uploaded when the run ends
        run.upload_file("notes/readme.txt", __file__)
        (outputs / "model.txt").write_text("weights would go here\n")
        run.tag("stage", "demo")

    # the run, reopened by id: every value as logged
    again = Run(experiment, run.id)
    print("status:", again.get_status())
    for name, value in again.get_metrics().items():
        print(f"  {name}: {value}")
    print("params:", again.get_params())
    print("files:", again.get_file_names())
    print("runs with accuracy > 0.9, best f1 first:", [r.id for r in search_runs("metrics.accuracy > 0.9", order_by=["metrics.f1 DESC"],
                                                      experiment="quickstart")][:3])
    shutil.rmtree(scratch)

    # and with the command line
    command = [shutil.which("runlog") or sys.executable] + ([] if shutil.which("runlog") else ["-m", "runlog_core.cli.main"])
    subprocess.run([*command, "show", run.id], check=True)


if __name__ == "__main__":
    main()
