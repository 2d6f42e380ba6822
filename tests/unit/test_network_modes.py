"""Network modes and published ports as Docker's HostConfig states them."""

from __future__ import annotations

import pytest

from barque.runtime.v1 import runtime_pb2
from client.errors import InvalidArgument, NotFound
from services.runtime.network.manager import PortRequest, chain_prefix
from services.runtime.network.modes import exposed_ports, network_kind, port_requests


def _bindings(**spec: list[tuple[str, str]]) -> dict:
    out = {}
    for key, pairs in spec.items():
        out[key.replace("_", "/")] = runtime_pb2.PortBindings(
            bindings=[runtime_pb2.PortBinding(host_ip=ip, host_port=port) for ip, port in pairs])
    return out


def test_modes():
    assert [network_kind(m) for m in ("", "default", "bridge", "none", "host", "container:abc", "mynet")] == [
        "bridge", "bridge", "bridge", "none", "host", "container", "custom"]
    with pytest.raises(NotFound, match="No such container"):
        network_kind("container:")


def test_exposed_ports_merge_flags_image_and_published():
    assert exposed_ports(["80"], {"ExposedPorts": {"443/tcp": {}, "53/udp": {}}}, {"8080/tcp": None}) == [
        "53/udp", "80/tcp", "443/tcp", "8080/tcp"]


def test_port_requests_from_bindings_and_publish_all():
    bindings = _bindings(**{"80_tcp": [("", "8080"), ("127.0.0.1", "")], "53_udp": [("0.0.0.0", "5300-5310")]})
    reqs = port_requests(bindings, True, ["53/udp", "80/tcp", "443/tcp"])
    assert reqs == [PortRequest("udp", 53, "", 5300, 5310), PortRequest("tcp", 80, "", 8080, 0),
                    PortRequest("tcp", 80, "127.0.0.1", 0, 0), PortRequest("tcp", 443, "", 0, 0)]


@pytest.mark.parametrize("key,port,message", [
    ("80/sctp", "1", "sctp ports is not supported"), ("0/tcp", "1", "from 1 to 65535"),
    ("80/tcp", "70000", "invalid host port"), ("80/tcp", "9-1", "invalid host port"),
    ("x/tcp", "1", "from 1 to 65535"),
])
def test_bad_ports_are_refused(key, port, message):
    with pytest.raises(InvalidArgument, match=message):
        port_requests({key: runtime_pb2.PortBindings(bindings=[runtime_pb2.PortBinding(host_port=port)])}, False, [])


def test_ipv6_host_addresses_are_refused():
    with pytest.raises(InvalidArgument, match="IPv4 only"):
        port_requests(_bindings(**{"80_tcp": [("::1", "80")]}), False, [])


def test_chain_names_per_engine():
    assert chain_prefix("barque0") == "BARQUE"
    assert chain_prefix("bqt123x4") == "BQ-bqt123x4"
