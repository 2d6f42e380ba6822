"""``barque network``: create, ls, inspect, rm, prune, connect and disconnect
as docker-cli 20.10 has them (``cli/command/network/*.go``), with their
flags, output and exit codes, and the remote adapter over the runtime's
network RPCs.

Exit codes are Docker's: a flag docker-cli's flag parser refuses exits 125;
a wrong number of arguments, a client-side check (``consolidateIpam``) and
an engine error exit 1.
"""

from __future__ import annotations

import functools
import json
import re
import sys

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from cli.nouns import (
    CommandError,
    add_noun,
    check_args as _check_args,
    confirm,
    docker_status,
    flag_error,
    format_rows,
    inspect_each,
    natural_sorted,
    parse_filters as _parse_filters,
    parse_labels as _parse_labels,
    parse_map,
    remove_each,
    string_slice,
    tabwrite,
)
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import InvalidArgument

__all__ = [
    "NetworksClient",
    "register",
    "consolidate_ipam",
    "list_output",
    "tabwrite",
    "go_time",
    "is_user_defined",
]


class NetworksClient:
    """The runtime's networks as the CLI sees them."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(config, "runtime")), "runtime")

    def create(self, spec: runtime_pb2.NetworkSpec) -> str:
        return self._stub.CreateNetwork(runtime_pb2.CreateNetworkRequest(spec=spec)).id

    def inspect_document(self, ref: str) -> dict:
        """Docker's NetworkResource, as the runtime builds it."""
        return json.loads(self._stub.InspectNetwork(runtime_pb2.InspectNetworkRequest(ref=ref)).json)

    def remove(self, ref: str) -> None:
        self._stub.RemoveNetwork(runtime_pb2.RemoveNetworkRequest(ref=ref))

    def prune(self, filters: list[str]) -> list[str]:
        return list(self._stub.PruneNetworks(runtime_pb2.PruneNetworksRequest(filters=filters)).deleted)

    def connect(self, network: str, container: str, endpoint: runtime_pb2.EndpointSettings) -> None:
        self._stub.ConnectNetwork(runtime_pb2.ConnectNetworkRequest(
            network=network, container=container, endpoint=endpoint))

    def disconnect(self, network: str, container: str, force: bool) -> None:
        self._stub.DisconnectNetwork(runtime_pb2.DisconnectNetworkRequest(
            network=network, container=container, force=force))

    # last: the name shadows the builtin in the annotations below it
    def list(self, filters: list[str]) -> list[runtime_pb2.Network]:
        return list(self._stub.ListNetworks(runtime_pb2.ListNetworksRequest(filters=filters)).networks)


# ---- flag values, as docker-cli's opts read them ------------------------------

def _flag_error(command: str, flag: str, value: str, reason: str) -> CommandError:
    return flag_error(f"barque network {command}", flag, value, reason)


def parse_filters(command: str, flag: str, values: list[str]) -> list[str]:
    """opts.FilterOpt for ``barque network COMMAND``."""
    return _parse_filters(f"barque network {command}", flag, values)


def parse_labels(values: list[str]) -> dict[str, str]:
    """opts.ValidateLabel per ``network create --label``."""
    return _parse_labels("barque network create", values)


# ---- consolidateIpam ------------------------------------------------------------

def _parse_cidr(text: str):
    """net.ParseCIDR's network, or InvalidArgument with Go's message."""
    import ipaddress

    addr, sep, prefix = text.partition("/")
    try:
        if not sep or not prefix.isascii() or not prefix.isdigit() or "%" in addr:
            raise ValueError(text)
        return ipaddress.ip_network(f"{addr}/{int(prefix)}", strict=False), ipaddress.ip_address(addr)
    except ValueError:
        raise InvalidArgument(f"invalid CIDR address: {text}") from None


def _unmapped(ip):
    """Go's To4: an IPv4-mapped IPv6 address is IPv4."""
    return getattr(ip, "ipv4_mapped", None) or ip


def _subnet_matches(subnet: str, data: str) -> bool:
    """docker-cli subnetMatches: does ``subnet`` hold ``data``'s address?"""
    import ipaddress

    try:
        net, _ = _parse_cidr(subnet)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid subnet: {exc}") from None
    if "/" in data:
        _, ip = _parse_cidr(data)
    else:
        try:
            ip = ipaddress.ip_address(data) if "%" not in data else None
        except ValueError:
            ip = None
    if ip is None:
        return False
    ip = _unmapped(ip)
    if net.version == 6 and net.network_address.ipv4_mapped is not None and net.prefixlen >= 96:
        net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
    return ip.version == net.version and ip in net


