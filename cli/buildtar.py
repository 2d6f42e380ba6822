"""The tars a build sends to the runtime's CopyTo: COPY/ADD sources, and the
decompressed tar of an ADD'ed local archive.

A stream is built from file descriptors only: directories are entered with
``O_NOFOLLOW|O_DIRECTORY`` relative to their parent (see
:class:`cli.buildscope.ContextView`), files opened ``O_NOFOLLOW`` and checked
with ``fstat`` to be what was listed. File data is read in 1 MiB pieces and
passed on uncopied; a hole of a sparse file (``SEEK_DATA``/``SEEK_HOLE``) is
sent as zeros without being read. A file whose size changes while it is read
fails the stream. Chunks are at most :data:`CHUNK` bytes.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cli.buildscope import BuildContextError, ContextView, Entry
from cli.localtar import regroup

__all__ = ["CHUNK", "Source", "archive_stream", "compression_of", "source_stream"]

#: most bytes per chunk of a stream (one CopyTo message)
CHUNK = 1 << 20  # as cli.localtar's regroup joins them
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class Source:
    """One COPY/ADD source. From the context: ``name`` is the path as written
    or matched (its basename names a copied file), ``path`` the path it
    resolves to in the context (no symlink in it). ``data``: an in-memory file
    (a heredoc); ``file``: a downloaded file on disk (ADD of a URL)."""

    name: str
    is_dir: bool = False
    path: str | None = None
    data: bytes | None = None
    file: Path | None = None
    mode: int | None = None
    mtime: int = 0

    @classmethod
    def inline(cls, name: str, data: bytes, mode: int = 0o644, mtime: int = 0) -> Source:
        """An in-memory file, e.g. ``COPY <<EOF name``."""
        return cls(name=name, data=data, mode=mode, mtime=mtime)

    @property
    def kind(self) -> str:
        """"context", "inline" or "url"."""
        if self.data is not None:
            return "inline"
        return "url" if self.file is not None else "context"


#: one chunk of zeros for a hole, shared (bytes are immutable): a sparse file's
#: holes cost no allocation per chunk, so memory stays flat however large
_ZEROS = bytes(CHUNK)


def _pad(size: int) -> Iterator[bytes]:
    if size % tarfile.BLOCKSIZE:
        yield bytes(tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)


def file_data(fd: int, size: int, what: str) -> Iterator[bytes]:
    """``size`` bytes of ``fd`` in pieces of at most :data:`CHUNK`, holes as
    zeros; BuildContextError when the file's size is not ``size`` any more."""
    pos, seekable = 0, True
    while pos < size:
        end = size
        if seekable:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                data = size if exc.errno == errno.ENXIO else pos  # ENXIO: a hole to the end
                seekable = exc.errno == errno.ENXIO
            while pos < min(data, size):
                n = min(CHUNK, min(data, size) - pos)
                yield _ZEROS if n == CHUNK else bytes(n)
                pos += n
            if pos >= size:
                break
            if seekable:
                try:
                    end = min(size, os.lseek(fd, pos, os.SEEK_HOLE))
                except OSError:
                    seekable = False
        while pos < end:
            piece = os.pread(fd, min(CHUNK, end - pos), pos)
            if not piece:
                raise BuildContextError(f"file {what!r} changed size while it was read "
                                        f"(was {size} bytes, ends at {pos})")
            pos += len(piece)
            yield piece
    now = os.fstat(fd).st_size
    if now != size:
        raise BuildContextError(f"file {what!r} changed size while it was read "
                                f"(was {size} bytes, now {now})")


