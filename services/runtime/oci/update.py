"""``barque-oci update``: change a running container's cgroup limits, as
runc 1.1's ``update`` (update.go, libcontainer/cgroups/fs and fs2 ``Set``).

Contract:

- the change (``delta``) is a runtime-spec ``LinuxResources`` object, from
  the flags or from ``-r FILE``/``-r -`` (JSON, keys matched without regard
  to case, as Go's decoder does; with ``-r`` every flag is ignored);
- a zero or absent value leaves that limit unchanged; ``-1`` is unlimited
  (memory, swap, cpu quota, pids);
- given only one of the CFS period and quota, the other is the stored one,
  and both are written (runc keeps the config's);
- device rules are never touched (runc sets ``SkipDevices``);
- writes that the kernel must see in a given order are made in runc's order:
  memory+swap (swap first when it grows), period/quota and the realtime pair
  (a first EINVAL is retried after the other value);
- the stored state's spec (``linux.resources``) gets the merged values, so
  ``state``/``events`` and a later ``update`` see them. Unlike runc 1.1, a
  limit not named in the update keeps its stored value (runc stores zeros).

Intel RDT (``--l3-cache-schema``, ``--mem-bw-schema``) is refused with
runc's words where resctrl does not offer it, and refused as unsupported
where it does.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import sys

from client.errors import FailedPrecondition, InvalidArgument
from client.units import ram_in_bytes

from . import cgroups
from .state import STATUS_STOPPED, StateStore

__all__ = ["FLAGS", "add_arguments", "delta_from_args", "delta_from_json", "merge", "update"]

#: flag -> (section, field, parser kind), in runc's order
FLAGS = {
    "blkio-weight": ("blockIO", "weight", "int"),
    "cpu-period": ("cpu", "period", "uint"),
    "cpu-quota": ("cpu", "quota", "int"),
    "cpu-share": ("cpu", "shares", "uint"),
    "cpu-rt-period": ("cpu", "realtimePeriod", "uint"),
    "cpu-rt-runtime": ("cpu", "realtimeRuntime", "int"),
    "cpuset-cpus": ("cpu", "cpus", "str"),
    "cpuset-mems": ("cpu", "mems", "str"),
    "kernel-memory": ("memory", "kernel", "ram"),
    "kernel-memory-tcp": ("memory", "kernelTCP", "ram"),
    "memory": ("memory", "limit", "ram"),
    "memory-reservation": ("memory", "reservation", "ram"),
    "memory-swap": ("memory", "swap", "ram"),
    "pids-limit": ("pids", "limit", "int"),
}

#: the LinuxResources fields update understands, by lower-cased JSON key
_SECTIONS = {
    "memory": ("memory", ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness")),
    "cpu": ("cpu", ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems")),
    "blockio": ("blockIO", ("weight",)),
    "pids": ("pids", ("limit",)),
}


def add_arguments(parser) -> None:
    """runc's update flags on an argparse (sub)parser."""
    parser.add_argument("--resources", "-r", help="LinuxResources JSON file, '-' for stdin")
    for flag in FLAGS:
        parser.add_argument(f"--{flag}", dest=flag.replace("-", "_"))
    parser.add_argument("--l3-cache-schema", default="")
    parser.add_argument("--mem-bw-schema", default="")
    parser.add_argument("id")


def _parse(flag: str, kind: str, text: str):
    try:
        if kind == "str":
            return text
        if kind == "ram":
            return -1 if text == "-1" else ram_in_bytes(text)
        value = int(text, 10)
        if kind == "uint" and value < 0:
            raise ValueError(text)
        return value
    except (ValueError, InvalidArgument) as exc:
        raise InvalidArgument(f"invalid value for {flag}: {text!r}") from exc


def delta_from_args(args) -> dict:
    """The flags given, as a LinuxResources object (zero/empty values dropped)."""
    delta: dict = {}
    for flag, (section, field, kind) in FLAGS.items():
        text = getattr(args, flag.replace("-", "_"))
        if text in (None, ""):
            continue
        value = _parse(flag, kind, text)
        if value not in (0, ""):
            delta.setdefault(section, {})[field] = value
    return delta


