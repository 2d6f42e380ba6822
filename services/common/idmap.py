"""The id ranges of dockerd's ``--userns-remap``, resolved on this host.

``resolve`` turns the configured value into an :class:`IdMapping`:

- ``default``: the ``barque`` user's entries in /etc/subuid and /etc/subgid;
  when either is missing, :func:`ensure_default_user` makes the user (a
  system account without a shell) and gives it the first free 65536 ids at
  or above 100000, as dockerd does for ``dockremap``;
- ``USER[:GROUP]``: that user's (and group's, else the user's) entries,
  looked up by name and by numeric id as dockerd does (``1000`` matches a
  line of ``1000`` or of the name uid 1000 has);
- ``HOSTUID:HOSTGID:SIZE``: that range, without the files (tests, and hosts
  without them).

Several lines for one name are concatenated in file order, container ids
counting on from the last, as dockerd's ``idtools`` does. Host id 0 may
never be mapped: that would make the container's root the host's.
"""

from __future__ import annotations

import grp
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from client.errors import FailedPrecondition, InvalidArgument

__all__ = ["IdMapping", "resolve", "read_ranges", "ensure_default_user", "DEFAULT_USER",
           "DEFAULT_SIZE", "DEFAULT_FIRST"]

DEFAULT_USER = "barque"
DEFAULT_SIZE = 65536
DEFAULT_FIRST = 100000

Ranges = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class IdMapping:
    """(containerID, hostID, size) ranges for uids and gids."""

    uids: Ranges
    gids: Ranges

    @property
    def root(self) -> tuple[int, int]:
        """The host (uid, gid) of the container's root (ranges start at container id 0)."""
        return self.uids[0][1], self.gids[0][1]

    def host_uid(self, uid: int) -> int | None:
        return _to_host(self.uids, uid)

    def host_gid(self, gid: int) -> int | None:
        return _to_host(self.gids, gid)

    @property
    def key(self) -> str:
        """``<root uid>.<root gid>``, as dockerd names its per-range root."""
        uid, gid = self.root
        return f"{uid}.{gid}"

    def spec(self) -> tuple[list[dict], list[dict]]:
        """runtime-spec ``linux.uidMappings`` and ``gidMappings``."""
        def entries(ranges: Ranges) -> list[dict]:
            return [{"containerID": c, "hostID": h, "size": s} for c, h, s in ranges]
        return entries(self.uids), entries(self.gids)


def _to_host(ranges: Ranges, inside: int) -> int | None:
    for container, host, size in ranges:
        if container <= inside < container + size:
            return host + inside - container
    return None


def read_ranges(path: str | Path, names: set[str]) -> list[tuple[int, int]]:
    """(first host id, count) of every line of a subuid/subgid file naming one of ``names``."""
    out = []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FailedPrecondition(f"read {path}: {exc.strerror}") from exc
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) != 3 or not fields[1].isdigit() or not fields[2].isdigit():
            raise FailedPrecondition(f"{path} line {number}: expected NAME:FIRST:COUNT, got {line!r}")
        if fields[0] in names and int(fields[2]) > 0:
            out.append((int(fields[1]), int(fields[2])))
    return out


def _concatenate(ranges: list[tuple[int, int]]) -> Ranges:
    out, inside = [], 0
    for first, count in ranges:
        out.append((inside, first, count))
        inside += count
    return tuple(out)


def _user_names(user: str) -> set[str]:
    """The spellings a subuid line may use for ``user``: its name and its uid."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError as exc:
        raise InvalidArgument(f"userns-remap: no such user {user!r}") from exc
    return {entry.pw_name, str(entry.pw_uid)}


def _group_names(group: str) -> set[str]:
    try:
        entry = grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)
    except KeyError as exc:
        raise InvalidArgument(f"userns-remap: no such group {group!r}") from exc
    return {entry.gr_name, str(entry.gr_gid)}


def _checked(mapping: IdMapping, source: str) -> IdMapping:
    for kind, ranges in (("uid", mapping.uids), ("gid", mapping.gids)):
        if not ranges:
            raise FailedPrecondition(f"userns-remap {source!r}: no subordinate {kind} range "
                                     f"(see /etc/sub{kind})")
        if any(host <= 0 < host + size or host + size > 2**32 - 1 for _, host, size in ranges):
            raise InvalidArgument(f"userns-remap {source!r}: a {kind} range includes host id 0 "
                                  "or passes 4294967294")
    return mapping


def resolve(remap: str, subuid: str = "/etc/subuid", subgid: str = "/etc/subgid",
            create_default: bool = True) -> IdMapping | None:
    """The mapping ``remap`` (the config's value) names; None for ""."""
    if not remap:
        return None
    parts = remap.split(":")
    if len(parts) == 3:
        uid, gid, size = (int(p) for p in parts)
        return _checked(IdMapping(((0, uid, size),), ((0, gid, size),)), remap)
    if remap == "default":
        if create_default:
            ensure_default_user(subuid, subgid)
        parts = [DEFAULT_USER]
    user = parts[0]
    group = parts[1] if len(parts) == 2 else user
    uid_names = _user_names(user)
    gid_names = _group_names(group) if len(parts) == 2 else uid_names
    return _checked(IdMapping(_concatenate(read_ranges(subuid, uid_names)),
                              _concatenate(read_ranges(subgid, gid_names))), remap)


def _first_free(paths: tuple[str, str], size: int = DEFAULT_SIZE) -> int:
    """The lowest id >= 100000 after every range in both files (dockerd's choice)."""
    first = DEFAULT_FIRST
    for path in paths:
        try:
            lines = Path(path).read_text().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.strip().split(":")
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                first = max(first, int(fields[1]) + int(fields[2]))
    return first


def ensure_default_user(subuid: str = "/etc/subuid", subgid: str = "/etc/subgid") -> None:
    """The ``barque`` system user with a subuid and a subgid range, made with
    useradd/usermod where missing (dockerd's ``dockremap`` creation)."""
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        _run(["useradd", "--system", "--shell", "/bin/false", "--no-create-home", DEFAULT_USER])
    names = _user_names(DEFAULT_USER)
    have_uids, have_gids = read_ranges(subuid, names), read_ranges(subgid, names)
    if have_uids and have_gids:
        return
    first = _first_free((subuid, subgid))
    span = f"{first}-{first + DEFAULT_SIZE - 1}"
    args = ["usermod"]
    if not have_uids:
        args += ["--add-subuids", span]
    if not have_gids:
        args += ["--add-subgids", span]
    _run([*args, DEFAULT_USER])


def _run(argv: list[str]) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise FailedPrecondition(f"userns-remap default: {argv[0]}: {exc.strerror}") from exc
    if proc.returncode != 0:
        raise FailedPrecondition(f"userns-remap default: {' '.join(argv)}: "
                                 f"{proc.stderr.strip() or proc.returncode}")