def consolidate_ipam(subnets: list[str], ranges: list[str], gateways: list[str]) -> list[runtime_pb2.IPAMPool]:
    """docker-cli consolidateIpam: one pool per subnet, each range and gateway
    on the subnet holding it, checked in Docker's order with its messages
    (InvalidArgument). Pools come in the order the subnets were given."""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    pools: dict[str, runtime_pb2.IPAMPool] = {}
    for s in subnets:
        for k in pools:
            if _subnet_matches(s, k) or _subnet_matches(k, s):
                raise InvalidArgument("multiple overlapping subnet configuration is not supported")
        pools[s] = runtime_pb2.IPAMPool(subnet=s)
    for what, values in (("range", ranges), ("gateway", gateways)):
        for value in values:
            match = False
            for s in subnets:
                if not _subnet_matches(s, value):
                    continue
                pool = pools[s]
                current = pool.ip_range if what == "range" else pool.gateway
                if current:
                    raise InvalidArgument(
                        f"cannot configure multiple ranges ({value}, {current}) on the same subnet ({s})"
                        if what == "range" else
                        f"cannot configure multiple gateways ({value}, {current}) for the same subnet ({s})")
                if what == "range":
                    pool.ip_range = value
                else:
                    pool.gateway = value
                match = True
            if not match:
                raise InvalidArgument(f"no matching subnet for {what} {value}")
    return list(pools.values())


# ---- ls: docker-cli's network formatter -----------------------------------------

#: SubHeaderContext of cli/command/network/formatter.go
HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
           "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}
DEFAULT_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
RAW = "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n"


def go_time(text: str) -> str:
    """Go's ``time.Time.String()`` of an RFC 3339 time, as ``.CreatedAt``
    prints the Created the client decoded: "2024-05-01 10:00:00.5 +0000 UTC"
    for a "Z" time, "... +0200 +0200" for an offset."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text or "")
    if not m:
        return "0001-01-01 00:00:00 +0000 UTC"
    frac = (m.group(3) or "")[:9].rstrip("0")
    offset = m.group(4).replace(":", "")
    zone = "+0000 UTC" if offset == "Z" else f"{offset} {offset}"  # a fixed zone Go names by its offset
    return f"{m.group(1)} {m.group(2)}{'.' + frac if frac else ''} {zone}"


def truncate_id(ident: str) -> str:
    """stringid.TruncateID."""
    return ident.partition(":")[2][:12] if ":" in ident else ident[:12]


def network_row(n: runtime_pb2.Network, trunc: bool) -> dict[str, str]:
    """networkContext's methods of no argument, by name (what ``{{json .}}`` marshals)."""
    return {
        "CreatedAt": go_time(n.created),
        "Driver": n.driver,
        "ID": truncate_id(n.id) if trunc else n.id,
        "IPv6": "false",  # barque's networks are IPv4 only (EnableIPv6)
        "Internal": "true" if n.internal else "false",
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(n.labels.items())),
        "Name": n.name,
        "Scope": n.scope,
    }


def _label(n: runtime_pb2.Network, name: str) -> str:
    """networkContext.Label: "" when absent."""
    return n.labels.get(name, "")


def list_output(networks: list[runtime_pb2.Network], fmt: str = "", quiet: bool = False,
                trunc: bool = True) -> str:
    """What ``network ls`` writes: networks in natural name order through
    NewFormat's format, a table (header first) through the tabwriter."""
    source = fmt or "table"
    if source == "table":
        source = "{{.ID}}" if quiet else DEFAULT_TABLE
    elif source == "raw":
        source = "network_id: {{.ID}}" if quiet else RAW
    rows = natural_sorted(networks, lambda n: n.name)
    return format_rows(source, "*network.networkContext", HEADERS,
                       ((network_row(n, trunc), functools.partial(_label, n)) for n in rows))


# ---- commands --------------------------------------------------------------------

#: (Use, Short) of each command, for docker-cli's argument-count messages
USAGE = {
    "create": ("create [OPTIONS] NETWORK", "Create a network"),
    "ls": ("ls [OPTIONS]", "List networks"),
    "inspect": ("inspect [OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks"),
    "rm": ("rm NETWORK [NETWORK...]", "Remove one or more networks"),
    "prune": ("prune [OPTIONS]", "Remove all unused networks"),
    "connect": ("connect [OPTIONS] NETWORK CONTAINER", "Connect a container to a network"),
    "disconnect": ("disconnect [OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network"),
}


