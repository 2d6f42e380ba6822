"""The network state: address leases (never one address twice, across
stores opened on one file, as after a restart), Docker's MACs, the bridge's
subnet chosen clear of the host's networks."""

from __future__ import annotations

import threading

import pytest

from client.errors import FailedPrecondition
from services.runtime.network.state import (
    Bridge,
    Endpoint,
    NetworkStore,
    Port,
    first_free_subnet,
    mac_for,
)


def _bridge(subnet: str = "172.18.0.0/16") -> Bridge:
    return Bridge("barque0", subnet, subnet.split("/")[0][:-1] + "1", "n" * 64)


def _lease(store: NetworkStore, cid: str) -> str:
    with store.locked() as state:
        if state.bridge is None:
            state.bridge = _bridge()
        ip = state.lease(cid)
        state.endpoints.setdefault(cid, Endpoint(cid, ip, mac_for(ip), "e", f"bq{cid[:12]}", f"/ns/{cid}"))
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
        del state.endpoints[f"{1:064x}"]
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


def test_a_full_subnet_is_refused(tmp_path):
    store = NetworkStore(tmp_path)
    with store.locked() as state:
        state.bridge = Bridge("b", "10.9.0.0/30", "10.9.0.1", "n")
        state.endpoints["a"] = Endpoint("a", state.lease("a"), "m", "e", "h", "n")
        with pytest.raises(FailedPrecondition, match="no free address left on b"):
            state.lease("b")


def test_ports_and_state_survive_the_file(tmp_path):
    store = NetworkStore(tmp_path)
    with store.locked() as state:
        state.bridge = _bridge()
        ep = Endpoint("a", "172.18.0.2", mac_for("172.18.0.2"), "e", "bqa", "/ns/a", True,
                      [Port("tcp", 80, "", 8080), Port("udp", 53, "127.0.0.1", 5353)])
        state.endpoints["a"] = ep
    state = NetworkStore(tmp_path).read()
    assert state.endpoints["a"] == ep
    assert state.published() == [("172.18.0.2", Port("tcp", 80, "", 8080)), ("172.18.0.2", Port("udp", 53, "127.0.0.1", 5353))]


def test_macs_are_dockers():
    assert mac_for("172.17.0.2") == "02:42:ac:11:00:02"


def test_the_bridge_subnet_avoids_the_hosts_networks():
    assert first_free_subnet([]) == "172.18.0.0/16"
    assert first_free_subnet(["0.0.0.0/0", "192.0.2.0/24", "172.18.5.0/24", "172.19.0.0/16"]) == "172.20.0.0/16"
    assert first_free_subnet(["172.16.0.0/12"]) == "10.0.0.0/16"