def _header(name: str, st: os.stat_result | None, *, uid: int, gid: int, chmod: int | None,
            size: int = 0, linkname: str = "", kind: bytes | None = None,
            mode: int | None = None, mtime: int | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    if st is not None:
        fmt = stat.S_IFMT(st.st_mode)
        info.type = kind or {
            stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE,
            stat.S_IFLNK: tarfile.SYMTYPE, stat.S_IFCHR: tarfile.CHRTYPE,
            stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE}[fmt]
        if fmt in (stat.S_IFCHR, stat.S_IFBLK):
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        info.mode = stat.S_IMODE(st.st_mode) if mode is None else mode
        info.mtime = st.st_mtime_ns // 1_000_000_000 if mtime is None else mtime
    else:
        info.type, info.mode, info.mtime = kind or tarfile.REGTYPE, mode or 0, mtime or 0
    if chmod is not None and info.type != tarfile.SYMTYPE:
        info.mode = chmod
    info.size, info.linkname = size, linkname
    info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


class _Streamer:
    """The entries of one CopyTo tar, hardlinks tracked across its sources."""

    def __init__(self, view: ContextView | None, uid: int, gid: int, chmod: int | None) -> None:
        self.view, self.uid, self.gid, self.chmod = view, uid, gid, chmod
        self.links: dict[tuple[int, int], str] = {}

    def source(self, src: Source, rename: str | None) -> Iterator[bytes]:
        name = rename or os.path.basename(src.name.rstrip("/")) or src.name
        if src.data is not None:
            yield _header(name, None, uid=self.uid, gid=self.gid, chmod=self.chmod,
                          size=len(src.data), mode=src.mode, mtime=src.mtime)
            yield src.data
            yield from _pad(len(src.data))
        elif src.file is not None:
            fd = os.open(src.file, _FILE)
            try:
                st = os.fstat(fd)
                yield _header(name, st, uid=self.uid, gid=self.gid, chmod=self.chmod,
                              size=st.st_size, mode=src.mode, mtime=src.mtime)
                yield from file_data(fd, st.st_size, src.name)
                yield from _pad(st.st_size)
            finally:
                os.close(fd)
        elif src.is_dir:
            yield from self._directory(src)
        else:
            yield from self._single(src, name)

    def _single(self, src: Source, name: str) -> Iterator[bytes]:
        assert self.view is not None and src.path is not None
        parent, _, leaf = src.path.rpartition("/")
        dfd = self.view.open_dir(parent)
        try:
            st = os.stat(leaf, dir_fd=dfd, follow_symlinks=False)
            yield from self._entry(Entry(src.path, leaf, st, dfd), name)
        finally:
            os.close(dfd)

    def _directory(self, src: Source) -> Iterator[bytes]:
        assert self.view is not None and src.path is not None
        cut = len(src.path) + 1 if src.path else 0
        for entry in self.view.walk(src.path):
            yield from self._entry(entry, entry.rel[cut:])

    def _hdr(self, name: str, st: os.stat_result, **kwargs: Any) -> bytes:
        return _header(name, st, uid=self.uid, gid=self.gid, chmod=self.chmod, **kwargs)

    def _entry(self, entry: Entry, name: str) -> Iterator[bytes]:
        st = entry.st
        if entry.implicit:
            yield self._hdr(name, st, mode=0o755)
            return
        if stat.S_ISSOCK(st.st_mode):
            return  # never sent by Docker's CLI
        if stat.S_ISDIR(st.st_mode):
            yield self._hdr(name, st)
            return
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1:
            if key in self.links:
                yield self._hdr(name, st, kind=tarfile.LNKTYPE, linkname=self.links[key])
                return
            self.links[key] = name
        if stat.S_ISLNK(st.st_mode):
            yield self._hdr(name, st, linkname=os.readlink(entry.name, dir_fd=entry.dfd))
            return
        if not stat.S_ISREG(st.st_mode):
            yield self._hdr(name, st)
            return
        fd = os.open(entry.name, _FILE, dir_fd=entry.dfd)
        try:
            again = os.fstat(fd)
            if (again.st_dev, again.st_ino) != key or not stat.S_ISREG(again.st_mode):
                raise BuildContextError(f"file {entry.rel!r} was replaced while the context was read")
            yield self._hdr(name, again, size=again.st_size)
            yield from file_data(fd, again.st_size, entry.rel)
            yield from _pad(again.st_size)
        finally:
            os.close(fd)


def source_stream(view: ContextView | None, sources: list[Source], *, rename: str | None,
                  uid: int, gid: int, chmod: int | None) -> Iterator[bytes]:
    """The tar CopyTo extracts into the destination directory: a file source
    is one entry named ``rename`` or its basename, a directory source gives
    its contents (not itself); entries owned ``uid:gid``, their mode from the
    context (``chmod`` when given), mtimes kept (whole seconds), symlinks as
    symlinks, hardlinks within the copy as hardlinks, sorted, PAX format."""
    if rename is not None and (len(sources) != 1 or sources[0].is_dir):
        raise ValueError("rename applies to a single file source")
    streamer = _Streamer(view, uid, gid, chmod)

    def pieces() -> Iterator[bytes]:
        for src in sources:
            yield from streamer.source(src, rename)
        yield bytes(2 * tarfile.BLOCKSIZE)

    return regroup(pieces())


# ---- ADD of a local archive --------------------------------------------------------------------

_MAGIC = ((b"BZh", "bzip2"), (b"\x1f\x8b\x08", "gzip"), (b"\xfd7zXZ\x00", "xz"))


def compression_of(head: bytes) -> str | None:
    """moby's DetectCompression: "bzip2", "gzip", "xz", or None (uncompressed)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def decompressed(raw: IO[bytes], kind: str | None) -> IO[bytes]:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw, "rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, "rb")
    return raw


def read_full(stream: IO[bytes], n: int) -> bytes:
    parts, left = [], n
    while left:
        piece = stream.read(left)
        if not piece:
            break
        parts.append(piece)
        left -= len(piece)
    return b"".join(parts)


def is_tar_header(block: bytes) -> bool:
    """Whether ``block`` is a tar header Go's tar.Reader accepts as a first entry."""
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def archive_stream(view: ContextView, source: Source) -> Iterator[bytes] | None:
    """ADD of a local file: when it is a tar (plain, gzip, bzip2 or xz, by its
    magic, as moby's isArchivePath), the decompressed tar in chunks of at most
    :data:`CHUNK`, for the runtime's safe extraction; None when it is not one
    (it is then copied as a file). URLs and heredocs are never extracted."""
    if source.kind != "context" or source.is_dir or source.path is None:
        return None
    parent, _, leaf = source.path.rpartition("/")
    dfd = view.open_dir(parent)
    try:
        fd = os.open(leaf, _FILE, dir_fd=dfd)
    finally:
        os.close(dfd)
    raw = os.fdopen(fd, "rb")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raw.close()
            return None
        stream = decompressed(raw, compression_of(os.pread(fd, 6, 0)))
        first = read_full(stream, tarfile.BLOCKSIZE)
    except (OSError, EOFError, lzma.LZMAError):
        raw.close()
        return None
    if len(first) < tarfile.BLOCKSIZE or not is_tar_header(first):
        raw.close()
        return None
    return regroup(_rest(raw, stream, first, source.name))


def _rest(raw: IO[bytes], stream: IO[bytes], first: bytes, what: str) -> Iterator[bytes]:
    try:
        yield first
        while True:
            try:
                piece = stream.read(CHUNK)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise BuildContextError(f"ADD failed: reading archive {what}: {exc}") from exc
            if not piece:
                return
            yield piece
    finally:
        raw.close()
