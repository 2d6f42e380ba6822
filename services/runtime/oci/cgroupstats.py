"""A container's cgroup statistics as runc 1.1's ``types.Stats``
(types/events.go), read from the v1 or v2 files as libcontainer's
cgroups/fs and fs2 ``GetStats`` read them.

Contract: :func:`stats` returns a dict whose keys, order and omissions are
those Go's encoder gives ``types.Stats`` (``omitempty`` drops zero numbers,
empty lists and maps, never a nested struct); a file a kernel does not
offer reads as zero/absent, as in runc. CPU times are nanoseconds (v1's
``cpuacct.stat`` ticks at USER_HZ, converted as runc does).
"""

from __future__ import annotations

import os

from . import cgroups

__all__ = ["stats", "parse_list", "all_pids"]

_USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_BLKIO_V1 = (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
             ("ioServicedRecursive", "io_serviced_recursive"),
             ("ioQueueRecursive", "io_queued_recursive"),
             ("ioServiceTimeRecursive", "io_service_time_recursive"),
             ("ioWaitTimeRecursive", "io_wait_time_recursive"),
             ("ioMergedRecursive", "io_merged_recursive"),
             ("ioTimeRecursive", "io_time_recursive"),
             ("sectorsRecursive", "sectors_recursive"))
_CPUSET_FLAGS = ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                 "memory_spread_page", "memory_spread_slab", "memory_pressure",
                 "sched_load_balance", "sched_relax_domain_level")


def _text(directory: str | None, name: str) -> str:
    if not directory:
        return ""
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read().strip()
    except OSError:
        return ""


def _int(directory: str | None, name: str) -> int:
    value = _text(directory, name)
    if value == "max":
        return 0
    try:
        return max(int(value.split()[0]), 0) if value else 0
    except ValueError:
        return 0


