"""Content-addressed blob cache on disk, shared by every caller of the proxy.

Layout under the cache root (the registry service's state directory)::

    blobs/sha256/<hex>     verified content, read-only (manifests live here too)
    ingest/<hex>.<random>  partial downloads, one file per attempt

A blob reaches ``blobs/`` only through :meth:`Ingest.commit`: write, fsync,
verify size and digest, rename, fsync the directory. A crash at any point
leaves at worst an orphan ingest file, never a bad blob under a digest name.
Ingest names are unique per attempt, so two processes sharing the cache never
write the same file; the rename of identical content is idempotent.

Digests are validated with :func:`validate_digest` before they become paths.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from services.common.errors import DigestMismatch
from services.common.oci import digest_hex, sha256_digest, validate_digest

__all__ = ["BlobCache", "Ingest", "KeyedLocks", "CHUNK_SIZE"]

CHUNK_SIZE = 1 << 20
#: ingest files untouched for this long are orphans of a crashed process; a
#: live download writes far more often, so removing them is safe
STALE_INGEST_SECONDS = 24 * 3600


class KeyedLocks:
    """One lock per key, created on demand and dropped when nobody holds it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    def acquire(self, key: str) -> None:
        with self._guard:
            lock, users = self._locks.get(key, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._locks[key] = (lock, users + 1)
        lock.acquire()

    def release(self, key: str) -> None:
        with self._guard:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
        lock.release()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        self.acquire(key)
        try:
            yield
        finally:
            self.release(key)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Ingest:
    """A partial download of one blob. Not thread-safe: one writer per ingest."""

    def __init__(self, cache: "BlobCache", digest: str) -> None:
        self.digest = validate_digest(digest)
        self._cache = cache
        self._hash = hashlib.sha256()
        self.size = 0
        name = f"{digest_hex(digest)}.{os.urandom(8).hex()}"
        self.path = cache.ingest_dir / name
        self._file = open(self.path, "xb")

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def commit(self, expected_size: int | None = None, what: str = "blob") -> Path:
        """Verify and move into ``blobs/``; on mismatch delete and raise DigestMismatch."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if expected_size is not None and self.size != expected_size:
                raise DigestMismatch(
                    f"{what} {self.digest}: got {self.size} bytes, expected {expected_size}"
                )
            got = "sha256:" + self._hash.hexdigest()
            if got != self.digest:
                raise DigestMismatch(f"{what} {self.digest}: got {got}")
            os.chmod(self.path, 0o444)
            target = self._cache.blob_path(self.digest)
            os.replace(self.path, target)
            _fsync_dir(target.parent)
            return target
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class BlobCache:
    """Verified blobs by digest, plus per-digest locks for single downloads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blob_dir = self.root / "blobs" / "sha256"
        self.ingest_dir = self.root / "ingest"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)
        self.locks = KeyedLocks()
        self.remove_stale_ingests()

    def remove_stale_ingests(self, max_age: float = STALE_INGEST_SECONDS) -> int:
        """Delete ingest files not modified for ``max_age`` seconds; return how many."""
        cutoff = time.time() - max_age
        removed = 0
        for path in self.ingest_dir.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def blob_path(self, digest: str) -> Path:
        return self.blob_dir / digest_hex(digest)

    def has(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def size(self, digest: str) -> int | None:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def ingest(self, digest: str) -> Ingest:
        return Ingest(self, digest)

    def read_bytes(self, digest: str, limit: int) -> bytes | None:
        """Whole blob if cached, re-verified; a blob that fails is deleted (None).

        For small documents (manifests): reading more than ``limit`` bytes is
        refused by returning None too, so the caller refetches and applies its
        own size rule.
        """
        path = self.blob_path(digest)
        try:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            return None
        if len(data) > limit:
            return None
        if sha256_digest(data) != digest:
            self.discard(digest)
            return None
        return data

    def put_bytes(self, digest: str, data: bytes, what: str = "blob") -> None:
        """Store ``data`` under ``digest`` after verifying it (DigestMismatch if not)."""
        if self.has(digest):
            return
        ingest = self.ingest(digest)
        try:
            ingest.write(data)
        except BaseException:
            ingest.abort()
            raise
        ingest.commit(len(data), what)

    def read_from(self, digest: str, offset: int = 0) -> Iterator[bytes]:
        """Chunks of a cached blob from ``offset``; FileNotFoundError if absent."""
        with open(self.blob_path(digest), "rb") as f:
            f.seek(offset)
            while chunk := f.read(CHUNK_SIZE):
                yield chunk

    def discard(self, digest: str) -> None:
        try:
            os.unlink(self.blob_path(digest))
        except FileNotFoundError:
            pass

    def ingest_files(self) -> list[Path]:
        return sorted(self.ingest_dir.iterdir())