def check_args(command: str, args: list[str], exactly: int | None = None, at_least: int | None = None) -> None:
    """cli.ExactArgs / RequiresMinArgs / NoArgs for ``barque network COMMAND``."""
    _check_args(f"barque network {command}", *USAGE[command], args, exactly=exactly, at_least=at_least)


@docker_status
def cmd_create(ctx, args) -> int:
    labels = parse_labels(args.label)
    check_args("create", args.args, exactly=1)
    try:
        ipam = consolidate_ipam(string_slice(args.subnet), string_slice(args.ip_range), string_slice(args.gateway))
    except InvalidArgument as exc:
        raise CommandError(str(exc)) from exc
    spec = runtime_pb2.NetworkSpec(name=args.args[0], driver=args.driver, internal=args.internal, labels=labels,
                                   ipam=ipam, options=parse_map(args.opt), attachable=args.attachable)
    print(ctx.networks().create(spec))
    return 0


@docker_status
def cmd_ls(ctx, args) -> int:
    filters = parse_filters("ls", "-f, --filter", args.filter)
    check_args("ls", args.args, exactly=0)
    text = list_output(ctx.networks().list(filters), args.format or "", args.quiet, not args.no_trunc)
    sys.stdout.write(text)
    return 0


@docker_status
def cmd_inspect(ctx, args) -> int:
    check_args("inspect", args.args, at_least=1)
    return inspect_each(ctx, args.args, ctx.networks().inspect_document, "network", args.format)


@docker_status
def cmd_rm(ctx, args) -> int:
    check_args("rm", args.args, at_least=1)
    return remove_each(ctx, args.args, ctx.networks().remove, "network")


PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one container.\n"
                 "Are you sure you want to continue?")


@docker_status
def cmd_prune(ctx, args) -> int:
    filters = parse_filters("prune", "--filter", args.filter)
    check_args("prune", args.args, exactly=0)
    if not args.force and not confirm(PRUNE_WARNING):
        return 0
    deleted = ctx.networks().prune(filters)
    if deleted:
        print("Deleted Networks:\n" + "".join(name + "\n" for name in deleted))
    return 0


@docker_status
def cmd_connect(ctx, args) -> int:
    check_args("connect", args.args, exactly=2)
    endpoint = runtime_pb2.EndpointSettings(ipam_config=runtime_pb2.EndpointIPAMConfig(ipv4_address=args.ip),
                                            aliases=string_slice(args.alias))
    ctx.networks().connect(args.args[0], args.args[1], endpoint)
    return 0


@docker_status
def cmd_disconnect(ctx, args) -> int:
    check_args("disconnect", args.args, exactly=2)
    ctx.networks().disconnect(args.args[0], args.args[1], args.force)
    return 0


def is_user_defined(mode: str) -> bool:
    """container.NetworkMode.IsUserDefined: not default, bridge, host, none
    or container:<id>."""
    return mode not in ("default", "bridge", "host", "none") and not mode.startswith("container:")


def register(sub) -> None:
    command = add_noun(sub, "network", "Manage networks", USAGE)
    p = command("create", cmd_create, "NETWORK")
    p.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    p.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    p.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    p.add_argument("--subnet", action="append", default=[],
                   help="Subnet in CIDR format that represents a network segment")
    p.add_argument("--ip-range", action="append", default=[], help="Allocate container ip from a sub-range")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 or IPv6 Gateway for the master subnet")
    p = command("ls", cmd_ls, "", aliases=("list",))
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.add_argument("--format", help="Pretty-print networks using a Go template")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="Provide filter values (e.g. 'driver=bridge')")
    p = command("inspect", cmd_inspect, "NETWORK")
    p.add_argument("-f", "--format", help="Format the output using the given Go template")
    command("rm", cmd_rm, "NETWORK", aliases=("remove",))
    p = command("prune", cmd_prune, "")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[],
                   help="Provide filter values (e.g. 'until=<timestamp>')")
    p = command("connect", cmd_connect, "NETWORK CONTAINER")
    p.add_argument("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--alias", action="append", default=[], help="Add network-scoped alias for the container")
    p = command("disconnect", cmd_disconnect, "NETWORK CONTAINER")
    p.add_argument("-f", "--force", action="store_true", help="Force the container to disconnect from a network")
