"""Open paths strictly beneath a root directory fd: the walker every writer of
a root (layer extraction, and later cp and commit) and every reader of a
container's files (its /etc/passwd) goes through.

Contract of :func:`open_dir_beneath`: every component is resolved relative to
``root_fd``; ``..``, symlinks (absolute or relative), magic links and mount
crossings are refused by the kernel (``openat2`` with ``RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV``) or, where
openat2 is missing or filtered, by a walk that opens one component at a time
with ``O_NOFOLLOW|O_DIRECTORY`` relative to the previous component's fd. There
is no realpath-and-prefix check anywhere: the fds themselves are the proof of
containment. Returned fds are ``O_PATH`` directory fds the caller must close;
they serve as ``dir_fd=`` for the ``*at`` calls of the extractor.

:func:`read_file_in_root` reads one regular file inside a root, resolving
symlinks as if the root were ``/`` and refusing anything but a bounded
regular file before it is opened.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import stat

from client.errors import InvalidArgument

__all__ = ["open_dir_beneath", "read_file_in_root", "NotBeneath", "UnsafePath", "openat2_available"]

_SYS_OPENAT2 = 437  # the same number on every Linux architecture (added after the syscall table unification)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class NotBeneath(Exception):
    """A path component is a symlink, not a directory, or would leave the root."""


class UnsafePath(InvalidArgument):
    """A file inside a root cannot be read safely: not a regular file, too
    large, or not resolvable inside the root."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _Openat2:
    """ctypes binding of openat2(2); disables itself when the kernel or a seccomp filter refuses it."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._syscall = libc.syscall
        self._syscall.restype = ctypes.c_long
        self._syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
        self.usable = True

    def __call__(self, dir_fd: int, path: bytes, flags: int, resolve: int = _RESOLVE) -> int:
        how = _OpenHow(flags, 0, resolve)
        fd = self._syscall(_SYS_OPENAT2, dir_fd, path, ctypes.byref(how), ctypes.sizeof(how))
        if fd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOSYS, errno.EPERM, errno.E2BIG):
                self.usable = False
            raise OSError(err, os.strerror(err), path)
        return fd


@functools.cache
def _openat2() -> _Openat2:
    return _Openat2()


def openat2_available() -> bool:
    """True until openat2 has been found missing or filtered in this process."""
    return _openat2().usable


def _walk(root_fd: int, components: list[bytes], create: bool) -> int:
    root_dev = os.fstat(root_fd).st_dev
    cur = os.dup(root_fd)
    try:
        for comp in components:
            if comp in (b"", b".", b"..") or b"/" in comp:
                raise NotBeneath(f"path component {comp!r} is not a plain name")
            try:
                nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(comp, 0o755, dir_fd=cur)
                except FileExistsError:
                    pass
                nxt = os.open(comp, _DIR_FLAGS, dir_fd=cur)
            except (NotADirectoryError, OSError) as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                raise NotBeneath(f"path component {comp!r} is {what}") from exc
            os.close(cur)
            cur = nxt
            if os.fstat(cur).st_dev != root_dev:
                raise NotBeneath(f"path component {comp!r} crosses a mount point")
        return cur
    except BaseException:
        os.close(cur)
        raise


def open_dir_beneath(root_fd: int, components: list[bytes], *, create: bool) -> int:
    """Open ``root/<components...>`` as an O_PATH dir fd; with ``create``, make missing dirs 0755.

    ``components`` must already be split and free of ``..``, ``.`` and empty
    names (the caller normalises entry names). Raises :class:`NotBeneath` when a
    component is a symlink or a non-directory, ``FileNotFoundError`` when one is
    missing and ``create`` is false.
    """
    if not components:
        return os.dup(root_fd)
    impl = _openat2()
    if impl.usable:
        try:
            return impl(root_fd, b"/".join(components), _DIR_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ENOENT and not create:
                raise FileNotFoundError(exc.errno, exc.strerror, exc.filename) from None
            if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR, errno.EXDEV) and impl.usable:
                raise
            # Missing parents, or an offending component to name: the walk creates or explains.
    return _walk(root_fd, components, create)


def _open_nofollow_walk(root_fd: int, rel: str) -> int:
    """O_PATH fd of ``rel`` below ``root_fd``, one component at a time, refusing symlinks."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise OSError(errno.EXDEV, "path leaves the root", rel)
    current = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW
            if not last:
                flags |= os.O_DIRECTORY
            try:
                nxt = os.open(part, flags, dir_fd=current)
            except OSError as exc:
                # O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR, which
                # would read as "absent": report the symlink for what it is.
                if exc.errno in (errno.ENOTDIR, errno.ELOOP) and stat.S_ISLNK(
                        os.stat(part, dir_fd=current, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, "symlink in path refused", rel) from exc
                raise
            os.close(current)
            current = nxt
        # O_PATH|O_NOFOLLOW opens a trailing symlink itself rather than failing
        if parts and stat.S_ISLNK(os.fstat(current).st_mode):
            raise OSError(errno.ELOOP, "symlink in path refused", rel)
        result, current = current, -1
        return result
    finally:
        if current >= 0:
            os.close(current)


def _open_path(root_fd: int, rel: str, use_openat2: bool) -> int:
    if use_openat2:
        try:
            return _openat2()(root_fd, rel.encode(), os.O_PATH | os.O_CLOEXEC,
                              RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        except OSError as exc:
            # ENOSYS: kernel < 5.6; EPERM: openat2 filtered by a seccomp
            # policy around us. Fall back to the strict walk.
            if exc.errno not in (errno.ENOSYS, errno.EPERM):
                raise
    return _open_nofollow_walk(root_fd, rel)


def _read_regular(path_fd: int, rel: str, limit: int) -> bytes:
    """Contents of the file ``path_fd`` (O_PATH) names, if it is a regular
    file of at most ``limit`` bytes; the type and size are checked before
    anything is opened for reading."""
    where = f"/{rel} inside the container rootfs"
    st = os.fstat(path_fd)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(f"{where} is not a regular file")
    if st.st_size > limit:
        raise UnsafePath(f"{where} is larger than {limit} bytes")
    try:
        # /proc/self/fd/N is a magic link to the inode the O_PATH fd pins;
        # O_NOFOLLOW cannot be used on it (ELOOP), the fstat below rechecks.
        fd = os.open(f"/proc/self/fd/{path_fd}",
                     os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise UnsafePath(f"cannot read {where}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as f:
        again = os.fstat(f.fileno())
        if not stat.S_ISREG(again.st_mode) or (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            raise UnsafePath(f"{where} changed while it was being opened")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafePath(f"{where} is larger than {limit} bytes")
    return data


def read_file_in_root(rootfs: str | os.PathLike, rel: str, *, limit: int,
                      use_openat2: bool = True) -> bytes | None:
    """Bytes of ``rel`` (e.g. ``"etc/passwd"``) inside ``rootfs``, or None when absent.

    ``openat2(RESOLVE_IN_ROOT)`` resolves symlinks as if ``rootfs`` were ``/``
    (what Docker's ``FollowSymlinkInScope`` does); where openat2 is missing or
    filtered, each component is opened ``O_NOFOLLOW`` relative to the previous
    one and a symlink anywhere on the path is refused. Either way the file is
    first opened ``O_PATH`` (which opens nothing: no FIFO rendezvous, no device
    driver ``open``, no fsnotify event) and only a regular file of at most
    ``limit`` bytes is then opened for reading, through ``/proc/self/fd``, as
    the same inode. A path that
    exists but is not a regular file, is larger than ``limit``, or cannot be
    resolved inside the root (symlink loop, a symlink on the O_NOFOLLOW path)
    raises :class:`UnsafePath`; it is never silently treated as absent,
    so a hostile image cannot make a lookup quietly resolve differently.
    Anything but a regular file is refused without being opened (a FIFO would
    block the engine; a device node would be opened by host root, outside the
    container's device cgroup).
    """
    try:
        root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise UnsafePath(f"open rootfs {str(rootfs)!r}: {exc.strerror}") from exc
    try:
        try:
            path_fd = _open_path(root_fd, rel, use_openat2)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise UnsafePath(f"cannot read /{rel} inside the container rootfs: "
                                  f"{exc.strerror or os.strerror(exc.errno or 0)}") from exc
        try:
            data = _read_regular(path_fd, rel, limit)
        finally:
            os.close(path_fd)
        return data
    finally:
        os.close(root_fd)
