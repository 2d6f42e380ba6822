"""Docker's port and network flag grammar, shared by the CLI and the engine.

The parsers follow go-connections/nat v0.4.0 (``ParsePortSpec``,
``ParsePortSpecs``, ``ParsePortRange``, ``SplitProtoPort``, ``NewPort``), the
version docker-cli 20.10 vendors, and docker-cli 20.10's
``cli/command/container/opts.go`` (``--expose``, the ``-p name=value`` form)
and ``opts/`` validators (``--dns``, ``--dns-search``, ``--add-host``), with
their error messages word for word. The engine's checks of a request follow
moby 20.10's ``verifyContainerSettings``.

Values are plain strings, lists and dicts: this module imports no protobuf,
grpc, service or CLI module, only the error taxonomy.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable, Mapping, NamedTuple

from client.errors import InvalidArgument

__all__ = [
    "HOST_GATEWAY",
    "PortMapping",
    "split_proto_port",
    "parse_port_range",
    "new_port",
    "parse_port_spec",
    "parse_port_specs",
    "convert_to_standard_notation",
    "expose_ports",
    "publish_and_expose",
    "validate_port_bindings",
    "validate_ip_address",
    "validate_dns_search",
    "validate_extra_host",
    "flag_error",
    "go_quote",
]

#: the --add-host value that stands for the host's address as the container sees it
HOST_GATEWAY = "host-gateway"

_PROTOS = ("tcp", "udp", "sctp")


class PortMapping(NamedTuple):
    """One container port ("80/tcp") and one host side of it."""

    port: str
    host_ip: str
    host_port: str


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (strconv.Quote)."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\v": "\\v", "\\": "\\\\", '"': '\\"'}
    out = []
    for ch in text:
        if ch in named:
            out.append(named[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _parse_uint16(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 16)``, its error text included."""
    if not text:
        raise InvalidArgument(f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax")
    n = 0
    for ch in text:
        if ch not in "0123456789":
            raise InvalidArgument(f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax")
        n = n * 10 + ord(ch) - ord("0")
        if n > 0xFFFF:
            raise InvalidArgument(f"strconv.ParseUint: parsing {go_quote(text)}: value out of range")
    return n


def split_proto_port(raw: str) -> tuple[str, str]:
    """nat.SplitProtoPort: "80/udp" -> ("udp", "80"); no protocol is tcp;
    an empty port gives ("", "")."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1:
        return "tcp", raw
    if not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def parse_port_range(ports: str) -> tuple[int, int]:
    """nat.ParsePortRange: "8000" or "8000-8010" -> (start, end)."""
    if not ports:
        raise InvalidArgument("Empty string specified for ports.")
    if "-" not in ports:
        start = _parse_uint16(ports)
        return start, start
    parts = ports.split("-")
    start = _parse_uint16(parts[0])
    end = _parse_uint16(parts[1])
    if end < start:
        raise InvalidArgument(f"Invalid range specified for the Port: {ports}")
    return start, end


def new_port(proto: str, port: str) -> str:
    """nat.NewPort: "80/tcp" or "80-81/tcp"; an empty port is port 0."""
    start, end = parse_port_range(port) if port else (0, 0)
    return f"{start}/{proto}" if start == end else f"{start}-{end}/{proto}"


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _split_host_port(hostport: str) -> str:
    """The host part of Go's ``net.SplitHostPort``, with its errors' text."""

    def fail(why: str) -> InvalidArgument:
        return InvalidArgument(f"address {hostport}: {why}")

    i = hostport.rfind(":")
    if i < 0:
        raise fail("missing port in address")
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise fail("missing ']' in address")
        if end + 1 == len(hostport):
            raise fail("missing port in address")
        if end + 1 != i:
            raise fail("too many colons in address" if hostport[end + 1] == ":" else "missing port in address")
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise fail("too many colons in address")
    if "[" in hostport[j:]:
        raise fail("unexpected '[' in address")
    if "]" in hostport[k:]:
        raise fail("unexpected ']' in address")
    return host


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's ``net.ParseIP``: an IPv4 or IPv6 address, no zone, or None."""
    if "%" in text or not text.isascii():
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ip_string(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Go's ``IP.String``: an IPv4-mapped IPv6 address prints as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def parse_port_spec(raw: str) -> list[PortMapping]:
    """nat.ParsePortSpec: ``[ip:][hostPort:]containerPort[/proto]``, ranges on
    either side (of equal length, or one container port and a host range to
    choose from), an IPv6 host address in brackets. Checks run in Docker's
    order, so the first fault reported is Docker's."""
    raw_ip, host_port, container_port = _split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    try:
        ip = _split_host_port(raw_ip + ":")
    except InvalidArgument as exc:
        raise InvalidArgument(f"Invalid ip address {raw_ip}: {exc}") from exc
    if ip and _parse_ip(ip) is None:
        raise InvalidArgument(f"Invalid ip address: {ip}")
    if not container_port:
        raise InvalidArgument(f"No port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except InvalidArgument as exc:
        raise InvalidArgument(f"Invalid containerPort: {container_port}") from exc
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except InvalidArgument as exc:
            raise InvalidArgument(f"Invalid hostPort: {host_port}") from exc
    if host_port and end - start != host_end - host_start and end != start:
        raise InvalidArgument(
            f"Invalid ranges specified for container and host Ports: {container_port} and {host_port}")
    if proto.lower() not in _PROTOS:
        raise InvalidArgument(f"Invalid proto: {proto}")
    mappings = []
    for i in range(end - start + 1):
        hport = str(host_start + i) if host_port else ""
        if start == end and host_start != host_end:  # one container port, a host range to pick from
            hport = f"{hport}-{host_end}"
        mappings.append(PortMapping(new_port(proto.lower(), str(start + i)), ip, hport))
    return mappings


def parse_port_specs(specs: Iterable[str]) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """nat.ParsePortSpecs: the exposed ports (first-seen order) and, per
    port, its bindings as (host_ip, host_port)."""
    exposed: dict[str, None] = {}
    bindings: dict[str, list[tuple[str, str]]] = {}
    for raw in specs:
        for m in parse_port_spec(raw):
            exposed.setdefault(m.port)
            bindings.setdefault(m.port, []).append((m.host_ip, m.host_port))
    return list(exposed), bindings


def convert_to_standard_notation(specs: Iterable[str]) -> list[str]:
    """docker-cli's ``-p published=8080,target=80,protocol=udp`` form,
    rewritten as "8080:80/udp"; other specs pass unchanged."""
    out = []
    for spec in specs:
        if "=" not in spec:
            out.append(spec)
            continue
        params = {"protocol": "tcp"}
        for param in spec.split(","):
            opt = param.split("=")
            if len(opt) < 2:
                raise InvalidArgument(f"invalid publish opts format (should be name=value but got '{param}')")
            params[opt[0]] = opt[1]
        out.append(f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}")
    return out


def expose_ports(specs: Iterable[str]) -> list[str]:
    """``--expose 80``, ``--expose 7000-7002/udp``: one port key per port,
    as docker-cli expands them (the protocol is passed on as given)."""
    ports: dict[str, None] = {}
    for spec in specs:
        if ":" in spec:
            raise InvalidArgument(f"invalid port format for --expose: {spec}")
        proto, port = split_proto_port(spec)
        try:
            start, end = parse_port_range(port)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid range format for --expose: {spec}, error: {exc}") from exc
        for number in range(start, end + 1):
            ports.setdefault(new_port(proto, str(number)))
    return list(ports)


def publish_and_expose(publish: Iterable[str], expose: Iterable[str]
                       ) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """``-p`` and ``--expose`` as docker-cli's ``parse`` turns them into
    Config.ExposedPorts and HostConfig.PortBindings: a published port is
    exposed too. Raises InvalidArgument with Docker's message."""
    exposed, bindings = parse_port_specs(convert_to_standard_notation(publish))
    seen = dict.fromkeys(exposed)
    for port in expose_ports(expose):
        seen.setdefault(port)
    return list(seen), bindings


def validate_port_bindings(bindings: Mapping[str, Iterable[str]]) -> None:
    """moby 20.10's check of HostConfig.PortBindings, for the engine: each
    key one container port ("80/tcp"), each host port empty, a port or a
    range. ``bindings`` maps a key to its bindings' host ports."""
    for key, host_ports in bindings.items():
        _, port = split_proto_port(key)
        try:
            if port:
                _parse_uint16(port)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid port specification: {go_quote(port)}") from exc
        for host_port in host_ports:
            proto, number = split_proto_port(host_port)
            try:
                new_port(proto, number)
            except InvalidArgument as exc:
                raise InvalidArgument(f"invalid port specification: {go_quote(host_port)}") from exc


def validate_ip_address(value: str) -> str:
    """opts.ValidateIPAddress (``--dns``): the address as Go prints it."""
    ip = _parse_ip(value.strip(" \t\n\r\v\f"))
    if ip is None:
        raise InvalidArgument(f"{value} is not an ip address")
    return _ip_string(ip)


_ALPHA = re.compile(r"[a-zA-Z]")
#: docker-cli's domainRegexp as written, "(:?" typos included (they let
#: colons through); Go's ``\s`` and end of text spelled out for Python
_DOMAIN = re.compile(
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?[\t\n\f\r ]*\Z")


def validate_dns_search(value: str) -> str:
    """opts.ValidateDNSSearch (``--dns-search``): a domain, its trailing dot
    dropped, or "." for none."""
    value = value.strip(" ")
    if value == ".":
        return value
    m = _DOMAIN.match(value) if _ALPHA.search(value) else None
    if m and len(m.group(1)) < 255:
        return m.group(1)
    raise InvalidArgument(f"{value} is not a valid domain")


def validate_extra_host(value: str) -> str:
    """opts.ValidateExtraHost (``--add-host``): "name:ip", split at the first
    colon so the address may be IPv6, or "name:host-gateway"."""
    name, sep, ip = value.partition(":")
    if not sep or not name:
        raise InvalidArgument(f"bad format for add-host: {go_quote(value)}")
    if ip != HOST_GATEWAY:
        try:
            validate_ip_address(ip)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid IP address in add-host: {go_quote(ip)}") from exc
    return value


def flag_error(flag: str, value: str, exc: BaseException) -> InvalidArgument:
    """pflag's message for a value its validator refused."""
    return InvalidArgument(f"invalid argument {go_quote(value)} for {go_quote(flag)} flag: {exc}")
