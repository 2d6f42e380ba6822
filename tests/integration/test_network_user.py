"""User-defined networks through the real CLI, services and kernel: name
resolution by name, alias and short id through the embedded DNS, containers
on two networks, isolation between networks, an internal network with no
route out, forwarding of other names to an upstream server this test runs,
connect and disconnect while running, and a runtime SIGKILL and restart.

The engine's upstream name server setting (BARQUE_RESOLV_CONF) always names
the test's own server: no query reaches the machine's resolver.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.errors import BarqueError
from tests.integration.test_network_bridge import UPSTREAM_SERVER, upstream  # noqa: F401 - a fixture
from tests.support.engine import Engine
from tests.support.runtime import close_runtime_engine, start_runtime_engine, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

HTTPD = "mkdir -p /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


class Upstream:
    """A DNS server of the test's on a loopback address: answers
    ``*.upstream.test`` with 10.213.5.5, NXDOMAIN otherwise, and records what it was asked."""

    def __init__(self) -> None:
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord

        self.asked: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.213.53.1", 53))
        self.sock.settimeout(0.2)
        self.address = "127.213.53.1"
        self._stop = threading.Event()

        def serve() -> None:
            while not self._stop.is_set():
                try:
                    data, peer = self.sock.recvfrom(2048)
                except TimeoutError:
                    continue
                query = DNSRecord.parse(data)
                name = str(query.q.qname)
                self.asked.append(name)
                reply = query.reply()
                if name.endswith("upstream.test.") and query.q.qtype == QTYPE.A:
                    reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("10.213.5.5"), ttl=60))
                else:
                    reply.header.rcode = RCODE.NXDOMAIN
                self.sock.sendto(reply.pack(), peer)

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture(scope="module")
def dns_upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def net_engine(tmp_path_factory, dns_upstream: Upstream, test_images) -> Iterator[tuple[Engine, str]]:
    """An engine whose upstream name server is the test's; busybox pulled."""
    resolv = tmp_path_factory.mktemp("resolv") / "resolv.conf"
    resolv.write_text(f"nameserver {dns_upstream.address}\n")
    eng = start_runtime_engine(BARQUE_RESOLV_CONF=str(resolv))
    try:
        ref = test_images["oci-gzip"].ref
        eng.ok("pull", ref)
        yield eng, ref
    finally:
        for name in eng.ok("network", "ls", "-q", "-f", "type=custom").lines:
            eng.cli("network", "rm", name)
        close_runtime_engine(eng)


def _ip(eng: Engine, cid: str, network: str) -> str:
    doc = json.loads(eng.ok("inspect", cid).stdout)[0]
    return doc["NetworkSettings"]["Networks"][network]["IPAddress"]


def _lookup(eng: Engine, ref: str, network: str, name: str) -> str:
    """busybox nslookup's answer in a fresh container on ``network``."""
    res = eng.cli("run", "--rm", "--network", network, ref, "nslookup", name)
    return res.stdout + res.stderr


