"""Bad input raises at the call site with a clear error, and loses nothing already logged."""

from __future__ import annotations

import decimal
import fractions
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runlog_core import Experiment, Run
from runlog_core.exceptions import (
    InvalidArgumentError,
    InvalidMetricError,
    InvalidNameError,
    MetricKindError,
    RunlogError,
    UnsafeArtifactNameError,
)

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

BAD_CALLS: list[tuple[str, Callable[[Run], Any], type[Exception], str]] = [
    ("none-value", lambda r: r.log("m", None), InvalidMetricError, r"metric 'm': value must be .*got NoneType"),
    ("list-value", lambda r: r.log("m", [1, 2]), InvalidMetricError, r"use log_list .*got list"),
    ("dict-value", lambda r: r.log("m", {"a": 1}), InvalidMetricError, r"log_row/log_table.*got dict"),
    ("bytes-value", lambda r: r.log("m", b"x"), InvalidMetricError, r"got bytes"),
    ("object-value", lambda r: r.log("m", object()), InvalidMetricError, r"got object"),
    ("array-value", lambda r: r.log("m", np.zeros(3)), InvalidMetricError, r"not an array with 3 elements"),
    ("tensor-value", lambda r: r.log("m", torch.zeros(2, 2)), InvalidMetricError, r"shape \(2, 2\)"),
    ("empty-name", lambda r: r.log("", 1.0), InvalidNameError, r"metric name '' \(str\) is invalid"),
    ("blank-name", lambda r: r.log("   ", 1.0), InvalidNameError, r"visible character"),
    ("int-name", lambda r: r.log(3, 1.0), InvalidArgumentError, r"metric name must be a non-empty str, got int"),
    ("newline-name", lambda r: r.log("a\nb", 1.0), InvalidNameError, r"control characters"),
    ("long-name", lambda r: r.log("x" * 1001, 1.0), InvalidNameError, r"1001 characters"),
    ("float-step", lambda r: r.log("m", 1.0, step=1.5), InvalidArgumentError, r"step of metric 'm' must be an int"),
    ("str-step", lambda r: r.log("m", 1.0, step="3"), InvalidArgumentError, r"got str"),
    ("huge-step", lambda r: r.log("m", 1.0, step=2**63), InvalidArgumentError, r"64-bit"),
    ("bool-step", lambda r: r.log("m", 1.0, step=True), InvalidArgumentError, r"got bool"),
    ("no-step-after-int64-max", lambda r: (r.log("m", 1.0, step=2**63 - 1), r.log("m", 2.0)), InvalidArgumentError,
     r"largest int64"),
    ("str-after-number", lambda r: r.log("loss", "high"), MetricKindError, r"'loss' already holds number values"),
    ("metrics-not-dict", lambda r: r.log_metrics([("a", 1)]), InvalidArgumentError, r"metrics must be a dict"),
    ("metrics-bad-value", lambda r: r.log_metrics({"ok": 1.0, "bad": "x", "loss": "y"}), MetricKindError, r"'loss'"),
    ("list-of-lists", lambda r: r.log_list("l", [[1], [2]]), InvalidMetricError, r"scalar in each position"),
    ("list-not-list", lambda r: r.log_list("l", 5), InvalidArgumentError, r"value must be a list"),
    ("row-empty", lambda r: r.log_row("r"), InvalidArgumentError, r"at least one column"),
    ("row-bad-cell", lambda r: r.log_row("r", a=[1]), InvalidMetricError, r"metric 'r.a'"),
    ("table-ragged", lambda r: r.log_table("t", {"a": [1, 2], "b": [1]}), InvalidArgumentError, r"as many values"),
    ("table-not-dict", lambda r: r.log_table("t", [1, 2]), InvalidArgumentError, r"dict of column name"),
    ("params-not-dict", lambda r: r.log_params([1, 2]), InvalidArgumentError, r"params must be a dict"),
    ("params-collide", lambda r: r.log_params({"a.b": 1, "a": {"b": 2}}), InvalidNameError, r"flatten to this same"),
    ("tags-not-dict", lambda r: r.set_tags("x"), InvalidArgumentError, r"tags must be a dict"),
    ("image-nothing", lambda r: r.log_image("i"), InvalidArgumentError, r"exactly one of path=, plot= or image="),
    ("image-bad-shape", lambda r: r.log_image("i", image=np.zeros((2, 2, 2, 2))), InvalidArgumentError, r"HxW"),
    ("image-not-image", lambda r: r.log_image("i", path=__file__), InvalidArgumentError, r"a PNG, JPEG"),
    ("upload-missing", lambda r: r.upload_file("a.txt", "/nonexistent/file"), InvalidArgumentError, r"existing file"),
    ("upload-dotdot", lambda r: r.upload_file("../a.txt", __file__), UnsafeArtifactNameError, r"'\.\.'"),
    # #9: numbers no float can hold raised a raw OverflowError (or became inf)
    ("int-beyond-float", lambda r: r.log("m", 10**400), InvalidMetricError, r"metric 'm': .*within the float range"),
    ("int-beyond-float-existing", lambda r: r.log("loss", -(10**400)), InvalidMetricError, r"'loss'.*float range"),
    ("decimal-beyond-float", lambda r: r.log("m", decimal.Decimal("1e400")), InvalidMetricError, r"float range"),
    ("fraction-beyond-float", lambda r: r.log("m", fractions.Fraction(10**400, 3)), InvalidMetricError,
     r"float range"),
    ("metrics-beyond-float", lambda r: r.log_metrics({"ok": 1.0, "m": 10**400}), InvalidMetricError, r"'m'.*float"),
    ("metrics-beyond-float-at-step", lambda r: r.log_metrics({"loss": 10**400}, step=3), InvalidMetricError,
     r"'loss'.*float range"),
    ("list-beyond-float", lambda r: r.log_list("l", [1, 10**400]), InvalidMetricError, r"metric 'l'.*float range"),
    ("row-beyond-float", lambda r: r.log_row("r", a=1, b=10**400), InvalidMetricError, r"metric 'r.b'.*float"),
    ("table-beyond-float", lambda r: r.log_table("t", {"a": [1, decimal.Decimal("-1e999")]}), InvalidMetricError,
     r"metric 't.a'.*float range"),
    ("param-int-too-long", lambda r: r.log_params({"p": 10**5000}), InvalidArgumentError,
     r"param 'p' must be an int of at most \d+ decimal digits"),
    # #9: a params dict that contains itself raised RecursionError
    ("params-contain-themselves", lambda r: r.log_params(_cyclic()), InvalidArgumentError,
     r"param 'model.self' must be a value that does not contain itself"),
    ("param-list-contains-itself", lambda r: r.log_params({"ok": 1, "layers": _cyclic_list()}), InvalidArgumentError,
     r"param 'layers' must be a value that does not contain itself"),
    ("params-too-deep", lambda r: r.log_params({"ok": 1, "deep": _nested(150)}), InvalidArgumentError,
     r"param 'deep(\.k){99}' must be nested at most 100 levels deep"),
    ("param-list-too-deep", lambda r: r.log_param("deep", _nested_list(5000)), InvalidArgumentError,
     r"param 'deep' must be nested at most 100 levels deep"),
]


