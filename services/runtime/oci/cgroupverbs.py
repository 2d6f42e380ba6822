"""runc 1.1's cgroup verbs on barque-oci's command line: ``update``, ``ps``,
``events``, and ``checkpoint``/``restore`` (refused: criu is absent). The
parsers and the dispatch live here so :mod:`.cli` only adds them.
"""

from __future__ import annotations

import argparse
import sys

from client.errors import FailedPrecondition

from . import events as eventsmod, psverb, update as updatemod
from .state import StateStore

__all__ = ["COMMANDS", "add_parsers", "dispatch"]

COMMANDS = ("update", "ps", "events", "checkpoint", "restore")


def add_parsers(sub) -> None:
    u = sub.add_parser("update", help="update container resource constraints")
    updatemod.add_arguments(u)

    p = sub.add_parser("ps", help="display the processes running inside a container")
    p.add_argument("--format", "-f", default="table", help="table or json")
    p.add_argument("id")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, help="ps options (default -ef)")

    e = sub.add_parser("events", help="display container events (stats, oom) as JSON lines")
    e.add_argument("--stats", action="store_true", help="print the stats once and exit")
    e.add_argument("--interval", default="5s", help="stats interval (Go duration)")
    e.add_argument("id")

    for name in ("checkpoint", "restore"):
        c = sub.add_parser(name, help=f"refused: {name} needs criu, which is absent")
        c.add_argument("rest", nargs=argparse.REMAINDER)


def dispatch(store: StateStore, args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "update":
        if args.resources:
            text = sys.stdin.read() if args.resources == "-" else _read(args.resources)
            delta = updatemod.delta_from_json(text)
        else:
            delta = updatemod.delta_from_args(args)
        updatemod.update(store, args.id, delta, args.l3_cache_schema, args.mem_bw_schema)
        return 0
    if cmd == "ps":
        ps_args = args.ps_args[1:] if args.ps_args[:1] == ["--"] else args.ps_args
        psverb.ps(store, args.id, args.format, ps_args)
        return 0
    if cmd == "events":
        eventsmod.events(store, args.id, args.stats, args.interval)
        return 0
    raise FailedPrecondition(f"{cmd} is not supported: it needs criu (CRIU), which is not "
                             "installed, and barque-oci has no checkpoint/restore")


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()
