"""``docker stats`` on the engine's side: samples of containers' counters,
one round per interval, each with the previous sample's CPU as ``precpu``.

Where a container's counters are: its cgroup is ``barque/<id>`` under the
engine's hierarchy (the spec's cgroupsPath, :mod:`services.runtime.core`), in
the cgroup2 mount on v2 or in each v1 hierarchy found in mountinfo; its
network namespace is seen through ``/proc/<init pid>/net/dev`` (no fork, no
setns). The file readers are :mod:`.cgroupstats`.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator

from client.errors import NotFound
from services.runtime.engine.cgroupstats import (
    CgroupCounters,
    CpuCounters,
    InterfaceCounters,
    MemoryCounters,
    host_memory,
    online_cpus,
    parse_net_dev,
    read_v1,
    read_v2,
    system_cpu_usage,
)
from services.runtime.engine.logs import InvalidLogOption, parse_timestamp
from services.runtime.engine.runtimestate import ContainerView, RuntimeState

__all__ = ["ContainerSample", "sample_rounds", "container_cgroup_dirs", "INTERVAL"]

#: one round per second while streaming, as Docker's collector samples
INTERVAL = 1.0
#: cancellation is checked this often while waiting for the next round
_POLL = 0.05
_V1_SUBSYSTEMS = ("cpuacct", "memory", "blkio", "pids")


@dataclass
class ContainerSample:
    """One container at one instant; the field names are the proto's (ContainerStats)."""

    id: str
    name: str
    read_nanos: int = 0
    preread_nanos: int = 0
    cpu: CpuCounters = field(default_factory=CpuCounters)
    precpu: CpuCounters = field(default_factory=CpuCounters)
    memory: MemoryCounters = field(default_factory=MemoryCounters)
    networks: list[InterfaceCounters] = field(default_factory=list)
    block_read: int = 0
    block_write: int = 0
    pids: int = 0
    pids_limit: int = 0
    running: bool = False


@functools.cache
def _v1_mounts() -> dict[str, str]:
    """subsystem -> v1 hierarchy mountpoint (cpu and cpuacct may share one)."""
    from services.runtime.oci.cgroups import v1_hierarchies

    return {s: h.mountpoint for h in v1_hierarchies() for s in h.subsystems}


def container_cgroup_dirs(rt: RuntimeState, container_id: str) -> dict[str, str]:
    """The container's cgroup directories: ``{"unified": dir}`` on v2,
    subsystem -> dir on v1 (only the mounted subsystems)."""
    rel = os.path.join("barque", container_id)
    if rt.cgroup_v2:
        return {"unified": str(rt.cgroup_root / rel)}
    mounts = _v1_mounts()
    return {s: os.path.join(mounts[s], rel) for s in _V1_SUBSYSTEMS if s in mounts}


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class _Host:
    """The host's figures, read once per round for every container."""

    def __init__(self) -> None:
        self.system = system_cpu_usage(_read("/proc/stat"))
        self.cpus = online_cpus()
        self.memory = host_memory(_read("/proc/meminfo"))


def _sample(rt: RuntimeState, view: ContainerView, host: _Host) -> ContainerSample:
    record = view.record
    out = ContainerSample(id=record.id, name=record.name, read_nanos=time.time_ns(), running=view.running)
    if not view.running:
        return out  # Docker's figures of a stopped container: all zero
    dirs = container_cgroup_dirs(rt, record.id)
    counters: CgroupCounters = (read_v2(dirs["unified"], host.memory) if rt.cgroup_v2
                                else read_v1(dirs, host.memory))
    counters.cpu.system_cpu_usage, counters.cpu.online_cpus = host.system, host.cpus
    out.cpu, out.memory = counters.cpu, counters.memory
    out.block_read, out.block_write = counters.block_read, counters.block_write
    out.pids, out.pids_limit = counters.pids, counters.pids_limit
    # a host-network container has no interfaces of its own (Docker shows 0B / 0B)
    if record.host_config.network_mode != "host" and record.pid > 0:
        out.networks = parse_net_dev(_read(f"/proc/{record.pid}/net/dev"))
    return out


def _views(rt, ids: list[str], all_: bool) -> list[ContainerView]:
    """This round's containers: those named (gone ones drop out), or the list."""
    if not ids:
        return rt.list(all_)
    views = []
    for ref in ids:
        try:
            views.append(rt.inspect(ref))
        except NotFound:
            continue
    return views


def check_named(rt, ids: list[str]) -> None:
    """Every named container exists; else NotFound naming each missing one,
    a line each (docker/cli reports every collector's error)."""
    missing = []
    for ref in ids:
        try:
            rt.store.find(ref)
        except NotFound:
            missing.append(f"No such container: {ref}")
    if missing:
        raise NotFound("; ".join(missing))  # status details are one line; the CLI splits them


def sample_rounds(rt, ids: list[str], all_: bool, stream: bool,
                  cancelled: Callable[[], bool]) -> Iterator[list[ContainerSample]]:
    """Rounds of samples: one, or one per :data:`INTERVAL` until ``cancelled``
    (or, with ids, until every named container is gone). A round's
    ``precpu`` is the container's reading in the previous round; where there
    is none (the first round, so every ``--no-stream``, and a container new to
    the stream) it is the container's start: no CPU used, the host's CPU time
    then reckoned as the wall time since times the online CPUs. So the first
    figure is the CPU % averaged since the start, as podman's first sample,
    answered at once, where docker's ``--no-stream`` waits 1-2 s for its
    collector's next tick; the stream's later rounds each measure one second,
    as Docker's do."""
    check_named(rt, ids)
    previous: dict[str, ContainerSample] = {}
    while True:
        began = time.monotonic()
        host = _Host()
        views = _views(rt, ids, all_)
        if ids and not views:
            return
        samples = []
        for view in views:
            sample = _sample(rt, view, host)
            before = previous.get(view.record.id)
            if before is not None and sample.running:
                sample.precpu, sample.preread_nanos = before.cpu, before.read_nanos
            elif sample.running:
                sample.precpu, sample.preread_nanos = _at_start(view.record.started_at, sample, host)
            samples.append(sample)
        previous = {s.id: s for s in samples if s.running}
        yield samples
        if not stream or not _pause(INTERVAL - (time.monotonic() - began), cancelled):
            return


def _at_start(started_at: str, sample: ContainerSample, host: _Host) -> tuple[CpuCounters, int]:
    """The container's CPU counters at its start, as the host's counter would
    have read then (a start in the future or unreadable counts as now)."""
    try:
        started = min(parse_timestamp(started_at), sample.read_nanos)
    except InvalidLogOption:  # the parser's error for an unreadable time
        started = sample.read_nanos
    elapsed = sample.read_nanos - started
    return CpuCounters(system_cpu_usage=max(host.system - elapsed * host.cpus, 0), online_cpus=host.cpus), started


def _pause(seconds: float, cancelled: Callable[[], bool]) -> bool:
    """Sleep ``seconds``, in short steps; False once ``cancelled``."""
    deadline = time.monotonic() + seconds
    while True:
        if cancelled():
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(_POLL, left))