def delta_from_json(text: str) -> dict:
    """``-r``'s document: known keys case-insensitively (Go's json), ``unified`` as is."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"decode resources: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidArgument("resources must be a JSON object")
    delta: dict = {}
    for key, value in raw.items():
        if key.lower() == "unified" and value:
            delta["unified"] = {str(k): str(v) for k, v in dict(value).items()}
            continue
        if key.lower() not in _SECTIONS or not isinstance(value, dict):
            continue
        section, fields = _SECTIONS[key.lower()]
        by_lower = {f.lower(): f for f in fields}
        for name, item in value.items():
            field = by_lower.get(name.lower())
            if field is not None and item not in (None, 0, ""):
                delta.setdefault(section, {})[field] = item
    return delta


def merge(stored: dict | None, delta: dict) -> tuple[dict, dict]:
    """(the new stored resources, the delta to write): a lone period or
    quota gets its partner from ``stored``."""
    merged = copy.deepcopy(stored or {})
    writes = copy.deepcopy(delta)
    cpu_old, cpu_new = merged.get("cpu") or {}, writes.get("cpu") or {}
    if bool(cpu_new.get("period")) != bool(cpu_new.get("quota")):
        partner = "quota" if cpu_new.get("period") else "period"
        if cpu_old.get(partner):
            cpu_new[partner] = cpu_old[partner]
    for section, values in writes.items():
        if section == "unified":
            merged.setdefault("unified", {}).update(values)
        else:
            merged.setdefault(section, {}).update(values)
    memory = merged.get("memory") or {}
    for obsolete in ("kernel", "kernelTCP"):
        memory.pop(obsolete, None)
        (writes.get("memory") or {}).pop(obsolete, None)
    return merged, writes


class _WriteFailed(cgroups.CgroupError):
    """A cgroup file refused a value; ``errno`` says why (EINVAL/EBUSY are retried or explained)."""

    def __init__(self, message: str, errno_: int | None):
        super().__init__(message)
        self.errno = errno_


def _write(directory: str, name: str, value) -> None:
    path = cgroups.v1_file(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as exc:
        raise cgroups.CgroupError(f"open {path}: {(exc.strerror or '').lower()}") from exc
    try:
        os.write(fd, str(value).encode())
    except OSError as exc:
        raise _WriteFailed(f"failed to write {value!r}: write {path}: "
                           f"{(exc.strerror or '').lower()}", exc.errno) from exc
    finally:
        os.close(fd)


def _pair(directory: str, first: tuple[str, object], second: tuple[str, object]) -> None:
    """Write ``first`` then ``second``; a first EINVAL (the kernel checks the
    pair against the parent's) is retried after ``second``, as runc."""
    (name1, value1), (name2, value2) = first, second
    retry = False
    if value1:
        try:
            _write(directory, name1, value1)
        except _WriteFailed as exc:
            if exc.errno != errno.EINVAL or not value2:
                raise
            retry = True
    if value2:
        _write(directory, name2, value2)
        if retry:
            _write(directory, name1, value1)


def _v1_memory(directory: str, memory: dict) -> None:
    """runc's setMemoryAndSwap: swap first when it grows past the current limit."""
    limit, swap = memory.get("limit") or 0, memory.get("swap") or 0
    has_swap = os.path.exists(os.path.join(directory, "memory.memsw.limit_in_bytes"))
    if limit == -1 and not swap and has_swap:
        swap = -1

    def set_limit():
        if not limit:
            return
        try:
            _write(directory, "memory.limit_in_bytes", limit)
        except _WriteFailed as exc:
            if exc.errno != errno.EBUSY:
                raise
            usage = _read_int(directory, "memory.usage_in_bytes")
            peak = _read_int(directory, "memory.max_usage_in_bytes")
            raise cgroups.CgroupError(f"unable to set memory limit to {limit} "
                                      f"(current usage: {usage}, peak usage: {peak})") from exc

    def set_swap():
        if swap:
            _write(directory, "memory.memsw.limit_in_bytes", swap)

    current = _read_int(directory, "memory.limit_in_bytes")
    if limit and swap and (swap == -1 or current < swap):
        set_swap()
        set_limit()
    else:
        set_limit()
        set_swap()
    if memory.get("reservation"):
        _write(directory, "memory.soft_limit_in_bytes", memory["reservation"])


def _read_int(directory: str, name: str) -> int:
    try:
        with open(os.path.join(directory, name)) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _apply_v1(manager: cgroups.CgroupV1, delta: dict) -> None:
    if delta.get("unified"):
        raise InvalidArgument("invalid configuration: cannot use unified on cgroup v1")

    def directory(subsystem: str) -> str:
        found = manager.subsystem_dir(subsystem)
        if found is None:
            raise cgroups.ControllerMissing(f"cgroup controller {subsystem!r} is not mounted")
        return found

    cpu, memory = delta.get("cpu") or {}, delta.get("memory") or {}
    for key in ("cpus", "mems"):
        if cpu.get(key):
            _write(directory("cpuset"), f"cpuset.{key}", cpu[key])
    if memory:
        _v1_memory(directory("memory"), memory)
    if cpu.get("shares"):
        _write(directory("cpu"), "cpu.shares", cpu["shares"])
    if cpu.get("period") or cpu.get("quota"):
        _pair(directory("cpu"), ("cpu.cfs_period_us", cpu.get("period")),
              ("cpu.cfs_quota_us", cpu.get("quota")))
    if cpu.get("realtimePeriod") or cpu.get("realtimeRuntime"):
        _pair(directory("cpu"), ("cpu.rt_period_us", cpu.get("realtimePeriod")),
              ("cpu.rt_runtime_us", cpu.get("realtimeRuntime")))
    limit = (delta.get("pids") or {}).get("limit")
    if limit:
        _write(directory("pids"), "pids.max", "max" if limit < 0 else limit)
    weight = (delta.get("blockIO") or {}).get("weight")
    if weight:
        _write(directory("blkio"), "blkio.weight", weight)


def _apply_v2(manager: cgroups.CgroupV2, delta: dict) -> None:
    memory = dict(delta.get("memory") or {})
    limit, swap = memory.get("limit") or 0, memory.get("swap") or 0
    if limit == -1 and not swap:
        memory["swap"] = -1
    elif swap and swap != -1 and limit in (0, -1):
        raise InvalidArgument("unable to set swap limit without memory limit")
    if memory:
        delta = {**delta, "memory": memory}
    manager.write_limits(delta)


def _rdt_refusal(l3: str, mbw: str) -> None:
    info = "/sys/fs/resctrl/info"
    if l3 and not os.path.isdir(os.path.join(info, "L3")):
        raise FailedPrecondition("Intel RDT/CAT: l3 cache schema is not enabled")
    if mbw and not os.path.isdir(os.path.join(info, "MB")):
        raise FailedPrecondition("Intel RDT/MBA: memory bandwidth schema is not enabled")
    if l3 or mbw:
        raise FailedPrecondition("Intel RDT schemata are not supported by barque-oci")


def update(store: StateStore, container_id: str, delta: dict, l3_schema: str = "",
           mem_bw_schema: str = "") -> None:
    """Write ``delta`` to the container's cgroup and store the merged spec."""
    st = store.load(container_id)
    if store.status(st) == STATUS_STOPPED:
        raise FailedPrecondition("container not running")
    _rdt_refusal(l3_schema, mem_bw_schema)
    memory = delta.get("memory") or {}
    if memory.get("kernel") or memory.get("kernelTCP"):
        print("barque-oci: update: warning: kernel memory settings are ignored "
              "(as runc 1.1)", file=sys.stderr)
    if not st.cgroup:
        raise FailedPrecondition(f"container {container_id!r} has no cgroup")
    linux = st.config.setdefault("linux", {})
    merged, writes = merge(linux.get("resources"), delta)
    manager = cgroups.manager_from_state(st.cgroup)
    if isinstance(manager, cgroups.CgroupV2):
        _apply_v2(manager, writes)
    else:
        _apply_v1(manager, writes)
    linux["resources"] = merged
    store.save(st)
