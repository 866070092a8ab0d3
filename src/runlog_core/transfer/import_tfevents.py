"""Reading TensorBoard event files for ``runlog import tensorboard``: every record checked, losses counted.

An event file is a sequence of records: an 8-byte length, its checksum, the event (a protobuf) and
the event's checksum. Each file is opened with ``open_regular`` (a FIFO or a link is one line, never
a hang) and read record by record; reading stops at the first record that is cut short (a file
copied or killed mid-write) or whose checksum is wrong, and :class:`Events` says what was lost from
there to the end of the file: the run is imported with what came before, and one line says it.

TensorBoard's own loader stops at such a record too, without a word; its ``EventAccumulator`` is
not used: the events are read here, keeping what the importer copies (scalars, ``tf.summary``
scalar tensors, images, the hparams plugin's ``session_start_info``).
"""

from __future__ import annotations

import struct

from runlog_core.transfer.import_read import SourceFileError, open_regular

TYPE_CHECKING = False  # typing is not imported at run time: `import runlog_core` stays light
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any, BinaryIO

__all__ = ["Events", "event_files"]

_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")
_HPARAMS_START = "_hparams_/session_start_info"


def event_files(folder: Path) -> list[Path]:
    """The event files directly in ``folder`` (``*tfevents*``), sorted by name as TensorBoard reads them."""
    return sorted(path for path in folder.iterdir() if "tfevents" in path.name)


class Events:
    """What one run's event files hold: scalars, images, hparams, first and last wall times, losses."""

    def __init__(self) -> None:
        self.scalars: dict[str, list[tuple[int, float, float]]] = {}
        self.images: dict[str, list[tuple[int, float, bytes]]] = {}
        self.hparams: dict[str, Any] = {}
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.lost: list[str] = []  # one line per file not read whole: which, how much, why
        self._metadata: dict[str, Any] = {}

    def read_folder(self, folder: Path, label: str) -> None:
        """Read every event file directly in ``folder``; ``label`` names it in the lines of ``lost``."""
        for path in event_files(folder):
            name = f"{label}/{path.name}" if label else path.name
            try:
                with open_regular(path) as handle:
                    self.read_file(handle, name)
            except SourceFileError as err:
                self.lost.append(f"the event file '{name}' is not read: {err}")

    def read_file(self, handle: BinaryIO, name: str) -> None:
        """Read the records of one open event file; a torn or corrupt one ends it, counted in ``lost``."""
        import os

        from tensorboard.compat.proto import event_pb2

        size = os.fstat(handle.fileno()).st_size
        before = self.count
        records = _Records(handle, size)
        for data in records:
            try:
                event = event_pb2.Event.FromString(data)
            except Exception:  # a record whose checksum is right but that is no event: stop as at a bad one
                records.stop("an event in it cannot be decoded", records.offset - len(data) - 16)
                break
            self._add(event)
        if records.problem is not None:
            lost = size - records.stopped_at
            self.lost.append(f"the event file '{name}' {records.problem}: its last {lost:,} of {size:,} bytes "
                             f"are lost; the {self.count - before:,} events before them are imported")

    def _saw(self, wall_time: float) -> None:
        self.first = wall_time if self.first is None else min(self.first, wall_time)
        self.last = wall_time if self.last is None else max(self.last, wall_time)

    def _add(self, event: Any) -> None:
        self.count += 1
        self._saw(event.wall_time)
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            tag = value.tag
            if value.HasField("metadata") and tag not in self._metadata:
                self._metadata[tag] = value.metadata  # TensorBoard writes a tag's metadata with its first value only
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                self.scalars.setdefault(tag, []).append((event.step, value.simple_value, event.wall_time))
            elif kind == "image":
                self.images.setdefault(tag, []).append((event.step, event.wall_time,
                                                        value.image.encoded_image_string))
            elif kind == "tensor" and self._plugin(tag) == "scalars":  # tf.summary (TF2, Keras) scalars
                from tensorboard.util import tensor_util

                number = float(tensor_util.make_ndarray(value.tensor).item())
                self.scalars.setdefault(tag, []).append((event.step, number, event.wall_time))
            if tag == _HPARAMS_START and self._plugin(tag) == "hparams":
                self.hparams.update(_session_hparams(self._metadata[tag].plugin_data.content))

    def _plugin(self, tag: str) -> str | None:
        metadata = self._metadata.get(tag)
        return None if metadata is None else str(metadata.plugin_data.plugin_name)


def _session_hparams(content: bytes) -> dict[str, Any]:
    """The hparams plugin's ``session_start_info`` values: numbers, strings and bools."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    params: dict[str, Any] = {}
    for key, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind in ("number_value", "string_value", "bool_value"):
            params[key] = getattr(value, kind)
    return params


class _Records:
    """The records of an event file, checked; ``problem`` and ``stopped_at`` say where reading stopped."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.size = size
        self.offset = 0
        self.problem: str | None = None
        self.stopped_at = 0

    def stop(self, problem: str, at: int) -> None:
        self.problem, self.stopped_at = problem, at

    def __iter__(self) -> Iterator[bytes]:
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

        while True:
            start = self.offset
            header = self.handle.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                return self.stop("is cut short in the middle of an event", start)
            length, header_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != header_crc:
                return self.stop(f"has a corrupt record at byte {start:,}", start)
            if length > self.size - start - _HEADER.size - _CRC.size:  # never allocate more than the file holds
                return self.stop("is cut short in the middle of an event", start)
            data = self.handle.read(length)
            crc = self.handle.read(_CRC.size)
            if len(data) < length or len(crc) < _CRC.size:
                return self.stop("is cut short in the middle of an event", start)
            if masked_crc32c(data) != _CRC.unpack(crc)[0]:
                return self.stop(f"has a corrupt record at byte {start:,}", start)
            self.offset = start + _HEADER.size + length + _CRC.size
            yield data
