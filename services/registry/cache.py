"""Content-addressed blob cache on disk, shared by every caller of the proxy.

Layout under the cache root (the registry service's state directory)::

    blobs/sha256/<hex>     verified content, read-only (manifests live here too)
    ingest/<hex>.<random>  partial downloads, one file per attempt

Storage is the shared :class:`services.common.content.ContentStore`.
A blob reaches ``blobs/`` only through :meth:`Writer.commit`: write, fsync,
verify size and digest, rename, fsync the directory. A crash at any point
leaves at worst an orphan ingest file, never a bad blob under a digest name.
Ingest names are unique per attempt, so two processes sharing the cache never
write the same file; the rename of identical content is idempotent.

Digests are validated with :func:`validate_digest` before they become paths.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

from client.imagespec import sha256_digest, validate_digest
from services.common.content import ContentStore, Writer
from services.common.locks import KeyedLocks

__all__ = ["BlobCache", "Ingest", "CHUNK_SIZE"]

CHUNK_SIZE = 1 << 20
#: ingest files untouched for this long are orphans of a crashed process; a
#: live download writes far more often, so removing them is safe
STALE_INGEST_SECONDS = 24 * 3600


#: a partial download of one blob (one writer per ingest): the shared content writer
Ingest = Writer


class BlobCache:
    """Verified blobs by digest (the shared :class:`ContentStore`), plus
    per-digest locks for single downloads and the proxy's read rules."""

    def __init__(self, root: Path) -> None:
        self.store = ContentStore(root)
        self.root = self.store.root
        self.blob_dir = self.store.blob_dir
        self.ingest_dir = self.store.ingest_dir
        self.locks = KeyedLocks()
        self.store.clean_ingest()  # a killed process's partial downloads (no live writer holds them)
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
        return self.store.path(digest)

    def has(self, digest: str) -> bool:
        return self.store.has(digest)

    def size(self, digest: str) -> int | None:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def ingest(self, digest: str, expected_size: int | None = None) -> Ingest:
        """A writer for one download; with ``expected_size`` it refuses bytes past it."""
        return self.store.begin(validate_digest(digest), expected_size)

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
