"""ctypes wrappers over Linux's fd-based mount API (open_tree, move_mount,
mount_setattr, fsopen, fsconfig, fsmount; Linux 5.12+).

These calls name a mount by an fd on the mount object itself, never by a path,
so a mount can be built detached, given its flags, filled, and only then
attached onto a target fd resolved once. Nothing after the attach re-resolves a
path (the CVE-2021-30465 class of symlink-exchange races).

Every wrapper raises ``OSError`` with the real errno and the call's context.
Syscall numbers are x86_64's.
"""

from __future__ import annotations

import ctypes
import os

from . import syscalls as sc

__all__ = [
    "AT_FDCWD", "AT_EMPTY_PATH", "AT_RECURSIVE", "AT_SYMLINK_NOFOLLOW",
    "OPEN_TREE_CLONE", "MOVE_MOUNT_F_EMPTY_PATH", "MOVE_MOUNT_T_EMPTY_PATH",
    "MOUNT_ATTR_RDONLY", "MOUNT_ATTR_NOSUID", "MOUNT_ATTR_NODEV", "MOUNT_ATTR_NOEXEC",
    "MOUNT_ATTR__ATIME", "MOUNT_ATTR_RELATIME", "MOUNT_ATTR_NOATIME",
    "MOUNT_ATTR_STRICTATIME", "MOUNT_ATTR_NODIRATIME", "MOUNT_ATTR_NOSYMFOLLOW", "MOUNT_ATTR_IDMAP",
    "open_tree", "move_mount", "move_mount_fd", "mount_setattr", "fsopen", "fsconfig_flag",
    "fsconfig_string", "fsconfig_create", "fsmount", "attr_from_ms", "new_mount",
]

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC

MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

_FSOPEN_CLOEXEC = 0x1
_FSMOUNT_CLOEXEC = 0x1
_FSCONFIG_SET_FLAG = 0
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6

_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_FSOPEN = 430
_SYS_FSCONFIG = 431
_SYS_FSMOUNT = 432
_SYS_MOUNT_SETATTR = 442

#: MS_* flags that are per-mount attributes, and the attribute each becomes
_MS_TO_ATTR = ((sc.MS_RDONLY, MOUNT_ATTR_RDONLY), (sc.MS_NOSUID, MOUNT_ATTR_NOSUID),
               (sc.MS_NODEV, MOUNT_ATTR_NODEV), (sc.MS_NOEXEC, MOUNT_ATTR_NOEXEC),
               (sc.MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
               (sc.MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW))
#: MS_* flags that are superblock flags, as fsconfig spells them
_MS_TO_SB_FLAG = ((sc.MS_RDONLY, "ro"), (sc.MS_SYNCHRONOUS, "sync"), (sc.MS_DIRSYNC, "dirsync"),
                  (sc.MS_MANDLOCK, "mand"), (sc.MS_LAZYTIME, "lazytime"))

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _call(number: int, what: str, *args: object) -> int:
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return int(result)


def _b(value: str) -> bytes:
    return os.fsencode(value)


def open_tree(dirfd: int, path: str, flags: int) -> int:
    """An fd on the mount at ``path`` (relative to ``dirfd``); with
    OPEN_TREE_CLONE a detached copy of it (AT_RECURSIVE: with its submounts)."""
    return _call(_SYS_OPEN_TREE, f"open_tree {path!r} (fd {dirfd}, flags 0x{flags:x})",
                 ctypes.c_int(dirfd), _b(path), ctypes.c_uint(flags | OPEN_TREE_CLOEXEC))


def move_mount(from_dirfd: int, from_path: str, to_dirfd: int, to_path: str,
               flags: int) -> None:
    _call(_SYS_MOVE_MOUNT, f"move_mount {from_path!r} (fd {from_dirfd}) to {to_path!r} "
          f"(fd {to_dirfd}, flags 0x{flags:x})", ctypes.c_int(from_dirfd), _b(from_path),
          ctypes.c_int(to_dirfd), _b(to_path), ctypes.c_uint(flags))


def move_mount_fd(mount_fd: int, target_fd: int) -> None:
    """Attach the mount ``mount_fd`` names on top of whatever ``target_fd`` names."""
    move_mount(mount_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)


def mount_setattr(fd: int, attr_set: int = 0, attr_clr: int = 0, propagation: int = 0,
                  recursive: bool = False, userns_fd: int = 0) -> None:
    """Change the attributes (and propagation, an MS_SHARED-style value) of the
    mount ``fd`` is the root of; bits in neither set nor clr are kept. With
    MOUNT_ATTR_IDMAP, ``userns_fd`` names the user namespace whose maps the
    (still detached) mount applies."""
    attr = _MountAttr(attr_set, attr_clr, propagation, userns_fd)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _call(_SYS_MOUNT_SETATTR, f"mount_setattr fd {fd} (set 0x{attr_set:x}, clr 0x{attr_clr:x}, "
          f"propagation 0x{propagation:x})", ctypes.c_int(fd), b"", ctypes.c_uint(flags),
          ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))


