"""Unpacking a layer while it downloads.

A download appends to its ingest file and reports progress to a
:class:`Spool`; a :class:`SpoolReader` reads the same file as it grows and
sees end-of-file only once the blob was verified and committed, so a
snapshot unpacked from it is published only when both the compressed digest
(checked by the content writer) and the diff id (checked by the snapshotter)
hold. A failed download raises in the reader, which aborts the unpack.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

__all__ = ["Spool", "SpoolReader"]


class Spool:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.path: Path | None = None
        self.written = 0
        self.done = False
        self.error: BaseException | None = None

    def begin(self, path: Path) -> None:
        with self._cond:
            self.path = path
            self._cond.notify_all()

    def advance(self, n: int) -> None:
        with self._cond:
            self.written += n
            self._cond.notify_all()

    def finish(self, path: Path) -> None:
        """The blob is committed at ``path``."""
        with self._cond:
            self.path, self.done = path, True
            self._cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            self.error = exc
            self._cond.notify_all()

    def wait(self, predicate) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.error is not None or predicate(), timeout=None)
            if self.error is not None:
                raise self.error


class SpoolReader(io.RawIOBase):
    """Sequential reads of a blob that may still be downloading."""

    def __init__(self, spool: Spool) -> None:
        super().__init__()
        self._spool = spool
        self._fd = -1
        self._pos = 0

    def readable(self) -> bool:
        return True

    def _open(self) -> None:
        while self._fd < 0:
            self._spool.wait(lambda: self._spool.path is not None)
            path = self._spool.path
            assert path is not None
            try:
                self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                # renamed into the store between our look and our open
                self._spool.wait(lambda: self._spool.done or self._spool.path != path)

    def readinto(self, b) -> int:  # type: ignore[override]
        self._open()
        while True:
            n = os.readv(self._fd, [b])
            if n:
                self._pos += n
                return n
            pos = self._pos
            self._spool.wait(lambda: self._spool.done or self._spool.written > pos)
            if self._spool.done and self._spool.written <= self._pos:
                # the writer committed: drain whatever the last check missed
                n = os.readv(self._fd, [b])
                self._pos += n
                return n

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()
