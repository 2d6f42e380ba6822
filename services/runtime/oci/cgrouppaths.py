"""Where ``linux.cgroupsPath`` puts a container's cgroup, as runc 1.1's
cgroupfs drivers place it (libcontainer/cgroups/fs/paths.go,
fs2/defaultpath.go, specconv's empty case).

Contract:

- the path is cleaned as runc's ``utils.CleanPath`` does: ``..`` can never
  climb above a hierarchy's root (``/a/../../b`` is ``/b``, ``../x`` is ``x``);
- an absolute path is taken from each hierarchy's mount point, anywhere in it;
- a relative path is joined to the cgroup of this process (barque-oci's own):
  on v1 per hierarchy, from its line of ``/proc/self/cgroup``; on v2 to the
  *parent* of the unified line's cgroup (runc: the process's own cgroup has
  tasks in it, so controllers could not be enabled for a child of it);
- an empty path is the relative path ``<id>``, as runc;
- the systemd form ``slice:prefix:name`` (and ``--systemd-cgroup``) needs the
  systemd cgroup driver, which needs systemd as PID 1: :func:`refuse_systemd`
  says which of the two is missing. barque's engine always passes
  ``/barque/<id>``.

Also the hierarchies mounted under /sys/fs/cgroup (:func:`v1_hierarchies`):
the only places cgroup directories are ever made. Everything here is pure but
:func:`own_cgroups`, :func:`pid1_name` and :func:`v1_hierarchies` without
its argument, which read /proc.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from client.errors import FailedPrecondition

__all__ = ["CGROUP_ROOT", "Hierarchy", "v1_hierarchies", "clean_path", "inner_path",
           "own_cgroups", "parse_proc_cgroup", "v1_dir", "v2_rel", "is_systemd_form", "pid1_name",
           "refuse_systemd", "SystemdUnavailable"]

CGROUP_ROOT = "/sys/fs/cgroup"

#: cgroup v1 super options that are not subsystems
_V1_MOUNT_OPTIONS = frozenset(("rw", "ro", "xattr", "noprefix", "clone_children",
                               "cpuset_v2_mode", "favordynmods"))


@dataclass(frozen=True)
class Hierarchy:
    mountpoint: str
    subsystems: tuple[str, ...]  # ("cpu",), ("name=systemd",), () for hybrid cgroup2

    @property
    def name(self) -> str:
        return os.path.basename(self.mountpoint)


def v1_hierarchies(mountinfo: str | None = None) -> list[Hierarchy]:
    """v1 (and hybrid cgroup2) hierarchies mounted under /sys/fs/cgroup."""
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    found: dict[str, Hierarchy] = {}
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fields, tail = pre.split(), post.split()
        if len(fields) < 5 or len(tail) < 3 or fields[3] != "/":
            continue
        mountpoint, fstype = fields[4], tail[0]
        if not mountpoint.startswith(CGROUP_ROOT + "/"):
            continue
        if fstype == "cgroup":
            subs = tuple(o for o in tail[2].split(",") if o not in _V1_MOUNT_OPTIONS
                         and ("=" not in o or o.startswith("name=")))
            found[mountpoint] = Hierarchy(mountpoint, subs)
        elif fstype == "cgroup2":
            found[mountpoint] = Hierarchy(mountpoint, ())
    return list(found.values())



class SystemdUnavailable(FailedPrecondition):
    """A systemd cgroup (``--systemd-cgroup``, ``slice:prefix:name``) was asked for."""


def clean_path(path: str) -> str:
    """runc's ``CleanPath``: ``""`` stays empty, an absolute path is cleaned,
    a relative one is cleaned as if rooted (so ``..`` cannot escape) and
    stays relative."""
    if not path:
        return ""
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if not path.startswith("/"):
        path = posixpath.relpath(posixpath.normpath("/" + path), "/")
    return posixpath.normpath(path)


def inner_path(cgroups_path: str | None, container_id: str) -> str:
    """The cleaned path: absolute, or relative to the process's own cgroup.
    Empty means the relative ``<id>`` (runc's ``c.Name``)."""
    inner = clean_path(cgroups_path or "")
    if inner in ("", "."):
        return clean_path(container_id)
    return inner


def parse_proc_cgroup(text: str) -> dict[tuple[str, ...], str]:
    """``/proc/<pid>/cgroup`` as {sorted subsystems: path}; the unified
    (``0::``) line is the key ``()``, a named hierarchy ``("name=systemd",)``."""
    found: dict[tuple[str, ...], str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, subs, path = parts
        found[tuple(sorted(s for s in subs.split(",") if s))] = path
    return found


def own_cgroups() -> dict[tuple[str, ...], str]:
    with open("/proc/self/cgroup") as f:
        return parse_proc_cgroup(f.read())


def v1_dir(mountpoint: str, subsystems: tuple[str, ...], inner: str,
           own: dict[tuple[str, ...], str]) -> str:
    """The container's directory in one v1 (or hybrid cgroup2, subsystems
    ``()``) hierarchy mounted at ``mountpoint``."""
    if inner.startswith("/"):
        return posixpath.join(mountpoint, inner.lstrip("/"))
    parent = own.get(tuple(sorted(subsystems)))
    if parent is None:
        raise FailedPrecondition(
            f"this process's cgroup in {mountpoint} ({','.join(subsystems) or 'cgroup2'}) "
            f"is not in /proc/self/cgroup: cannot place the relative cgroupsPath {inner!r}")
    return posixpath.join(mountpoint, parent.lstrip("/"), inner)


def v2_rel(inner: str, own: dict[tuple[str, ...], str]) -> str:
    """The container's cgroup relative to the unified hierarchy's root."""
    if inner.startswith("/"):
        return inner.lstrip("/")
    parent = own.get(())
    if parent is None:
        raise FailedPrecondition("this process has no cgroup v2 (0::) line in /proc/self/cgroup: "
                                 f"cannot place the relative cgroupsPath {inner!r}")
    return posixpath.join(posixpath.dirname(parent), inner).lstrip("/")


def is_systemd_form(cgroups_path: str | None) -> bool:
    """``slice:prefix:name`` (``system.slice:docker:1234``): three
    colon-separated parts and no ``/``."""
    return bool(cgroups_path) and "/" not in str(cgroups_path) and str(cgroups_path).count(":") == 2


def pid1_name() -> str:
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def refuse_systemd(what: str) -> None:
    """Raise :class:`SystemdUnavailable` for ``what`` (the flag or the path),
    saying whether PID 1 is systemd here."""
    pid1 = pid1_name()
    if pid1 != "systemd":
        raise SystemdUnavailable(
            f"{what} needs the systemd cgroup driver, which needs systemd as PID 1, "
            f"and PID 1 here is {pid1!r}: use a cgroupfs path (e.g. /machine/<id>) "
            "or podman --cgroup-manager=cgroupfs")
    raise SystemdUnavailable(
        f"{what} needs the systemd cgroup driver, which barque-oci does not have: "
        "use a cgroupfs path (e.g. /machine/<id>) or podman --cgroup-manager=cgroupfs")
