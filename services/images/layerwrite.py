"""A container's writable layer as an image layer blob, streamed: the tar goes
through one pass that hashes it (the diff id), gzips it, and hashes and
writes the gzip (the blob digest) into the content store's ingest directory.

Contract of :func:`write_layer`: nothing is held whole in memory; the blob
appears under ``blobs/sha256/<digest>`` only after its bytes were fsynced
and renamed there (the directory fsynced), by the content store's own
:class:`services.common.content.Writer`, which keeps it under the digest its
bytes hash to; on any error the ingest file is removed and no blob is left. The tar itself is
written by the shared fd-relative writer (:mod:`services.common.safetar.writer`),
whose per-entry hook turns overlay's forms into the OCI layer's: a whiteout
(char device 0:0) becomes an empty regular ``.wh.<name>``, an opaque
directory gets a ``.wh..wh..opq`` entry, and ``trusted.overlay.*`` xattrs are
dropped.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from services.common.content import ContentStore, Writer
from services.common.safetar.reader import EntryType
from services.common.safetar.writer import TarWriter, WriteEntry, WriteStats, chunked
from services.images.changes import OPAQUE_XATTR

WHITEOUT_PREFIX = b".wh."
OPAQUE_MARKER = b".wh..wh..opq"

__all__ = ["GZIP_LEVEL", "LayerBlob", "overlay_to_oci", "write_layer", "write_overlay_tar"]

#: gzip level of committed layers: isal's level 1 (or zlib's 1) keeps a
#: 100 MiB commit near disk speed; docker's default level shrinks text ~10% more
GZIP_LEVEL = 1


def _compressor():
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)


@dataclass(frozen=True)
class LayerBlob:
    diff_id: str        # sha256 of the tar
    digest: str         # sha256 of the gzip (the blob)
    size: int           # gzip bytes
    tar_size: int       # tar bytes
    file_bytes: int     # regular-file data in the tar (``history``'s SIZE)
    entries: int        # tar entries (0: the container changed nothing)


class _TarSink:
    """What the tar writer writes to: hashes and counts the tar, gzips it into the ingest."""

    def __init__(self, out: Writer) -> None:
        self._out = out
        self._gz = _compressor()
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        data = bytes(data)
        self._hash.update(data)
        self.size += len(data)
        self._out.write(self._gz.compress(data))
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self) -> str:
        self._out.write(self._gz.flush())
        return "sha256:" + self._hash.hexdigest()


def overlay_to_oci(entry: WriteEntry) -> WriteEntry | list[WriteEntry]:
    """The tar writer's hook: overlay's whiteout and opaque forms to the OCI layer's."""
    if entry.type == EntryType.CHR and entry.devmajor == 0 and entry.devminor == 0:
        parent, _, leaf = entry.name.rpartition(b"/")
        name = (parent + b"/" if parent else b"") + WHITEOUT_PREFIX + leaf
        return WriteEntry(name=name, type=EntryType.REG, mode=0o600, uid=entry.uid, gid=entry.gid,
                          mtime_ns=entry.mtime_ns, data=b"")
    if entry.type == EntryType.DIR and entry.xattrs.get(OPAQUE_XATTR) == b"y":
        marker = WriteEntry(name=entry.name + b"/" + OPAQUE_MARKER, type=EntryType.REG,
                            mode=entry.mode & 0o777, uid=entry.uid, gid=entry.gid,
                            mtime_ns=entry.mtime_ns, data=b"")
        return [entry, marker]
    return entry


def write_overlay_tar(upper: Path, out: _TarSink) -> WriteStats:
    """The layer tar of overlay upper dir ``upper`` (no entry for the root itself);
    nothing at all, not even the trailer, when it is empty."""
    writer = TarWriter(hook=overlay_to_oci)  # default keep_xattr drops trusted.*
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for piece in chunked(writer.tree(fd, b""), 1 << 20):
            out.write(piece)
    finally:
        os.close(fd)
    if writer.stats.entries:
        out.write(writer.end())
    return writer.stats


def write_layer(upper: Path, store: ContentStore) -> LayerBlob:
    """Tar the overlay upper dir ``upper`` as an OCI layer into ``store``."""
    ingest = store.begin(None)
    try:
        sink = _TarSink(ingest)
        stats = write_overlay_tar(upper, sink)
        entries, file_bytes = stats.entries, stats.bytes
        diff_id = sink.finish()
        if not entries:  # nothing changed: no layer (docker's empty layer), no blob
            ingest.abort()
            return LayerBlob(diff_id, "", 0, sink.size, 0, 0)
        digest = ingest.digest
        ingest.commit(what="layer")
    except BaseException:
        ingest.abort()
        raise
    return LayerBlob(diff_id, digest, ingest.written, sink.size, file_bytes, entries)
