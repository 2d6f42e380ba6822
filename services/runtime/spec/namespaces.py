"""Options for the container's namespaces and what lives in them: hostname,
network sysctls and the cgroup."""

from __future__ import annotations

import os
import re

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import InvalidArgument

from .context import SpecContext
from .options import applies

__all__ = ["NETNS_SYSCTLS", "with_hostname", "with_namespaces", "with_sysctls", "with_cgroups_path",
           "with_userns", "remapped"]

#: the network namespace of a running peer (``--net=container:``)
_PEER_NETNS = re.compile(r"/proc/\d+/ns/net")

#: sysctls Docker sets in a container's own network namespace (``WithCommonOptions``)
NETNS_SYSCTLS = {
    "net.ipv4.ping_group_range": "0 2147483647",
    "net.ipv4.ip_unprivileged_port_start": "0",
}


def _sysctl_exists(name: str) -> bool:
    return os.path.exists(os.path.join("/proc/sys", name.replace(".", "/")))


def with_hostname(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``hostname``: the engine's choice, else the id's first 12 characters, as Docker."""
    spec["hostname"] = ctx.uts_hostname


def with_namespaces(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.namespaces`` in Docker's order: mount, network (new for
    ``none``, joined for a netns path, absent for ``host``), uts, pid, ipc,
    and cgroup on a cgroup v2 host."""
    namespaces: list[dict] = [{"type": "mount"}]
    if ctx.network == "none":
        namespaces.append({"type": "network"})
    elif ctx.network.startswith("/"):
        namespaces.append({"type": "network", "path": ctx.network})
    elif ctx.network != "host":
        raise InvalidArgument(f"unsupported network mode {ctx.network!r}: use none, host or a netns path")
    namespaces += [{"type": "uts"}, {"type": "pid"}, {"type": "ipc"}]
    if ctx.facts.cgroup_v2:
        namespaces.append({"type": "cgroup"})
    spec["linux"]["namespaces"] = namespaces


def with_sysctls(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.sysctl``: :data:`NETNS_SYSCTLS` (those this kernel has) in a
    network namespace of the container's own, none on the host's."""
    if ctx.network == "host":
        spec["linux"]["sysctl"] = {}
        return
    spec["linux"]["sysctl"] = {k: v for k, v in NETNS_SYSCTLS.items() if _sysctl_exists(k)}


def with_cgroups_path(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.cgroupsPath``: the context's, else ``/barque/<id>``."""
    spec["linux"]["cgroupsPath"] = ctx.cgroups_path or f"/barque/{ctx.id}"


def remapped(host: HostConfig, ctx: SpecContext) -> bool:
    """The container runs in a user namespace of the engine's remap."""
    return ctx.idmap is not None and host.userns_mode != "host"


@applies("HostConfig.userns_mode")
def with_userns(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """A new user namespace with the engine's uid and gid maps (dockerd's
    ``--userns-remap``), unless ``--userns=host``; what moby refuses with a
    remap (``verifyPlatformContainerSettings``) is refused with its words."""
    if host.userns_mode not in ("", "host"):
        raise InvalidArgument(f"invalid USER mode: {host.userns_mode}")
    if not remapped(host, ctx):
        return
    if host.privileged:
        raise InvalidArgument("privileged mode is incompatible with user namespaces.  You must run the "
                              "container in the host namespace when running privileged mode")
    if ctx.network == "host":
        raise InvalidArgument("cannot share the host's network namespace when user namespaces are enabled")
    if host.pid_mode == "host":
        raise InvalidArgument("cannot share the host PID namespace when user namespaces are enabled")
    assert ctx.idmap is not None
    if _PEER_NETNS.fullmatch(ctx.network):
        # as moby: sharing a container's network namespace means sharing its user namespace
        peer_user = ctx.network[:-len("net")] + "user"
        spec["linux"]["namespaces"].insert(0, {"type": "user", "path": peer_user})
        return
    spec["linux"]["namespaces"].insert(0, {"type": "user"})
    spec["linux"]["uidMappings"], spec["linux"]["gidMappings"] = ctx.idmap.spec()
