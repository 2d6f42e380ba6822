"""Thin ctypes wrappers over the Linux syscalls Python 3.11 does not expose.

Every wrapper raises ``OSError`` with the real errno and the call's context, so
callers translate it into a domain error at the place they know what failed.
Only x86_64 syscall numbers are used where libc has no wrapper (pivot_root).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

__all__ = [
    "CLONE_NEWNS", "CLONE_NEWCGROUP", "CLONE_NEWUTS", "CLONE_NEWIPC",
    "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET",
    "MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_SYNCHRONOUS",
    "MS_REMOUNT", "MS_MANDLOCK", "MS_DIRSYNC", "MS_NOSYMFOLLOW", "MS_NOATIME",
    "MS_NODIRATIME", "MS_BIND", "MS_MOVE", "MS_REC", "MS_SILENT",
    "MS_UNBINDABLE", "MS_PRIVATE", "MS_SLAVE", "MS_SHARED", "MS_RELATIME",
    "MS_STRICTATIME", "MS_LAZYTIME", "MNT_DETACH",
    "PR_SET_DUMPABLE", "PR_SET_KEEPCAPS", "PR_SET_NO_NEW_PRIVS",
    "PR_CAPBSET_DROP", "PR_CAP_AMBIENT", "PR_CAP_AMBIENT_RAISE",
    "PR_CAP_AMBIENT_CLEAR_ALL", "PR_SET_CHILD_SUBREAPER", "PR_SET_SECCOMP",
    "PR_SET_PDEATHSIG",
    "unshare", "setns", "mount", "umount2", "pivot_root", "prctl", "prctl_ptr",
    "sethostname", "setdomainname", "capget", "capset", "set_loopback_up",
    "process_start_time",
    "CLOSE_RANGE_ALL", "close_range", "close_fds_from", "pidfd_open",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_CAPGET = 125
_SYS_CAPSET = 126
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong, ctypes.c_ulong]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare(0x{flags:x})")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), f"setns(fd {fd}, 0x{nstype:x})")


def mount(source: str | None, target: str, fstype: str | None,
          flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount {source!r} on {target!r} (type {fstype!r}, flags 0x{flags:x}, data {data!r})")


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount2 {target!r}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(ctypes.c_long(_SYS_PIVOT_ROOT), _b(new_root), _b(put_old)),
           f"pivot_root {new_root!r} {put_old!r}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def prctl_ptr(option: int, arg2: int, pointer: ctypes.c_void_p | int) -> int:
    """prctl whose third argument is a pointer (PR_SET_SECCOMP)."""
    return _check(_libc.prctl(option, arg2, pointer, 0, 0), f"prctl({option})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname {name!r}")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)), f"setdomainname {name!r}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capget() -> tuple[int, int, int]:
    """Return this thread's (effective, permitted, inheritable) 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.syscall(ctypes.c_long(_SYS_CAPGET), ctypes.byref(header), data), "capget")
    return tuple(  # type: ignore[return-value]
        getattr(data[0], f) | (getattr(data[1], f) << 32)
        for f in ("effective", "permitted", "inheritable"))


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.syscall(ctypes.c_long(_SYS_CAPSET), ctypes.byref(header), data),
           f"capset(eff 0x{effective:x}, prm 0x{permitted:x}, inh 0x{inheritable:x})")


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def set_loopback_up() -> None:
    """Bring ``lo`` up in the current network namespace, as runc does for a new netns."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), None if gone.

    Stored next to a pid so a recycled pid is never mistaken for the container.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    if fields[0] == b"Z" or fields[0] == b"X":
        return None
    return int(fields[19])


_SYS_PIDFD_OPEN = 434  # x86_64
_SYS_CLOSE_RANGE = 436
#: close_range's ``last`` meaning "every fd above ``first``" (~0U)
CLOSE_RANGE_ALL = 0xFFFFFFFF
#: brute-force ceiling when neither close_range nor /proc/self/fd is usable:
#: the kernel's default fs.nr_open, the largest fd table a process can have
_FD_CEILING = 1 << 20


def close_range(first: int, last: int = CLOSE_RANGE_ALL, flags: int = 0) -> None:
    """close_range(2): close fds ``first``..``last`` (default: all above ``first``)."""
    _check(_libc.syscall(ctypes.c_long(_SYS_CLOSE_RANGE), ctypes.c_uint(first),
                         ctypes.c_uint(last), ctypes.c_uint(flags)),
           f"close_range({first}, {last}, {flags})")


def close_fds_from(first: int) -> None:
    """Close every fd >= ``first``.

    The bound is never taken from RLIMIT_NOFILE (``SC_OPEN_MAX``): once a
    container's lower limit is applied, an fd numbered above it would be
    missed and leak into the container. close_range(first, ~0U); where that
    fails (ENOSYS on kernels < 5.9, or a seccomp profile already loaded that
    denies it, with whatever errno) the open fds are listed from
    /proc/self/fd; without /proc, every number up to fs.nr_open's default.
    """
    try:
        close_range(first)
        return
    except OSError:
        pass
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        os.closerange(first, max(_FD_CEILING, first))
        return
    for name in names:
        fd = int(name)
        if fd >= first:
            try:
                os.close(fd)
            except OSError:  # EBADF for listdir's own, already closed, directory fd;
                pass         # Linux frees the number even when close reports an error


def pidfd_open(pid: int) -> int:
    """pidfd_open(2): a close-on-exec fd that refers to process ``pid`` for as
    long as it is open, even after the pid is reused."""
    return _check(_libc.syscall(ctypes.c_long(_SYS_PIDFD_OPEN), ctypes.c_int(pid),
                                ctypes.c_uint(0)), f"pidfd_open({pid})")
