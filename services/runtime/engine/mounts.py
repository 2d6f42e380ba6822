"""The container's overlay root on the host: mount(2) and umount2(2) through
ctypes, in the service's own mount namespace; no fork."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from client.errors import FailedPrecondition, Internal

__all__ = ["mount_overlay", "mount_fs", "unmount", "is_mounted", "MS_RDONLY", "MS_BIND", "MS_REC", "MS_REMOUNT"]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MNT_DETACH = 2
MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_REC = 0x4000
MS_REMOUNT = 0x20


def mount_overlay(target: Path, lowerdirs: list[str], upperdir: str, workdir: str) -> None:
    options = f"lowerdir={':'.join(lowerdirs)},upperdir={upperdir},workdir={workdir}"
    if len(options) >= 4096:
        raise FailedPrecondition(f"overlay options for {target} exceed a page ({len(options)} bytes)")
    target.mkdir(parents=True, exist_ok=True)
    if _libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, options.encode()) != 0:
        err = ctypes.get_errno()
        raise Internal(f"mount overlay on {target}: {os.strerror(err)}")


def mount_fs(source: str, target: Path, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2) on the engine's own ``target`` (a volume's data dir); a
    read-only bind is made as mount(8) makes it: bind, then remount."""
    def call(src: str | None, fl: int, fs: str | None, dat: str | None) -> None:
        if _libc.mount(None if src is None else os.fsencode(src), os.fsencode(target),
                       None if fs is None else fs.encode(), fl, None if dat is None else dat.encode()) != 0:
            err = ctypes.get_errno()
            raise FailedPrecondition(f"mount {source!r} on {target}: {os.strerror(err)}")

    call(source, flags, fstype, data or None)
    if flags & MS_BIND and flags & MS_RDONLY:
        try:
            call(None, MS_BIND | MS_REMOUNT | MS_RDONLY, None, None)
        except BaseException:
            unmount(target)
            raise


def is_mounted(target: Path) -> bool:
    wanted = os.fsencode(os.path.realpath(target))
    with open("/proc/self/mountinfo", "rb") as f:
        return any(line.split()[4] == wanted for line in f)


def unmount(target: Path) -> None:
    """Unmount ``target`` if mounted (lazily when busy)."""
    while is_mounted(target):
        if _libc.umount2(os.fsencode(target), 0) == 0:
            continue
        err = ctypes.get_errno()
        if err == errno.EBUSY:
            if _libc.umount2(os.fsencode(target), MNT_DETACH) == 0:
                continue
            err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        raise Internal(f"unmount {target}: {os.strerror(err)}")
