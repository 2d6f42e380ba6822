"""Container log files: the writer, run inside every shim.

Two formats, chosen per container:

- ``json-file`` (Docker's): one JSON object per line,
  ``{"log":"hello\\n","stream":"stdout","time":"2026-11-28T08:00:00.123456789Z"}``.
- ``k8s-file`` (CRI, as conmon writes it):
  ``2026-11-28T08:00:00.123456789+00:00 stdout F hello``; tag ``F`` ends a line,
  ``P`` is a piece of a longer line, the newline itself is not kept.

Output is cut into lines; a line of more than :data:`MAX_RECORD` bytes becomes
several records (only the last ends in a newline, or carries ``F``), cut on a
UTF-8 character boundary. A line still open when its stream ends is flushed
without a newline (``P`` in k8s-file) so a reader rebuilds the exact bytes.

Rotation: when a record would take the file past ``max_size`` bytes, FILE is
renamed to FILE.1 (FILE.1 to FILE.2, ... keeping ``max_file - 1`` old files);
with ``max_file == 1`` the old file is unlinked, as Docker keeps one file.
Either way a new inode appears at FILE, which is how followers notice.

Imports stay lean (os, time, _json through leanjson): see the package docstring.
"""

from __future__ import annotations

import os
import time

from .leanjson import encode_string

__all__ = [
    "JSON_FILE", "K8S_FILE", "DRIVERS", "STREAMS", "MAX_RECORD",
    "LogWriter", "format_timestamp",
]

JSON_FILE = "json-file"
K8S_FILE = "k8s-file"
DRIVERS = (JSON_FILE, K8S_FILE)
STREAMS = ("stdout", "stderr")
#: most content bytes in one record (Docker's json-file buffer size)
MAX_RECORD = 16 * 1024


def format_timestamp(time_ns: int, suffix: str = "Z") -> str:
    """RFC 3339 with nanoseconds in UTC; ``suffix`` is ``Z`` or ``+00:00``."""
    secs, nanos = divmod(time_ns, 1_000_000_000)
    t = time.gmtime(secs)
    return (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{nanos:09d}{suffix}")


def _cut(buf: bytes, limit: int) -> int:
    """Length of the first piece of ``buf`` (longer than ``limit``): ``limit``
    moved back to the start of a UTF-8 character when that is close by."""
    cut = limit
    for _ in range(3):
        if buf[cut] & 0xC0 != 0x80:
            return cut
        cut -= 1
    return cut if buf[cut] & 0xC0 != 0x80 else limit


class LogWriter:
    """Appends a container's output to its log file, one record per line.

    Not thread-safe; the shim calls it from its single loop. Write errors
    (ENOSPC, EIO) raise OSError from :meth:`write`; the caller decides whether
    to drop output.
    """

    def __init__(self, path: str, driver: str, max_size: int = 0, max_file: int = 1):
        if driver not in DRIVERS:
            raise ValueError(f"log driver {driver!r} is not one of {', '.join(DRIVERS)}")
        if max_size < 0:
            raise ValueError(f"log max size {max_size} is negative")
        if max_file < 1:
            raise ValueError(f"log max file {max_file} is below 1")
        self.path = path
        self.driver = driver
        self.max_size = max_size
        self.max_file = max_file
        self._pending = {stream: b"" for stream in STREAMS}
        self._fd = -1
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

    def write(self, stream: str, data: bytes, time_ns: int | None = None) -> None:
        """Append ``data`` read from ``stream``; complete lines are written now,
        an open line waits for its end (or for :data:`MAX_RECORD` bytes)."""
        if stream not in self._pending:
            raise ValueError(f"log stream {stream!r} is not one of {', '.join(STREAMS)}")
        buf = self._pending[stream] + data
        now = time.time_ns() if time_ns is None else time_ns
        start = 0
        while start < len(buf):
            newline = buf.find(b"\n", start, start + MAX_RECORD + 1)
            if newline >= 0:
                self._record(stream, buf[start:newline], True, now)
                start = newline + 1
            elif len(buf) - start > MAX_RECORD:
                piece = _cut(buf[start:start + MAX_RECORD + 1], MAX_RECORD)
                self._record(stream, buf[start:start + piece], False, now)
                start += piece
            else:
                break
        self._pending[stream] = buf[start:]

    def flush(self, stream: str, time_ns: int | None = None) -> None:
        """The stream ended: write its open line without a newline."""
        rest = self._pending[stream]
        if rest:
            self._pending[stream] = b""
            self._record(stream, rest, False, time.time_ns() if time_ns is None else time_ns)

    def close(self) -> None:
        """Flush open lines of both streams and close the file."""
        if self._fd < 0:
            return
        try:
            for stream in STREAMS:
                self.flush(stream)
        finally:
            os.close(self._fd)
            self._fd = -1

    def _record(self, stream: str, content: bytes, full: bool, time_ns: int) -> None:
        if self.driver == JSON_FILE:
            text = content.decode("utf-8", "replace") + ("\n" if full else "")
            line = (f'{{"log":{encode_string(text)},"stream":"{stream}",'
                    f'"time":"{format_timestamp(time_ns)}"}}\n').encode("utf-8")
        else:
            head = f"{format_timestamp(time_ns, '+00:00')} {stream} {'F' if full else 'P'} "
            line = head.encode("ascii") + content + b"\n"
        self._append(line)

    def _append(self, line: bytes) -> None:
        if self.max_size and self._size and self._size + len(line) > self.max_size:
            self._rotate()
        view = memoryview(line)
        while view:
            written = os.write(self._fd, view)
            self._size += written
            view = view[written:]

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        if self.max_file == 1:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        else:
            for index in range(self.max_file - 1, 0, -1):
                src = self.path if index == 1 else f"{self.path}.{index - 1}"
                try:
                    os.replace(src, f"{self.path}.{index}")
                except FileNotFoundError:
                    continue
        self._open()
