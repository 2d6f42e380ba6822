"""Pure readers of a container's resource counters, as Docker's stats
collector gathers them: the cgroup v1 and v2 files, the container's
``/proc/<pid>/net/dev`` and the host's ``/proc/stat`` and ``/proc/meminfo``.

Every reader takes the directories or text to read, so the unit tests run
them over fake trees. Contract: a file that is absent (its controller is not
mounted or not enabled, or the cgroup went away meanwhile) reads as 0 or
empty, never as an error: ``stats`` shows what the host offers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = [
    "CpuCounters", "MemoryCounters", "InterfaceCounters", "CgroupCounters",
    "read_v1", "read_v2", "parse_net_dev", "system_cpu_usage", "host_memory",
    "online_cpus", "CLOCK_TICKS",
]

NANOS = 1_000_000_000
#: USER_HZ, the unit of /proc/stat and cpuacct.stat (moby reads it with sysconf too)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CpuCounters:
    """Docker's cpu_stats; the field names are the proto's (CpuStats)."""

    total_usage: int = 0          # ns
    usage_in_usermode: int = 0    # ns
    usage_in_kernelmode: int = 0  # ns
    system_cpu_usage: int = 0     # ns, the host's
    online_cpus: int = 0


@dataclass
class MemoryCounters:
    """Docker's memory_stats; the field names are the proto's (MemoryStats)."""

    usage: int = 0
    limit: int = 0
    max_usage: int = 0
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class InterfaceCounters:
    """One line of /proc/net/dev; the field names are the proto's (NetworkStats)."""

    name: str
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


@dataclass
class CgroupCounters:
    """What one cgroup says: cpu (without the host's figures), memory, block I/O, tasks."""

    cpu: CpuCounters = field(default_factory=CpuCounters)
    memory: MemoryCounters = field(default_factory=MemoryCounters)
    block_read: int = 0
    block_write: int = 0
    pids: int = 0
    pids_limit: int = 0


def _text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError):
        return ""
    except OSError:  # ENODEV and the like from a cgroup being removed
        return ""


def _int(path: str) -> int:
    """A one-number file; absent, empty or "max" reads as 0."""
    text = _text(path).strip()
    try:
        return int(text)
    except ValueError:
        return 0


def _keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, cpuacct.stat)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def _limit(raw: int, host_mem: int) -> int:
    """A memory limit as Docker reports it: none ("max", or v1's huge
    page-rounded default), or one above the host's memory, is the host's memory."""
    if raw <= 0 or (host_mem and raw > host_mem):
        return host_mem
    return raw


def read_v1(dirs: dict[str, str], host_mem: int) -> CgroupCounters:
    """A v1 container from its directory in each hierarchy, by subsystem
    (``{"cpuacct": ".../cpuacct/barque/<id>", "memory": ..., "blkio": ..., "pids": ...}``).
    cpuacct.usage_user/usage_sys (ns) are preferred; older kernels only have
    cpuacct.stat, in clock ticks."""
    out = CgroupCounters()
    cpuacct = dirs.get("cpuacct")
    if cpuacct:
        out.cpu.total_usage = _int(os.path.join(cpuacct, "cpuacct.usage"))
        user_path = os.path.join(cpuacct, "cpuacct.usage_user")
        if os.path.exists(user_path):
            out.cpu.usage_in_usermode = _int(user_path)
            out.cpu.usage_in_kernelmode = _int(os.path.join(cpuacct, "cpuacct.usage_sys"))
        else:
            ticks = _keyed(_text(os.path.join(cpuacct, "cpuacct.stat")))
            out.cpu.usage_in_usermode = ticks.get("user", 0) * NANOS // CLOCK_TICKS
            out.cpu.usage_in_kernelmode = ticks.get("system", 0) * NANOS // CLOCK_TICKS
    memory = dirs.get("memory")
    if memory:
        out.memory = MemoryCounters(
            usage=_int(os.path.join(memory, "memory.usage_in_bytes")),
            limit=_limit(_int(os.path.join(memory, "memory.limit_in_bytes")), host_mem),
            max_usage=_int(os.path.join(memory, "memory.max_usage_in_bytes")),
            stats=_keyed(_text(os.path.join(memory, "memory.stat"))))
    else:
        out.memory.limit = host_mem
    blkio = dirs.get("blkio")
    if blkio:
        # the throttle file counts every device; the CFQ/BFQ one only where
        # such a scheduler runs: the first that has lines, never both (that would double count)
        for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive"):
            out.block_read, out.block_write, found = _blkio(_text(os.path.join(blkio, name)))
            if found:
                break
    pids = dirs.get("pids")
    if pids:
        out.pids = _int(os.path.join(pids, "pids.current"))
        out.pids_limit = _int(os.path.join(pids, "pids.max"))
    return out


def _blkio(text: str) -> tuple[int, int, bool]:
    """Sums of the Read and Write lines (``8:0 Read 4096``), as docker/cli's
    calculateBlockIO sums io_service_bytes_recursive; whether any line was there."""
    read = write = 0
    found = False
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        found = True
        op, value = parts[1], parts[2]
        if op[:1] in ("r", "R"):
            read += int(value)
        elif op[:1] in ("w", "W"):
            write += int(value)
    return read, write, found


def read_v2(directory: str, host_mem: int) -> CgroupCounters:
    """A v2 container from its one directory. cpu.stat is a core file,
    present whether or not the cpu controller is enabled; the others read as
    0 where their controller is off (memory.max absent: the host's memory)."""
    out = CgroupCounters()
    cpu = _keyed(_text(os.path.join(directory, "cpu.stat")))
    out.cpu.total_usage = cpu.get("usage_usec", 0) * 1000
    out.cpu.usage_in_usermode = cpu.get("user_usec", 0) * 1000
    out.cpu.usage_in_kernelmode = cpu.get("system_usec", 0) * 1000
    out.memory = MemoryCounters(
        usage=_int(os.path.join(directory, "memory.current")),
        limit=_limit(_int(os.path.join(directory, "memory.max")), host_mem),
        stats=_keyed(_text(os.path.join(directory, "memory.stat"))))
    for line in _text(os.path.join(directory, "io.stat")).splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes":
                out.block_read += int(value)
            elif key == "wbytes":
                out.block_write += int(value)
    out.pids = _int(os.path.join(directory, "pids.current"))
    out.pids_limit = _int(os.path.join(directory, "pids.max"))
    return out


def parse_net_dev(text: str) -> list[InterfaceCounters]:
    """The interfaces of /proc/<pid>/net/dev but loopback, in its order."""
    out = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        name = name.strip()
        values = rest.split()
        if not sep or name == "lo" or len(values) < 16:
            continue
        v = [int(x) for x in values]
        out.append(InterfaceCounters(name, rx_bytes=v[0], rx_packets=v[1], rx_errors=v[2], rx_dropped=v[3],
                                     tx_bytes=v[8], tx_packets=v[9], tx_errors=v[10], tx_dropped=v[11]))
    return out


def system_cpu_usage(proc_stat: str) -> int:
    """The host's CPU time in ns as moby's collector computes it: the first
    seven fields of the ``cpu`` line (user nice system idle iowait irq
    softirq) in clock ticks, to ns."""
    for line in proc_stat.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            ticks = sum(int(x) for x in parts[1:8])
            return ticks * NANOS // CLOCK_TICKS
    return 0


def host_memory(meminfo: str) -> int:
    """MemTotal of /proc/meminfo, in bytes."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def online_cpus() -> int:
    return os.sysconf("SC_NPROCESSORS_ONLN")
