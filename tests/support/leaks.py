"""What the suite must not leave behind: mounts, cgroups, network devices,
named network namespaces, processes, command servers (``cli.cmdserver``,
which the launcher starts in a session of their own, outside this process's
descendants) and engine temp dirs of barque's naming.

:func:`snapshot_host` before, :func:`leaks` after: what appeared in between
(and every descendant of this process that was not already running).
"""

from __future__ import annotations

import glob
import os

from tests.support import host

__all__ = ["snapshot_host", "leaks"]


def _tmpdirs() -> set[str]:
    return set(glob.glob(f"/tmp/barque-engine-{os.getpid()}-*"))


def snapshot_host() -> dict[str, set]:
    return {
        "mounts": host.mounts_naming("barque", "bqtest"),
        "cgroups": {str(d) for d in host.cgroup_dirs("barque", include_top=False)},
        "links": host.links("barque", "bq", "veth"),
        "netns": host.netns_names(),
        "tmpdirs": _tmpdirs(),
        "command servers": {f"{p}: {host.cmdline(p)}" for p in host.pids_matching("cli.cmdserver")},
    }


def leaks(before: dict[str, set], allowed_pids: set[int] = frozenset()) -> dict[str, set]:
    now = snapshot_host()
    out = {k: now[k] - before[k] for k in now if now[k] - before[k]}
    procs = {p for p in host.descendants(os.getpid()) if p not in allowed_pids}
    if procs:
        out["processes"] = {f"{p}: {host.cmdline(p)}" for p in procs}
    return out
