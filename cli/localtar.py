"""The local side of ``barque cp``: archive a local source and extract an
archive beneath a local destination, both by file descriptors.

Why not :mod:`services.common.safetar`: the CLI imports no ``services``
module (tests/unit/test_import_graph.py), so this side keeps the same
contract with the standard library's tar format code and its own fd walk:

* archiving never follows a symlink (``lstat``, ``O_NOFOLLOW`` opens re-checked
  with ``fstat``), children sorted, hardlinks by ``(st_dev, st_ino)``;
* extraction normalises names (leading ``/`` and ``.`` dropped, ``..``
  refused), opens every parent one component at a time with
  ``O_NOFOLLOW|O_DIRECTORY`` relative to the destination's fd (a symlink in
  the way, planted by the archive or already there, refuses the copy),
  creates leaves with ``O_EXCL|O_NOFOLLOW`` / ``*at`` calls, links hardlinks
  only beneath the destination, and refuses to replace a directory with a
  non-directory or the reverse (Docker's ``NoOverwriteDirNonDir``). Files
  belong to the user running the command (Docker's ``NoLchown``).
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Iterator
from typing import IO

__all__ = ["LocalCopyError", "archive_local", "extract_local", "regroup"]

#: most bytes per chunk of a local archive (one CopyTo message); a file's reads
#: of :data:`_READ` bytes pass through uncopied, small pieces are joined
_CHUNK = 1 << 20
_READ = 1 << 20
_DIR_PATH = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class LocalCopyError(Exception):
    """The archive would write outside the destination, or clashes with what is there."""


# ---- archive -------------------------------------------------------------------------------


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo | None:
    info = tarfile.TarInfo(name)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None  # a socket, skipped as Docker does
    info.mode = stat.S_IMODE(mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = st.st_mtime_ns // 1_000_000_000
    return info


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def archive_local(directory: str, leaf: str | None, name: str) -> Iterator[bytes]:
    """The tar of ``directory/leaf`` (``directory`` itself when ``leaf`` is None),
    its top entry named ``name``, in chunks of at most :data:`_CHUNK` bytes."""
    links: dict[tuple[int, int], str] = {}
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if leaf is None:
            pieces = _walk_dir(os.dup(dfd), name, links)
        else:
            pieces = _member(dfd, leaf, name, links)
        yield from regroup(pieces)
        yield bytes(2 * tarfile.BLOCKSIZE)
    finally:
        os.close(dfd)


def regroup(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Chunks of at most :data:`_CHUNK` bytes (no piece is longer): small
    pieces joined, a file's reads passed on as they are, never copied."""
    held: list[bytes] = []
    count = 0
    for piece in pieces:
        if count + len(piece) > _CHUNK and held:
            yield b"".join(held)
            held, count = [], 0
        held.append(piece)
        count += len(piece)
        if count >= _CHUNK:
            yield held[0] if len(held) == 1 else b"".join(held)
            held, count = [], 0
    if held:
        yield b"".join(held)


def _member(dfd: int, leaf: str, name: str, links: dict[tuple[int, int], str]) -> Iterator[bytes]:
    st = os.stat(leaf, dir_fd=dfd, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        sub = os.open(leaf, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        yield from _walk_dir(sub, name, links)
        return
    info = _info(name, st)
    if info is None:
        return
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and key in links:
        info.type, info.linkname, info.size = tarfile.LNKTYPE, links[key], 0
        yield _header(info)
        return
    if st.st_nlink > 1:
        links[key] = name
    if info.type == tarfile.SYMTYPE:
        info.linkname = os.readlink(leaf, dir_fd=dfd)
        yield _header(info)
        return
    if info.type != tarfile.REGTYPE:
        yield _header(info)
        return
    fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dfd)
    try:
        again = os.fstat(fd)
        if (again.st_dev, again.st_ino) != key or not stat.S_ISREG(again.st_mode):
            return  # swapped since it was listed
        info.size = again.st_size
        yield _header(info)
        left = info.size
        while left:
            chunk = os.read(fd, min(left, _READ)) or bytes(min(left, _READ))
            left -= len(chunk)
            yield chunk
        if info.size % tarfile.BLOCKSIZE:
            yield bytes(tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE)
    finally:
        os.close(fd)


def _walk_dir(dfd: int, name: str, links: dict[tuple[int, int], str]) -> Iterator[bytes]:
    """The directory ``dfd`` (taken over and closed) as ``name``, then its children, sorted."""
    try:
        info = _info(name, os.fstat(dfd))
        assert info is not None
        yield _header(info)
        with os.scandir(dfd) as it:
            names = sorted(e.name for e in it)
        for child in names:
            try:
                yield from _member(dfd, child, f"{name}/{child}", links)
            except FileNotFoundError:
                continue  # removed since it was listed
    finally:
        os.close(dfd)


# ---- extract ----------------------------------------------------------------------------------


def _components(name: str) -> list[str]:
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise LocalCopyError(f"refusing to extract {name!r}: it has a '..' component")
    return parts


def _rebase(name: str, old: str, new: str) -> str:
    parts = [p for p in name.split("/") if p and p != "."]
    if old == ".":
        return "/".join([new, *parts])
    if parts and parts[0] == old:
        return "/".join([new, *parts[1:]])
    return name


def _open_parent(root: int, parts: list[str], create: bool, what: str) -> int:
    """An O_PATH fd of ``root/parts``, one component at a time, never through a symlink."""
    cur = os.dup(root)
    try:
        for part in parts:
            try:
                nxt = os.open(part, _DIR_PATH, dir_fd=cur)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=cur)
                nxt = os.open(part, _DIR_PATH, dir_fd=cur)
            except OSError as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                kind = stat.S_ISLNK(os.stat(part, dir_fd=cur, follow_symlinks=False).st_mode)
                raise LocalCopyError(f"refusing to extract {what!r}: {part!r} is "
                                     f"{'a symlink' if kind else 'not a directory'}") from exc
            os.close(cur)
            cur = nxt
        return cur
    except BaseException:
        os.close(cur)
        raise