def _cyclic() -> dict[str, Any]:
    model: dict[str, Any] = {"lr": 0.1}
    model["self"] = model
    return {"ok": 1, "model": model}


def _cyclic_list() -> list[Any]:
    layers: list[Any] = [1, 2]
    layers.append(layers)
    return layers


def _nested(depth: int) -> dict[str, Any]:
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        nested = {"k": nested}
    return nested


def _nested_list(depth: int) -> list[Any]:
    nested: list[Any] = [1]
    for _ in range(depth):
        nested = [nested]
    return nested


@pytest.mark.parametrize(("call", "error", "match"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_a_clear_error_and_loses_nothing(store_dir: Path, call: Callable[[Run], Any],
                                                        error: type[Exception], match: str) -> None:
    run = Experiment("bad", store=store_dir).start_logging()
    run.log("loss", 0.5)
    run.log_params({"lr": 0.1})
    with pytest.raises(error, match=match) as caught:
        call(run)
    assert isinstance(caught.value, RunlogError)
    assert isinstance(caught.value, (TypeError, ValueError))
    run.log("loss", 0.25)
    run.complete()
    reopened = Run(run.experiment, run.id)
    assert reopened.get_metrics()["loss"] == [0.5, 0.25]
    assert reopened.get_params() == {"lr": 0.1}
    assert reopened.get_status() == "Completed"
    assert "ok" not in reopened.get_metrics()  # log_metrics checks every value before logging any
    assert "ok" not in reopened.get_params()  # log_params checks every value before logging any


SCALARS = [
    ("float", 1.5, 1.5),
    ("int", 3, 3),
    ("int-beyond-int64", 2**70, float(2**70)),
    ("bool", True, True),
    ("numpy-float32", np.float32(0.5), 0.5),
    ("numpy-float16-nan", np.float16("nan"), math.nan),
    ("numpy-int64", np.int64(-4), -4),
    ("numpy-uint64", np.uint64(2**63 + 5), float(2**63 + 5)),
    ("numpy-0d", np.array(2.5), 2.5),
    ("numpy-bool", np.bool_(False), False),
    ("torch-0d", torch.tensor(1.25), 1.25),
    ("torch-1-element", torch.tensor([0.75]), 0.75),
    ("torch-requires-grad", torch.tensor(2.0, requires_grad=True) * 1, 2.0),
    ("torch-neg-inf", torch.tensor(-math.inf), -math.inf),
    ("decimal", decimal.Decimal("0.1"), 0.1),
    ("fraction", fractions.Fraction(1, 4), 0.25),
    ("str", "text", "text"),
]


@pytest.mark.parametrize(("value", "expected"), [s[1:] for s in SCALARS], ids=[s[0] for s in SCALARS])
def test_accepted_scalars_read_back_the_same_from_log_and_log_metrics(store_dir: Path, value: Any,
                                                                      expected: Any) -> None:
    run = Experiment("scalars", store=store_dir).start_logging()
    run.log("single", value)
    run.log_metrics({"batch": value})
    run.complete()
    metrics = Run(run.experiment, run.id).get_metrics()
    for got in (metrics["single"], metrics["batch"]):
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(got)
        else:
            assert got == expected and type(got) is type(expected)


HOSTILE_NAMES = [
    "../../etc/passwd", "..\\..\\x", "%2e%2e%2fsecret", "%252e%252e%252f", "..%5cx", "/etc/passwd", "C:\\Windows\\x",
    "C:x", "\\\\srv\\share", "a/../../b", "file:///etc/passwd", "a/./b", "a//b", "x\x00y", "x\ny", "CON", "nul.txt",
    "trailing.", "trailing ", "a\u2215b", "a\uff0fb", "", "x" * 2000, ".", "..", "dir/",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[repr(n)[:30] for n in HOSTILE_NAMES])
def test_artifact_names_cannot_leave_the_run_folder(store_dir: Path, tmp_path: Path, name: str) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("untouched")
    run = Experiment("paths", store=store_dir).start_logging()
    with pytest.raises(UnsafeArtifactNameError):
        run.upload_file(name, canary)
    with pytest.raises(UnsafeArtifactNameError):
        run.download_file(name, tmp_path / "out")
    run.complete()
    assert run.get_file_names() == []
    assert canary.read_text() == "untouched"
    outside = [p for p in store_dir.parent.rglob("*") if p.is_file() and store_dir not in p.parents
               and p != canary]
    assert outside == []


def test_upload_folder_does_not_follow_links_outside_it(store_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "real.txt").write_text("ok")
    (folder / "inside_link.txt").symlink_to(folder / "real.txt")
    (folder / "outside_link.txt").symlink_to(secret)
    (folder / "etc").symlink_to("/etc")
    run = Experiment("links", store=store_dir).start_logging()
    with pytest.warns(RuntimeWarning, match="links outside"):
        run.upload_folder("data", folder)
    run.complete()
    assert sorted(run.get_file_names()) == ["data/inside_link.txt", "data/real.txt"]


BIG_PARAMS = [
    ("int-beyond-int64", 2**64, 2**64),
    ("int-beyond-float", 10**400, 10**400),
    ("negative-int-beyond-float", -(10**400), -(10**400)),
    ("nested-int-beyond-float", {"a": [10**400, {"b": 10**401}]}, None),  # flattened: see below
    ("decimal-beyond-float", decimal.Decimal("1e400"), "1E+400"),
    ("fraction-beyond-float", fractions.Fraction(10**400, 3), f"{10**400}/3"),
    ("numpy-uint64", np.uint64(2**64 - 1), 2**64 - 1),
]


@pytest.mark.parametrize(("value", "expected"), [p[1:] for p in BIG_PARAMS], ids=[p[0] for p in BIG_PARAMS])
def test_params_beyond_float_read_back_exactly(store_dir: Path, value: Any, expected: Any) -> None:
    run = Experiment("big", store=store_dir).start_logging()
    run.log_params({"p": value})
    run.log_params({"p": value})  # the same value again is no conflict
    run.complete()
    params = Run(run.experiment, run.id).get_params()
    if expected is None:
        assert params == {"p.a": [10**400, {"b": 10**401}]}
    else:
        assert params == {"p": expected} and type(params["p"]) is type(expected)


def test_an_object_reachable_twice_without_a_cycle_is_no_cycle(store_dir: Path) -> None:
    shared = {"width": 64}
    layers = [1, 2]
    run = Experiment("shared", store=store_dir).start_logging()
    run.log_params({"encoder": shared, "decoder": shared, "sizes": [layers, layers], "deep": _nested(98)})
    run.complete()
    params = Run(run.experiment, run.id).get_params()
    assert params["encoder.width"] == params["decoder.width"] == 64
    assert params["sizes"] == [[1, 2], [1, 2]]
    assert params["deep" + ".k" * 98 + ".leaf"] == 1
