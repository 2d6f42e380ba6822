"""Write a tar of a tree found beneath a directory fd, never leaving it.

The archive is what Docker's ``pkg/archive`` writes: POSIX ustar headers, with
PAX extended records where a field does not fit (long names and link targets,
sizes of 8 GiB and more, large ids) and for xattrs (``SCHILY.xattr.<name>``);
mtimes in whole seconds; no user or group names; directories named with a
trailing ``/``; sockets skipped. :class:`services.common.safetar.reader.TarReader`
reads every archive written here.

Walk contract: every object is reached with an ``*at`` call relative to its
parent directory's fd, ``O_NOFOLLOW`` (a symlink is archived as a symlink,
never followed; a directory swapped for a symlink mid-walk fails to open, it
is not entered); a regular file is opened ``O_NONBLOCK`` and re-checked with
``fstat`` to be the very inode that was listed, so a FIFO or device swapped in
is never read. Children are sorted by their byte names, depth first, so equal
trees give equal archives. Nothing is held in memory beyond one read chunk:
:meth:`TarWriter.tree` yields pieces while it walks.

Hardlinks: a second path of an already archived non-directory inode
(``st_nlink > 1``, same ``(st_dev, st_ino)``) becomes a hardlink entry to the
first path's archive name, across every ``tree`` call of one writer.

The per-entry ``hook`` lets a caller rewrite the archive (``commit`` turns
overlay whiteouts into ``.wh.`` files and adds opaque markers): it gets each
:class:`WriteEntry` as read from disk and returns ``None`` to drop it (a
dropped directory's subtree is skipped), the entry (changed or not), or a
list whose first item stands for the original and whose further items are
synthetic entries written right after it (before a directory's children).
A directory is walked when the entry written for it is still a directory
with its ``st``: a hook sets ``st = None`` to write a directory but not its
contents (a mount point ``export`` does not cross).
File content is read from disk only when the source is a regular file and
the entry is still a regular file; otherwise an entry's content is its
``data`` (default empty). Xattrs are read in full so a hook can see
``trusted.overlay.*``; only those ``keep_xattr`` accepts are written (by
default ``security.*``, ``user.*`` and POSIX ACLs, what ``apply_layer``
accepts back).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from services.common.safetar.reader import EntryType

__all__ = [
    "MAX_DEPTH",
    "Hook",
    "TarWriter",
    "WriteEntry",
    "WriteStats",
    "chunked",
    "default_keep_xattr",
    "encode_header",
    "entry_from_stat",
    "write_tree",
]

_BLOCK = 512
_READ = 1 << 20
#: directories open at once while walking (one fd each): a hostile tree cannot exhaust the fds
MAX_DEPTH = 4096
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")
_TYPEFLAG = {
    EntryType.REG: b"0",
    EntryType.LNK: b"1",
    EntryType.SYM: b"2",
    EntryType.CHR: b"3",
    EntryType.BLK: b"4",
    EntryType.DIR: b"5",
    EntryType.FIFO: b"6",
}


@dataclass(slots=True)
class WriteEntry:
    """One archive member to write.

    ``name`` is the archive path without a trailing ``/`` (the writer adds it
    to directories); ``mode`` the permission bits (``0o7777``); ``st`` the
    source's ``lstat`` (``None`` for a synthetic entry); ``data`` the content
    of a synthetic regular file (its size wins over ``size``).
    """

    name: bytes
    type: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime_ns: int = 0
    linkname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    st: os.stat_result | None = None
    data: bytes | None = None


@dataclass
class WriteStats:
    """``entries`` written (synthetic and hardlinks included), ``bytes`` of file content."""

    entries: int = 0
    bytes: int = 0


Hook = Callable[[WriteEntry], WriteEntry | Sequence[WriteEntry] | None]


def default_keep_xattr(name: str) -> bool:
    """The xattrs a layer may carry back into ``apply_layer``; ``trusted.*`` never."""
    return name.startswith(("security.", "user.")) or name in _ACL_XATTRS


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return EntryType.REG
    if stat.S_ISDIR(mode):
        return EntryType.DIR
    if stat.S_ISLNK(mode):
        return EntryType.SYM
    if stat.S_ISCHR(mode):
        return EntryType.CHR
    if stat.S_ISBLK(mode):
        return EntryType.BLK
    if stat.S_ISFIFO(mode):
        return EntryType.FIFO
    return None  # a socket: Docker skips them too


def entry_from_stat(name: bytes, st: os.stat_result) -> WriteEntry | None:
    """The entry ``st`` describes (no xattrs, no link target), or None for a socket."""
    kind = _kind(st.st_mode)
    if kind is None:
        return None
    dev = st.st_rdev if kind in (EntryType.CHR, EntryType.BLK) else 0
    return WriteEntry(
        name=name,
        type=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        size=st.st_size if kind == EntryType.REG else 0,
        mtime_ns=st.st_mtime_ns,
        devmajor=os.major(dev),
        devminor=os.minor(dev),
        st=st,
    )


def _read_xattrs(target: int | bytes, follow: bool) -> dict[str, bytes]:
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out: dict[str, bytes] = {}
    for name in sorted(names):
        try:
            out[name] = os.getxattr(target, name, follow_symlinks=follow)
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
    return out


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    size = len(body) + 1
    while len(str(size).encode()) + len(body) != size:
        size += 1
    return str(size).encode() + body


def _octal(value: int, width: int) -> bytes | None:
    """``width``-byte NUL-terminated octal field, or None when it does not fit."""
    text = b"%o" % value
    if len(text) > width - 1 or value < 0:
        return None
    return text.rjust(width - 1, b"0") + b"\0"


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) fitting ustar's 155/100-byte fields, or None."""
    if len(name) <= 100:
        return b"", name
    cut = name.rfind(b"/", 0, 156)
    while cut > 0:
        if len(name) - cut - 1 <= 100 and cut <= 155:
            return name[:cut], name[cut + 1 :]
        cut = name.rfind(b"/", 0, cut)
    return None