def fsopen(fstype: str) -> int:
    return _call(_SYS_FSOPEN, f"fsopen {fstype!r}", _b(fstype), ctypes.c_uint(_FSOPEN_CLOEXEC))


def _fs_log(fsfd: int) -> str:
    """The messages the kernel queued on a filesystem context (why it failed)."""
    lines = []
    while True:
        try:
            lines.append(os.read(fsfd, 1024).decode(errors="replace").strip())
        except OSError:
            return "; ".join(lines)


def _fsconfig(fsfd: int, cmd: int, key: str | None, value: str | None, what: str) -> None:
    try:
        _call(_SYS_FSCONFIG, what, ctypes.c_int(fsfd), ctypes.c_uint(cmd),
              None if key is None else _b(key), None if value is None else _b(value),
              ctypes.c_int(0))
    except OSError as exc:
        log = _fs_log(fsfd)
        raise OSError(exc.errno, f"{exc.strerror}{' (' + log + ')' if log else ''}") from None


def fsconfig_flag(fsfd: int, key: str) -> None:
    _fsconfig(fsfd, _FSCONFIG_SET_FLAG, key, None, f"fsconfig flag {key!r}")


def fsconfig_string(fsfd: int, key: str, value: str) -> None:
    _fsconfig(fsfd, _FSCONFIG_SET_STRING, key, value, f"fsconfig {key}={value!r}")


def fsconfig_create(fsfd: int) -> None:
    _fsconfig(fsfd, _FSCONFIG_CMD_CREATE, None, None, "fsconfig create")


def fsmount(fsfd: int, attr_flags: int) -> int:
    """A detached mount of the created superblock; the fd is its root."""
    return _call(_SYS_FSMOUNT, f"fsmount (attr 0x{attr_flags:x})", ctypes.c_int(fsfd),
                 ctypes.c_uint(_FSMOUNT_CLOEXEC), ctypes.c_uint(attr_flags))


def attr_from_ms(flags: int) -> tuple[int, int]:
    """(attr_set, attr_clr) for the per-mount part of MS_* ``flags``.

    The atime mode changes only when one is asked for (MS_STRICTATIME wins over
    MS_NOATIME, which wins over MS_RELATIME), as a bind remount keeps it.
    """
    attr_set = sum(attr for ms, attr in _MS_TO_ATTR if flags & ms)
    attr_clr = 0
    if flags & (sc.MS_STRICTATIME | sc.MS_NOATIME | sc.MS_RELATIME):
        attr_clr = MOUNT_ATTR__ATIME
        if flags & sc.MS_STRICTATIME:
            attr_set |= MOUNT_ATTR_STRICTATIME
        elif flags & sc.MS_NOATIME:
            attr_set |= MOUNT_ATTR_NOATIME
    return attr_set, attr_clr


def new_mount(fstype: str, source: str | None, flags: int, data: str | None) -> int:
    """A new, still detached mount of ``fstype``: mount(2)'s ``source``,
    ``flags`` and comma-separated ``data``, split into superblock options and
    mount attributes as mount(2) splits them. Returns the mount fd."""
    fsfd = fsopen(fstype)
    try:
        if source:
            fsconfig_string(fsfd, "source", source)
        for ms, name in _MS_TO_SB_FLAG:
            if flags & ms:
                fsconfig_flag(fsfd, name)
        for option in (data or "").split(","):
            key, sep, value = option.partition("=")
            if sep:
                fsconfig_string(fsfd, key, value)
            elif key:
                fsconfig_flag(fsfd, key)
        fsconfig_create(fsfd)
        attr_set, _ = attr_from_ms(flags)
        return fsmount(fsfd, attr_set)
    finally:
        os.close(fsfd)
