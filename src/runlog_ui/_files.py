"""A run's files and log tails: bytes streamed from ``store.artifacts`` (``/files/<name>`` and ``/log``).

Only names of the run's artifact index get here (``Api._artifact``). A name the index lists whose
bytes are missing from the artifact store (an S3 object deleted, a local file removed) is a 404
naming it, not a failed store (503).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from runlog_core.exceptions import RunNotFoundError

from ._http import ApiError, int_arg, json_response

__all__ = ["content_type", "file_response", "log_response"]

LOG_TAIL = 64 * 1024
LOG_CHUNK = 1024 * 1024
INLINE = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif", "text/plain",
          "text/csv", "text/markdown", "application/json", "application/pdf"}
TEXT_TYPES = {".log": "text/plain", ".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv",
              ".json": "application/json", ".yaml": "text/plain", ".yml": "text/plain", ".jsonl": "text/plain"}


def _open(store: Any, run_id: str, name: str) -> BinaryIO:
    try:
        stream: BinaryIO = store.artifacts.open(run_id, name)
    except RunNotFoundError:
        raise ApiError(404, f"run {run_id!r} lists the file {name!r}, but the artifact store has no bytes for it "
                            "(deleted or never uploaded)") from None
    return stream


def file_response(store: Any, run_id: str, name: str, request: Request) -> Response:
    """The file's bytes, streamed, with its content type and disposition (docs/ui.md)."""
    stream = _open(store, run_id, name)
    kind = content_type(name)
    base = kind.split(";")[0]
    filename = name.rsplit("/", 1)[-1]
    disposition = "inline" if base in INLINE else "attachment"
    headers = {"content-disposition": f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}",
               "cache-control": "no-cache"}
    try:
        size = stream.seek(0, 2)
        stream.seek(0)
        headers["content-length"] = str(size)
    except (OSError, AttributeError, ValueError):
        pass

    def chunks() -> Iterator[bytes]:
        try:
            while True:
                chunk = stream.read(256 * 1024)
                if not chunk:
                    return
                yield chunk
        finally:
            stream.close()

    if request.method == "HEAD":
        stream.close()
        return Response(b"", media_type=kind, headers=headers)
    return StreamingResponse(chunks(), media_type=kind, headers=headers)


def log_response(store: Any, run_id: str, name: str, request: Request) -> Response:
    """A log's tail (the last 64 KiB from a whole line) or the text from ``offset`` on, 1 MiB at most."""
    asked = request.query_params.get("offset")
    with _open(store, run_id, name) as stream:
        try:
            size = stream.seek(0, 2)
            seekable = True
        except (OSError, AttributeError, ValueError):
            data = stream.read()
            size, seekable = len(data), False
        offset = max(0, size - LOG_TAIL) if asked in (None, "") else min(int_arg(request, "offset", 0), size)
        if seekable:
            stream.seek(offset)
            data = stream.read(min(LOG_CHUNK, size - offset))
        else:
            data = data[offset:offset + LOG_CHUNK]
    start = 0
    if asked in (None, "") and offset > 0:  # a tail may start inside a line (and a character): from the next line
        newline = data.find(b"\n")
        start = newline + 1 if 0 <= newline < len(data) - 1 else 0
    while start < len(data) and start < 4 and (data[start] & 0xC0) == 0x80:
        start += 1
    end = len(data)
    for back in range(1, min(4, end - start) + 1):  # an unfinished character at the end waits for the next call
        byte = data[end - back]
        if byte & 0xC0 == 0xC0:
            need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
            if back < need:
                end -= back
            break
        if byte & 0x80 == 0:
            break
    text = data[start:end].decode("utf-8", errors="replace")
    return json_response({"name": name, "offset": offset + start, "next": offset + end, "size": size, "text": text})


def content_type(name: str) -> str:
    lowered = name.lower()
    suffix = lowered[lowered.rfind("."):] if "." in lowered.rsplit("/", 1)[-1] else ""
    kind = TEXT_TYPES.get(suffix) or mimetypes.guess_type(lowered)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind == "application/json":
        kind += "; charset=utf-8"
    return kind
