"""``docker top`` on the engine's side: ps(1) run by the service, its rows
kept for the processes of the container's cgroup, as moby's
daemon/top_unix.go does.

ps runs as a plain subprocess of the service (no preexec_fn: the gRPC
process never forks into anything). The pids come from ``cgroup.procs`` of
the container's cgroup and every cgroup below it (an exec or a nested
cgroup counts).
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from dataclasses import dataclass

from client.errors import FailedPrecondition, Internal, InvalidArgument
from services.runtime.engine.restart import RESTARTING
from services.runtime.engine.runtimestate import RuntimeState
from services.runtime.engine.stats import container_cgroup_dirs

__all__ = ["TopResult", "top", "parse_ps_output", "cgroup_pids", "validate_ps_args"]

#: moby's validatePSArgs: a column renamed to a PID-like title (``pid=PID`` only)
_RENAMED_PID = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")
#: ps's own limit; top is interactive, not a stream
_PS_TIMEOUT = 30


@dataclass(frozen=True)
class TopResult:
    titles: list[str]
    processes: list[list[str]]


def validate_ps_args(ps_args: str) -> None:
    for key, value in _RENAMED_PID.findall(ps_args):
        if key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')


def cgroup_pids(directory: str) -> set[int]:
    """The pids in ``cgroup.procs`` of ``directory`` and every cgroup below it."""
    pids: set[int] = set()
    for root, _dirs, files in os.walk(directory):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(root, "cgroup.procs")) as f:
                    pids.update(int(p) for p in f.read().split())
            except OSError:
                continue  # removed while walking
    return pids


def _fields(line: str) -> list[str]:
    """strings.FieldsFunc over ASCII blanks only, as moby's fieldsASCII."""
    return [f for f in re.split(r"[\t\n\f\r ]+", line) if f]


def parse_ps_output(output: str, pids: set[int]) -> TopResult:
    """moby's parsePSOutput: the titles, then the rows whose PID column is
    the container's; a thread row (PID "-", from ``-m``) follows its process;
    a row longer than the titles has its overhanging fields joined by spaces
    into the last column (COMMAND with its arguments)."""
    lines = output.split("\n")
    titles = _fields(lines[0])
    if "PID" not in titles:
        raise Internal("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    rows: list[list[str]] = []
    kept_previous = False
    for line in lines[1:]:
        if not line:
            continue
        fields = _fields(line)
        if pid_index >= len(fields):
            continue
        if fields[pid_index] == "-":
            if kept_previous:
                rows.append(_fit(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise Internal(f"Unexpected pid '{fields[pid_index]}'") from None
        kept_previous = pid in pids
        if kept_previous:
            rows.append(_fit(fields, len(titles)))
    return TopResult(titles, rows)


def _fit(fields: list[str], width: int) -> list[str]:
    return [*fields[:width - 1], " ".join(fields[width - 1:])]


def _run_ps(args: list[str]) -> subprocess.CompletedProcess:
    """ps with the caller's arguments; arguments exec cannot pass (a NUL
    byte, more than the kernel takes) are the caller's error."""
    try:
        return subprocess.run(["ps", *args], check=False, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=_PS_TIMEOUT,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"})
    except ValueError as exc:  # subprocess: "embedded null byte"
        raise InvalidArgument(f"ps: invalid arguments: {exc}") from exc
    except OSError as exc:
        if exc.errno == errno.E2BIG:
            raise InvalidArgument(f"ps: arguments too long ({sum(len(a) for a in args)} bytes)") from exc
        raise


def top(rt: RuntimeState, ref: str, ps_args: list[str]) -> TopResult:
    """The container's processes in ps's columns; errors as moby's: not
    running (or restarting) is a conflict, ps failing is its stderr's first
    line. What ``ps_args`` make ps refuse or print (no PID column) is the
    caller's error, InvalidArgument, where moby answers a 500."""
    joined = " ".join(ps_args) or "-ef"  # docker/cli joins the args; moby splits on spaces
    validate_ps_args(joined)
    view = rt.inspect(ref)  # type: ignore[attr-defined]
    record = view.record
    if not view.running:
        if record.status == RESTARTING:
            raise FailedPrecondition(f"Container {record.id} is restarting, wait until the container is running")
        raise FailedPrecondition(f"Container {record.id} is not running")
    pids = set()
    for directory in _procs_dirs(rt, record.id):
        pids |= cgroup_pids(directory)
    args = joined.split(" ")
    # -q limits ps to the container's pids; some options (f) refuse it, so retry without, as moby
    done = _run_ps([*args, "-q" + ",".join(str(p) for p in sorted(pids))]) if pids else None
    if done is None or done.returncode != 0:
        done = _run_ps(args)
        if done.returncode != 0:
            first = (done.stderr.split("\n", 1)[0] or f"exit status {done.returncode}").strip()
            # the arguments are the caller's: ps refusing them is their error (moby: a 500)
            raise InvalidArgument(f"ps: {first}")
    try:
        result = parse_ps_output(done.stdout, pids)
    except Internal as exc:
        if not ps_args:  # our own -ef: ps's output is not what it should be
            raise
        raise InvalidArgument(f"{exc} (ps arguments {joined!r})") from exc
    rt.events.emit("top", record.id, name=record.name)
    return result


def _procs_dirs(rt: RuntimeState, container_id: str) -> list[str]:
    """Where the container's tasks are listed: v2's one directory; on v1 the
    pids hierarchy (else memory, else any), each holds every task."""
    dirs = container_cgroup_dirs(rt, container_id)
    for key in ("unified", "pids", "memory", "cpuacct", "blkio"):
        if key in dirs:
            return [dirs[key]]
    return []
