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
"""

from __future__ import annotations

import posixpath

from client.errors import InvalidArgument

from . import cgroups

__all__ = ["parse", "sub_manager"]


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
