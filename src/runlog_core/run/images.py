"""Turning what ``log_image`` accepts into image file bytes, without importing numpy up front."""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import Any

from runlog_core.exceptions import InvalidArgumentError

__all__ = ["image_bytes"]

_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
    b"BM": "bmp",
}
_ACCEPTED = ("a PNG/JPEG/GIF/BMP/WebP file path, a matplotlib figure or pyplot, "
             "an HxW or HxWxC (C = 1, 3 or 4) array, or a PIL image")


def image_bytes(path: Any = None, plot: Any = None, image: Any = None) -> tuple[bytes, str]:
    """Return ``(data, extension)`` for exactly one of ``path``, ``plot`` or ``image``."""
    given = [(arg, value) for arg, value in (("path", path), ("plot", plot), ("image", image)) if value is not None]
    if len(given) != 1:
        raise InvalidArgumentError("log_image", tuple(arg for arg, _ in given) or None,
                                   "called with exactly one of path=, plot= or image=")
    argument, value = given[0]
    if isinstance(value, (str, os.PathLike)):
        return _from_file(argument, value)
    if hasattr(value, "savefig"):  # a matplotlib Figure, or the pyplot module
        return _from_figure(value.gcf() if hasattr(value, "gcf") else value), "png"
    if hasattr(value, "gcf"):
        return _from_figure(value.gcf()), "png"
    if hasattr(value, "save") and hasattr(value, "mode") and hasattr(value, "size"):  # PIL.Image.Image
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue(), "png"
    if hasattr(value, "__array__") or hasattr(value, "shape"):
        return encode_png(value, argument), "png"
    raise InvalidArgumentError(argument, value, _ACCEPTED)


def _from_file(argument: str, path: str | os.PathLike[str]) -> tuple[bytes, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise InvalidArgumentError(argument, path, f"a readable image file ({err.strerror})") from None
    for signature, extension in _SIGNATURES.items():
        if data.startswith(signature):
            return data, extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "webp"
    raise InvalidArgumentError(argument, path, "a PNG, JPEG, GIF, BMP or WebP file")


def _from_figure(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def encode_png(array: Any, argument: str = "image") -> bytes:
    """Encode an HxW or HxWxC array as PNG.

    Floats are read as intensities in [0, 1] (NaN becomes 0, values are clipped);
    bools as black and white; integers are clipped to 0-255.
    """
    import numpy as np  # only reached when the user passes an array, so numpy is there

    if hasattr(array, "detach"):  # torch tensors, possibly on a GPU or requiring grad
        array = array.detach().cpu().numpy()
    data = np.asarray(array)
    if data.ndim == 3 and data.shape[0] in (1, 3, 4) and data.shape[2] not in (1, 3, 4):
        data = np.transpose(data, (1, 2, 0))  # CHW, as torch and torchvision lay images out
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] not in (3, 4)):
        raise InvalidArgumentError(argument, f"array of shape {data.shape}", "an HxW, HxWx1, HxWx3 or HxWx4 array")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise InvalidArgumentError(argument, f"array of shape {data.shape}", "an image with at least one pixel")
    if data.dtype == bool:
        data = data.astype(np.uint8) * 255
    elif data.dtype.kind == "f":
        data = np.nan_to_num(data.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        data = (np.clip(data, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif data.dtype.kind in "iu":
        data = np.clip(data, 0, 255).astype(np.uint8)
    else:
        raise InvalidArgumentError(argument, f"array of dtype {data.dtype}", "a bool, integer or float array")
    height, width = data.shape[:2]
    color_type = 0 if data.ndim == 2 else 2 if data.shape[2] == 3 else 6  # grey, RGB, RGBA
    rows = data.reshape(height, -1)
    raw = np.zeros((height, rows.shape[1] + 1), dtype=np.uint8)
    raw[:, 1:] = rows
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)),
        _chunk(b"IEND", b""),
    ))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
