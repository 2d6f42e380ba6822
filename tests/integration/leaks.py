"""What the suite must not leave behind: mounts, cgroups, network devices,
processes and temp dirs of barque's naming."""

from __future__ import annotations

import glob
import os
from pathlib import Path

__all__ = ["snapshot_host", "leaks"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f if "barque" in line or "bqtest" in line}


def _cgroups() -> set[str]:
    found = set()
    for base in glob.glob(str(CGROUP_ROOT / "*" / "barque")) + [str(CGROUP_ROOT / "barque")]:
        for dirpath, dirnames, _ in os.walk(base):
            found.update(os.path.join(dirpath, d) for d in dirnames)
    return found


def _links() -> set[str]:
    return {p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(("barque", "bq", "veth"))}


def _netns() -> set[str]:
    d = Path("/run/netns")
    return {p.name for p in d.iterdir()} if d.exists() else set()


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid``."""
    parents: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    out, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _tmpdirs() -> set[str]:
    return set(glob.glob(f"/tmp/barque-engine-{os.getpid()}-*"))


def snapshot_host() -> dict[str, set]:
    return {
        "mounts": _mounts(),
        "cgroups": _cgroups(),
        "links": _links(),
        "netns": _netns(),
        "tmpdirs": _tmpdirs(),
    }


def leaks(before: dict[str, set], allowed_pids: set[int] = frozenset()) -> dict[str, set]:
    now = snapshot_host()
    out = {k: now[k] - before[k] for k in now if now[k] - before[k]}
    procs = {p for p in _children(os.getpid()) if p not in allowed_pids}
    if procs:
        out["processes"] = {f"{p}: {_cmdline(p)}" for p in procs}
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
