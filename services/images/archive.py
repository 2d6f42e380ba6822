"""Reading an image archive (``docker load``'s input) safely onto disk.

The archive comes as a stream (plain, gzip, bzip2, xz or zstd: sniffed) and
its members may come in any order, so :func:`spool_archive` reads it once
through the vetted tar reader (:mod:`services.common.safetar.reader`) and
keeps each regular member as a file under a private spool directory, named
by its index, never by its path. What it refuses, with one line:

* a member path that is absolute or climbs out (``..``);
* a symlink or hardlink whose target leaves the archive (links inside it are
  kept as aliases of the member they name, as docker 20.10 writes a layer
  saved twice);
* devices, fifos, a member named twice;
* a member over the store's per-layer size cap, or an archive over the caps
  of the tar reader (total bytes, entries);
* a ``blobs/sha256/<hex>`` member whose bytes do not hash to its name.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from client.errors import DigestMismatch, InvalidArgument
from services.common.safetar.apply import DEFAULT_LIMITS
from services.common.safetar.errors import UnsafeLayer
from services.common.safetar.reader import EntryType, TarReader
from services.images.budget import ImageBudget
from services.images.compression import CorruptLayerData, open_archive_stream

__all__ = ["BadArchive", "Spooled", "ChunkReader", "open_archive", "spool_archive", "MAX_DOC"]

#: largest JSON document (manifest.json, index.json, a config) read whole
MAX_DOC = 8 << 20
#: a member's cap: the store's per-layer uncompressed cap
MAX_MEMBER = DEFAULT_LIMITS.max_bytes
#: the whole archive's: a few layers' worth
MAX_ARCHIVE = 4 * DEFAULT_LIMITS.max_bytes
MAX_MEMBERS = DEFAULT_LIMITS.max_entries

_BLOB = re.compile(r"blobs/sha256/([a-f0-9]{64})")
_MAX_LINK_DEPTH = 16


class BadArchive(UnsafeLayer):
    """The archive is hostile, malformed or inconsistent; nothing of it is kept."""


class ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (an RPC's request stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        while not self._buf:
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._buf = memoryview(nxt)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def open_archive(raw: BinaryIO) -> BinaryIO:
    """The tar stream of ``raw``, decompressed by its magic bytes
    (:func:`services.images.compression.open_archive_stream`)."""
    return open_archive_stream(cast(BinaryIO, io.BufferedReader(cast(io.RawIOBase, raw), 1 << 20)))


def _clean(name: str, what: str) -> str:
    """The member path normalised; BadArchive when it is absolute or leaves the archive."""
    if not name or "\0" in name:
        raise BadArchive(f"archive {what} {name!r} is not a valid path")
    if name.startswith("/"):
        raise BadArchive(f"archive {what} {name!r} is an absolute path")
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../"):
        raise BadArchive(f"archive {what} {name!r} points outside the archive")
    if any(part == ".." for part in name.split("/")):
        raise BadArchive(f"archive {what} {name!r} has a '..' component")
    return "" if norm == "." else norm


@dataclass
class Spooled:
    """The archive's regular members as files under ``root``; ``close()`` removes them."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # alias -> archive path it names
    _hashes: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str, what: str = "file") -> str:
        """The member ``name`` (after links) names; BadArchive when the archive holds none."""
        path = _clean(name, what)
        for _ in range(_MAX_LINK_DEPTH):
            if path in self.files:
                return path
            if path not in self.links:
                break
            path = self.links[path]
        raise BadArchive(f"archive names {what} {name!r} but holds no such file")

    def has(self, name: str) -> bool:
        try:
            self.resolve(name)
        except BadArchive:
            return False
        return True

    def path(self, name: str, what: str = "file") -> Path:
        return self.files[self.resolve(name, what)]

    def size(self, name: str) -> int:
        return self.sizes[self.resolve(name)]

    def read(self, name: str, what: str) -> bytes:
        member = self.resolve(name, what)
        if self.sizes[member] > MAX_DOC:
            raise BadArchive(f"archive {what} {name!r} is {self.sizes[member]} bytes, over the {MAX_DOC}-byte limit")
        return self.files[member].read_bytes()

    def digest(self, name: str) -> str:
        """sha256 of the member's bytes (hashed once)."""
        member = self.resolve(name)
        if member not in self._hashes:
            h = hashlib.sha256()
            with open(self.files[member], "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            self._hashes[member] = "sha256:" + h.hexdigest()
        return self._hashes[member]

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def spool_archive(raw: BinaryIO, spool_dir: Path, budget: ImageBudget | None = None) -> Spooled:
    """Read the whole archive from ``raw`` into a new ``spool_dir`` (which must not exist).

    ``budget``: the store's configured caps, which set a member's cap (a
    layer's bytes), the archive's (four layers' or one image's, whichever is
    more) and its entries' (a layer's); the module's defaults without one."""
    spool_dir.mkdir(mode=0o700)
    spooled = Spooled(spool_dir)
    if budget is None:
        caps = (MAX_MEMBER, MAX_ARCHIVE, MAX_MEMBERS)
    else:
        caps = (budget.layer_bytes, max(4 * budget.layer_bytes, budget.image_bytes), budget.layer_entries)
    try:
        _read_members(raw, spooled, caps)
        for name, target in spooled.links.items():
            spooled.resolve(target, f"link target of {name!r}")
        for name in spooled.files:
            m = _BLOB.fullmatch(name)
            if m and spooled.digest(name) != "sha256:" + m.group(1):
                raise DigestMismatch(f"archive blob {name} hashes to {spooled.digest(name)}")
    except BaseException:
        spooled.close()
        raise
    return spooled


def _read_members(raw: BinaryIO, spooled: Spooled, caps: tuple[int, int, int]) -> None:
    try:
        _spool_members(raw, spooled, caps)
    except CorruptLayerData as exc:  # a truncated or garbled bzip2, xz, gzip or zstd stream
        raise BadArchive(f"archive: {exc}") from exc


def _spool_members(raw: BinaryIO, spooled: Spooled, caps: tuple[int, int, int]) -> None:
    max_member, max_archive, max_members = caps
    try:
        stream = open_archive(raw)
    except InvalidArgument as exc:
        raise BadArchive(f"archive: {exc}") from exc
    reader = TarReader(stream, max_bytes=max_archive, max_entries=max_members)
    try:
        for index, entry in enumerate(reader):
            name = _clean(entry.name.decode("utf-8", "surrogateescape"), "member")
            if entry.type == EntryType.DIR or not name:
                continue
            if name in spooled.files or name in spooled.links:
                raise BadArchive(f"archive member {name!r} appears twice")
            if entry.type == EntryType.REG:
                if entry.size > max_member:
                    raise BadArchive(f"archive member {name!r} is {entry.size} bytes, over the "
                                     f"{max_member}-byte cap")
                path = spooled.root / str(index)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                try:
                    reader.copy_to(fd, entry)
                finally:
                    os.close(fd)
                spooled.files[name] = path
                spooled.sizes[name] = entry.size
            elif entry.type == EntryType.SYM:
                target = entry.linkname.decode("utf-8", "surrogateescape")
                if target.startswith("/"):
                    raise BadArchive(f"archive symlink {name!r} points outside the archive ({target!r})")
                spooled.links[name] = _clean(posixpath.normpath(posixpath.join(posixpath.dirname(name), target)),
                                             f"symlink {name!r} target")
            elif entry.type == EntryType.LNK:
                spooled.links[name] = _clean(entry.linkname.decode("utf-8", "surrogateescape"),
                                             f"hardlink {name!r} target")
            else:
                raise BadArchive(f"archive member {name!r} is a {entry.type}, not a file")
    except BadArchive:
        raise
    except UnsafeLayer as exc:  # the tar reader's: malformed header, a cap
        raise BadArchive(f"archive: {exc}") from exc
    finally:
        stream.close()
