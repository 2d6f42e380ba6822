"""``barque volume``: create, ls, inspect, rm and prune as docker-cli has
them (``cli/command/volume/*.go`` of v20.10.27; prune as v23.0, with ``-a``
and its two warnings), with their flags, output and exit codes, and the
remote adapter over the runtime's volume RPCs.

Exit codes are Docker's (:mod:`cli.nouns`): 125 for a flag error, 1 for a
wrong number of arguments or an engine error.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from cli.nouns import (
    CommandError,
    add_noun,
    check_args as _check_args,
    confirm,
    docker_status,
    format_rows,
    inspect_each,
    natural_sorted,
    parse_filters,
    parse_labels,
    parse_map,
    remove_each,
)
from client.channels import RemoteStub, connect
from client.config import Config

__all__ = ["VolumesClient", "register", "list_output", "prune_request", "prune_output"]


class VolumesClient:
    """The runtime's volumes as the CLI sees them."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(config, "runtime")), "runtime")

    def create(self, request: runtime_pb2.CreateVolumeRequest) -> runtime_pb2.Volume:
        return self._stub.CreateVolume(request).volume

    def inspect_document(self, name: str) -> dict:
        """Docker's Volume, as the runtime builds it."""
        return json.loads(self._stub.InspectVolume(runtime_pb2.InspectVolumeRequest(name=name)).json)

    def remove(self, name: str, force: bool = False) -> None:
        self._stub.RemoveVolume(runtime_pb2.RemoveVolumeRequest(name=name, force=force))

    def prune(self, request: runtime_pb2.PruneVolumesRequest) -> runtime_pb2.PruneVolumesResponse:
        return self._stub.PruneVolumes(request)

    # last: the name shadows the builtin in the annotations below it
    def list(self, filters: list[str]) -> list[runtime_pb2.Volume]:
        return list(self._stub.ListVolumes(runtime_pb2.ListVolumesRequest(filters=filters)).volumes)


# ---- ls: docker-cli's volume formatter (cli/command/formatter/volume.go) ------------

#: SubHeaderContext of newVolumeContext
HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
           "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"}
DEFAULT_TABLE = "table {{.Driver}}\t{{.Name}}"
RAW = "name: {{.Name}}\\ndriver: {{.Driver}}\\n"


def volume_row(v: runtime_pb2.Volume) -> dict[str, str]:
    """volumeContext's methods of no argument, by name. The list carries no
    UsageData, so Links and Size are "N/A" as docker's ``volume ls`` shows them."""
    return {
        "Driver": v.driver,
        "Labels": ",".join(f"{k}={val}" for k, val in sorted(v.labels.items())),
        "Links": "N/A",
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Scope": v.scope,
        "Size": "N/A",
    }


def _label(v: runtime_pb2.Volume, name: str) -> str:
    return v.labels.get(name, "")


def list_output(volumes: list[runtime_pb2.Volume], fmt: str = "", quiet: bool = False) -> str:
    """What ``volume ls`` writes: volumes in natural name order through
    NewVolumeFormat's format, a table (header first) through the tabwriter."""
    source = fmt or "table"
    if source == "table":
        source = "{{.Name}}" if quiet else DEFAULT_TABLE
    elif source == "raw":
        source = "name: {{.Name}}" if quiet else RAW
    rows = natural_sorted(volumes, lambda v: v.name)
    return format_rows(source, "*formatter.volumeContext", HEADERS,
                       ((volume_row(v), functools.partial(_label, v)) for v in rows))


# ---- prune ------------------------------------------------------------------------

ANONYMOUS_WARNING = ("WARNING! This will remove anonymous local volumes not used by at least one container.\n"
                     "Are you sure you want to continue?")
ALL_WARNING = ("WARNING! This will remove all local volumes not used by at least one container.\n"
               "Are you sure you want to continue?")


def prune_request(filters: list[str], all_: bool) -> runtime_pb2.PruneVolumesRequest:
    """docker-cli 23's runPrune: ``-a`` is the ``all`` filter, and conflicts
    with one given by hand; ``--filter all=BOOL`` alone chooses the same."""
    from client.mounts import parse_go_bool

    rest, wanted = [], all_
    for f in filters:
        key, _, value = f.partition("=")
        if key != "all":
            rest.append(f)
            continue
        if all_:
            raise CommandError("conflicting options: cannot specify both --all and --filter all=1")
        try:
            wanted = parse_go_bool(value)
        except ValueError:
            raise CommandError(f"invalid filter 'all={value}'") from None
    return runtime_pb2.PruneVolumesRequest(filters=rest, all=wanted)


