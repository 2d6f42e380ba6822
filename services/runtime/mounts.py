"""Host-side filesystem work of the runtime: the container's overlay root and
its per-container /etc files. mount(2) and umount2(2) through ctypes; no fork."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from services.common.errors import FailedPrecondition, Internal

__all__ = ["mount_overlay", "unmount", "is_mounted", "write_etc_files"]

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


def _host_resolv_conf() -> str:
    """The host's resolv.conf without loopback resolvers, as Docker writes it."""
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except OSError:
        lines = []
    kept = [ln for ln in lines if not (ln.startswith("nameserver") and (" 127." in ln or " ::1" in ln))]
    return "\n".join(kept).strip() + "\n" if kept else ""


def write_etc_files(directory: Path, hostname: str) -> dict[str, str]:
    """Write hostname, hosts and resolv.conf; return container path -> host file."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "/etc/hostname": f"{hostname}\n",
        "/etc/hosts": (
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        ),
        "/etc/resolv.conf": _host_resolv_conf(),
    }
    out = {}
    for path, text in files.items():
        host = directory / path.rsplit("/", 1)[1]
        host.write_text(text)
        os.chmod(host, 0o644)
        out[path] = str(host)
    return out
