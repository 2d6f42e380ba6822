"""Content-addressed blob store: ``<root>/blobs/sha256/<hex>``, written through ``<root>/ingest/``.

One implementation for every service that keeps content by digest: the
image-store's content store and the registry-proxy's pull-through cache.

Contract (containerd ``plugins/content/local`` semantics): a blob is visible
under its digest only once its bytes were fsynced, their size and sha256
verified, and the ingest file renamed into place with the directory fsynced. A
crash leaves at most an ingest file, which :meth:`ContentStore.clean_ingest`
drops at service start: a writer holds an exclusive ``flock`` on its ingest
file while it lives, so only files no live writer (of any process sharing
the store) holds are dropped. Digests are validated before they touch a path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from client.errors import DigestMismatch, InvalidArgument, NotFound
from client.imagespec import digest_hex, validate_digest
from services.common.atomic import fsync_dir

__all__ = ["ContentStore", "Writer", "SizeMismatch"]

_HEX = re.compile(r"[a-f0-9]{64}")


class SizeMismatch(DigestMismatch):
    """Content did not have the size its descriptor promised."""


class Writer:
    """Accepts the bytes of one blob; hashes and counts them as they arrive.

    Writing past ``expected_size`` fails at once (a lying server cannot fill the
    disk). :meth:`commit` verifies size and digest and publishes the blob;
    :meth:`abort` discards it. ``ContentStore.writer()`` does both for a block.
    """

    def __init__(self, store: "ContentStore", digest: str | None, expected_size: int | None) -> None:
        hex_ = digest_hex(digest) if digest is not None else "unknown"
        if expected_size is not None and expected_size < 0:
            raise InvalidArgument(f"blob {digest}: negative expected size {expected_size}")
        self._store = store
        self._digest = digest
        self._expected_size = expected_size
        self._hash = hashlib.sha256()
        self.written = 0
        #: the ingest file being written (readers may follow it while it grows)
        self.path = store.ingest_dir / f"{hex_}.{uuid.uuid4().hex}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # a new file: nobody else holds it

    @property
    def size(self) -> int:
        return self.written

    def write(self, data: bytes) -> int:
        size = len(data)
        if self._expected_size is not None and self.written + size > self._expected_size:
            raise SizeMismatch(
                f"blob {self._digest}: more than the expected {self._expected_size} bytes written"
            )
        self._hash.update(data)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self.written += size
        return size

    @property
    def digest(self) -> str:
        """Digest of the bytes written so far."""
        return "sha256:" + self._hash.hexdigest()

    def commit(self, expected_size: int | None = None, what: str = "blob") -> Path:
        """fsync, verify size and digest, rename into place (fsync the directory).

        On a mismatch the ingest file is removed and DigestMismatch names the
        expected and actual digest. If the blob already exists, the verified
        bytes are dropped and the existing blob kept.
        """
        expected = self._expected_size if expected_size is None else expected_size
        try:
            os.fsync(self._fd)
            if expected is not None and self.written != expected:
                raise SizeMismatch(f"{what} {self._digest}: expected {expected} bytes, got {self.written}")
            actual = self.digest
            if self._digest is not None and actual != self._digest:
                raise DigestMismatch(f"{what} {self._digest}: got {actual}")
            target = self._store.path(actual)
            if target.exists():
                self.path.unlink()
            else:
                os.fchmod(self._fd, 0o444)  # committed content is immutable
                os.rename(self.path, target)
                fsync_dir(target.parent)
            return target
        except BaseException:
            self.abort()
            raise
        finally:
            self._close()

    def abort(self) -> None:
        self._close()
        self.path.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ContentStore:
    """Verified blobs by digest under ``<root>/blobs/sha256``, written through ``<root>/ingest``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blob_dir = self.root / "blobs" / "sha256"
        self.ingest_dir = self.root / "ingest"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """Where the blob lives (validated digest; the file may not exist)."""
        return self.blob_dir / digest_hex(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest}") from exc

    def read_bytes(self, digest: str, max_size: int = 16 << 20) -> bytes:
        """The whole blob, re-verified against its digest (meant for manifests and configs)."""
        with self.open(digest) as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_size:
                raise InvalidArgument(f"blob {digest} is {size} bytes, over the {max_size}-byte read limit")
            data = f.read(max_size + 1)
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise DigestMismatch(f"stored blob {digest} is corrupt: content hashes to {actual}")
        return data

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest}") from exc

    def begin(self, digest: str | None, expected_size: int | None = None) -> Writer:
        """A writer the caller commits or aborts itself; with ``digest`` None the
        blob is content made here (a committed layer), kept under whatever
        digest its bytes hash to."""
        return Writer(self, digest, expected_size)

    @contextmanager
    def writer(self, digest: str, expected_size: int | None) -> Iterator[Writer]:
        """Write a blob; commit it on clean exit, discard the ingest file on any error.

        Each writer has its own ingest file, so concurrent writers of one digest
        never clash; the first to commit wins and later ones, having verified
        their bytes, keep the existing blob.
        """
        w = self.begin(digest, expected_size)
        try:
            yield w
        except BaseException:
            w.abort()
            raise
        w.commit()

    def delete(self, digest: str) -> None:
        try:
            self.path(digest).unlink()
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest}") from exc

    def list(self) -> Iterator[str]:
        for entry in os.scandir(self.blob_dir):
            if _HEX.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                yield validate_digest("sha256:" + entry.name)

    def clean_ingest(self) -> int:
        """Drop ingest files a crash left behind: those no live writer holds
        locked. Returns how many went."""
        removed = 0
        for entry in os.scandir(self.ingest_dir):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except FileNotFoundError:
                continue  # committed or aborted meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer's
            else:
                os.unlink(entry.path)  # under our lock: no writer can hold it any more
                removed += 1
            finally:
                os.close(fd)
        return removed
