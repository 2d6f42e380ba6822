"""Ports as Docker shows them: ``ps``'s PORTS column (docker-cli 20.10
``cli/command/formatter/container.go`` DisplayablePorts) and ``barque port``
(``cli/command/container/port.go``)."""

from __future__ import annotations

import functools
import sys
from typing import Any, Iterable, Mapping, Protocol

from cli.commands import add_command
from client.errors import InvalidArgument, NotFound

__all__ = ["displayable_ports", "port_lines", "mapping_lines", "natural_less", "register"]


class PortLike(Protocol):
    """Docker's types.Port (barque.runtime.v1.Port has these fields)."""

    ip: str
    private_port: int
    public_port: int
    type: str


def displayable_ports(ports: Iterable[PortLike]) -> str:
    """"0.0.0.0:8000-8001->8000-8001/tcp, 9988/tcp": consecutive ports of one
    address and protocol grouped into ranges, a port published elsewhere than
    its own number listed alone and last, comma-space joined."""
    ordered = sorted(ports, key=lambda p: (p.private_port, p.ip, p.public_port, p.type))
    groups: dict[str, list[int]] = {}  # key -> [first, last], in creation order
    result: list[str] = []
    host_mappings: list[str] = []
    for port in ordered:
        current = port.private_port
        key = port.type
        if port.ip:
            if port.public_port != current:
                host_mappings.append(f"{port.ip}:{port.public_port}->{port.private_port}/{port.type}")
                continue
            key = f"{port.ip}/{port.type}"
        group = groups.get(key)
        if group is None:
            groups[key] = [current, current]
            continue
        if current == (group[1] + 1) & 0xFFFF:  # Go's uint16
            group[1] = current
            continue
        result.append(_form_group(key, *group))
        groups[key] = [current, current]
    result += [_form_group(key, *group) for key, group in groups.items()]
    return ", ".join(result + host_mappings)


def _form_group(key: str, first: int, last: int) -> str:
    parts = key.split("/")
    ip, kind = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{ip}:{group}->{group}"
    return f"{group}/{kind}"


def natural_less(a: str, b: str) -> bool:
    """fvbommel/sortorder NaturalLess, as docker-cli sorts ``port``'s lines:
    runs of digits compare as numbers, digits before other characters."""
    i = j = 0
    while i < len(a) and j < len(b):
        da, db = a[i].isdigit() and a[i].isascii(), b[j].isdigit() and b[j].isascii()
        if da != db:
            return da
        if not da:
            if a[i] != b[j]:
                return a[i] < b[j]
            i, j = i + 1, j + 1
            continue
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        nz_a, nz_b = i, j
        while i < len(a) and a[i] in "0123456789":
            i += 1
        while j < len(b) and b[j] in "0123456789":
            j += 1
        if i - nz_a != j - nz_b:
            return i - nz_a < j - nz_b
        if a[nz_a:i] != b[nz_b:j]:
            return a[nz_a:i] < b[nz_b:j]
        if nz_a != nz_b:
            return nz_a < nz_b
    return len(a) < len(b)


def _natural_cmp(a: str, b: str) -> int:
    return -1 if natural_less(a, b) else (1 if natural_less(b, a) else 0)


_natural_key = functools.cmp_to_key(_natural_cmp)


def port_lines(ports: Mapping[str, Any]) -> list[str]:
    """``barque port NAME``: "80/tcp -> 0.0.0.0:8080" per binding of
    NetworkSettings.Ports (Docker 20.10's text), in natural order."""
    lines = [f"{key} -> {b.get('HostIp', '')}:{b.get('HostPort', '')}"
             for key, bindings in ports.items() for b in bindings or ()]
    return sorted(lines, key=_natural_key)


def mapping_lines(ports: Mapping[str, Any], spec: str, container: str) -> list[str]:
    """``barque port NAME 80[/tcp]``: "0.0.0.0:8080" per binding of that port,
    in the engine's order. Raises InvalidArgument with Docker's text when the
    port is not published (``null``) or the argument is not a port."""
    port, proto = spec, "tcp"
    head, sep, tail = spec.partition("/")
    if sep and tail:
        port, proto = head, tail
    from client.ports import new_port

    key = new_port(proto, port)
    bindings = ports.get(key)
    if bindings is None:  # absent, or null: exposed but not published
        raise InvalidArgument(f"Error: No public port '{port}/{proto}' published for {container}")
    return [f"{b.get('HostIp', '')}:{b.get('HostPort', '')}" for b in bindings]


def cmd_port(ctx, args) -> int:
    """Docker 20.10's ``port``: errors on stderr as Docker prints them, exit 1."""
    try:
        document = ctx.runtime().inspect_document(args.container)
    except NotFound:
        print(f"Error: No such container: {args.container}", file=sys.stderr)
        sys.exit(1)
    ports = (document.get("NetworkSettings") or {}).get("Ports") or {}
    try:
        lines = mapping_lines(ports, args.port, args.container) if args.port else port_lines(ports)
    except InvalidArgument as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
    for line in lines:
        print(line)
    return 0


def register(sub, container_group) -> None:
    for p in add_command([(sub, "port"), (container_group, "port")], cmd_port,
                         help="List port mappings or a specific mapping for the container"):
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
