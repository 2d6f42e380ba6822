"""``barque stats`` and ``barque top`` (also under ``container``), with
docker/cli 20.10's columns, formulas, ``--format`` fields and exit codes,
and the small remote adapter over the runtime's Stats and Top calls.

Errors are printed as docker's (``Error response from daemon: ...``, one
line per container for stats) and exit 1, as the docker CLI exits for them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import NoReturn

from cli.commands import add_command

__all__ = [
    "StatsClient", "register", "cpu_percent", "mem_usage_no_cache",
    "stats_entry", "render_stats", "render_top", "DEFAULT_FORMAT",
]

DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
#: docker/cli formatter_stats.go's header of each field
HEADERS = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
           "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
           "PIDs": "PIDS"}
#: redraw in place on a terminal: clear, then home the cursor (docker's cleanScreen)
CLEAR = "\033[2J\033[H"


class StatsClient:
    """The runtime's Stats and Top as the CLI sees them."""

    def __init__(self, config) -> None:
        from barque.runtime.v1 import runtime_pb2_grpc
        from client.channels import RemoteStub, connect

        self._stub = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(config, "runtime")), "runtime")

    def stats(self, ids: list[str], all_: bool, stream: bool) -> Iterator:
        from barque.runtime.v1 import runtime_pb2

        return self._stub.Stats(runtime_pb2.StatsRequest(ids=ids, all=all_, stream=stream))

    def top(self, ref: str, ps_args: list[str]):
        from barque.runtime.v1 import runtime_pb2

        return self._stub.Top(runtime_pb2.TopRequest(id=ref, ps_args=ps_args))


# ---- docker/cli's figures -------------------------------------------------------

def cpu_percent(cs) -> float:
    """calculateCPUPercentUnix: the container's share of the host's CPU time
    between the two readings, times the online CPUs (100% is one CPU)."""
    cpu_delta = float(cs.cpu.total_usage) - float(cs.precpu.total_usage)
    system_delta = float(cs.cpu.system_cpu_usage) - float(cs.precpu.system_cpu_usage)
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * cs.cpu.online_cpus * 100.0
    return 0.0


def mem_usage_no_cache(memory) -> int:
    """calculateMemUsageUnixNoCache (docker/cli 20.10): usage less
    total_inactive_file on v1, less inactive_file on v2."""
    stats = memory.stats
    if "total_inactive_file" in stats and stats["total_inactive_file"] < memory.usage:
        return memory.usage - stats["total_inactive_file"]
    if stats.get("inactive_file", 0) < memory.usage:
        return memory.usage - stats.get("inactive_file", 0)
    return memory.usage


def stats_entry(cs, container: str, trunc: bool = True) -> dict[str, str]:
    """A sample as docker/cli's statsContext shows it, by --format field
    (keys sorted, as ``{{json .}}`` prints Go's map)."""
    from cli.format import bytes_size, human_size

    mem = mem_usage_no_cache(cs.memory)
    limit = cs.memory.limit
    rx = sum(n.rx_bytes for n in cs.networks)
    tx = sum(n.tx_bytes for n in cs.networks)
    return {
        "BlockIO": f"{human_size(cs.block_read)} / {human_size(cs.block_write)}",
        "CPUPerc": f"{cpu_percent(cs):.2f}%",
        "Container": container,
        "ID": cs.id[:12] if trunc else cs.id,
        "MemPerc": f"{(mem / limit * 100.0 if limit else 0.0):.2f}%",
        "MemUsage": f"{bytes_size(mem)} / {bytes_size(limit)}",
        "Name": cs.name or "--",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "PIDs": str(cs.pids),
    }


def render_stats(entries: list[dict[str, str]], fmt: str) -> str:
    """One round as docker/cli's formatter writes it: a table (header, rows
    through tabwriter(10, 1, 3)) or each row through the template."""
    from cli.format import Template
    from cli.nouns import tabwrite

    if fmt in ("", "table"):
        fmt = DEFAULT_FORMAT
    elif fmt == "json":
        fmt = "{{json .}}"
    tpl = Template(fmt)
    lines = [tpl.render(e) for e in entries]
    if not tpl.table:
        return "".join(line + "\n" for line in lines)
    table = [tpl.render(HEADERS), *lines]
    return tabwrite("\n".join(table), 10) + "\n"


def render_top(titles: list[str], processes: list[list[str]]) -> str:
    """docker/cli's top: ps's columns through tabwriter(20, 1, 3)."""
    from cli.nouns import tabwrite

    return tabwrite("\n".join("\t".join(row) for row in [titles, *processes]), 20) + "\n"


# ---- commands ------------------------------------------------------------------

def _fail(ctx, exc) -> NoReturn:
    """docker's error lines (one per failing container) and its exit status 1."""
    if exc.remote:
        for line in str(exc).replace("; No such container: ", "\nNo such container: ").split("\n"):
            print(f"Error response from daemon: {line}", file=sys.stderr)
    else:
        ctx.error(exc)  # this side's: the service unreachable, say
    sys.exit(1)


def _client(ctx) -> StatsClient:
    return ctx._client("stats", StatsClient)


def _label(cs, names: list[str]) -> str:
    """The Container field: the name or id as typed, or the short id when none was."""
    for ref in names:
        if cs.id.startswith(ref) or cs.name == ref.lstrip("/"):
            return ref
    return cs.id[:12]


def cmd_stats(ctx, args) -> int:
    from cli.format import Template
    from client.errors import BarqueError

    fmt = args.format or ""
    if fmt not in ("", "table", "json"):
        Template(fmt)  # a bad template fails before anything is asked
    stream = not args.no_stream
    redraw = stream and sys.stdout.isatty()
    names = list(dict.fromkeys(args.containers))  # docker/cli collects each container once
    try:
        for response in _client(ctx).stats(names, args.all, stream):
            entries = [stats_entry(cs, _label(cs, names), trunc=not args.no_trunc) for cs in response.stats]
            text = render_stats(entries, fmt)
            sys.stdout.write(CLEAR + text if redraw else text)
            sys.stdout.flush()
    except BarqueError as exc:
        _fail(ctx, exc)
    return 0


def cmd_top(ctx, args) -> int:
    from client.errors import BarqueError

    try:
        body = _client(ctx).top(args.container, list(args.ps_args))
    except BarqueError as exc:
        _fail(ctx, exc)
    sys.stdout.write(render_top(list(body.titles), [list(p.fields) for p in body.processes]))
    return 0


def register(sub, container_group) -> None:
    for p in add_command([(sub, "stats"), (container_group, "stats")], cmd_stats,
                         help="Display a live stream of container(s) resource usage statistics"):
        p.add_argument("-a", "--all", action="store_true",
                       help="Show all containers (default shows just running)")
        p.add_argument("--no-stream", action="store_true",
                       help="Disable streaming stats and only pull the first result")
        p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
        p.add_argument("--format", help="Pretty-print stats using a Go template")
        p.add_argument("containers", nargs="*", metavar="CONTAINER")
    for p in add_command([(sub, "top"), (container_group, "top")], cmd_top,
                         help="Display the running processes of a container"):
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="ps OPTIONS")
