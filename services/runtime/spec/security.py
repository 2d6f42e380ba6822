"""Options that confine the container: capabilities, seccomp, and the /proc
and /sys paths it may not see or write."""

from __future__ import annotations

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import InvalidArgument

from ..oci.caps import CAPABILITIES, DOCKER_DEFAULT_CAPS
from .context import SpecContext
from .options import applies
from .seccomp_profile import default_profile

__all__ = [
    "DEFAULT_CAPS", "MASKED_PATHS", "READONLY_PATHS", "all_capabilities", "effective_caps",
    "with_capabilities", "with_seccomp", "with_masked_paths", "with_readonly_paths",
]

#: Docker's 14 default capabilities, in moby's order (CapEff 00000000a80425fb)
DEFAULT_CAPS: list[str] = list(DOCKER_DEFAULT_CAPS)

MASKED_PATHS: list[str] = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS: list[str] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _own_bounding_set() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return ~0


def all_capabilities(last_cap: int | None = None) -> list[str]:
    """Every capability the kernel knows (``cap_last_cap``), in number order.

    When probing the host (``last_cap`` None) only those in the engine's own
    bounding set count, as moby's GetAllCapabilities: a container cannot be
    given what the engine does not hold (a confined host, a nested engine).
    """
    bounding = ~0
    if last_cap is None:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last_cap = int(f.read())
        bounding = _own_bounding_set()
    return [name for name, number in sorted(CAPABILITIES.items(), key=lambda kv: kv[1])
            if number <= last_cap and bounding & (1 << number)]


def _normalize_caps(names: list[str], flag: str) -> list[str]:
    out = []
    for raw in names:
        name = raw.strip().upper()
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != "ALL" and name not in CAPABILITIES:
            raise InvalidArgument(f"{flag}: unknown capability: {raw!r}")
        out.append(name)
    return out


def effective_caps(cap_add: list[str], cap_drop: list[str], privileged: bool,
                   *, last_cap: int | None = None) -> list[str]:
    """Docker's ``caps.TweakCapabilities`` over :data:`DEFAULT_CAPS`.

    Names are case-insensitive, with or without ``CAP_``; ``ALL`` is allowed in
    either list. Privileged means every capability. ``--cap-add ALL`` keeps all
    but the dropped ones; ``--cap-drop ALL`` keeps only the added ones;
    otherwise drops come off the defaults and adds are appended. The result
    has no duplicates and keeps first-seen order.
    """
    if privileged:
        return all_capabilities(last_cap)
    adds = _normalize_caps(cap_add, "--cap-add")
    drops = _normalize_caps(cap_drop, "--cap-drop")
    if "ALL" in adds:
        caps = [c for c in all_capabilities(last_cap) if c not in drops]
    elif "ALL" in drops:
        caps = [c for c in adds if c != "ALL"]
    else:
        caps = [c for c in DEFAULT_CAPS if c not in drops] + adds
    return list(dict.fromkeys(caps))


@applies("HostConfig.cap_add", "HostConfig.cap_drop", "HostConfig.privileged")
def with_capabilities(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``process.capabilities`` (:func:`effective_caps`): bounding, effective and
    permitted for uid 0, only bounding for any other uid ("to match what
    execve does", moby ``oci.SetCapabilities``); inheritable and ambient empty
    (CVE-2022-24769). Reads the uid :func:`~.process.with_user` set."""
    caps = effective_caps(list(host.cap_add), list(host.cap_drop), host.privileged, last_cap=ctx.facts.last_cap)
    root_user = spec["process"]["user"]["uid"] == 0
    spec["process"]["capabilities"] = {
        "bounding": list(caps),
        "effective": list(caps) if root_user else [],
        "permitted": list(caps) if root_user else [],
        "inheritable": [],
        "ambient": [],
    }


@applies("HostConfig.privileged")
def with_seccomp(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.seccomp``: Docker's default profile for the bounding set
    :func:`with_capabilities` chose; none when privileged or with
    ``--security-opt seccomp=unconfined``."""
    if host.privileged or ctx.security.seccomp_unconfined:
        return
    bounding = spec["process"]["capabilities"]["bounding"]
    spec["linux"]["seccomp"] = default_profile(bounding, kernel=ctx.facts.kernel)


@applies("HostConfig.privileged")
def with_masked_paths(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.maskedPaths``: Docker's list, none when privileged."""
    spec["linux"]["maskedPaths"] = [] if host.privileged else list(MASKED_PATHS)


@applies("HostConfig.privileged")
def with_readonly_paths(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.readonlyPaths``: Docker's list, none when privileged."""
    spec["linux"]["readonlyPaths"] = [] if host.privileged else list(READONLY_PATHS)
