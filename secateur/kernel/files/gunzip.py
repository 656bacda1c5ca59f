"""A gunzip reader that refuses a stream once it unpacks too much or too far beyond its packed size."""

import zlib
from typing import BinaryIO

_CHUNK = 256 * 1024
# Below this many unpacked bytes the ratio is not judged: headers and small JSON files pack very well.
RATIO_FLOOR = 1024 * 1024


class UnpackLimitError(ValueError):
    """The stream went past its unpacked-bytes or unpack-ratio limit."""


class BoundedGunzip:
    """A file-like `read()` over a gzip stream (concatenated members too), checked on every read."""

    def __init__(self, raw: BinaryIO, max_unpacked: int, max_ratio: float) -> None:
        """Read packed bytes from `raw`; refuse past `max_unpacked` or `max_ratio` x the packed bytes."""
        self._raw, self.max_unpacked, self.max_ratio = raw, max_unpacked, max_ratio
        self._inflate = zlib.decompressobj(wbits=31)
        self._pending, self._out = b"", bytearray()
        self._member_started = False
        self.packed = self.unpacked = 0

    def read(self, size: int = -1) -> bytes:
        """Up to `size` unpacked bytes (all that is left when negative); b"" at the end."""
        while (size < 0 or len(self._out) < size) and self._fill():
            pass
        count = len(self._out) if size < 0 else min(size, len(self._out))
        data = bytes(self._out[:count])
        del self._out[:count]
        return data

    def _fill(self) -> bool:
        """Inflate at most one chunk more into the buffer; False at the end of the stream."""
        if self._inflate.eof:
            # Another gzip member may follow (what `cat a.gz b.gz` makes); gzip itself accepts that.
            self._pending = self._inflate.unused_data + self._pending
            self._inflate, self._member_started = zlib.decompressobj(wbits=31), False
        if not self._pending:
            self._pending = self._raw.read(_CHUNK)
            self.packed += len(self._pending)
            if not self._pending:
                if self._member_started:
                    raise EOFError("the gzip stream is truncated")
                return False
        self._member_started = True
        out = self._inflate.decompress(self._pending, _CHUNK)  # max_length bounds each step's memory
        self._pending = self._inflate.unconsumed_tail
        self.unpacked += len(out)
        self._out += out
        self._check()
        return True

    def _check(self) -> None:
        """Refuse as soon as a limit is passed, before more is inflated."""
        if self.unpacked > self.max_unpacked:
            raise UnpackLimitError(f"unpacked size exceeds the limit of {self.max_unpacked} bytes")
        if self.unpacked > RATIO_FLOOR and self.unpacked > self.max_ratio * max(self.packed, 1):
            raise UnpackLimitError(
                f"the archive unpacks to more than {self.max_ratio:g} times its packed size"
            )
