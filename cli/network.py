"""``barque network``: create, ls, inspect, rm, prune, connect and disconnect
as docker-cli 20.10 has them (``cli/command/network/*.go``), with their
flags, output and exit codes, and the remote adapter over the runtime's
network RPCs.

Exit codes are Docker's: a flag docker-cli's flag parser refuses exits 125;
a wrong number of arguments, a client-side check (``consolidateIpam``) and
an engine error exit 1.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import re
import sys
from typing import Any, Callable

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from cli.port import natural_less
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import BarqueError, InvalidArgument, NotFound

__all__ = [
    "NetworksClient",
    "register",
    "consolidate_ipam",
    "list_output",
    "tabwrite",
    "go_time",
    "is_user_defined",
]

#: exit status of a flag docker-cli's flag parser refuses (cli.FlagErrorFunc)
FLAG_ERROR = 125
#: exit status of every other failure of ``docker network``
FAILURE = 1


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


class CommandError(Exception):
    """A failure docker-cli reports with this text alone and this status."""

    def __init__(self, message: str, status: int = FAILURE) -> None:
        super().__init__(message)
        self.status = status


# ---- flag values, as docker-cli's opts read them ------------------------------

def _flag_error(command: str, flag: str, value: str, reason: str) -> CommandError:
    """cli.FlagErrorFunc over pflag's "invalid argument" message."""
    from client.ports import go_quote

    return CommandError(f"invalid argument {go_quote(value)} for {go_quote(flag)} flag: {reason}\n"
                        f"See 'barque network {command} --help'.", FLAG_ERROR)


def string_slice(values: list[str]) -> list[str]:
    """pflag StringSlice: each use of the flag is a line of CSV."""
    out: list[str] = []
    for value in values:
        if value:
            out += next(csv.reader([value]))
    return out


def parse_filters(command: str, flag: str, values: list[str]) -> list[str]:
    """opts.FilterOpt: "name=value", the name lower-cased, both trimmed."""
    out = []
    for value in values:
        if value == "":
            continue
        if "=" not in value:
            raise _flag_error(command, flag, value, "bad format of filter (expected name=value)")
        name, _, val = value.partition("=")
        out.append(f"{name.strip().lower()}={val.strip()}")
    return out


def parse_labels(values: list[str]) -> dict[str, str]:
    """opts.ValidateLabel per --label, then ConvertKVStringsToMap."""
    labels: dict[str, str] = {}
    for value in values:
        key = value.partition("=")[0].lstrip(" \t")
        if key == "":
            raise _flag_error("create", "--label", value, f"invalid label '{value}': empty name")
        if " " in key or "\t" in key:
            raise _flag_error("create", "--label", value, f"label '{key}' contains whitespaces")
        k, _, v = value.partition("=")
        labels[k] = v
    return labels


def parse_map(values: list[str]) -> dict[str, str]:
    """opts.MapOpts without a validator: "k=v", or "k" for an empty value."""
    return dict((v.partition("=")[0], v.partition("=")[2]) for v in values)


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


_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s"]+')
_FUNCS = {"json": 1, "upper": 1, "lower": 1, "title": 1, "truncate": 2, "pad": 3}


class _Stop(Exception):
    """A header action Go's template could not execute: output ends there."""