def prune_output(response: runtime_pb2.PruneVolumesResponse | None) -> str:
    """"Deleted Volumes:" and the names (with a blank line) when any, then
    "Total reclaimed space:" in go-units HumanSize (4 digits), as docker 23 prints
    even when the prompt was declined."""
    from cli.format import human_size

    out = ""
    reclaimed = 0
    if response is not None and response.deleted:
        out = "Deleted Volumes:\n" + "".join(name + "\n" for name in response.deleted) + "\n"
        reclaimed = response.space_reclaimed
    return out + f"Total reclaimed space: {human_size(reclaimed, 4)}\n"


# ---- commands ----------------------------------------------------------------------

#: (Use, Short) of each command, for docker-cli's argument-count messages
USAGE = {
    "create": ("create [OPTIONS] [VOLUME]", "Create a volume"),
    "ls": ("ls [OPTIONS]", "List volumes"),
    "inspect": ("inspect [OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes"),
    "rm": ("rm [OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes"),
    "prune": ("prune [OPTIONS]", "Remove all unused local volumes"),
}


def check_args(command: str, args: list[str], exactly: int | None = None, at_least: int | None = None,
               at_most: int | None = None) -> None:
    _check_args(f"barque volume {command}", *USAGE[command], args, exactly=exactly, at_least=at_least,
                at_most=at_most)


@docker_status
def cmd_create(ctx, args) -> int:
    labels = parse_labels("barque volume create", args.label)
    check_args("create", args.args, at_most=1)
    name = args.name
    if args.args:
        if name:
            raise CommandError("conflicting options: either specify --name or provide positional arg, not both")
        name = args.args[0]
    request = runtime_pb2.CreateVolumeRequest(name=name, driver=args.driver, driver_opts=parse_map(args.opt),
                                              labels=labels)
    print(ctx.volumes().create(request).name)
    return 0


@docker_status
def cmd_ls(ctx, args) -> int:
    filters = parse_filters("barque volume ls", "-f, --filter", args.filter)
    check_args("ls", args.args, exactly=0)
    sys.stdout.write(list_output(ctx.volumes().list(filters), args.format or "", args.quiet))
    return 0


@docker_status
def cmd_inspect(ctx, args) -> int:
    check_args("inspect", args.args, at_least=1)
    return inspect_each(ctx, args.args, ctx.volumes().inspect_document, "volume", args.format)


@docker_status
def cmd_rm(ctx, args) -> int:
    check_args("rm", args.args, at_least=1)
    return remove_each(ctx, args.args, lambda name: ctx.volumes().remove(name, args.force), "volume")


@docker_status
def cmd_prune(ctx, args) -> int:
    filters = parse_filters("barque volume prune", "--filter", args.filter)
    check_args("prune", args.args, exactly=0)
    request = prune_request(filters, args.all)
    response = None
    if args.force or confirm(ALL_WARNING if args.all else ANONYMOUS_WARNING):
        response = ctx.volumes().prune(request)
    sys.stdout.write(prune_output(response))
    return 0


def register(sub) -> None:
    command = add_noun(sub, "volume", "Manage volumes", USAGE)
    p = command("create", cmd_create, "[VOLUME]")
    p.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    p.add_argument("--name", default="", help=argparse.SUPPRESS)
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("--label", action="append", default=[], help="Set metadata for a volume")
    p = command("ls", cmd_ls, "", aliases=("list",))
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    p.add_argument("--format", help="Pretty-print volumes using a Go template")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="Provide filter values (e.g. 'dangling=true')")
    p = command("inspect", cmd_inspect, "VOLUME")
    p.add_argument("-f", "--format", help="Format the output using the given Go template")
    p = command("rm", cmd_rm, "VOLUME", aliases=("remove",))
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of one or more volumes")
    p = command("prune", cmd_prune, "")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "label=<label>")')
