"""Resolve a Docker ``--user`` string against the image's /etc/passwd and /etc/group.

Semantics are those of ``moby/sys/user.GetExecUserPath`` with Docker's
defaults (uid 0, gid 0, HOME "/"):

* ``""``: root; gid and home from root's passwd entry when there is one.
* ``NAME`` or ``UID``: the first passwd entry matching (a number is always a
  uid); a number with no entry is fine and keeps gid 0; an unknown name is an
  error. Supplementary groups are every group in /etc/group whose member list
  names the matched user (none when the user has no passwd entry).
* ``USER:GROUP``: as above, then the group (name, or number: always a gid)
  replaces the gid and there are no supplementary groups; an unknown group
  name is an error, an unknown number is fine.

:func:`process_user` then builds ``process.user`` as moby's ``getUser``
(``daemon/oci_linux.go``) does since Docker 20.10.18 and 23.0 (moby 25345f2c04,
"AdditionalGids must include effective group ID", GHSA-rc4r-wh2q-q6c4): the
primary gid is always the first additional gid, followed by the supplementary
groups above. So ``-u 1234:5678`` gives ``groups=5678``, a passwd user its own
gid then its /etc/group memberships, and root ``groups=0`` plus root's
memberships. Without it the primary group drops out of permission checks
once the effective gid changes (a setgid program), which defeats a file
mode that denies that group.

The files are read from inside the container's root filesystem without ever
leaving it: ``openat2(RESOLVE_IN_ROOT)`` resolves symlinks as if the rootfs
were ``/`` (what Docker's ``FollowSymlinkInScope`` does); where openat2 is
unavailable each component is opened with ``O_NOFOLLOW`` relative to the
previous directory, and a symlink anywhere on the path is refused. Either
way the file is first opened ``O_PATH`` (which opens nothing: no FIFO
rendezvous, no device driver ``open``, no fsnotify event) and only a regular
file of bounded size is then opened for reading, through ``/proc/self/fd``,
as the same inode. Missing files mean numeric ids only. Every resulting id
must lie in 0..2**31-1 (larger values wrap to root in 32-bit consumers:
CVE-2024-40635).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import InvalidArgument

__all__ = ["ResolvedUser", "resolve_user", "process_user", "read_rootfs_file", "MAX_ID", "MAX_DB_BYTES"]

#: largest uid/gid accepted (moby/sys/user maxID)
MAX_ID = 2**31 - 1
#: passwd/group files larger than this are refused rather than read whole
MAX_DB_BYTES = 4 * 1024 * 1024

_SYS_OPENAT2 = 437  # the same number on every architecture
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10

_ATOI = re.compile(r"[+-]?\d+")  # what Go's strconv.Atoi accepts


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


@functools.cache
def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    return lib


def _openat2_in_root(root_fd: int, rel: str) -> int:
    """O_PATH fd of ``rel`` resolved as if ``root_fd`` were ``/``."""
    how = _OpenHow(os.O_PATH | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    fd = _libc().syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(root_fd), rel.encode(),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), rel)
    return fd


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
            return _openat2_in_root(root_fd, rel)
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
        raise InvalidArgument(f"{where} is not a regular file")
    if st.st_size > limit:
        raise InvalidArgument(f"{where} is larger than {limit} bytes")
    try:
        # /proc/self/fd/N is a magic link to the inode the O_PATH fd pins;
        # O_NOFOLLOW cannot be used on it (ELOOP), the fstat below rechecks.
        fd = os.open(f"/proc/self/fd/{path_fd}",
                     os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise InvalidArgument(f"cannot read {where}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as f:
        again = os.fstat(f.fileno())
        if not stat.S_ISREG(again.st_mode) or (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            raise InvalidArgument(f"{where} changed while it was being opened")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidArgument(f"{where} is larger than {limit} bytes")
    return data


def read_rootfs_file(rootfs: Path | str, rel: str, *, use_openat2: bool = True,
                     limit: int = MAX_DB_BYTES) -> str | None:
    """Text of ``rel`` (e.g. ``"etc/passwd"``) inside ``rootfs``, or None when absent.

    Resolution never leaves ``rootfs`` (see the module docstring). A path that
    exists but is not a regular file, is larger than ``limit``, or cannot be
    resolved inside the root (symlink loop, a symlink on the O_NOFOLLOW path)
    raises :class:`InvalidArgument`; it is never silently treated as absent,
    so a hostile image cannot make a named user quietly resolve differently.
    Anything but a regular file is refused without being opened (a FIFO would
    block the engine; a device node would be opened by host root, outside the
    container's device cgroup).
    """
    try:
        root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidArgument(f"open rootfs {str(rootfs)!r}: {exc.strerror}") from exc
    try:
        try:
            path_fd = _open_path(root_fd, rel, use_openat2)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise InvalidArgument(f"cannot read /{rel} inside the container rootfs: "
                                  f"{exc.strerror or os.strerror(exc.errno or 0)}") from exc
        try:
            data = _read_regular(path_fd, rel, limit)
        finally:
            os.close(path_fd)
        return data.decode("utf-8", errors="surrogateescape")
    finally:
        os.close(root_fd)


@dataclass(frozen=True)
class _Entry:
    name: str
    uid: int | None
    gid: int | None
    home: str


@dataclass(frozen=True)
class _Group:
    name: str
    gid: int | None
    members: tuple[str, ...]


def _int_field(text: str) -> int | None:
    # moby/sys/user turns a malformed number into 0 (root); we keep it as
    # "unknown" and refuse the entry if it is ever selected.
    return int(text) if _ATOI.fullmatch(text) else None


def _fields(line: str, count: int) -> list[str]:
    parts = line.split(":")
    return (parts + [""] * count)[:count]


def _parse_passwd(text: str) -> list[_Entry]:
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _pw, uid, gid, _gecos, home, _shell = _fields(line, 7)
        out.append(_Entry(name, _int_field(uid), _int_field(gid), home))
    return out


def _parse_group(text: str) -> list[_Group]:
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _pw, gid, members = _fields(line, 4)
        out.append(_Group(name, _int_field(gid), tuple(members.split(",")) if members else ()))
    return out


def _check_id(value: int | None, what: str) -> int:
    if value is None:
        raise InvalidArgument(f"invalid {what} in the container's user database")
    if not 0 <= value <= MAX_ID:
        raise InvalidArgument(f"{what} {value} out of range: uids and gids must be in range 0-{MAX_ID}")
    return value


def resolve_user(rootfs: Path | str, user: str, *, use_openat2: bool = True) -> ResolvedUser:
    """Resolve ``user`` (Docker ``--user`` / image ``User``) inside ``rootfs``."""
    if "\x00" in user:
        raise InvalidArgument(f"invalid user {user!r}")
    user_arg, _, rest = user.partition(":")
    group_arg = rest.split(":", 1)[0]
    uid_num = int(user_arg) if _ATOI.fullmatch(user_arg) else None
    gid_num = int(group_arg) if _ATOI.fullmatch(group_arg) else None

    passwd_text = read_rootfs_file(rootfs, "etc/passwd", use_openat2=use_openat2)
    group_text = read_rootfs_file(rootfs, "etc/group", use_openat2=use_openat2)
    passwd = _parse_passwd(passwd_text) if passwd_text is not None else []
    groups = _parse_group(group_text) if group_text is not None else []

    uid, gid, home = 0, 0, "/"
    matched_name = ""
    if user_arg == "":
        entry = next((e for e in passwd if e.uid == 0), None)
    elif uid_num is not None:
        entry = next((e for e in passwd if e.uid == uid_num), None)
    else:
        entry = next((e for e in passwd if e.name == user_arg), None)
    if entry is not None:
        matched_name = entry.name
        uid = _check_id(entry.uid, f"uid of user {entry.name!r}")
        gid = _check_id(entry.gid, f"gid of user {entry.name!r}")
        home = entry.home or "/"
    elif user_arg != "":
        if uid_num is None:
            raise InvalidArgument(f"unable to find user {user_arg}: no matching entries in passwd file")
        uid = _check_id(uid_num, "uid")

    additional: list[int] = []
    if group_arg != "":
        if gid_num is not None:
            group = next((g for g in groups if g.gid == gid_num), None)
        else:
            group = next((g for g in groups if g.name == group_arg), None)
        if group is not None:
            gid = _check_id(group.gid, f"gid of group {group.name!r}")
        elif gid_num is None:
            raise InvalidArgument(f"unable to find group {group_arg}: no matching entries in group file")
        else:
            gid = _check_id(gid_num, "gid")
    elif matched_name:
        additional = [_check_id(g.gid, f"gid of group {g.name!r}") for g in groups if matched_name in g.members]
    return ResolvedUser(uid=uid, gid=gid, additional_gids=additional, home=home)


def process_user(user: ResolvedUser) -> dict:
    """The OCI ``process.user`` for ``user``, as moby's ``getUser``: the
    primary gid first among ``additionalGids``, then the supplementary groups
    (kept as they are, duplicates included, as Docker does)."""
    return {"uid": user.uid, "gid": user.gid, "additionalGids": [user.gid, *user.additional_gids]}
