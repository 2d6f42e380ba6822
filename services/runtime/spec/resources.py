"""Options for ``linux.resources``: the device cgroup, memory, cpu and pids."""

from __future__ import annotations

import os

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import InvalidArgument
from services.common.log import get_logger

from .context import SpecContext
from .options import applies

__all__ = [
    "DEFAULT_DEVICE_RULES", "CPU_PERIOD", "MIN_MEMORY", "memory_resources", "cpu_resources",
    "with_devices", "with_memory", "with_cpu", "with_pids",
]

log = get_logger(__name__)

CPU_PERIOD = 100_000                 # 100 ms, in microseconds
MIN_MEMORY = 6 * 1024 * 1024         # linuxMinMemory
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262144


def _dev(major: int, minor: int | None, allow: bool = True) -> dict:
    rule = {"allow": allow, "type": "c", "major": major, "access": "rwm"}
    if minor is not None:
        rule["minor"] = minor
    return rule


#: moby DefaultLinuxSpec's device cgroup (deny all; null, zero, urandom,
#: random, tty, console; deny fuse) plus runc's implicit pts, ptmx and tun
DEFAULT_DEVICE_RULES: list[dict] = [
    {"allow": False, "access": "rwm"},
    _dev(1, 5), _dev(1, 3), _dev(1, 9), _dev(1, 8), _dev(5, 0), _dev(5, 1),
    _dev(10, 229, allow=False),
    _dev(136, None), _dev(5, 2), _dev(10, 200),
]


def memory_resources(memory: int, memory_swap: int, *, swap_supported: bool = True) -> dict | None:
    """``linux.resources.memory`` for ``-m``/``--memory-swap``, Docker-validated.

    ``memory_swap`` 0 with ``-m`` means twice the memory, -1 means no swap
    limit, which leaves ``swap`` out (moby ``getMemoryResources``). ``swap``
    is the memory+swap total (cgroup v1 ``memsw`` semantics), as in Docker.
    ``swap_supported`` False (no swap accounting on the host) drops the swap
    limit, as Docker does with a warning.
    """
    if memory != 0 and memory < MIN_MEMORY:
        raise InvalidArgument("minimum memory limit allowed is 6MB")
    if memory_swap < -1:
        raise InvalidArgument(f"invalid memory swap {memory_swap}: use -1 for unlimited")
    if memory > 0 and memory_swap == 0:
        memory_swap = 2 * memory
    if memory > 0 and memory_swap > 0 and memory_swap < memory:
        raise InvalidArgument("minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and memory_swap > 0:
        raise InvalidArgument("you should always set the memory limit when using memoryswap limit, see usage")
    out: dict = {}
    if memory > 0:
        out["limit"] = memory
    if memory_swap > 0:
        if swap_supported:
            out["swap"] = memory_swap
        else:
            log.warning("memory_swap_unsupported", swap=memory_swap)
    return out or None


def cpu_resources(nano_cpus: int, cpu_shares: int, *, host_cpus: int | None = None) -> dict | None:
    """``linux.resources.cpu`` for ``--cpus`` and ``--cpu-shares``, Docker-validated."""
    ncpu = host_cpus or os.cpu_count() or 1
    if nano_cpus < 0 or nano_cpus > ncpu * 1_000_000_000:
        raise InvalidArgument(f"range of cpus is from 0.01 to {ncpu}.00, as there are only {ncpu} cpus available")
    if cpu_shares < 0:
        raise InvalidArgument(f"invalid cpu shares ({cpu_shares}): value must be a positive integer")
    out: dict = {}
    if cpu_shares > 0:
        clamped = min(max(cpu_shares, MIN_CPU_SHARES), MAX_CPU_SHARES)
        if clamped != cpu_shares:
            log.warning("cpu_shares_clamped", requested=cpu_shares, applied=clamped)
        out["shares"] = clamped
    if nano_cpus > 0:
        out["period"] = CPU_PERIOD
        out["quota"] = nano_cpus * CPU_PERIOD // 1_000_000_000
    return out or None


@applies("HostConfig.privileged")
def with_devices(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.resources.devices``: :data:`DEFAULT_DEVICE_RULES`, or every
    device when privileged (which still gets no host device nodes)."""
    spec["linux"]["resources"]["devices"] = (
        [{"allow": True, "access": "rwm"}] if host.privileged else [dict(rule) for rule in DEFAULT_DEVICE_RULES])


@applies("HostConfig.memory", "HostConfig.memory_swap")
def with_memory(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.resources.memory`` from ``-m`` and ``--memory-swap`` (:func:`memory_resources`)."""
    memory = memory_resources(host.memory, host.memory_swap, swap_supported=ctx.facts.swap_supported)
    if memory:
        spec["linux"]["resources"]["memory"] = memory


@applies("HostConfig.nano_cpus", "HostConfig.cpu_shares")
def with_cpu(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.resources.cpu`` from ``--cpus`` and ``--cpu-shares`` (:func:`cpu_resources`)."""
    cpu = cpu_resources(host.nano_cpus, host.cpu_shares, host_cpus=ctx.facts.host_cpus)
    if cpu:
        spec["linux"]["resources"]["cpu"] = cpu


@applies("HostConfig.pids_limit")
def with_pids(spec: dict, config: ContainerConfig, host: HostConfig, ctx: SpecContext) -> None:
    """``linux.resources.pids`` from ``--pids-limit``: a negative limit is
    unlimited (-1), unset or 0 leaves pids out."""
    limit = host.pids_limit if host.HasField("pids_limit") else 0
    if limit < 0:
        spec["linux"]["resources"]["pids"] = {"limit": -1}
    elif limit > 0:
        spec["linux"]["resources"]["pids"] = {"limit": limit}