def test_names_aliases_and_short_ids_resolve_on_a_network(net_engine):
    eng, ref = net_engine
    eng.ok("network", "create", "appnet")
    db = eng.ok("run", "-d", "--network", "appnet", "--name", "db", "--network-alias", "database", ref,
                "sh", "-c", HTTPD).stdout.strip()
    try:
        ip = _ip(eng, db, "appnet")
        for name in ("db", "database", db[:12], "DB"):
            assert f"Address: {ip}" in _lookup(eng, ref, "appnet", name), name
        out = eng.ok("run", "--rm", "--network", "appnet", ref, "sh", "-c",
                     "for i in 1 2 3 4 5; do wget -qO- http://db/ && break; sleep 0.3; done").stdout
        assert out.startswith("hello-")
        resolv = eng.ok("run", "--rm", "--network", "appnet", ref, "cat", "/etc/resolv.conf").stdout
        gateway = json.loads(eng.ok("network", "inspect", "appnet").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
        assert f"nameserver {gateway}" in resolv and "options ndots:0" in resolv
    finally:
        eng.ok("rm", "-f", db)
        eng.ok("network", "rm", "appnet")


def test_other_names_go_upstream_and_the_default_bridge_has_no_names(net_engine, dns_upstream):
    eng, ref = net_engine
    eng.ok("network", "create", "fwdnet")
    web = eng.ok("run", "-d", "--name", "bridged", ref, "sleep", "60").stdout.strip()
    try:
        assert "Address: 10.213.5.5" in _lookup(eng, ref, "fwdnet", "www.upstream.test")
        assert "www.upstream.test." in dns_upstream.asked
        # on the default bridge, names are not resolved: no responder answers on its gateway
        # (the container asks the gateway, which nothing serves: the query stays on this machine)
        gateway = json.loads(eng.ok("network", "inspect", "bridge").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
        res = eng.cli("run", "--rm", "--dns", gateway, ref, "nslookup", "bridged")
        assert "Address: " + _ip(eng, web, "bridge") not in res.stdout
    finally:
        eng.ok("rm", "-f", web)
        eng.ok("network", "rm", "fwdnet")


def test_two_networks_each_and_isolation(net_engine):
    eng, ref = net_engine
    eng.ok("network", "create", "front")
    eng.ok("network", "create", "back")
    ids = []
    try:
        api = eng.ok("run", "-d", "--network", "front", "--name", "api", ref, "sh", "-c", HTTPD).stdout.strip()
        ids.append(api)
        eng.ok("network", "connect", "--alias", "backend-api", "back", "api")
        store = eng.ok("run", "-d", "--network", "back", "--name", "store", ref, "sh", "-c", HTTPD).stdout.strip()
        ids.append(store)
        front_only = eng.ok("run", "-d", "--network", "front", "--name", "frontonly", ref, "sleep", "60").stdout.strip()
        ids.append(front_only)
        # api is on both: it resolves and reaches store, store resolves it by its alias on back
        out = eng.ok("exec", "api", "sh", "-c", "nslookup store; wget -qO- http://store/").stdout
        assert _ip(eng, store, "back") in out and "hello-" in out
        assert _ip(eng, api, "back") in eng.ok("exec", "store", "nslookup", "backend-api").stdout
        # frontonly is not on back: store's name does not resolve, and its address is not reachable
        assert _ip(eng, store, "back") not in eng.cli("exec", "frontonly", "nslookup", "store").stdout
        res = eng.cli("exec", "frontonly", "ping", "-c", "1", "-W", "1", _ip(eng, store, "back"))
        assert res.returncode != 0
        assert eng.cli("exec", "frontonly", "ping", "-c", "1", "-W", "2", _ip(eng, api, "front")).returncode == 0
    finally:
        if ids:
            eng.ok("rm", "-f", *ids)
        eng.ok("network", "rm", "front", "back")


def test_connect_and_disconnect_while_running(net_engine):
    eng, ref = net_engine
    eng.ok("network", "create", "--subnet", "10.213.60.0/24", "live")
    cid = eng.ok("run", "-d", "--name", "mover", ref, "sleep", "60").stdout.strip()
    try:
        eng.ok("network", "connect", "--ip", "10.213.60.9", "live", "mover")
        out = eng.ok("exec", "mover", "ip", "-o", "-4", "addr").stdout
        assert "eth1" in out and "10.213.60.9/24" in out
        assert _ip(eng, cid, "live") == "10.213.60.9"
        net = json.loads(eng.ok("network", "inspect", "live").stdout)[0]
        assert net["Containers"][cid]["IPv4Address"] == "10.213.60.9/24"
        res = eng.cli("network", "rm", "live")
        assert res.returncode != 0 and "has active endpoints" in res.stderr
        eng.ok("network", "disconnect", "live", "mover")
        assert "10.213.60.9" not in eng.ok("exec", "mover", "ip", "-o", "-4", "addr").stdout
        assert "live" not in json.loads(eng.ok("inspect", cid).stdout)[0]["NetworkSettings"]["Networks"]
    finally:
        eng.ok("rm", "-f", cid)
        eng.ok("network", "rm", "live")


def test_disconnected_from_every_network_it_keeps_lo_and_restarts(net_engine):
    """The fuzzer's find: a running container disconnected from its last
    network lost its namespace's binding, so a later connect made a namespace
    it was not in, and a restart failed. Now it keeps its namespace (lo
    only), a connect puts eth0 in it, and a restart with no network gives
    it a fresh one with lo, as Docker's; the binding goes with the container."""
    eng, ref = net_engine
    cid = eng.ok("run", "-d", ref, "sleep", "60").stdout.strip()
    netns = Path(eng.root / "run" / "netns" / cid)
    try:
        eng.ok("network", "disconnect", "bridge", cid)
        assert json.loads(eng.ok("inspect", cid).stdout)[0]["NetworkSettings"]["Networks"] == {}
        assert eng.ok("exec", cid, "ls", "/sys/class/net").stdout.split() == ["lo"]
        assert netns.exists()
        eng.ok("network", "connect", "bridge", cid)
        out = eng.ok("exec", cid, "ip", "-o", "-4", "addr").stdout
        assert "eth0" in out and _ip(eng, cid, "bridge") in out
        assert "default via" in eng.ok("exec", cid, "ip", "route").stdout
        eng.ok("network", "disconnect", "bridge", cid)
        eng.ok("restart", "-t", "0", cid)
        assert json.loads(eng.ok("inspect", cid).stdout)[0]["State"]["Running"] is True
        assert eng.ok("exec", cid, "ls", "/sys/class/net").stdout.split() == ["lo"]
        assert "127.0.0.1" in eng.ok("exec", cid, "ip", "-o", "-4", "addr").stdout  # lo is up
        eng.ok("stop", "-t", "0", cid)
        assert not netns.exists(), "the namespace's binding outlived the container's run"
    finally:
        eng.ok("rm", "-f", cid)
    assert not netns.exists()


def test_an_internal_network_has_no_route_out(net_engine, upstream):  # noqa: F811 - the fixture
    eng, ref = net_engine
    eng.ok("network", "create", "--internal", "sealed")
    eng.ok("network", "create", "open")
    try:
        probe = f"wget -qO- http://{UPSTREAM_SERVER}:8000/ >/dev/null && echo reached || echo blocked"
        assert eng.ok("run", "--rm", "--network", "open", ref, "sh", "-c", probe).stdout.strip() == "reached"
        assert eng.ok("run", "--rm", "--network", "sealed", ref, "sh", "-c",
                      f"timeout 5 sh -c '{probe}' || echo blocked").stdout.strip().endswith("blocked")
    finally:
        eng.ok("network", "rm", "sealed", "open")


def test_network_events(net_engine):
    from barque.runtime.v1 import runtime_pb2

    eng, ref = net_engine
    seen: list[str] = []
    with eng.client("runtime") as rt:
        stream = rt.Events(runtime_pb2.EventsRequest())

        def read() -> None:
            try:
                for e in stream:
                    seen.append(f"{e.type} {e.action}")
            except BarqueError:  # the channel closes when the test is done
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        eng.ok("network", "create", "evnet")
        cid = eng.ok("create", "--network", "evnet", ref, "true").stdout.strip()
        eng.ok("start", cid)
        eng.ok("wait", cid)
        eng.ok("rm", cid)
        eng.ok("network", "rm", "evnet")
        wait_for(lambda: "network destroy" in seen, timeout=30, what="the network events")
    reader.join(5)
    assert [e for e in seen if e.startswith("network")] == [
        "network create", "network connect", "network disconnect", "network destroy"]


def test_a_runtime_sigkill_keeps_networks_names_and_leases(tmp_path, dns_upstream, test_images):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {dns_upstream.address}\n")
    eng = start_runtime_engine(BARQUE_RESOLV_CONF=str(resolv))
    try:
        ref = test_images["oci-gzip"].ref
        eng.ok("pull", ref)
        eng.ok("network", "create", "durable")
        keep = eng.ok("run", "-d", "--network", "durable", "--name", "keeper", ref, "sleep", "120").stdout.strip()
        gone = eng.ok("run", "-d", "--network", "durable", "--name", "goner", ref, "sleep", "120").stdout.strip()
        gone_pid = json.loads(eng.ok("inspect", gone).stdout)[0]["State"]["Pid"]
        eng.stop_service("runtime", kill=True)
        os.kill(gone_pid, 9)
        wait_for(lambda: not Path(f"/proc/{gone_pid}").exists(), timeout=10, what="goner's end")
        eng.start("runtime")
        assert f"Address: {_ip(eng, keep, 'durable')}" in _lookup(eng, ref, "durable", "keeper")
        assert "Address: " not in _lookup(eng, ref, "durable", "goner").split("Name:")[-1]
        state = json.loads((eng.state("runtime") / "network" / "state.json").read_text())
        mine = [ep for ep in state["endpoints"].values() if ep["container_id"] in (keep, gone)]
        assert [ep["container_id"] for ep in mine] == [keep]
        eng.ok("rm", "-f", keep, gone)
        eng.ok("network", "rm", "durable")
    finally:
        close_runtime_engine(eng)
