"""A zstd stream read as gzip.GzipFile reads a gzip one: bounded output, and an error at
the end of a cut-short stream.

zstandard's stream_reader ends a truncated stream silently (the partial last line then
read as bad JSON and the run "passed"), so the frames are decoded here with decompressobj,
whose `eof` says whether the frame was finished. decompressobj returns all the output of
the input it is given, and one input byte can stand for ~32,768 output bytes (a 4-byte RLE
block holds 128 KiB), so the input goes in small pieces: what one piece decompresses to is
at most INPUT_CHUNK * 32 KiB + one block, as gzip bounds each read by its `size`.
"""

from __future__ import annotations

import io
from typing import IO

import zstandard

INPUT_CHUNK = 128  # compressed bytes a step: at most ~4 MiB of output held at once
MAX_WINDOW = 1 << 27  # libzstd's default limit (128 MiB), named: the decoder's memory bound
TRUNCATED = "Compressed file ended before the end-of-stream marker was reached"  # gzip's words


class ZstdReader(io.RawIOBase):
    """The decompressed bytes of a zstd stream of one or more frames; EOFError when the
    input ends inside a frame, zstandard.ZstdError when it is corrupt."""

    def __init__(self, raw: IO[bytes], chunk: int = INPUT_CHUNK) -> None:
        super().__init__()
        self._raw = raw
        self._chunk = chunk
        self._decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
        self._frame = self._decompressor.decompressobj()
        self._in_frame = False  # the current frame has been given input
        self._pending = memoryview(b"")
        self._error: zstandard.ZstdError | None = None  # raised once what preceded it is read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            if not self._step():
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _step(self) -> bool:
        """Decompress one piece of input; False at the end of a whole stream."""
        if self._error is not None:
            raise self._error
        data = self._raw.read(self._chunk)
        if not data:
            if self._in_frame:
                raise EOFError(TRUNCATED)
            return False
        self._pending = memoryview(self._decoded(data))
        return True

    def _decoded(self, data: bytes) -> bytes:
        parts: list[bytes] = []
        while data:
            self._in_frame = True
            try:
                parts.append(self._frame.decompress(data))
            except zstandard.ZstdError as error:  # corrupt, or not a frame after a frame
                if not parts:
                    raise
                self._error = error
                break
            if not self._frame.eof:
                break
            data = self._frame.unused_data  # the next frame's start, if any
            self._frame = self._decompressor.decompressobj()
            self._in_frame = False
        return parts[0] if len(parts) == 1 else b"".join(parts)  # no copy of ~8 MiB