def _clear(pfd: int, leaf: str, path: str, new_is_dir: bool) -> bool:
    """Make room for ``leaf``; True when an existing directory is to be merged into."""
    try:
        st = os.stat(leaf, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if new_is_dir:
            return True
        raise LocalCopyError(f"cannot overwrite directory {path!r} with non-directory")
    if new_is_dir:
        raise LocalCopyError(f"cannot overwrite non-directory {path!r} with directory")
    os.unlink(leaf, dir_fd=pfd)
    return False


class _Forward:
    """A forward-only file over ``source``'s reads, as tarfile's stream mode
    wants one (``seek`` only skips ahead), whose data :meth:`take` hands out as
    views of the chunk read, never copied (tarfile's own stream joins and
    slices every read)."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._view = memoryview(b"")
        self._pos = 0

    def take(self, n: int) -> memoryview:
        """Up to ``n`` bytes (``n`` > 0) of the current read; empty at the end."""
        if not self._view:
            chunk = self._source.read(_READ)
            if not chunk:
                return self._view
            self._view = memoryview(chunk)
        piece = self._view[:n]
        self._view = self._view[len(piece):]
        self._pos += len(piece)
        return piece

    def read(self, n: int = -1) -> bytes:
        parts = []
        while n < 0 or n:
            piece = self.take(_READ if n < 0 else n)
            if not piece:
                break
            parts.append(piece)
            n -= len(piece) if n > 0 else 0
        return b"".join(parts)

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            pos += self._pos
        elif whence != os.SEEK_SET or pos < self._pos:
            raise tarfile.StreamError("seeking backwards is not allowed")
        while self._pos < pos and self.take(pos - self._pos):
            pass
        return self._pos


def extract_local(source: IO[bytes], dest: str, rename: tuple[str, str] | None = None) -> None:
    """Extract the tar ``source`` beneath the directory ``dest`` (see the module's contract)."""
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    dir_times: list[tuple[list[str], int]] = []
    stream = _Forward(source)
    try:
        with tarfile.TarFile(fileobj=stream, mode="r") as archive:  # type: ignore[arg-type]
            for member in archive:
                name = _rebase(member.name, *rename) if rename else member.name
                parts = _components(name)
                if not parts:
                    continue  # the destination directory itself keeps its own metadata
                *parent, leaf = parts
                pfd = _open_parent(root, parent, True, name)
                try:
                    _extract_one(stream, member, root, pfd, leaf, name, rename)
                finally:
                    os.close(pfd)
                if member.isdir():
                    dir_times.append((parts, int(member.mtime)))
        for parts, mtime in reversed(dir_times):
            pfd = _open_parent(root, parts[:-1], False, "/".join(parts))
            try:
                os.utime(parts[-1], (mtime, mtime), dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(pfd)
    except tarfile.TarError as exc:
        raise LocalCopyError(f"invalid archive: {exc}") from exc
    finally:
        os.close(root)


def _write_data(stream: _Forward, member: tarfile.TarInfo, fd: int) -> None:
    """The member's data, straight from the stream's reads to ``fd``."""
    stream.seek(member.offset_data)
    left = member.size
    while left:
        piece = stream.take(min(left, _READ))
        if not piece:
            raise tarfile.ReadError("unexpected end of data")
        left -= len(piece)
        while piece:
            piece = piece[os.write(fd, piece):]


def _extract_one(stream: _Forward, member: tarfile.TarInfo, root: int, pfd: int, leaf: str,
                 name: str, rename: tuple[str, str] | None) -> None:
    mode = member.mode & 0o7777
    if member.isdir():
        if not _clear(pfd, leaf, name, True):
            os.mkdir(leaf, 0o700, dir_fd=pfd)
        fd = os.open(leaf, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            os.chmod(fd, mode)
        finally:
            os.close(fd)
        return
    _clear(pfd, leaf, name, False)
    if member.isreg():
        fd = os.open(leaf, _NEW_FILE, 0o600, dir_fd=pfd)
        try:
            _write_data(stream, member, fd)
            os.chmod(fd, mode)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)
    elif member.issym():
        os.symlink(member.linkname, leaf, dir_fd=pfd)
        os.utime(leaf, (member.mtime, member.mtime), dir_fd=pfd, follow_symlinks=False)
    elif member.islnk():
        target = _rebase(member.linkname, *rename) if rename else member.linkname
        tparts = _components(target)
        if not tparts:
            raise LocalCopyError(f"refusing to extract {name!r}: a hardlink to the destination itself")
        tfd = _open_parent(root, tparts[:-1], False, name)
        try:
            os.link(tparts[-1], leaf, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)
    elif member.ischr() or member.isblk() or member.isfifo():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
        dev = os.makedev(member.devmajor, member.devminor) if kind != stat.S_IFIFO else 0
        os.mknod(leaf, kind | 0o600, dev, dir_fd=pfd)
        os.chmod(leaf, mode, dir_fd=pfd)  # just made by mknod, which never replaces a name
    else:
        raise LocalCopyError(f"refusing to extract {name!r}: unsupported entry type")
