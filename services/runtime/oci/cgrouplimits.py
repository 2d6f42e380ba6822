"""What a runtime-spec ``linux.resources`` object writes into a cgroup:
pure (file, value) lists, one function per hierarchy version, in the order
to apply. :mod:`.cgroups` writes them; device rules are files on v1 and an
eBPF program on v2 (:mod:`.devicefilter`).
"""

from __future__ import annotations

from client.errors import InvalidArgument

from .devicefilter import DEFAULT_ALLOWED_DEVICES

__all__ = ["v1_writes", "v2_writes", "v2_controllers", "shares_to_weight"]


def _device_rule(rule: dict) -> str:
    kind = rule.get("type") or "a"
    if kind == "a":
        return "a"
    major = "*" if rule.get("major") in (None, -1) else str(rule["major"])
    minor = "*" if rule.get("minor") in (None, -1) else str(rule["minor"])
    return f"{kind} {major}:{minor} {rule.get('access') or 'rwm'}"


def v1_writes(resources: dict | None) -> list[tuple[str, str, str]]:
    """(controller, file, value) writes for ``resources``, in the order to apply."""
    res = resources or {}
    out: list[tuple[str, str, str]] = []
    mem = res.get("memory") or {}
    if mem.get("limit") is not None:
        out.append(("memory", "memory.limit_in_bytes", str(mem["limit"])))
    if mem.get("swap") is not None:
        out.append(("memory", "memory.memsw.limit_in_bytes", str(mem["swap"])))
    if mem.get("reservation") is not None:
        out.append(("memory", "memory.soft_limit_in_bytes", str(mem["reservation"])))
    if mem.get("swappiness") is not None:
        out.append(("memory", "memory.swappiness", str(mem["swappiness"])))
    if mem.get("disableOOMKiller"):
        out.append(("memory", "memory.oom_control", "1"))
    cpu = res.get("cpu") or {}
    for key, name in (("shares", "cpu.shares"), ("period", "cpu.cfs_period_us"),
                      ("quota", "cpu.cfs_quota_us"), ("realtimePeriod", "cpu.rt_period_us"),
                      ("realtimeRuntime", "cpu.rt_runtime_us")):
        if cpu.get(key):
            out.append(("cpu", name, str(cpu[key])))
    for key in ("cpus", "mems"):
        if cpu.get(key):
            out.append(("cpuset", f"cpuset.{key}", str(cpu[key])))
    pids = (res.get("pids") or {}).get("limit")
    if pids is not None and pids != 0:
        out.append(("pids", "pids.max", "max" if pids < 0 else str(pids)))
    blkio = res.get("blockIO") or {}
    if blkio.get("weight"):
        out.append(("blkio", "blkio.weight", str(blkio["weight"])))
    for dev in blkio.get("weightDevice") or []:
        if dev.get("weight"):
            out.append(("blkio", "blkio.weight_device",
                        f"{dev['major']}:{dev['minor']} {dev['weight']}"))
    for key, name in (("throttleReadBpsDevice", "read_bps_device"),
                      ("throttleWriteBpsDevice", "write_bps_device"),
                      ("throttleReadIOPSDevice", "read_iops_device"),
                      ("throttleWriteIOPSDevice", "write_iops_device")):
        for dev in blkio.get(key) or []:
            out.append(("blkio", f"blkio.throttle.{name}",
                        f"{dev['major']}:{dev['minor']} {dev['rate']}"))
    out += _device_writes([*(res.get("devices") or []), *DEFAULT_ALLOWED_DEVICES])
    return out


def _device_writes(rules: list[dict]) -> list[tuple[str, str, str]]:
    """Deny all, then the rules in order, leaving out the deny rules that
    change nothing (no allow since the last deny-all): runc's v1 emulator
    writes only the transitions, so a no-op deny whose access string the
    kernel would refuse (``rwa``) never reaches it."""
    out = [("devices", "devices.deny", "a")]
    allowed_since_deny_all = False
    for rule in rules:
        text = _device_rule(rule)
        if rule.get("allow"):
            allowed_since_deny_all = True
            out.append(("devices", "devices.allow", text))
        elif text == "a":
            allowed_since_deny_all = False
            out.append(("devices", "devices.deny", text))
        elif allowed_since_deny_all:
            out.append(("devices", "devices.deny", text))
    return out


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), runc's formula."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def v2_writes(resources: dict | None) -> list[tuple[str, str]]:
    """(file, value) writes for the unified hierarchy. Device rules are not
    files on v2: :func:`.devicefilter.device_rules` feeds the eBPF filter instead."""
    res = resources or {}
    out: list[tuple[str, str]] = []
    mem = res.get("memory") or {}
    limit, swap = mem.get("limit"), mem.get("swap")
    if limit is not None:
        out.append(("memory.max", "max" if limit < 0 else str(limit)))
    if swap is not None:
        if swap < 0:
            out.append(("memory.swap.max", "max"))
        elif limit is not None and limit >= 0:
            if swap < limit:
                raise InvalidArgument(f"memory swap {swap} below memory limit {limit}")
            out.append(("memory.swap.max", str(swap - limit)))
    if mem.get("reservation") is not None:
        out.append(("memory.low", str(mem["reservation"])))
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        out.append(("cpu.weight", str(shares_to_weight(int(cpu["shares"])))))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota") or 0
        out.append(("cpu.max", f"{quota if quota > 0 else 'max'} {cpu.get('period') or 100000}"))
    for key in ("cpus", "mems"):
        if cpu.get(key):
            out.append((f"cpuset.{key}", str(cpu[key])))
    pids = (res.get("pids") or {}).get("limit")
    if pids is not None and pids != 0:
        out.append(("pids.max", "max" if pids < 0 else str(pids)))
    weight = (res.get("blockIO") or {}).get("weight")
    if weight:
        out.append(("io.weight", str(1 + (int(weight) - 10) * 9999 // 990)))
    for key, value in (res.get("unified") or {}).items():
        if "/" in key or key.startswith("."):
            raise InvalidArgument(f"invalid unified cgroup key {key!r}")
        out.append((key, str(value)))
    return out


def v2_controllers(writes: list[tuple[str, str]]) -> dict[str, str]:
    """controller -> the first file that needs it (core ``cgroup.*`` files need none)."""
    needed: dict[str, str] = {}
    for name, _ in writes:
        controller = name.split(".", 1)[0]
        if controller != "cgroup":
            needed.setdefault(controller, name)
    return needed
