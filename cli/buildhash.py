"""Docker's numbers for a build context: the size of the tar docker 20.10's
CLI sends ("Sending build context to Docker daemon  2.048kB") and the
content hashes its legacy builder writes in history (``COPY file:<hex> in
/x``) and keys its cache with.

The size follows Go's ``archive/tar`` writer as moby's ``TarWithOptions``
drives it: one 512-byte USTAR header per entry (a PAX extended header before
it when a field does not fit: a long or non-ASCII name that the USTAR prefix
cannot split, a long link target or user name, a size of 8 GiB or more, the
``security.capability`` xattr), data padded to 512 bytes, two zero blocks at
the end and no record padding.

The hashes are moby's tarsum v1 of each entry as the CLI tars it (name with
``/`` for a directory, ``st_mode`` with its type bits, uid and gid 0, size,
type flag, link target, device numbers, xattrs, then the content; mtimes and
user names left out), and for a directory ``dir:`` + sha256 of the sorted
hashes below it joined by ``,``; several sources hash as ``multi:``.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from cli.buildscope import BuildContextError, ContextView, OutsideScope
from cli.buildtar import Source, file_data

__all__ = ["ContentDigest", "ContextScan", "Hasher", "go_entry_size", "scan_context"]

_BLOCK = 512
_CAP = "security.capability"
_TYPEFLAG = {stat.S_IFREG: "0", stat.S_IFLNK: "2", stat.S_IFCHR: "3", stat.S_IFBLK: "4",
             stat.S_IFDIR: "5", stat.S_IFIFO: "6"}


def _round(n: int) -> int:
    return -(-n // _BLOCK) * _BLOCK


def _pax_record(key: str, value: str) -> int:
    """The length of Go's formatPAXRecord ("%d %s=%s\n", the length counting itself)."""
    body = len(key.encode()) + len(value.encode("utf-8", "surrogateescape")) + 3
    size = body + len(str(body))
    return body + len(str(size))


def _split_ustar(name: str) -> bool:
    """Go's splitUSTARPath succeeds."""
    length = len(name)
    if length <= 100 or not name.isascii():
        return False
    if length > 156:
        length = 156
    elif name[length - 1] == "/":
        length -= 1
    i = name.rfind("/", 0, length)
    return 0 < i <= 155 and 0 < len(name) - i - 1 <= 100


def go_entry_size(name: str, *, size: int = 0, linkname: str = "", uid: int = 0, gid: int = 0,
                  uname: str = "", gname: str = "", mtime: int = 0,
                  xattrs: dict[str, bytes] | None = None) -> int:
    """Bytes Go's tar.Writer writes for one entry in FormatPAX (header(s) and data)."""
    pax: dict[str, str] = {}
    ustar = True
    for key, value, limit in (("path", name, 100), ("linkpath", linkname, 100),
                              ("uname", uname, 32), ("gname", gname, 32)):
        long = len(value.encode("utf-8", "surrogateescape")) > limit
        if long or not value.isascii():
            if key != "path" or not _split_ustar(value):
                ustar = False
            pax[key] = value
    for key, number, digits in (("uid", uid, 8), ("gid", gid, 8), ("size", size, 12), ("mtime", mtime, 12)):
        if not 0 <= number < 8 ** (digits - 1):
            ustar = False
            pax[key] = str(number)
    for key, raw in (xattrs or {}).items():
        ustar = False
        pax["SCHILY.xattr." + key] = raw.decode("utf-8", "surrogateescape")
    header = _BLOCK
    if not ustar:
        header += _BLOCK + _round(sum(_pax_record(k, v) for k, v in pax.items()))
    return header + _round(size)


