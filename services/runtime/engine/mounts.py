"""The container's overlay root on the host: mount(2) and umount2(2) through
ctypes, in the service's own mount namespace; no fork."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from client.errors import FailedPrecondition, Internal

__all__ = ["mount_overlay", "unmount", "is_mounted"]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MNT_DETACH = 2


def mount_overlay(target: Path, lowerdirs: list[str], upperdir: str, workdir: str) -> None:
    options = f"lowerdir={':'.join(lowerdirs)},upperdir={upperdir},workdir={workdir}"
    if len(options) >= 4096:
        raise FailedPrecondition(f"overlay options for {target} exceed a page ({len(options)} bytes)")
    target.mkdir(parents=True, exist_ok=True)
    if _libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, options.encode()) != 0:
        err = ctypes.get_errno()
        raise Internal(f"mount overlay on {target}: {os.strerror(err)}")


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
