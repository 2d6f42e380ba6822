"""A container's writable layer as an image layer blob, streamed: the tar goes
through one pass that hashes it (the diff id), gzips it, and hashes and
writes the gzip (the blob digest) into the content store's ingest directory;
the gzip (and, for a commit, the new snapshot applied from the same tar
bytes, whose reader's hash is the diff id) run in worker threads beside the
tar's reading, so the layer is read once and the stages overlap.

Contract of :func:`write_layer`: nothing is held whole in memory; the blob
appears under ``blobs/sha256/<digest>`` only after its bytes were fsynced
and renamed there (the directory fsynced), by the content store's own
:class:`services.common.content.Writer`, which keeps it under the digest its
bytes hash to; on any error the ingest file is removed and no blob is left. The tar itself is
written by the shared fd-relative writer (:mod:`services.common.safetar.writer`),
whose per-entry hook turns overlay's forms into the OCI layer's: a whiteout
(char device 0:0) becomes an empty regular ``.wh.<name>``, an opaque
directory gets a ``.wh..wh..opq`` entry, and ``trusted.overlay.*`` xattrs are
dropped. :func:`write_tar` is the same pass for a tar that comes as chunks
(an import's): gzipped into one blob while the stage applies it.
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar, cast

from services.common.content import ContentStore, Writer
from services.common.safetar.reader import EntryType
from services.common.safetar.writer import TarWriter, WriteEntry
from services.images.changes import OPAQUE_XATTR
from services.images.snapshots import Staged

WHITEOUT_PREFIX = b".wh."
OPAQUE_MARKER = b".wh..wh..opq"

__all__ = ["GZIP_LEVEL", "LayerBlob", "overlay_to_oci", "write_layer", "write_tar"]

_T = TypeVar("_T")
_DEPTH = 8            # chunks in flight per worker: a few MiB, never the layer
_GATHER = 256 << 10   # headers and padding gathered to this before a hand-off

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
    staged: Staged | None = field(default=None, compare=False)  # what write_layer's stage made


class _Worker(Generic[_T]):
    """One thread consuming a bounded queue of chunks (``work(chunks)``), so its
    C-level work (isal's deflate, sha256, os.write all drop the GIL) overlaps
    the tar's reading. The worker's error is raised in the producer at its next
    :meth:`put`; a worker that failed keeps draining, so the producer never
    blocks on a full queue; :meth:`close` ends the stream and returns the result."""

    _END = None

    def __init__(self, name: str, work: Callable[[Iterator[bytes]], _T]) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_DEPTH)
        self._error: BaseException | None = None
        self._result: _T | None = None
        self._ended = False
        # the caller's context: the image budget's meter (services.images.budget) and the lease
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run, work), name=name,
                                        daemon=True)
        self._thread.start()

    def _chunks(self) -> Iterator[bytes]:
        while (chunk := self._queue.get()) is not self._END:
            yield chunk
        self._ended = True

    def _run(self, work: Callable[[Iterator[bytes]], _T]) -> None:
        try:
            self._result = work(self._chunks())
        except BaseException as exc:  # handed to the producer, never lost in the thread
            self._error = exc
        while not self._ended:  # drain what the producer still sends, up to its end mark
            self._ended = self._queue.get() is self._END

    def put(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def close(self) -> _T:
        """End the stream, wait for the worker; its result, or its error raised."""
        self._queue.put(self._END)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def abort(self) -> _T | None:
        """End the stream after a failure elsewhere and wait; the worker's own
        error is dropped, its result (if it made one of the cut stream) returned."""
        if self._thread.is_alive():
            self._queue.put(self._END)
            self._thread.join()
        return self._result


class _ChunkStream:
    """The file a staged snapshot's tar reader reads: the chunks a worker gets, in order, then EOF."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._rest = b""

    def read(self, n: int = -1) -> bytes:
        data = self._rest or next(self._chunks, b"")
        if 0 <= n < len(data):
            self._rest = data[n:]
            return data[:n]
        self._rest = b""
        return data


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


def _pieces(upper: Path, writer: TarWriter) -> Iterator[bytes]:
    """The layer tar of overlay upper dir ``upper`` (no entry for the root itself),
    in chunks of at least 256 KiB but the last: file data passes as the 1 MiB
    reads it is, uncopied; headers and padding are gathered. Nothing at all,
    not even the trailer, when the upper dir is empty."""
    buf = bytearray()
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for piece in writer.tree(fd, b""):
            if len(piece) >= _GATHER and not buf:
                yield piece
                continue
            buf += piece
            if len(buf) >= _GATHER:
                yield bytes(buf)
                buf.clear()
    finally:
        os.close(fd)
    if writer.stats.entries:
        buf += writer.end()
    if buf:
        yield bytes(buf)


def _write_all(out: Writer) -> Callable[[Iterator[bytes]], None]:
    def work(chunks: Iterator[bytes]) -> None:
        for chunk in chunks:
            out.write(chunk)
    return work


def _gzip_into(out: Writer) -> Callable[[Iterator[bytes]], None]:
    """Deflate in this worker, hash and write the gzip in a next one: on a
    100 MiB layer the two cost about the same, so neither waits on the other."""
    def work(chunks: Iterator[bytes]) -> None:
        writer = _Worker("layer-ingest", _write_all(out))
        try:
            gz = _compressor()
            for chunk in chunks:
                writer.put(gz.compress(chunk))
            writer.put(gz.flush())
        except BaseException:
            writer.abort()
            raise
        writer.close()
    return work


def _stream(chunks: Iterable[bytes], ingest: Writer,
            stage: Callable[[BinaryIO], Staged] | None) -> tuple[str, int, Staged | None]:
    """Gzip the tar ``chunks`` into ``ingest`` and hand them to ``stage`` (each
    in its own worker); returns the diff id (the stage's, else hashed here),
    the tar's length and what ``stage`` made. On an error the workers are
    stopped and a staged result discarded; ``ingest`` stays the caller's."""
    gzip: _Worker[None] | None = None
    snap: _Worker[Staged] | None = None
    staged: Staged | None = None
    try:
        gzip = _Worker("layer-gzip", _gzip_into(ingest))
        if stage is not None:
            snap = _Worker("layer-stage", lambda chunks: stage(cast(BinaryIO, _ChunkStream(chunks))))
        tar_hash = hashlib.sha256() if snap is None else None
        tar_size = 0
        for chunk in chunks:
            tar_size += len(chunk)
            if tar_hash is not None:
                tar_hash.update(chunk)
            gzip.put(chunk)
            if snap is not None:
                snap.put(chunk)
        gzip.close()
        if snap is not None:
            staged = snap.close()
            if staged.stats.stream_bytes != tar_size:
                raise RuntimeError(f"layer stage read {staged.stats.stream_bytes} of {tar_size} tar bytes")
            return staged.diff_id, tar_size, staged
        return "sha256:" + tar_hash.hexdigest(), tar_size, None  # type: ignore[union-attr]
    except BaseException:
        if gzip is not None:
            gzip.abort()
        if snap is not None:
            made = snap.abort()  # a stage of the cut stream may still have succeeded
            if made is not staged:
                _discard(made)
        _discard(staged)
        raise


def write_layer(upper: Path, store: ContentStore,
                stage: Callable[[BinaryIO], Staged] | None = None,
                clamp_mtime: int | None = None) -> LayerBlob:
    """Tar the overlay upper dir ``upper`` as an OCI layer into ``store``.

    Entries are in sorted order (the writer's walk), so equal trees give equal
    tars; ``clamp_mtime`` (seconds since the epoch), when given, caps every
    entry's mtime (headers and PAX records alike), as BuildKit does with
    ``SOURCE_DATE_EPOCH``: the same content then gives the same layer digest
    whenever it is committed.

    ``stage(tar_stream)``, when given, runs in its own thread on the very tar
    bytes being gzipped, read to EOF (e.g. a snapshot applied unpublished),
    and must return an object with the ``diff_id`` it hashed the stream to
    (and its ``stats.stream_bytes``, checked against the tar's length):
    that hash is the layer's diff id, so the tar is hashed once. What
    ``stage`` returned is the blob's ``staged`` (None without a stage or with
    no layer), the caller's to publish or ``discard()``. If this raises, the
    caller owns nothing: a failed ``stage`` is raised here, and a staged
    result made before another part failed is discarded here.
    """
    ingest = store.begin(None)
    staged: Staged | None = None
    try:
        clamp_ns = clamp_mtime * 1_000_000_000 if clamp_mtime is not None else None
        # default keep_xattr drops trusted.*
        writer = TarWriter(hook=overlay_to_oci, mtime_clamp_ns=clamp_ns)
        diff_id, tar_size, staged = _stream(_pieces(upper, writer), ingest, stage)
        stats = writer.stats
        if not stats.entries:  # nothing changed: no layer (docker's empty layer), no blob
            ingest.abort()
            _discard(staged)
            return LayerBlob(diff_id, "", 0, tar_size, 0, 0)
        digest = ingest.digest
        ingest.commit(what="layer")
    except BaseException:
        ingest.abort()
        _discard(staged)
        raise
    return LayerBlob(diff_id, digest, ingest.written, tar_size, stats.bytes, stats.entries, staged)


def write_tar(chunks: Iterable[bytes], store: ContentStore,
              stage: Callable[[BinaryIO], Staged]) -> LayerBlob:
    """A layer tar given as ``chunks`` (uncompressed, e.g. an import's or a
    load's), gzipped into ``store`` as one blob in the same pass as
    ``stage`` applies it (the diff id is the stage's hash of every byte):
    the blob is kept even for an empty tar. The contract on errors and on
    the returned ``staged`` is :func:`write_layer`'s."""
    ingest = store.begin(None)
    staged: Staged | None = None
    try:
        diff_id, tar_size, staged = _stream(chunks, ingest, stage)
        if staged is None:  # a stage always returns its tree
            raise RuntimeError("layer stage returned nothing")
        digest = ingest.digest
        ingest.commit(what="layer")
    except BaseException:
        ingest.abort()
        _discard(staged)
        raise
    return LayerBlob(diff_id, digest, ingest.written, tar_size, staged.stats.bytes, staged.stats.files, staged)


def _discard(staged: Staged | None) -> None:
    if staged is not None:
        staged.discard()