@cache
def _uname(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@cache
def _gname(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def _capability(dfd: int, name: str) -> dict[str, bytes]:
    try:
        return {_CAP: os.getxattr(f"/proc/self/fd/{dfd}/{name}", _CAP, follow_symlinks=False)}
    except OSError:
        return {}


@dataclass
class ContextScan:
    """The CLI's walk of a context: the tar's size (end blocks included) and,
    for files with several links, the first name each inode is sent under."""

    size: int = 2 * _BLOCK
    links: dict[tuple[int, int], str] = field(default_factory=dict)
    dockerignore_size: int | None = None


def scan_context(view: ContextView) -> ContextScan:
    """Walk what the CLI sends, as docker 20.10's ValidateContextDirectory and
    TarWithOptions do; an unreadable file is Docker's error."""
    scan = ContextScan()
    for entry in view.walk("", "send"):
        st = entry.st
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFSOCK:
            continue  # archive/tar refuses sockets; Docker logs and skips them
        if fmt == stat.S_IFREG and not os.access(entry.name, os.R_OK, dir_fd=entry.dfd):
            path = view.root / entry.rel
            raise BuildContextError(f"error checking context: 'no permission to read from '{path}''.")
        name, size, linkname = entry.rel, 0, ""
        if fmt == stat.S_IFDIR:
            name += "/"
        elif st.st_nlink > 1 and (st.st_dev, st.st_ino) in scan.links:
            linkname = scan.links[(st.st_dev, st.st_ino)]
        else:
            if st.st_nlink > 1:
                scan.links[(st.st_dev, st.st_ino)] = entry.rel
            if fmt == stat.S_IFLNK:
                linkname = os.readlink(entry.name, dir_fd=entry.dfd)
            elif fmt == stat.S_IFREG:
                size = st.st_size
        if entry.rel == ".dockerignore" and fmt == stat.S_IFREG:
            scan.dockerignore_size = size
        scan.size += go_entry_size(name, size=size, linkname=linkname, uname=_uname(st.st_uid),
                                   gname=_gname(st.st_gid), mtime=st.st_mtime_ns // 1_000_000_000,
                                   xattrs=_capability(entry.dfd, entry.name))
    return scan


@dataclass(frozen=True)
class ContentDigest:
    """A sources' content hash as Docker's legacy builder writes it: ``kind``
    is "file", "dir" or "multi"; ``str()`` is ``kind:hex`` (the history's
    form), :attr:`digest` is ``sha256:hex``."""

    kind: str
    hex: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.hex}"

    @property
    def digest(self) -> str:
        return f"sha256:{self.hex}"


def _tarsum(fields: list[tuple[str, str]], xattrs: dict[str, bytes]) -> hashlib._Hash:
    h = hashlib.sha256()
    for key, value in fields:
        h.update((key + value).encode("utf-8", "surrogateescape"))
    for key in sorted(xattrs):
        h.update(key.encode() + xattrs[key])
    return h


def _fields(name: str, mode: int, size: int, typeflag: str, linkname: str = "",
            uid: int = 0, gid: int = 0, uname: str = "", gname: str = "",
            dev: tuple[int, int] = (0, 0)) -> list[tuple[str, str]]:
    return [("name", name), ("mode", str(mode)), ("uid", str(uid)), ("gid", str(gid)),
            ("size", str(size)), ("typeflag", typeflag), ("linkname", linkname),
            ("uname", uname), ("gname", gname), ("devmajor", str(dev[0])), ("devminor", str(dev[1]))]


class Hasher:
    """Content hashes of one context's sources, each entry's tarsum computed once."""

    def __init__(self, view: ContextView | None,
                 links: Callable[[], dict[tuple[int, int], str]]) -> None:
        self.view = view
        self.links = links  # asked for only when a file has several links
        self._sums: dict[str, str] = {}

    def digest(self, sources: list[Source]) -> ContentDigest:
        if not sources:
            raise ValueError("no sources to hash")
        hashes = [self._source(src) for src in sources]
        if len(hashes) == 1:
            kind, _, hexsum = hashes[0].partition(":")
            return ContentDigest(kind, hexsum)
        return ContentDigest("multi", hashlib.sha256(",".join(hashes).encode()).hexdigest())

    def _source(self, src: Source) -> str:
        if src.data is not None:
            h = _tarsum(_fields(src.name, stat.S_IFREG | (src.mode or 0), len(src.data), "0"), {})
            h.update(src.data)
            return "file:" + h.hexdigest()
        if src.file is not None:
            return "file:" + self._fetched(src)
        assert self.view is not None and src.path is not None
        if not src.is_dir:
            return "file:" + self.entry_sum(src.path)
        subs = []
        for entry in self.view.walk(src.path):
            try:
                resolved = self.view.resolve(entry.rel)
            except OutsideScope:
                continue  # moby's walkSource skips what Hash cannot resolve
            st = self.view.lstat(resolved) if resolved else None
            if st is None or self.view.is_implicit(resolved, stat.S_ISDIR(st.st_mode)):
                subs.append(entry.rel)  # not in the sent tar (the root neither): moby hashes the path
            else:
                subs.append(self.entry_sum(resolved))
        subs.sort()
        return "dir:" + hashlib.sha256(",".join(subs).encode()).hexdigest()

    def _fetched(self, src: Source) -> str:
        assert src.file is not None
        fd = os.open(src.file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            # moby's lazySource hashes a download with the daemon's user names
            h = _tarsum(_fields(src.name, st.st_mode, st.st_size, "0", uid=st.st_uid, gid=st.st_gid,
                                uname=_uname(st.st_uid), gname=_gname(st.st_gid)), {})
            for piece in file_data(fd, st.st_size, src.name):
                h.update(piece)
        finally:
            os.close(fd)
        return h.hexdigest()

    def entry_sum(self, rel: str) -> str:
        """The tarsum v1 of context entry ``rel`` (resolved, present) as sent."""
        if rel in self._sums:
            return self._sums[rel]
        assert self.view is not None
        parent, _, leaf = rel.rpartition("/")
        dfd = self.view.open_dir(parent)
        try:
            st = os.stat(leaf, dir_fd=dfd, follow_symlinks=False)
            fmt = stat.S_IFMT(st.st_mode)
            name, size, linkname, typeflag = rel, 0, "", _TYPEFLAG.get(fmt, "0")
            first = self.links().get((st.st_dev, st.st_ino)) if st.st_nlink > 1 else None
            if fmt == stat.S_IFDIR:
                name += "/"
            elif first is not None and first != rel:
                typeflag, linkname = "1", first
            elif fmt == stat.S_IFLNK:
                linkname = os.readlink(leaf, dir_fd=dfd)
            elif fmt == stat.S_IFREG:
                size = st.st_size
            dev = (os.major(st.st_rdev), os.minor(st.st_rdev)) if typeflag in "34" else (0, 0)
            h = _tarsum(_fields(name, st.st_mode, size, typeflag, linkname, dev=dev),
                        _capability(dfd, leaf))
            if size:
                fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
                try:
                    for piece in file_data(fd, size, rel):
                        h.update(piece)
                finally:
                    os.close(fd)
        finally:
            os.close(dfd)
        self._sums[rel] = h.hexdigest()
        return self._sums[rel]