def _keyed(directory: str | None, name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _text(directory, name).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def parse_list(text: str) -> list[int]:
    """``0-2,4`` -> [0, 1, 2, 4] (cpuset lists)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


def _omit(d: dict, *keys: str) -> dict:
    """Go's omitempty for the named keys."""
    return {k: v for k, v in d.items() if k not in keys or v not in (0, [], {}, None, "")}


def _memory_entry(directory: str | None, prefix: str) -> dict:
    return _omit({"limit": _int(directory, f"{prefix}.limit_in_bytes"),
                  "usage": _int(directory, f"{prefix}.usage_in_bytes"),
                  "max": _int(directory, f"{prefix}.max_usage_in_bytes"),
                  "failcnt": _int(directory, f"{prefix}.failcnt")}, "usage", "max")


def _blkio_entries(directory: str | None, name: str) -> list[dict]:
    out = []
    for line in _text(directory, name).splitlines():
        parts = line.split()
        if len(parts) < 2 or ":" not in parts[0]:
            continue
        major, minor = parts[0].split(":", 1)
        op, value = (parts[1], parts[2]) if len(parts) >= 3 else ("", parts[1])
        out.append(_omit({"major": int(major), "minor": int(minor), "op": op, "value": int(value)},
                         "major", "minor", "op", "value"))
    return out


def _hugetlb_sizes() -> list[str]:
    """Page sizes as runc names them (``2MB``, ``1GB``)."""
    sizes = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return []
    for name in sorted(names):
        kb = int(name.split("-")[1].rstrip("kB"))
        for unit, scale in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb % scale == 0:
                sizes.append(f"{kb // scale}{unit}")
                break
    return sizes


def _cpuset(directory: str | None, effective: bool = False) -> dict:
    suffix = ".effective" if effective else ""
    out: dict = {"cpus": parse_list(_text(directory, f"cpuset.cpus{suffix}")),
                 "cpu_exclusive": _int(directory, "cpuset.cpu_exclusive"),
                 "mems": parse_list(_text(directory, f"cpuset.mems{suffix}"))}
    for flag in _CPUSET_FLAGS[1:]:
        out[flag] = _int(directory, f"cpuset.{flag}")
    return _omit(out, "cpus", "mems")


def _assemble(cpu_usage: dict, throttling: dict, cpuset: dict, memory: dict, pids: dict,
              blkio: dict, hugetlb: dict) -> dict:
    return {"cpu": {"usage": cpu_usage, "throttling": _omit(throttling, *throttling)},
            "cpuset": cpuset, "memory": memory, "pids": _omit(pids, "current", "limit"),
            "blkio": blkio, "hugetlb": hugetlb, "intel_rdt": {}, "network_interfaces": None}


def _v1(manager: cgroups.CgroupV1) -> dict:
    acct, cpu = manager.subsystem_dir("cpuacct"), manager.subsystem_dir("cpu")
    ticks = _keyed(acct, "cpuacct.stat")
    usage = _omit({"total": _int(acct, "cpuacct.usage"),
                   "percpu": [int(x) for x in _text(acct, "cpuacct.usage_percpu").split()],
                   "percpu_kernel": [int(x) for x in _text(acct, "cpuacct.usage_percpu_sys").split()],
                   "percpu_user": [int(x) for x in _text(acct, "cpuacct.usage_percpu_user").split()],
                   "kernel": ticks.get("system", 0) * 1_000_000_000 // _USER_HZ,
                   "user": ticks.get("user", 0) * 1_000_000_000 // _USER_HZ},
                  "total", "percpu", "percpu_kernel", "percpu_user")
    cpu_stat = _keyed(cpu, "cpu.stat")
    throttling = {"periods": cpu_stat.get("nr_periods", 0),
                  "throttledPeriods": cpu_stat.get("nr_throttled", 0),
                  "throttledTime": cpu_stat.get("throttled_time", 0)}
    mem = manager.subsystem_dir("memory")
    raw = _keyed(mem, "memory.stat")
    memory = _omit({"cache": raw.get("cache", 0), "usage": _memory_entry(mem, "memory"),
                    "swap": _memory_entry(mem, "memory.memsw"),
                    "kernel": _memory_entry(mem, "memory.kmem"),
                    "kernelTCP": _memory_entry(mem, "memory.kmem.tcp"), "raw": raw}, "cache", "raw")
    pids_dir = manager.subsystem_dir("pids")
    pids = {"current": _int(pids_dir, "pids.current"), "limit": _int(pids_dir, "pids.max")}
    blk = manager.subsystem_dir("blkio")
    blkio = {}
    for key, name in _BLKIO_V1:
        entries = _blkio_entries(blk, f"blkio.{name}")
        if not entries and key in ("ioServiceBytesRecursive", "ioServicedRecursive"):
            entries = _blkio_entries(blk, f"blkio.throttle.{name}")
        if entries:
            blkio[key] = entries
    huge = manager.subsystem_dir("hugetlb")
    hugetlb = {} if huge is None else {
        size: _omit({"usage": _int(huge, f"hugetlb.{size}.usage_in_bytes"),
                     "max": _int(huge, f"hugetlb.{size}.max_usage_in_bytes"),
                     "failcnt": _int(huge, f"hugetlb.{size}.failcnt")}, "usage", "max")
        for size in _hugetlb_sizes()}
    return _assemble(usage, throttling, _cpuset(manager.subsystem_dir("cpuset")), memory, pids,
                     blkio, hugetlb)


def _v2(manager: cgroups.CgroupV2) -> dict:
    d = manager.path
    cpu_stat = _keyed(d, "cpu.stat")
    usage = _omit({"total": cpu_stat.get("usage_usec", 0) * 1000,
                   "kernel": cpu_stat.get("system_usec", 0) * 1000,
                   "user": cpu_stat.get("user_usec", 0) * 1000}, "total")
    throttling = {"periods": cpu_stat.get("nr_periods", 0),
                  "throttledPeriods": cpu_stat.get("nr_throttled", 0),
                  "throttledTime": cpu_stat.get("throttled_usec", 0) * 1000}
    raw = _keyed(d, "memory.stat")
    current, swap = _int(d, "memory.current"), _int(d, "memory.swap.current")
    events = _keyed(d, "memory.events")
    memory = _omit({"cache": raw.get("file", 0),
                    "usage": _omit({"limit": _int(d, "memory.max"), "usage": current,
                                    "max": _int(d, "memory.peak"),
                                    "failcnt": events.get("max", 0)}, "usage", "max"),
                    "swap": _omit({"limit": _int(d, "memory.swap.max") + _int(d, "memory.max"),
                                   "usage": swap + current, "failcnt": 0}, "usage"),
                    "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0},
                    "raw": raw}, "cache", "raw")
    pids = {"current": _int(d, "pids.current"), "limit": _int(d, "pids.max")}
    blkio: dict = {}
    for line in _text(d, "io.stat").splitlines():
        dev, *pairs = line.split()
        major, minor = (int(x) for x in dev.split(":"))
        values = dict(p.split("=", 1) for p in pairs if "=" in p)
        for key, read, write in (("ioServiceBytesRecursive", "rbytes", "wbytes"),
                                 ("ioServicedRecursive", "rios", "wios")):
            for op, field in (("Read", read), ("Write", write)):
                blkio.setdefault(key, []).append(
                    _omit({"major": major, "minor": minor, "op": op,
                           "value": int(values.get(field, 0))}, "major", "minor", "op", "value"))
    hugetlb = {}
    for size in _hugetlb_sizes():
        if os.path.exists(os.path.join(d, f"hugetlb.{size}.current")):
            hugetlb[size] = _omit({"usage": _int(d, f"hugetlb.{size}.current"),
                                   "max": 0,
                                   "failcnt": _keyed(d, f"hugetlb.{size}.events").get("max", 0)},
                                  "usage", "max")
    return _assemble(usage, throttling, _cpuset(d, effective=True), memory, pids, blkio, hugetlb)


def stats(manager: cgroups.CgroupV1 | cgroups.CgroupV2) -> dict:
    return _v2(manager) if isinstance(manager, cgroups.CgroupV2) else _v1(manager)


def all_pids(manager: cgroups.CgroupV1 | cgroups.CgroupV2) -> list[int]:
    """Every pid in the container's cgroup and its sub-cgroups (runc's
    ``GetAllPids``: v1 walks the devices hierarchy, v2 the one directory)."""
    if isinstance(manager, cgroups.CgroupV2):
        top = manager.path
    else:
        top = manager.subsystem_dir("devices") or next(iter(manager.paths.values()))
    found: list[int] = []
    for directory, _, _ in os.walk(top):
        found.extend(int(p) for p in _text(directory, "cgroup.procs").split())
    return found
