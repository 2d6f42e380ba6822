"""What the suite must not leave behind: mounts, cgroups, network devices,
named network namespaces, rules in barque's firewall chains, processes,
command servers (``cli.cmdserver``, which the launcher starts in a session
of their own, outside this process's descendants) and engine and exec temp
dirs of barque's naming.

:func:`snapshot_host` before, :func:`leaks` after: what appeared in between
(and every descendant of this process that was not already running).
"""

from __future__ import annotations

import glob
import os
import subprocess

from tests.support import host

__all__ = ["snapshot_host", "leaks"]


def _tmpdirs() -> set[str]:
    return set(glob.glob(f"/tmp/barque-engine-{os.getpid()}-*")) | set(glob.glob("/tmp/barque-exec-*"))


def _firewall_rules() -> set[str]:
    """Lines of iptables-save naming a chain of barque's (BARQUE-*, or BQ-* of a test engine)."""
    try:
        out = subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {line for line in out.splitlines() if "BARQUE-" in line or " BQ-" in line or ":BQ-" in line}


def snapshot_host() -> dict[str, set]:
    return {
        "mounts": host.mounts_naming("barque", "bqtest"),
        # a volume's data dir (a tmpfs or bind volume) under any state dir
        "volume mounts": {p for p in host.mounts_naming("/volumes/") if p.endswith("/_data")},
        "cgroups": {str(d) for d in host.cgroup_dirs("barque", include_top=False)},
        "links": host.links("barque", "bq", "veth"),
        "netns": host.netns_names(),
        "tmpdirs": _tmpdirs(),
        "firewall rules": _firewall_rules(),
        "command servers": {f"{p}: {host.cmdline(p)}" for p in host.pids_matching("cli.cmdserver")},
    }


def leaks(before: dict[str, set], allowed_pids: set[int] = frozenset()) -> dict[str, set]:
    now = snapshot_host()
    out = {k: now[k] - before[k] for k in now if now[k] - before[k]}
    procs = {p for p in host.descendants(os.getpid()) if p not in allowed_pids}
    if procs:
        out["processes"] = {f"{p}: {host.cmdline(p)}" for p in procs}
    return out
