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
leaving it, by :func:`services.common.safetar.beneath.read_file_in_root`
(``openat2(RESOLVE_IN_ROOT)``; an ``O_PATH`` open first, so a FIFO or device
node planted there is never opened). Missing files mean numeric ids only. Every resulting id
must lie in 0..2**31-1 (larger values wrap to root in 32-bit consumers:
CVE-2024-40635).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from client.errors import InvalidArgument
from services.common.safetar.beneath import read_file_in_root

__all__ = ["ResolvedUser", "resolve_user", "process_user", "read_rootfs_file", "MAX_ID", "MAX_DB_BYTES"]

#: largest uid/gid accepted (moby/sys/user maxID)
MAX_ID = 2**31 - 1
#: passwd/group files larger than this are refused rather than read whole
MAX_DB_BYTES = 4 * 1024 * 1024

_ATOI = re.compile(r"[+-]?\d+")  # what Go's strconv.Atoi accepts


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def read_rootfs_file(rootfs: Path | str, rel: str, *, use_openat2: bool = True,
                     limit: int = MAX_DB_BYTES) -> str | None:
    """Text of ``rel`` (``"etc/passwd"``) inside ``rootfs``, or None when absent;
    see :func:`~services.common.safetar.beneath.read_file_in_root`."""
    data = read_file_in_root(rootfs, rel, limit=limit, use_openat2=use_openat2)
    return None if data is None else data.decode("utf-8", errors="surrogateescape")


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


def _records(text: str, count: int) -> Iterator[list[str]]:
    """The ``count`` colon-separated fields of each non-blank line of a
    passwd or group file; missing fields are empty, extra ones dropped."""
    for raw in text.splitlines():
        line = raw.strip()
        if line:
            yield (line.split(":") + [""] * count)[:count]


def _parse_passwd(text: str) -> list[_Entry]:
    return [_Entry(name, _int_field(uid), _int_field(gid), home)
            for name, _pw, uid, gid, _gecos, home, _shell in _records(text, 7)]


def _parse_group(text: str) -> list[_Group]:
    return [_Group(name, _int_field(gid), tuple(members.split(",")) if members else ())
            for name, _pw, gid, members in _records(text, 4)]


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
