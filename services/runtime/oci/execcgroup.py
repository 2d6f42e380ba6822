"""``exec --cgroup``: run the new process in a sub-cgroup of the container's,
as runc 1.1 (exec.go ``getSubCgroupPaths``, container_linux.go
``newSetnsProcess``).

Contract: each argument is ``path`` (alone: every hierarchy) or
``controller[,controller...]:path``; the path is relative to the
container's cgroup and must stay inside it (``..`` is refused with runc's
"is not a sub cgroup path"); a controller no mounted hierarchy has is
refused as runc's "unknown controller". The sub-cgroup must already exist:
joining a missing one fails with runc's "adding pid ... no such file"
(from :meth:`.cgroups.CgroupV1.join`). Nothing is created here.

Without ``--cgroup`` on v2, a process the kernel will not let into the
container's cgroup (EBUSY: the container moved its init to a sub-cgroup and
enabled a domain controller, so that cgroup is no leaf any more) joins the
init's current cgroup instead, as runc's ``setnsProcess.start`` does; with
``--cgroup`` there is no fallback.
"""

from __future__ import annotations

import errno
import posixpath

from client.errors import InvalidArgument

from . import cgroups

__all__ = ["parse", "sub_manager", "for_exec"]


def parse(args: list[str]) -> dict[str, str]:
    """{controller or "": path} from the ``--cgroup`` arguments."""
    paths: dict[str, str] = {}
    for arg in args:
        parts = arg.split(":", 2)
        if len(parts) > 2:
            raise InvalidArgument(f"invalid --cgroup argument: {arg}")
        if len(parts) == 1:
            if len(args) != 1:
                raise InvalidArgument(f"invalid --cgroup argument: {arg} "
                                      "(missing <controller>: prefix)")
            paths[""] = arg
            continue
        for controller in parts[0].split(","):
            paths[controller] = parts[1]
    return paths


def _below(base: str, add: str) -> str:
    joined = posixpath.normpath(posixpath.join(base, add.lstrip("/")))
    if joined != base and not joined.startswith(base.rstrip("/") + "/"):
        raise InvalidArgument(f"{add} is not a sub cgroup path")
    return joined


def sub_manager(manager: cgroups.CgroupV1 | cgroups.CgroupV2,
                subs: dict[str, str]) -> cgroups.CgroupV1 | cgroups.CgroupV2:
    """A manager whose ``join`` puts a process in the sub-cgroups (a copy:
    the container's own manager and state are left as they are)."""
    if not subs:
        return manager
    if isinstance(manager, cgroups.CgroupV2):
        add = subs.get("")
        if add is None:
            raise InvalidArgument(f"unknown controller {sorted(subs)[0]} in SubCgroupPaths")
        sub = cgroups.CgroupV2(manager.rel_path, manager.root)
        sub.path = _below(manager.path, add)
        sub.paths = {"unified": sub.path}
        return sub
    paths = dict(manager.paths)
    if "" in subs:
        for name in paths:
            paths[name] = _below(manager.paths[name], subs[""])
    else:
        for controller, add in subs.items():
            hierarchy = next((h for h in manager.hierarchies if controller in h.subsystems), None)
            if hierarchy is None:
                raise InvalidArgument(f"unknown controller {controller} in SubCgroupPaths")
            paths[hierarchy.name] = _below(manager.paths[hierarchy.name], add)
    return cgroups.CgroupV1(manager.rel_path, manager.hierarchies, paths)


class _JoinInitsOnBusy(cgroups.CgroupV2):
    """The container's v2 cgroup, falling back to the init's own on EBUSY."""

    def __init__(self, manager: cgroups.CgroupV2, init_pid: int):
        super().__init__(manager.rel_path, manager.root)
        self.init_pid = init_pid

    def join(self, pid: int = 0) -> None:
        try:
            super().join(pid)
        except cgroups.CgroupError as exc:
            cause = exc.__cause__
            if not isinstance(cause, OSError) or cause.errno != errno.EBUSY:
                raise
            try:
                with open(f"/proc/{self.init_pid}/cgroup") as f:
                    own = [line.split(":", 2)[2].strip() for line in f if line.startswith("0::")]
            except OSError:
                raise exc from cause
            if not own:
                raise
            cgroups.CgroupV2(own[0].lstrip("/"), self.root).join(pid)


def for_exec(manager: cgroups.CgroupV1 | cgroups.CgroupV2, args: list[str] | None,
             init_pid: int) -> cgroups.CgroupV1 | cgroups.CgroupV2:
    """The manager whose ``join`` an exec'd process makes (see the module doc)."""
    if args:
        return sub_manager(manager, parse(args))
    if isinstance(manager, cgroups.CgroupV2):
        return _JoinInitsOnBusy(manager, init_pid)
    return manager