class RowTemplate:
    """The part of Go's text/template ``network ls --format`` users type, over
    networkContext: ``{{.Field}}``, ``{{.Label "key"}}``, and the functions
    json, upper, lower, title, truncate and pad of a field."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.actions: list[tuple[int, int, list[str], int]] = []  # start, end, tokens, field offset
        for m in _ACTION.finditer(text):
            tokens = _TOKEN.findall(m.group(1))
            if not tokens:
                raise CommandError("template parsing error: template: :1: missing value for command")
            if not tokens[0].startswith(".") and tokens[0] not in _FUNCS:
                raise CommandError(f'template parsing error: template: :1: function "{tokens[0]}" not defined')
            field = tokens[1] if tokens[0] in _FUNCS and len(tokens) > 1 else tokens[0]
            self.actions.append((m.start(), m.end(), tokens, m.start(1) + m.group(1).find(field)))

    def _at(self, offset: int, expr: str, why: str) -> CommandError:
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1)
        return CommandError(f'template parsing error: template: :{line}:{col}: executing "" at <{expr}>: {why}')

    def _field(self, row: dict[str, str], expr: str, offset: int, header: bool) -> Any:
        if expr == ".":
            if header:
                raise _Stop
            return row
        path = expr.split(".")[1:]
        if path[0] not in row:
            if header:
                return "<no value>"
            raise self._at(offset, expr, f"can't evaluate field {path[0]} in type *network.networkContext")
        if len(path) > 1:
            if header:
                raise _Stop
            raise self._at(offset, expr, f"can't evaluate field {path[1]} in type string")
        return row[path[0]]

    def _value(self, row: dict[str, str], labels: Callable[[str], str], tokens: list[str], offset: int,
               header: bool) -> str:
        head, args = tokens[0], tokens[1:]
        if head == ".Label":
            if len(args) != 1 or not args[0].startswith('"'):
                raise self._at(offset, head, f"wrong number of args for Label: want 1 got {len(args)}")
            return labels(json.loads(args[0]))
        if head.startswith("."):
            return str(self._field(row, head, offset, header))
        if len(args) != _FUNCS[head]:
            raise self._at(offset, head, f"wrong number of args for {head}: want {_FUNCS[head]} got {len(args)}")
        value = self._field(row, args[0], offset, header)
        if head == "json":
            if header:
                if not isinstance(value, str):
                    raise _Stop
                return value
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            if isinstance(value, dict):  # networkContext.MarshalJSON is json.Marshal's: HTML escaped
                text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            return text
        if header and head in ("upper", "lower", "title", "truncate"):
            return value
        if head in ("upper", "lower", "title"):
            return {"upper": value.upper(), "lower": value.lower(),
                    "title": re.sub(r"(?<!\w)\w", lambda m: m.group().upper(), value)}[head]
        numbers = [int(a) for a in args[1:]]
        if head == "truncate":
            return value if len(value) < numbers[0] else value[:numbers[0]]
        return value and " " * numbers[0] + value + " " * numbers[1]

    def render(self, row: dict[str, str], labels: Callable[[str], str], header: bool = False) -> str:
        out, last = [], 0
        for start, end, tokens, offset in self.actions:
            out.append(self.text[last:start])
            try:
                out.append(self._value(row, labels, tokens, offset, header))
            except _Stop:
                return "".join(out)
            last = end
        out.append(self.text[last:])
        return "".join(out)


def _label(n: runtime_pb2.Network, name: str) -> str:
    """networkContext.Label: "" when absent."""
    return n.labels.get(name, "")


def _header_label(name: str) -> str:
    """SubHeaderContext.Label."""
    return name.split(".")[-1].replace("-", " ").replace("_", " ")


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter as docker-cli's tables use it (minwidth 10,
    padding 3, spaces): tab-terminated cells aligned in column blocks of
    consecutive lines, the last cell of a line left as it is."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = [""] * len(lines)

    def write(line0: int, line1: int, widths: list[int]) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            out[i] = "".join(c + " " * (widths[j] - len(c)) if j < len(widths) else c
                             for j, c in enumerate(cells))

    def block(line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this, widths)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            block(line0, this, widths + [width])
            line0 = this
        write(line0, line1, widths)

    block(0, len(lines), [])
    return "\n".join(out)


def _by_name(a: runtime_pb2.Network, b: runtime_pb2.Network) -> int:
    """sortorder.NaturalLess on Name, as runList sorts."""
    return -1 if natural_less(a.name, b.name) else (1 if natural_less(b.name, a.name) else 0)


def list_output(networks: list[runtime_pb2.Network], fmt: str = "", quiet: bool = False,
                trunc: bool = True) -> str:
    """What ``network ls`` writes: networks in natural name order through
    NewFormat's format, a table (header first) through the tabwriter."""
    source = fmt or "table"
    if source == "table":
        source = "{{.ID}}" if quiet else DEFAULT_TABLE
    elif source == "raw":
        source = "network_id: {{.ID}}" if quiet else RAW
    table = source.startswith("table")
    final = (source[len("table"):] if table else source).strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    template = RowTemplate(final)
    body = []
    for n in sorted(networks, key=functools.cmp_to_key(_by_name)):
        body.append(template.render(network_row(n, trunc), functools.partial(_label, n)) + "\n")
    if not table:
        return "".join(body)
    return tabwrite(template.render(HEADERS, _header_label, header=True) + "\n" + "".join(body))


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
    """cli.ExactArgs / RequiresMinArgs / NoArgs: their message, exit 1."""
    use, short = USAGE[command]
    path = f"barque network {command}"
    tail = f".\nSee '{path} --help'.\n\nUsage:  barque network {use}\n\n{short}"
    if exactly == 0 and args:
        raise CommandError(f'"{path}" accepts no arguments{tail}')
    if exactly and len(args) != exactly:
        plural = "argument" if exactly == 1 else "arguments"
        raise CommandError(f'"{path}" requires exactly {exactly} {plural}{tail}')
    if at_least is not None and len(args) < at_least:
        plural = "argument" if at_least == 1 else "arguments"
        raise CommandError(f'"{path}" requires at least {at_least} {plural}{tail}')


def _docker_status(func: Callable[[Any, argparse.Namespace], int]) -> Callable[[Any, argparse.Namespace], int]:
    """Docker's exits for ``network``: 1 for an engine error, the error's
    own status for a CommandError."""

    def run(ctx, args) -> int:
        try:
            return func(ctx, args)
        except CommandError as exc:
            print(exc, file=sys.stderr)
            sys.exit(exc.status)
        except BarqueError as exc:
            ctx.error(exc)
            sys.exit(FAILURE)

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