def _header(name: bytes, typeflag: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
            linkname: bytes = b"", devmajor: int = 0, devminor: int = 0) -> bytes:
    hdr = bytearray(_BLOCK)
    hdr[0 : len(name)] = name
    hdr[100:108] = _octal(mode, 8) or b"0000000\0"
    hdr[108:116] = _octal(uid, 8) or b"0000000\0"
    hdr[116:124] = _octal(gid, 8) or b"0000000\0"
    hdr[124:136] = _octal(size, 12) or b"00000000000\0"
    hdr[136:148] = _octal(max(mtime, 0), 12) or b"00000000000\0"
    hdr[148:156] = b" " * 8
    hdr[156:157] = typeflag
    hdr[157 : 157 + len(linkname)] = linkname
    hdr[257:265] = b"ustar\x0000"
    hdr[329:337] = _octal(devmajor, 8) or b"0000000\0"
    hdr[337:345] = _octal(devminor, 8) or b"0000000\0"
    hdr[148:156] = b"%06o\0 " % sum(hdr)
    return bytes(hdr)


def encode_header(entry: WriteEntry, keep_xattr: Callable[[str], bool] = default_keep_xattr) -> bytes:
    """The header block(s) of ``entry``: a PAX ``x`` header first when a field needs one."""
    name = entry.name + (b"/" if entry.type == EntryType.DIR and not entry.name.endswith(b"/") else b"")
    pax: list[bytes] = []
    split = _split_ustar(name)
    if split is None:
        pax.append(_pax_record(b"path", name))
        split = (b"", name[:100])
    prefix, short = split
    link = entry.linkname
    if len(link) > 100:
        pax.append(_pax_record(b"linkpath", link))
        link = link[:100]
    size = entry.size if entry.type == EntryType.REG else 0
    mtime = entry.mtime_ns // 1_000_000_000
    for key, value, width in ((b"size", size, 12), (b"uid", entry.uid, 8), (b"gid", entry.gid, 8),
                              (b"mtime", mtime, 12)):
        if _octal(value, width) is None:
            pax.append(_pax_record(key, str(value).encode()))
    for xname, xvalue in sorted(entry.xattrs.items()):
        if keep_xattr(xname):
            pax.append(_pax_record(b"SCHILY.xattr." + xname.encode("utf-8", "surrogateescape"), xvalue))
    out = b""
    if pax:
        payload = b"".join(pax)
        pax_name = (b"PaxHeaders.0/" + short)[:100]
        out = _header(pax_name, b"x", 0o644, 0, 0, len(payload), max(mtime, 0)) + payload
        out += bytes(-len(payload) % _BLOCK)
    hdr = bytearray(_header(short, _TYPEFLAG[entry.type], entry.mode & 0o7777, entry.uid, entry.gid, size,
                            mtime, link, entry.devmajor, entry.devminor))
    if prefix:
        hdr[345 : 345 + len(prefix)] = prefix
        hdr[148:156] = b" " * 8
        hdr[148:156] = b"%06o\0 " % sum(hdr)
    return out + bytes(hdr)


def _join(prefix: bytes, leaf: bytes) -> bytes:
    return prefix + b"/" + leaf if prefix else leaf


