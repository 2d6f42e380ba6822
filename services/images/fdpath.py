"""Open directories strictly beneath a root directory fd, never following a symlink.

Contract of :func:`open_dir_beneath`: every component is resolved relative to
``root_fd``; ``..``, symlinks (absolute or relative), magic links and mount
crossings are refused by the kernel (``openat2`` with ``RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV``) or, where
openat2 is missing or filtered, by a walk that opens one component at a time
with ``O_NOFOLLOW|O_DIRECTORY`` relative to the previous component's fd. There
is no realpath-and-prefix check anywhere: the fds themselves are the proof of
containment. Returned fds are ``O_PATH`` directory fds the caller must close;
they serve as ``dir_fd=`` for the ``*at`` calls of the extractor.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import stat

__all__ = ["open_dir_beneath", "NotBeneath", "openat2_available"]

_SYS_OPENAT2 = 437  # the same number on every Linux architecture (added after the syscall table unification)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class NotBeneath(Exception):
    """A path component is a symlink, not a directory, or would leave the root."""


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

    def __call__(self, dir_fd: int, path: bytes, flags: int) -> int:
        how = _OpenHow(flags, 0, _RESOLVE)
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