@_docker_status
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


@_docker_status
def cmd_ls(ctx, args) -> int:
    filters = parse_filters("ls", "-f, --filter", args.filter)
    check_args("ls", args.args, exactly=0)
    text = list_output(ctx.networks().list(filters), args.format or "", args.quiet, not args.no_trunc)
    sys.stdout.write(text)
    return 0


@_docker_status
def cmd_inspect(ctx, args) -> int:
    """inspect.Inspect: the documents (``[]`` or an empty line when none),
    then every failure on stderr, exit 1 if any."""
    from cli.format import Template, print_documents

    check_args("inspect", args.args, at_least=1)
    try:
        template = Template(args.format) if args.format else None
    except ValueError as exc:
        raise CommandError(f"template parsing error: {exc}", 64) from exc
    docs, errors, failed = [], [], False
    for ref in args.args:
        try:
            docs.append(ctx.networks().inspect_document(ref))
        except NotFound:
            errors.append(f"Error: No such network: {ref}")
        except BarqueError as exc:
            ctx.error(exc)
            failed = True
    if template is None:
        print_documents(docs, None)
    else:
        lines = []
        for doc in docs:
            try:
                lines.append(template.render(doc))
            except (KeyError, AttributeError, TypeError) as exc:
                errors.append(f"template parsing error: {exc.args[0] if exc.args else exc}")
        print("\n".join(lines))
    if errors:
        raise CommandError("\n".join(errors))
    if failed:
        sys.exit(FAILURE)
    return 0


@_docker_status
def cmd_rm(ctx, args) -> int:
    check_args("rm", args.args, at_least=1)
    failed = False
    for name in args.args:
        try:
            ctx.networks().remove(name)
        except NotFound:
            print(f"Error: No such network: {name}", file=sys.stderr)
            failed = True
            continue
        except BarqueError as exc:
            ctx.error(exc)
            failed = True
            continue
        print(name)
    if failed:
        sys.exit(FAILURE)
    return 0


PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one container.\n"
                 "Are you sure you want to continue?")


def confirm(message: str) -> bool:
    """command.PromptForConfirmation: " [y/N] " on stdout, one line of stdin."""
    sys.stdout.write(message + " [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().rstrip("\n").removesuffix("\r")
    return answer.lower() == "y"


@_docker_status
def cmd_prune(ctx, args) -> int:
    filters = parse_filters("prune", "--filter", args.filter)
    check_args("prune", args.args, exactly=0)
    if not args.force and not confirm(PRUNE_WARNING):
        return 0
    deleted = ctx.networks().prune(filters)
    if deleted:
        print("Deleted Networks:\n" + "".join(name + "\n" for name in deleted))
    return 0


@_docker_status
def cmd_connect(ctx, args) -> int:
    check_args("connect", args.args, exactly=2)
    endpoint = runtime_pb2.EndpointSettings(ipam_config=runtime_pb2.EndpointIPAMConfig(ipv4_address=args.ip),
                                            aliases=string_slice(args.alias))
    ctx.networks().connect(args.args[0], args.args[1], endpoint)
    return 0


@_docker_status
def cmd_disconnect(ctx, args) -> int:
    check_args("disconnect", args.args, exactly=2)
    ctx.networks().disconnect(args.args[0], args.args[1], args.force)
    return 0


def is_user_defined(mode: str) -> bool:
    """container.NetworkMode.IsUserDefined: not default, bridge, host, none
    or container:<id>."""
    return mode not in ("default", "bridge", "host", "none") and not mode.startswith("container:")


class _Parser(argparse.ArgumentParser):
    """A ``network`` subcommand's parser: positionals and flags in any order,
    as pflag reads them; a flag error exits 125."""

    _inner = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(FLAG_ERROR)


def _show_help(parser: argparse.ArgumentParser) -> Callable[[Any, argparse.Namespace], int]:
    def show(ctx, args) -> int:
        parser.print_help(sys.stderr)  # command.ShowHelp: on stderr, exit 0
        return 0

    return show


def register(sub) -> None:
    group = sub.add_parser("network", help="Manage networks")
    commands = group.add_subparsers(dest="network_command", metavar="COMMAND", parser_class=_Parser)
    group.set_defaults(func=_show_help(group))

    def command(name: str, func, positionals: str, aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        p = commands.add_parser(name, aliases=list(aliases), help=USAGE[name][1],
                                usage=f"barque network {USAGE[name][0]}", description=USAGE[name][1])
        p.set_defaults(func=func)
        # counted by the command (check_args), so a wrong count gets Docker's message and exit 1
        p.add_argument("args", nargs="*", metavar="ARG", help=positionals or argparse.SUPPRESS)
        return p

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
