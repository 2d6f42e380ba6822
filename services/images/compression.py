"""Layer decompression: gzip, zstd or plain tar, chosen by magic bytes and media type;
and an archive's (``load``'s and ``import``'s input), which may be bzip2 or xz too.

Contract of :func:`open_decompressed` and :func:`open_archive_stream`: each
returns a readable binary stream of the uncompressed tar, whose decoder
failures raise :class:`CorruptLayerData`. Closing that stream stops any
decoder thread but never closes ``fileobj``, which stays owned by the caller.

gzip uses the fastest decoder that imports: python-isal's threaded reader (the
inflate runs in a worker thread, overlapping with the extractor's syscalls),
else the stdlib ``gzip`` module (zlib). :data:`GZIP_BACKEND` names the one in use.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from types import ModuleType
from typing import BinaryIO, cast

import zstandard

from client.errors import DataLoss, InvalidArgument


def _load_isal() -> tuple[ModuleType | None, tuple[type[BaseException], ...]]:
    """python-isal is optional: zlib is the always-present fallback."""
    try:
        from isal import igzip_threaded
        from isal.isal_zlib import error
    except ImportError:
        return None, ()
    return igzip_threaded, (cast(type[BaseException], error),)


_isal_threaded, _ISAL_ERRORS = _load_isal()

__all__ = [
    "open_decompressed",
    "open_archive_stream",
    "detect_archive",
    "detect_compression",
    "GZIP_BACKEND",
    "Compression",
    "UnsupportedCompression",
    "CorruptLayerData",
]

#: which gzip decoder open_decompressed uses: "isal-threaded" or "zlib"
GZIP_BACKEND = "isal-threaded" if _isal_threaded is not None else "zlib"

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: the compressions an archive may have beyond a layer's (moby's DetectCompression)
_ARCHIVE_MAGIC = (("bzip2", b"BZh"), ("xz", b"\xfd7zXZ\x00"))
#: bzip2's and xz's decoders fail with these (bz2 raises OSError for a bad stream)
_ARCHIVE_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, lzma.LZMAError)
_BLOCK = 1 << 20


class UnsupportedCompression(InvalidArgument):
    """The layer's bytes or media type name a compression barque cannot read."""


class CorruptLayerData(DataLoss):
    """The compressed layer stream does not decode (bad CRC, truncated, garbage)."""


#: decoder failures, as opposed to I/O errors of the source, which pass through unchanged
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, zlib.error, zstandard.ZstdError, gzip.BadGzipFile, *_ISAL_ERRORS
)


class _Decoded(io.RawIOBase):
    """Wraps a decoder so that its failures surface as :class:`CorruptLayerData`."""

    def __init__(self, inner: BinaryIO, kind: str, what: str = "layer",
                 errors: tuple[type[BaseException], ...] = _DECODE_ERRORS) -> None:
        super().__init__()
        self._inner = inner
        self._kind = kind
        self._what = what
        self._errors = errors

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._inner.read(size)
        except self._errors as exc:
            raise CorruptLayerData(f"{self._kind} {self._what} data is corrupt: {exc}") from exc

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class Compression:
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"


def _declared(media_type: str) -> str | None:
    """Compression a media type declares, or None when it declares none."""
    mt = media_type.lower()
    if mt.endswith(("+gzip", ".gzip", ".tar.gz")):
        return Compression.GZIP
    if mt.endswith(("+zstd", ".zstd")):
        return Compression.ZSTD
    if mt.endswith(("+bzip2", "+xz", ".bzip2", ".xz")):
        raise UnsupportedCompression(f"unsupported layer compression in media type {media_type!r}")
    return None


def detect_compression(head: bytes, media_type: str) -> str:
    """Pick the decoder from the first bytes, cross-checked against the media type.

    Magic bytes win (registries mislabel layers, as containerd's sniffing assumes);
    a media type that promises compression on bytes without that magic is refused
    rather than fed to tar as garbage.
    """
    declared = _declared(media_type)
    if head.startswith(_GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(_ZSTD_MAGIC):
        return Compression.ZSTD
    if declared is not None and head:
        raise UnsupportedCompression(
            f"layer media type {media_type!r} declares {declared} but the data has no {declared} header"
        )
    return Compression.NONE


class _Prefixed(io.RawIOBase):
    """Replays the sniffed head, then reads on from the source; never closes the source."""

    def __init__(self, head: bytes, source: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._source, "readinto", None)
        if readinto is not None:
            return readinto(b) or 0
        data = self._source.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if self._head:
            return super().read(size)
        return self._source.read(size)


def _read_head(fileobj: BinaryIO, n: int) -> bytes:
    head = b""
    while len(head) < n:
        chunk = fileobj.read(n - len(head))
        if not chunk:
            break
        head += chunk
    return head


def detect_archive(head: bytes) -> str:
    """"bzip2" or "xz" by an archive's first bytes, else "" (gzip, zstd and
    plain are :func:`open_decompressed`'s to tell)."""
    for name, magic in _ARCHIVE_MAGIC:
        if head.startswith(magic):
            return name
    return ""


def open_archive_stream(fileobj: BinaryIO) -> BinaryIO:
    """The uncompressed bytes of an archive read sequentially from ``fileobj``:
    plain, gzip, bzip2, xz or zstd, told apart by magic bytes alone."""
    head = _read_head(fileobj, 6)
    kind = detect_archive(head)
    if not kind:
        return open_decompressed(cast(BinaryIO, _Prefixed(head, fileobj)), "", what="archive")
    source = io.BufferedReader(_Prefixed(head, fileobj), _BLOCK)
    decoder = bz2.BZ2File(source) if kind == "bzip2" else lzma.LZMAFile(source)
    return cast(BinaryIO, _Decoded(cast(BinaryIO, decoder), kind, "archive", _ARCHIVE_ERRORS))


def open_decompressed(fileobj: BinaryIO, media_type: str, what: str = "layer") -> BinaryIO:
    """Return the uncompressed tar stream of a layer blob read sequentially from ``fileobj``
    (``what`` names it in a decoder's error)."""
    head = _read_head(fileobj, len(_ZSTD_MAGIC))
    kind = detect_compression(head, media_type)
    source = _Prefixed(head, fileobj)
    if kind == Compression.GZIP:
        if _isal_threaded is not None:
            decoder = _isal_threaded.open(source, "rb", threads=1, block_size=_BLOCK)
        else:
            decoder = gzip.GzipFile(fileobj=io.BufferedReader(source, _BLOCK), mode="rb")
        return _Decoded(decoder, kind, what)  # type: ignore[return-value]
    if kind == Compression.ZSTD:
        decoder = zstandard.ZstdDecompressor().stream_reader(
            cast(BinaryIO, source), read_size=_BLOCK, read_across_frames=True, closefd=False
        )
        return _Decoded(decoder, kind, what)  # type: ignore[return-value]
    return io.BufferedReader(source, _BLOCK)  # type: ignore[return-value]
