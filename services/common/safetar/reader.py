"""A minimal streaming tar reader for layer application.

Why not ``tarfile``: the interpreter we run on (3.11.7) predates fixes for
header-parsing CVEs (CVE-2024-6232 PAX ReDoS, CVE-2025-8194 negative offsets),
and ``tarfile`` neither caps header sizes nor lets us copy member data straight
from its read buffer into a file descriptor. This reader understands exactly
what layers use: ustar/POSIX names with prefix, GNU long names and links
(``L``/``K``), PAX extended headers (``x`` per entry, ``g`` global) including
``SCHILY.xattr.*`` and ``LIBARCHIVE.xattr.*``, GNU base-256 numbers. Sparse
files and other exotic types are refused.

Contract: :class:`TarReader` reads its source strictly sequentially, hashes
every byte it reads (sha256, the layer's diff_id) and counts them against
``max_bytes``; :meth:`TarReader.finish` reads on to EOF so the hash covers the
trailing padding too.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator
from urllib.parse import unquote_to_bytes

from services.common.safetar.errors import LayerTooLarge, MalformedLayer

__all__ = ["TarEntry", "TarReader", "EntryType", "READ_CHUNK"]

#: bytes asked of the source per read; large reads keep per-call overhead negligible
READ_CHUNK = 1 << 20
_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
#: cap for one PAX or GNU long-name payload (Go's archive/tar caps PAX at 1 MiB)
_MAX_META = 1 << 20
_OCTAL = re.compile(rb"[0-7]*")
_DECIMAL = re.compile(rb"[0-9]+")
_MAX_ID = (1 << 32) - 2  # (uid_t)-1 means "unchanged" to chown: never a real id
_MAX_NS = (1 << 63) - 1
_MIN_NS = -(1 << 63)


class EntryType:
    REG = "file"
    LNK = "hardlink"
    SYM = "symlink"
    CHR = "chardev"
    BLK = "blockdev"
    DIR = "dir"
    FIFO = "fifo"


_TYPES = {
    b"0": EntryType.REG,
    b"\0": EntryType.REG,
    b"7": EntryType.REG,
    b"1": EntryType.LNK,
    b"2": EntryType.SYM,
    b"3": EntryType.CHR,
    b"4": EntryType.BLK,
    b"5": EntryType.DIR,
    b"6": EntryType.FIFO,
}


@dataclass(slots=True)
class TarEntry:
    """One archive member, with PAX/GNU overrides applied. ``name`` is raw, not normalised."""

    name: bytes
    type: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def _octal(field_: bytes, what: str) -> int:
    """Parse a numeric header field: NUL/space-terminated octal, or GNU base-256."""
    if field_ and field_[0] & 0x80:
        if field_[0] != 0x80:
            raise MalformedLayer(f"negative or oversized base-256 {what} in tar header")
        return int.from_bytes(field_[1:], "big")
    text = field_.split(b"\0", 1)[0].strip(b" ")
    if not _OCTAL.fullmatch(text):
        raise MalformedLayer(f"invalid octal {what} {text!r} in tar header")
    return int(text, 8) if text else 0


def _verify_checksum(hdr: bytes) -> None:
    """Accept the unsigned sum (POSIX) or the signed-char sum some old writers used."""
    stored = _octal(hdr[148:156], "checksum")
    unsigned = sum(hdr) - sum(hdr[148:156]) + 8 * 0x20
    if stored == unsigned:
        return
    high = sum(1 for b in hdr[:148] if b > 127) + sum(1 for b in hdr[156:] if b > 127)
    if stored != unsigned - 256 * high:
        raise MalformedLayer("tar header checksum mismatch")


def _decimal(value: bytes, what: str) -> int:
    if not _DECIMAL.fullmatch(value):
        raise MalformedLayer(f"invalid pax {what} {value!r}")
    return int(value)


def _pax_time_ns(value: bytes) -> int:
    """PAX times are decimal seconds with an optional fraction and sign."""
    neg = value.startswith(b"-")
    whole, _, frac = value[neg:].partition(b".")
    if not _DECIMAL.fullmatch(whole) or (frac and not _DECIMAL.fullmatch(frac)):
        raise MalformedLayer(f"invalid pax mtime {value!r}")
    ns = int(whole) * 1_000_000_000 + int((frac + b"000000000")[:9])
    return -ns if neg else ns


def _parse_pax(data: bytes) -> dict[bytes, bytes]:
    """Parse ``"<len> <key>=<value>\\n"`` records; linear, no regex over the payload."""
    records: dict[bytes, bytes] = {}
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] == 0:  # some writers pad the payload with NULs
            break
        space = data.find(b" ", pos, pos + 20)
        if space < 0:
            raise MalformedLayer("malformed pax record: no length")
        length = _decimal(data[pos:space], "record length")
        rec_end = pos + length
        if length <= space - pos + 1 or rec_end > end or data[rec_end - 1] != 0x0A:
            raise MalformedLayer("malformed pax record: bad length")
        key, eq, value = data[space + 1 : rec_end - 1].partition(b"=")
        if not eq or not key:
            raise MalformedLayer("malformed pax record: no key")
        records[key] = value
        pos = rec_end
    return records


class TarReader:
    """Iterate the entries of a tar stream; copy or skip each regular file's data."""

    def __init__(self, source: BinaryIO, *, max_bytes: int, max_entries: int) -> None:
        self._source = source
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._hash = hashlib.sha256()
        self._buf = b""
        self._view = memoryview(self._buf)
        self._pos = 0
        self._pending = 0  # unread data + padding of the current entry
        self.total_bytes = 0
        self.entries = 0

    @property
    def diff_id(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def _fill(self) -> bool:
        chunk = self._source.read(READ_CHUNK)
        if not chunk:
            return False
        self.total_bytes += len(chunk)
        if self.total_bytes > self._max_bytes:
            raise LayerTooLarge(f"layer exceeds the uncompressed size cap of {self._max_bytes} bytes")
        self._hash.update(chunk)
        self._buf, self._view, self._pos = chunk, memoryview(chunk), 0
        return True

    def _read(self, n: int) -> bytes:
        """Exactly ``n`` bytes; b"" at a clean EOF; MalformedLayer on a truncated read."""
        avail = len(self._buf) - self._pos
        if avail >= n:
            self._pos += n
            return self._buf[self._pos - n : self._pos]
        parts = [self._buf[self._pos :]]
        got = avail
        self._pos = len(self._buf)
        while got < n:
            if not self._fill():
                if got == 0:
                    return b""
                raise MalformedLayer("tar stream truncated")
            take = min(n - got, len(self._buf))
            parts.append(self._buf[:take])
            self._pos = take
            got += take
        return b"".join(parts)

    def _skip(self, n: int) -> None:
        while n:
            avail = len(self._buf) - self._pos
            if not avail:
                if not self._fill():
                    raise MalformedLayer("tar stream truncated")
                continue
            take = min(n, avail)
            self._pos += take
            n -= take

    def copy_to(self, fd: int, entry: TarEntry) -> None:
        """Write the current regular entry's data to ``fd`` straight from the read buffer."""
        n = entry.size
        if self._pending != n + (-n % _BLOCK):
            raise MalformedLayer(f"data of {entry.name!r} already consumed")
        while n:
            avail = len(self._buf) - self._pos
            if not avail:
                if not self._fill():
                    raise MalformedLayer(f"tar stream truncated in {entry.name!r}")
                continue
            take = min(n, avail)
            written = os.write(fd, self._view[self._pos : self._pos + take])
            self._pos += written
            n -= written
        self._skip(-entry.size % _BLOCK)
        self._pending = 0

    def finish(self) -> None:
        """Read the rest of the stream (end blocks, padding) so the hash covers all of it."""
        self._pos = len(self._buf)
        while self._fill():
            pass

    def _meta_payload(self, size: int, what: str) -> bytes:
        if size > _MAX_META:
            raise LayerTooLarge(f"{what} header of {size} bytes exceeds the {_MAX_META}-byte cap")
        data = self._read(size)
        if len(data) != size:
            raise MalformedLayer(f"tar stream truncated in {what} header")
        self._skip(-size % _BLOCK)
        return data

    def __iter__(self) -> Iterator[TarEntry]:
        global_pax: dict[bytes, bytes] = {}
        pax: dict[bytes, bytes] = {}
        long_name = long_link = None
        meta_bytes = 0
        while True:
            if self._pending:
                self._skip(self._pending)
                self._pending = 0
            hdr = self._read(_BLOCK)
            if not hdr or hdr == _ZERO_BLOCK:
                if pax or long_name is not None or long_link is not None:
                    raise MalformedLayer("tar stream ends after an extended header")
                return
            _verify_checksum(hdr)
            typeflag = hdr[156:157]
            size = _octal(hdr[124:136], "size")
            if typeflag in (b"x", b"g", b"L", b"K"):
                meta_bytes += size
                if meta_bytes > _MAX_META:
                    raise LayerTooLarge(f"extended headers exceed the {_MAX_META}-byte cap")
                data = self._meta_payload(size, "extended")
                if typeflag == b"x":
                    pax.update(_parse_pax(data))
                elif typeflag == b"g":
                    # a global name, link or size would apply to every later entry: never meaningful
                    records = _parse_pax(data)
                    for key in (b"path", b"linkpath", b"size"):
                        records.pop(key, None)
                    global_pax.update(records)
                elif typeflag == b"L":
                    long_name = data.split(b"\0", 1)[0]
                else:
                    long_link = data.split(b"\0", 1)[0]
                continue
            meta_bytes = 0
            self.entries += 1
            if self.entries > self._max_entries:
                raise LayerTooLarge(f"layer exceeds the cap of {self._max_entries} entries")
            entry = self._entry(hdr, typeflag, size, {**global_pax, **pax}, long_name, long_link)
            pax, long_name, long_link = {}, None, None
            self._pending = entry.size + (-entry.size % _BLOCK)
            yield entry

    def _entry(
        self,
        hdr: bytes,
        typeflag: bytes,
        size: int,
        pax: dict[bytes, bytes],
        long_name: bytes | None,
        long_link: bytes | None,
    ) -> TarEntry:
        name = hdr[0:100].split(b"\0", 1)[0]
        if hdr[257:263] == b"ustar\0":  # POSIX ustar: the prefix field extends the name
            prefix = hdr[345:500].split(b"\0", 1)[0]
            if prefix:
                name = prefix + b"/" + name
        if long_name is not None:
            name = long_name
        linkname = long_link if long_link is not None else hdr[157:257].split(b"\0", 1)[0]
        kind = _TYPES.get(typeflag)
        if kind is None:
            raise MalformedLayer(f"unsupported tar entry type {typeflag!r} for {name!r}")
        if kind == EntryType.REG and typeflag == b"\0" and name.endswith(b"/"):
            kind = EntryType.DIR  # pre-POSIX archives mark directories by a trailing slash
        entry = TarEntry(
            name=name,
            type=kind,
            mode=_octal(hdr[100:108], "mode") & 0o7777,
            uid=_octal(hdr[108:116], "uid"),
            gid=_octal(hdr[116:124], "gid"),
            size=size if kind == EntryType.REG else 0,  # other types are header-only, as in Go
            mtime_ns=_octal(hdr[136:148], "mtime") * 1_000_000_000,
            linkname=linkname,
        )
        if kind in (EntryType.CHR, EntryType.BLK):
            entry.devmajor = _octal(hdr[329:337], "devmajor")
            entry.devminor = _octal(hdr[337:345], "devminor")
        if pax:
            self._apply_pax(entry, pax)
        if b"\0" in entry.name or b"\0" in entry.linkname or any("\0" in k for k in entry.xattrs):
            raise MalformedLayer(f"entry {entry.name!r} has a NUL byte in a name")
        # utimensat takes int64 nanoseconds; base-256 or PAX times may not fit
        entry.mtime_ns = max(_MIN_NS, min(entry.mtime_ns, _MAX_NS))
        if entry.uid > _MAX_ID or entry.gid > _MAX_ID:
            raise MalformedLayer(f"uid/gid {entry.uid}/{entry.gid} of {entry.name!r} out of range")
        return entry

    @staticmethod
    def _apply_pax(entry: TarEntry, pax: dict[bytes, bytes]) -> None:
        for key, value in pax.items():
            if not value and not key.startswith((b"SCHILY.xattr.", b"LIBARCHIVE.xattr.")):
                continue  # an empty record unsets the key: the ustar field stands
            if key == b"path":
                entry.name = value
            elif key == b"linkpath":
                entry.linkname = value
            elif key == b"size":
                if entry.type == EntryType.REG:
                    entry.size = _decimal(value, "size")
            elif key == b"uid":
                entry.uid = _decimal(value, "uid")
            elif key == b"gid":
                entry.gid = _decimal(value, "gid")
            elif key == b"mtime":
                entry.mtime_ns = _pax_time_ns(value)
            elif key.startswith(b"SCHILY.xattr."):
                entry.xattrs[key[13:].decode("utf-8", "surrogateescape")] = value
            elif key.startswith(b"LIBARCHIVE.xattr."):
                try:
                    xname = unquote_to_bytes(key[17:]).decode("utf-8", "surrogateescape")
                    entry.xattrs[xname] = base64.b64decode(value + b"=" * (-len(value) % 4))
                except ValueError as exc:
                    raise MalformedLayer(f"invalid libarchive xattr on {entry.name!r}") from exc
            elif key.startswith(b"GNU.sparse."):
                raise MalformedLayer(f"sparse tar entry {entry.name!r} is not supported")

