"""Create one virtual environment per peer tracker, outside the repository, when it is missing.

    python benchmarks/peers/setup_venvs.py                 # every peer that has no venv yet
    python benchmarks/peers/setup_venvs.py --peers aim     # only these
    python benchmarks/peers/setup_venvs.py --force         # make them again

The peers (W&B, Aim, DVCLive, ClearML) are never runlog's dependencies: each gets a venv of its own
under ``$RUNLOG_BENCH_CACHE`` (default ``~/.cache/runlog-bench``) at ``venvs/<peer>``, with the
same framework versions as the interpreter running this script (torch, lightning, keras,
xgboost-cpu, numpy), so a peer's Lightning logger or Keras callback is timed against the same
framework code as runlog's. torch is pinned to the exact version installed here (2.13.0, the CPU
build); xgboost comes as ``xgboost-cpu``.

A peer whose install fails leaves ``venvs/<peer>/FAILED`` with the reason; the benchmarks print that
reason in the peer's row instead of a figure. ``venvs/<peer>/READY`` holds the versions installed.
The other benchmarks call ``ensure(peer)``, which runs this set-up for a peer with no venv yet.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

PEERS: dict[str, list[str]] = {
    # wandb's Keras callbacks import tensorflow.keras (with Keras 3 installed, TF's keras is Keras 3 itself);
    # the benchmarks run Keras on the torch backend everywhere, TF only satisfies that import
    "wandb": ["wandb", "tensorflow-cpu"],
    "aim": ["aim", "setuptools<81"],  # aim imports pkg_resources, which setuptools 81 dropped
    "dvclive": ["dvclive", "tensorflow-cpu"],  # dvclive.keras imports tensorflow too
    "clearml": ["clearml"],
}
# the frameworks each peer venv gets, at the versions of the interpreter running this script
FRAMEWORKS = ["torch", "lightning", "keras", "xgboost-cpu", "numpy", "pandas"]


def cache_dir() -> Path:
    return Path(os.environ.get("RUNLOG_BENCH_CACHE") or Path.home() / ".cache" / "runlog-bench")


def venv_dir(peer: str) -> Path:
    return cache_dir() / "venvs" / peer


def python_of(peer: str) -> Path:
    return venv_dir(peer) / "bin" / "python"


def status(peer: str) -> tuple[bool, str]:
    """(ready, versions or the reason it is not)."""
    folder = venv_dir(peer)
    if (folder / "READY").exists():
        return True, (folder / "READY").read_text().strip()
    if (folder / "FAILED").exists():
        return False, (folder / "FAILED").read_text().strip()
    return False, "no venv yet"


def pins() -> list[str]:
    out = []
    for name in FRAMEWORKS:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name if name != "torch" else "torch==2.13.0")
    return out


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[-1][:300]


def create(peer: str, quiet: bool = False) -> tuple[bool, str]:
    folder = venv_dir(peer)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for marker in ("READY", "FAILED"):
        (folder / marker).unlink(missing_ok=True)
    log = folder.parent / f"{peer}.install.log"
    base = getattr(sys, "_base_executable", sys.executable)
    start = time.monotonic()

    def step(args: list[str]) -> str | None:
        with log.open("a") as out:
            out.write(f"\n$ {' '.join(args)}\n")
            out.flush()
            proc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, text=True)
        if proc.returncode:
            return _last_line(log.read_text()[-4000:])
        return None

    log.write_text("")
    why = step([base, "-m", "venv", "--clear", str(folder)])
    py = str(python_of(peer))
    if why is None:
        why = step([py, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    if why is None:
        why = step([py, "-m", "pip", "install", "-q", *pins(), *PEERS[peer]])
    if why is None:
        probe = subprocess.run([py, "-c", f"import {peer}, json, importlib.metadata as m; print(json.dumps("
                                f"{{k: m.version(k) for k in {[peer, 'torch', 'lightning', 'keras', 'xgboost-cpu']}}}))"],
                               capture_output=True, text=True)
        why = None if probe.returncode == 0 else f"import {peer} fails: {_last_line(probe.stderr)}"
    if why is not None:
        (folder / "FAILED").parent.mkdir(parents=True, exist_ok=True)
        (folder / "FAILED").write_text(f"install failed: {why} (log: {log})")
        return False, (folder / "FAILED").read_text()
    versions = json.loads(probe.stdout)
    (folder / "READY").write_text(json.dumps(versions))
    if not quiet:
        print(f"{peer}: ready in {time.monotonic() - start:.0f} s: {versions}", flush=True)
    return True, json.dumps(versions)


def ensure(peer: str) -> tuple[bool, str]:
    """The peer's venv, made now if it has none (a FAILED one is not tried again: --force does)."""
    ready, why = status(peer)
    if ready or why != "no venv yet":
        return ready, why
    print(f"setting up a venv for {peer} in {venv_dir(peer)} (once; a few minutes) ...", file=sys.stderr, flush=True)
    return create(peer, quiet=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--force", action="store_true", help="make the venvs again, even ready or failed ones")
    args = parser.parse_args()
    print(f"venvs under {cache_dir() / 'venvs'}; frameworks pinned: {' '.join(pins())}", flush=True)
    failed = 0
    for peer in args.peers:
        ready, why = status(peer)
        if ready and not args.force:
            print(f"{peer}: ready: {why}")
            continue
        if not ready and why != "no venv yet" and not args.force:
            print(f"{peer}: {why} (--force tries again)")
            failed += 1
            continue
        ready, why = create(peer)
        if not ready:
            print(f"{peer}: {why}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
