"""The network state: address leases per network (never one address twice,
across stores opened on one file, as after a restart; static addresses;
ranges), Docker's MACs, subnets chosen clear of the host's networks, and
the first layout read as the current one."""

from __future__ import annotations

import json
import threading

import pytest

from client.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.network.state import (
    Endpoint,
    Network,
    NetworkStore,
    Port,
    first_free_subnet,
    mac_for,
)

NET = Network("n" * 64, "bridge", "barque0", "172.18.0.0/16", "172.18.0.1", builtin=True)
USER = Network("u" * 64, "mynet", "bqbruuuuuuuuuuu", "10.9.0.0/24", "10.9.0.1", ip_range="10.9.0.128/25")


def _lease(store: NetworkStore, cid: str, net: Network = NET, wanted: str = "") -> str:
    with store.locked() as state:
        state.networks.setdefault(net.id, net)
        ip = state.lease(net, cid, wanted)
        ep = Endpoint(cid, net.id, ip, mac_for(ip), "e", f"bq{cid[:10]}0", f"/ns/{cid}")
        state.endpoints.setdefault(ep.key, ep)
        return ip


def test_leases_start_after_the_gateway_and_are_kept(tmp_path):
    store = NetworkStore(tmp_path)
    assert _lease(store, "a" * 64) == "172.18.0.2"
    assert _lease(store, "b" * 64) == "172.18.0.3"
    assert _lease(store, "a" * 64) == "172.18.0.2"  # the same container keeps its address


def test_a_released_address_is_handed_out_again_and_a_new_store_sees_every_lease(tmp_path):
    store = NetworkStore(tmp_path)
    ips = [_lease(store, f"{n:064x}") for n in range(3)]
    with store.locked() as state:
        del state.endpoints[f"{1:064x}/{NET.id}"]
    again = NetworkStore(tmp_path)  # as a restarted runtime opens it
    assert _lease(again, "f" * 64) == ips[1]
    assert _lease(again, "e" * 64) == "172.18.0.5"


def test_concurrent_leases_are_distinct(tmp_path):
    results: list[str] = []

    def take(n: int) -> None:
        results.append(_lease(NetworkStore(tmp_path), f"{n:064x}"))

    threads = [threading.Thread(target=take, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 20


def test_each_network_leases_on_its_own_and_from_its_range(tmp_path):
    store = NetworkStore(tmp_path)
    assert _lease(store, "a" * 64) == "172.18.0.2"
    assert _lease(store, "a" * 64, USER) == "10.9.0.129"
    assert _lease(store, "b" * 64, USER, wanted="10.9.0.7") == "10.9.0.7"
    with pytest.raises(FailedPrecondition, match="Address already in use: 10.9.0.7"):
        _lease(store, "c" * 64, USER, wanted="10.9.0.7")
    with pytest.raises(InvalidArgument, match="does not belong"):
        _lease(store, "c" * 64, USER, wanted="10.10.0.7")
    with store.locked() as state:
        assert [ep.ip for ep in state.of_container("a" * 64)] == ["172.18.0.2", "10.9.0.129"]


def test_a_full_pool_is_refused(tmp_path):
    store = NetworkStore(tmp_path)
    tiny = Network("t" * 64, "tiny", "bqbrt", "10.9.0.0/30", "10.9.0.1")
    _lease(store, "a" * 64, tiny)
    with pytest.raises(FailedPrecondition, match="no available IPv4 addresses"):
        _lease(store, "b" * 64, tiny)


def test_networks_are_found_by_id_name_and_prefix(tmp_path):
    store = NetworkStore(tmp_path)
    with store.locked() as state:
        state.networks = {NET.id: NET, USER.id: USER}
    state = store.read()
    assert state.find("mynet") == USER and state.find("u" * 12) == USER and state.find(NET.id) == NET
    assert state.default() == NET
    with pytest.raises(NotFound, match="network nosuch not found"):
        state.find("nosuch")


def test_ports_and_state_survive_the_file(tmp_path):
    store = NetworkStore(tmp_path)
    with store.locked() as state:
        state.networks[NET.id] = NET
        ep = Endpoint("a", NET.id, "172.18.0.2", mac_for("172.18.0.2"), "e", "bqa0", "/ns/a", active=True,
                      ports=[Port("tcp", 80, "", 8080), Port("udp", 53, "127.0.0.1", 5353)])
        state.endpoints[ep.key] = ep
    state = NetworkStore(tmp_path).read()
    assert state.endpoints[f"a/{NET.id}"] == ep
    assert state.published() == [("172.18.0.2", Port("tcp", 80, "", 8080)),
                                 ("172.18.0.2", Port("udp", 53, "127.0.0.1", 5353))]


def test_the_first_layout_is_read_as_the_default_network(tmp_path):
    (tmp_path / "state.json").write_text(json.dumps({
        "bridge": {"name": "barque0", "subnet": "172.19.0.0/16", "gateway": "172.19.0.1", "network_id": "n" * 64},
        "endpoints": {"c" * 64: {"container_id": "c" * 64, "ip": "172.19.0.2", "mac": "m", "endpoint_id": "e",
                                 "host_if": "bqcccc", "netns": "/ns/c", "active": True, "ports": []}}}))
    state = NetworkStore(tmp_path).read()
    assert state.default().bridge == "barque0" and state.default().name == "bridge"
    assert [ep.ip for ep in state.of_container("c" * 64)] == ["172.19.0.2"]


def test_macs_are_dockers():
    assert mac_for("172.17.0.2") == "02:42:ac:11:00:02"


def test_the_bridge_subnet_avoids_the_hosts_networks():
    assert first_free_subnet([]) == "172.18.0.0/16"
    assert first_free_subnet(["0.0.0.0/0", "192.0.2.0/24", "172.18.5.0/24", "172.19.0.0/16"]) == "172.20.0.0/16"
    assert first_free_subnet(["172.16.0.0/12"]) == "10.0.0.0/16"