class TarWriter:
    """Builds one archive from trees and synthetic entries, as a stream of byte pieces.

    ``tree``/``entry`` yield the pieces of what they add; ``end`` is the
    trailer. ``mtime_clamp_ns`` caps every mtime (``SOURCE_DATE_EPOCH``).
    OSErrors of the walk propagate with the failing name in ``filename``; a
    tree deeper than ``max_depth`` directories fails with ``ELOOP``.
    """

    def __init__(self, *, hook: Hook | None = None, mtime_clamp_ns: int | None = None,
                 keep_xattr: Callable[[str], bool] = default_keep_xattr, max_depth: int = MAX_DEPTH) -> None:
        self._hook = hook
        self._max_depth = max_depth
        self._clamp = mtime_clamp_ns
        self._keep = keep_xattr
        self._links: dict[tuple[int, int], bytes] = {}
        self.stats = WriteStats()

    # -- public -----------------------------------------------------------------
    def tree(self, dir_fd: int, name: bytes = b"", *, leaf: bytes | None = None) -> Iterator[bytes]:
        """Archive ``dir_fd``/``leaf`` (``dir_fd`` itself when ``leaf`` is None) as ``name``.

        A directory is archived with its whole subtree. An empty ``name``
        writes no entry for the top directory itself, only its children at the
        archive's top level (``docker export``). ``dir_fd`` is not closed.
        """
        if leaf is None:
            st = os.fstat(dir_fd)
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", name)
            top = os.dup(dir_fd)
            try:
                if name:
                    entry = entry_from_stat(name, st)
                    assert entry is not None
                    entry.xattrs = _read_xattrs(top, True)
                    descend = yield from self._emit(entry, -1)
                    if not descend:
                        return
                yield from self._walk(top, name)
            finally:
                os.close(top)
            return
        st = os.stat(leaf, dir_fd=dir_fd, follow_symlinks=False)
        yield from self._child(dir_fd, leaf, name, st)

    def entry(self, entry: WriteEntry) -> Iterator[bytes]:
        """Write a synthetic entry (content ``entry.data``), hook not applied."""
        yield from self._write(entry, -1)

    def end(self) -> bytes:
        """The end-of-archive marker: two zero blocks."""
        return bytes(2 * _BLOCK)

    # -- walk -------------------------------------------------------------------
    def _walk(self, top_fd: int, top_name: bytes) -> Iterator[bytes]:
        """Depth-first, children sorted; an explicit stack so depth is not bounded by recursion."""
        stack: list[tuple[int, bytes, Iterator[bytes]]] = [(os.dup(top_fd), top_name, iter(self._names(top_fd)))]
        try:
            while stack:
                dfd, prefix, names = stack[-1]
                leaf = next(names, None)
                if leaf is None:
                    os.close(dfd)
                    stack.pop()
                    continue
                try:
                    st = os.stat(leaf, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed since it was listed
                name = _join(prefix, leaf)
                if not stat.S_ISDIR(st.st_mode):
                    yield from self._child(dfd, leaf, name, st)
                    continue
                sub = self._open_dir(dfd, leaf, st)
                if sub < 0:
                    continue
                try:
                    entry = entry_from_stat(name, st)
                    assert entry is not None
                    entry.xattrs = _read_xattrs(sub, True)
                    descend = yield from self._emit(entry, -1)
                except BaseException:
                    os.close(sub)
                    raise
                if descend and len(stack) >= self._max_depth:
                    os.close(sub)
                    raise OSError(errno.ELOOP, f"directory tree deeper than {self._max_depth} levels", name)
                if descend:
                    stack.append((sub, name, iter(self._names(sub))))
                else:
                    os.close(sub)
        finally:
            for dfd, _, _ in stack:
                os.close(dfd)

    @staticmethod
    def _names(dfd: int) -> list[bytes]:
        with os.scandir(dfd) as it:
            return sorted(os.fsencode(e.name) for e in it)

    @staticmethod
    def _open_dir(dfd: int, leaf: bytes, st: os.stat_result) -> int:
        """An fd of the directory listed as ``st``, or -1 when it vanished or was swapped."""
        try:
            fd = os.open(leaf, _OPEN_DIR, dir_fd=dfd)
        except (FileNotFoundError, NotADirectoryError):
            return -1
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return -1
            raise
        again = os.fstat(fd)
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)
            return -1
        return fd

    def _child(self, dfd: int, leaf: bytes, name: bytes, st: os.stat_result) -> Iterator[bytes]:
        """Archive one child of ``dfd``: a directory with its subtree, anything else alone."""
        if stat.S_ISDIR(st.st_mode):
            sub = self._open_dir(dfd, leaf, st)
            if sub < 0:
                raise FileNotFoundError(errno.ENOENT, "directory vanished or was replaced", name)
            try:
                yield from self.tree(sub, name)
            finally:
                os.close(sub)
            return
        entry = entry_from_stat(name, st)
        if entry is None:
            return
        fd = -1
        try:
            if entry.type == EntryType.REG:
                try:
                    fd = os.open(leaf, _OPEN_FILE, dir_fd=dfd)
                except (FileNotFoundError, OSError) as exc:
                    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ELOOP:
                        return  # removed or swapped for a symlink since it was listed
                    raise
                again = os.fstat(fd)
                if not stat.S_ISREG(again.st_mode) or (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
                    return
                entry.size = again.st_size
                entry.xattrs = _read_xattrs(fd, True)
            else:
                if entry.type == EntryType.SYM:
                    entry.linkname = os.readlink(leaf, dir_fd=dfd)
                # /proc/self/fd/<dir>/<leaf> without following: the node itself, never opened
                entry.xattrs = _read_xattrs(b"/proc/self/fd/%d/%s" % (dfd, leaf), False)
            yield from self._emit(entry, fd)
        finally:
            if fd >= 0:
                os.close(fd)

    # -- emit -------------------------------------------------------------------
    def _emit(self, entry: WriteEntry, fd: int) -> Generator[bytes, None, bool]:
        """Hook ``entry`` and write the result; returns whether a directory's subtree is to be walked."""
        source = entry.st
        result: WriteEntry | Sequence[WriteEntry] | None = self._hook(entry) if self._hook else entry
        if result is None:
            return False
        items = [result] if isinstance(result, WriteEntry) else list(result)
        if not items:
            return False
        main, extras = items[0], items[1:]
        if (source is not None and main.type != EntryType.DIR and main.type == _kind(source.st_mode)
                and source.st_nlink > 1):
            key = (source.st_dev, source.st_ino)
            first = self._links.get(key)
            if first is not None:
                main = replace(main, type=EntryType.LNK, linkname=first, size=0, data=None)
                fd = -1
            else:
                self._links[key] = main.name
        from_disk = fd >= 0 and main.type == EntryType.REG and main.data is None
        yield from self._write(main, fd if from_disk else -1)
        for extra in extras:
            yield from self._write(extra, -1)
        return main.type == EntryType.DIR and main.st is not None and stat.S_ISDIR(main.st.st_mode)

    def _write(self, entry: WriteEntry, fd: int) -> Iterator[bytes]:
        if self._clamp is not None and entry.mtime_ns > self._clamp:
            entry = replace(entry, mtime_ns=self._clamp)
        if entry.type == EntryType.REG and fd < 0:
            data = entry.data or b""
            entry = replace(entry, size=len(data))
        yield encode_header(entry, self._keep)
        self.stats.entries += 1
        if entry.type != EntryType.REG or not entry.size:
            return
        if fd < 0:
            yield data
        else:
            # The header promised st_size bytes: a file that shrank is padded
            # with zeros, one that grew is cut at that size.
            left = entry.size
            while left:
                chunk = os.read(fd, min(left, _READ))
                if not chunk:
                    chunk = bytes(min(left, _READ))
                left -= len(chunk)
                yield chunk
        self.stats.bytes += entry.size
        pad = -entry.size % _BLOCK
        if pad:
            yield bytes(pad)


def chunked(pieces: Iterable[bytes], size: int = 64 << 10) -> Iterator[bytes]:
    """Regroup ``pieces`` into chunks of at most ``size`` bytes (a gRPC stream's messages).

    Small pieces (headers, padding, small files) are joined up to ``size``; a
    piece that fits in a chunk of its own is passed on as is, never copied (a
    big file's reads of :data:`_READ` bytes each), and a longer one is cut.
    Every chunk is non-empty; their concatenation is the pieces'.
    """
    held: list[bytes] = []
    count = 0
    for piece in pieces:
        n = len(piece)
        if count + n <= size:
            if n:
                held.append(piece)
                count += n
            continue
        if held:
            yield b"".join(held)  # one small copy; a single held piece is yielded itself
            held, count = [], 0
        if n <= size:
            held, count = [piece], n
            continue
        with memoryview(piece) as view:
            whole = n - n % size
            for start in range(0, whole, size):
                yield bytes(view[start : start + size])
            if whole < n:
                held, count = [bytes(view[whole:])], n - whole
    if held:
        yield b"".join(held)


def write_tree(root_fd: int, out: BinaryIO, *, name: bytes = b"", hook: Hook | None = None,
               mtime_clamp_ns: int | None = None,
               keep_xattr: Callable[[str], bool] = default_keep_xattr) -> WriteStats:
    """Write a whole archive of the directory ``root_fd`` to ``out`` (see :meth:`TarWriter.tree`)."""
    writer = TarWriter(hook=hook, mtime_clamp_ns=mtime_clamp_ns, keep_xattr=keep_xattr)
    out.writelines(chunked(writer.tree(root_fd, name), 1 << 20))
    out.write(writer.end())
    return writer.stats
