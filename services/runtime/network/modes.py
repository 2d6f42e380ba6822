"""A container's network settings as Docker's HostConfig states them: which
network mode, and which ports to publish. Pure: what the engine checks at
create, before anything exists."""

from __future__ import annotations

from client.errors import InvalidArgument, NotFound
from services.runtime.network.manager import PortRequest

__all__ = ["network_kind", "port_key", "port_requests", "exposed_ports"]

PROTOCOLS = ("tcp", "udp")


def network_kind(mode: str) -> str:
    """``bridge`` (Docker's "default" too), ``none``, ``host``, ``container``
    (``container:NAME``) or ``custom``: a user-defined network by name or id."""
    if mode in ("", "default", "bridge"):
        return "bridge"
    if mode in ("none", "host"):
        return mode
    if mode.startswith("container:"):
        if len(mode) == len("container:"):
            raise NotFound("No such container: ")
        return "container"
    return "custom"


def port_key(key: str) -> tuple[int, str]:
    """``"80/tcp"`` (or ``"80"``, tcp) as (80, "tcp")."""
    port, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid port {key!r}: publishing {proto} ports is not supported, use tcp or udp")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid port {key!r}: the port must be a number from 1 to 65535")
    return int(port), proto


def _host_ports(text: str, key: str) -> tuple[int, int]:
    """A binding's HostPort: "" (any), "8080" or a range "8000-8010" to pick from."""
    if not text:
        return 0, 0
    first, sep, last = text.partition("-")
    try:
        lo, hi = int(first), int(last) if sep else int(first)
    except ValueError:
        raise InvalidArgument(f"invalid host port {text!r} for {key}") from None
    if not (0 < lo <= hi < 65536):
        raise InvalidArgument(f"invalid host port {text!r} for {key}")
    return lo, hi if sep else 0


def exposed_ports(config_ports, image_config: dict, bindings) -> list[str]:
    """Docker's merged ExposedPorts: the flags', the image's and every published one."""
    keys = set(config_ports) | set((image_config.get("ExposedPorts") or {}).keys()) | set(bindings)
    normal = set()
    for key in keys:
        port, proto = port_key(key)
        normal.add(f"{port}/{proto}")
    return sorted(normal, key=lambda k: (int(k.split("/")[0]), k))


def port_requests(port_bindings, publish_all: bool, exposed: list[str]) -> list[PortRequest]:
    """The host ports to reserve: each binding of HostConfig.PortBindings and,
    with -P, every exposed port not bound otherwise (on a free host port)."""
    out = []
    for key in sorted(port_bindings, key=lambda k: port_key(k)):
        port, proto = port_key(key)
        bindings = list(port_bindings[key].bindings) or [None]
        for b in bindings:
            host_ip = b.host_ip if b is not None else ""
            lo, hi = _host_ports(b.host_port if b is not None else "", key)
            if host_ip in ("0.0.0.0", "::", "[::]"):
                host_ip = ""
            if ":" in host_ip:
                raise InvalidArgument(f"invalid host address {host_ip!r} for {key}: barque's bridge is IPv4 only")
            out.append(PortRequest(proto, port, host_ip, lo, hi))
    if publish_all:
        bound = {port_key(k) for k in port_bindings}
        for key in exposed:
            port, proto = port_key(key)
            if (port, proto) not in bound:
                out.append(PortRequest(proto, port, "", 0, 0))
    return out
