"""Shared and slave bind propagation, as Docker checks it: a bind asking for
``[r]shared`` needs its source on a shared mount, ``[r]slave`` on a shared or
slave one (moby ``ensureShared``/``ensureSharedOrSlave``), and the container's
root then gets ``shared`` or ``rslave`` propagation (``WithMounts``)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from client.errors import InvalidArgument

__all__ = ["source_mount", "check_bind_propagation", "rootfs_propagation"]


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def source_mount(path: str, mountinfo: str | None = None) -> tuple[str, list[str]]:
    """(mount point, optional fields) of the mount ``path`` lies on: the
    deepest mount point that is ``path`` or one of its parents, the last one
    mounted there winning (moby ``getSourceMount``)."""
    real = os.path.realpath(path)
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    best, best_opts = "", []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 7:
            continue
        point = _unescape(fields[4])
        optional = fields[6:fields.index("-")] if "-" in fields else []
        inside = real == point or point == "/" or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_opts = point, optional
    return best, best_opts


def check_bind_propagation(source: str, propagation: str, mountinfo: str | None = None) -> None:
    """Refuse, with Docker's message, a shared or slave bind whose source is
    not on a mount that can give it that propagation."""
    if propagation not in ("shared", "rshared", "slave", "rslave"):
        return
    point, optional = source_mount(source, mountinfo)
    shared = any(o.startswith("shared:") for o in optional)
    slave = any(o.startswith("master:") for o in optional)
    if propagation.endswith("shared") and not shared:
        raise InvalidArgument(f"path {source} is mounted on {point} but it is not a shared mount")
    if propagation.endswith("slave") and not (shared or slave):
        raise InvalidArgument(f"path {source} is mounted on {point} but it is not a shared or slave mount")


def rootfs_propagation(propagations: Iterable[str]) -> str:
    """``linux.rootfsPropagation`` for binds of these propagations: ``shared``
    if any is shared, else ``rslave`` if any is slave, else "" (the runtime's
    default), as moby's ``WithMounts`` sets it."""
    props = set(propagations)
    if props & {"shared", "rshared"}:
        return "shared"
    if props & {"slave", "rslave"}:
        return "rslave"
    return ""
