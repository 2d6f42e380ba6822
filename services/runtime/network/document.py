"""Docker's NetworkResource (``docker network inspect``) of a network and the
containers on it, in Docker's key order."""

from __future__ import annotations

from typing import Any

from services.runtime.network.state import Endpoint, Network

__all__ = ["network_json", "DEFAULT_BRIDGE_OPTIONS"]


def DEFAULT_BRIDGE_OPTIONS(bridge: str) -> dict[str, str]:  # noqa: N802 - Docker's table, by bridge name
    """The options Docker shows on its default bridge network."""
    return {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        "com.docker.network.bridge.name": bridge,
        "com.docker.network.driver.mtu": "1500",
    }


def _pool(net: Network) -> list[dict[str, str]]:
    if not net.subnet:
        return []
    pool = {"Subnet": net.subnet}
    if net.ip_range:
        pool["IPRange"] = net.ip_range
    if net.gateway:
        pool["Gateway"] = net.gateway
    return [pool]


def network_json(net: Network, containers: list[tuple[str, Endpoint]]) -> dict[str, Any]:
    """``containers``: (container name, its endpoint on ``net``) of each one on it."""
    default_bridge = net.builtin and net.driver == "bridge"
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": "local",
        "Driver": net.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if net.builtin else {}, "Config": _pool(net)},
        "Internal": net.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {ep.container_id: {"Name": name, "EndpointID": ep.endpoint_id, "MacAddress": ep.mac,
                                         "IPv4Address": f"{ep.ip}/{net.prefix_len}", "IPv6Address": ""}
                       for name, ep in sorted(containers, key=lambda c: c[1].container_id)},
        "Options": DEFAULT_BRIDGE_OPTIONS(net.bridge) if default_bridge else dict(net.options),
        "Labels": dict(net.labels),
    }
