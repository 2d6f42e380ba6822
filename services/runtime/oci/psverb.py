"""``barque-oci ps``: the container's processes, as runc 1.1's ``ps`` (ps.go).

Contract: the pids are every process in the container's cgroup and its
sub-cgroups (:func:`.cgroupstats.all_pids`); a stopped container whose cgroup
is gone has none. ``--format json`` prints them as Go encodes an ``[]int``
(``null`` when there are none). ``table`` runs the host's ``ps`` with the
given arguments (``-ef`` by default) and prints its header and the lines
whose PID column is one of the container's.
"""

from __future__ import annotations

import json
import subprocess

from client.errors import FailedPrecondition, InvalidArgument

from . import cgroups, cgroupstats
from .state import StateStore

__all__ = ["ps", "filter_table"]


def filter_table(output: str, pids: list[int]) -> list[str]:
    """``ps`` output reduced to the header and the lines of ``pids``."""
    lines = output.split("\n")
    header = lines[0].split()
    if "PID" not in header:
        raise FailedPrecondition("couldn't find PID field in ps output")
    index = header.index("PID")
    wanted = set(pids)
    out = [lines[0]]
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        try:
            pid = int(fields[index])
        except (IndexError, ValueError) as exc:
            raise FailedPrecondition(f"unable to parse pid: {fields[index:index + 1]}") from exc
        if pid in wanted:
            out.append(line)
    return out


def ps(store: StateStore, container_id: str, fmt: str, ps_args: list[str]) -> None:
    st = store.load(container_id)
    if fmt not in ("table", "json"):
        raise InvalidArgument("invalid format option")
    pids: list[int] = []
    if st.cgroup:
        pids = cgroupstats.all_pids(cgroups.manager_from_state(st.cgroup))
    if fmt == "json":
        print(json.dumps(pids or None, separators=(",", ":")))
        return
    argv = ["ps", *(ps_args or ["-ef"])]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise FailedPrecondition(f"exit status {proc.returncode}: {proc.stdout.strip()}")
    print("\n".join(filter_table(proc.stdout, pids)))
