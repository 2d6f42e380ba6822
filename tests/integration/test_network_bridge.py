"""Container networking through the real CLI, services and kernel: the
default bridge (an address, eth0, a default route), published ports through
DNAT on 127.0.0.1 and on the bridge's address (TCP and UDP), container to
container, outbound NAT to an "upstream" namespace this test makes, the
none/host/container: modes, a host port already taken, 20 concurrent
starts, a runtime SIGKILL in the middle of starts, and cleanup after each.

Traffic stays on this machine: loopback, the engine's own bridge, and the
namespaces and TEST-NET addresses (198.51.100.0/24) the tests create.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

HTTPD = "mkdir -p /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _bridge_address(engine) -> tuple[str, int]:
    """(gateway address, prefix length) of the engine's bridge, from the kernel."""
    out = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", engine.bridge],
                                    capture_output=True, text=True, check=True).stdout)
    info = out[0]["addr_info"][0]
    return info["local"], info["prefixlen"]


def _inspect(engine, cid: str) -> dict:
    return json.loads(engine.ok("inspect", cid).stdout)[0]


def _get(url: str, timeout: float = 10.0) -> str:
    """The body at ``url``, retried until the server answers or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _no_network_left(engine, cid: str) -> None:
    """Nothing of ``cid``'s endpoint remains: veth, namespace binding, DNAT rules."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"bq{cid[:12]}" not in links
    netns = Path(engine.root / "run" / "netns" / cid)
    assert not netns.exists()
    from services.runtime.network import firewall
    from services.runtime.network.manager import chain_prefix

    listing = firewall.listing(prefix=chain_prefix(engine.bridge))
    ip = _state(engine)["endpoints"].get(cid, {}).get("ip")
    assert not ip or ip not in listing


def _state(engine) -> dict:
    """The engine's network state, endpoints by container id (every one here is on the default bridge)."""
    path = engine.state("runtime") / "network" / "state.json"
    doc = json.loads(path.read_text()) if path.exists() else {"endpoints": {}}
    doc["endpoints"] = {ep["container_id"]: ep for ep in doc["endpoints"].values()}
    return doc


# ---- the bridge --------------------------------------------------------------------------------

def test_a_container_on_the_bridge_has_eth0_an_address_and_a_default_route(rt_engine, busybox):
    out = rt_engine.ok("run", "--rm", "--network", "bridge", "--name", "addressed", busybox, "sh", "-c",
                       "ip -o -4 addr show eth0; ip route; cat /sys/class/net/eth0/address; "
                       "tail -1 /etc/hosts; ip -o link | wc -l").stdout.splitlines()
    out = [line.strip() for line in out]
    gateway, prefix = _bridge_address(rt_engine)
    address = out[0].split()[3]
    ip = address.split("/")[0]
    assert address.endswith(f"/{prefix}") and ip != gateway
    assert f"default via {gateway} dev eth0" in out
    assert out[-3] == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert out[-2].split() == [ip, out[-2].split()[1]]  # /etc/hosts ends with the own address and name
    assert out[-1].strip() == "2"  # lo and eth0
    assert rt_engine.ok("ps", "-aq").lines == []


def test_inspect_ps_and_port_show_the_endpoint_and_published_ports(rt_engine, busybox):
    cid = rt_engine.ok("run", "-d", "--network", "bridge", "-p", "127.0.0.1::80", "-p", "5353:53/udp",
                       "--expose", "443", busybox, "sleep", "60").stdout.strip()
    try:
        net = _inspect(rt_engine, cid)["NetworkSettings"]
        gateway, prefix = _bridge_address(rt_engine)
        assert (net["Gateway"], net["IPPrefixLen"]) == (gateway, prefix)
        assert net["Networks"]["bridge"]["IPAddress"] == net["IPAddress"] != ""
        assert net["SandboxKey"] == str(rt_engine.root / "run" / "netns" / cid)
        tcp = net["Ports"]["80/tcp"][0]
        assert tcp["HostIp"] == "127.0.0.1" and int(tcp["HostPort"]) > 0
        assert net["Ports"]["53/udp"] == [{"HostIp": "0.0.0.0", "HostPort": "5353"}]
        assert net["Ports"]["443/tcp"] is None
        ports = rt_engine.ok("ps", "--format", "{{.Ports}}").stdout.strip()
        assert f"127.0.0.1:{tcp['HostPort']}->80/tcp" in ports and "0.0.0.0:5353->53/udp" in ports
        assert rt_engine.ok("port", cid, "80").stdout.strip() == f"127.0.0.1:{tcp['HostPort']}"
    finally:
        rt_engine.ok("rm", "-f", cid)
    _no_network_left(rt_engine, cid)


def test_a_published_port_answers_on_loopback_and_on_the_bridge_address(rt_engine, busybox):
    cid = rt_engine.ok("run", "-d", "--network", "bridge", "-p", "18080:80", "--name", "web", busybox,
                       "sh", "-c", HTTPD).stdout.strip()
    try:
        gateway, _ = _bridge_address(rt_engine)
        assert _get("http://127.0.0.1:18080/").startswith("hello-")
        assert _get(f"http://{gateway}:18080/").startswith("hello-")
        # and from another container, by the container's own address and through the host port
        ip = _inspect(rt_engine, cid)["NetworkSettings"]["IPAddress"]
        out = rt_engine.ok("run", "--rm", "--network", "bridge", busybox, "sh", "-c",
                           f"wget -qO- http://{ip}/ && wget -qO- http://{gateway}:18080/").stdout
        assert out.count("hello-") == 2
    finally:
        rt_engine.ok("rm", "-f", cid)
    _no_network_left(rt_engine, cid)
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:18080/", timeout=1)


def test_a_published_udp_port(rt_engine, busybox):
    """busybox has no UDP server, so one runs in the container's network
    namespace (its SandboxKey): the path under test, DNAT of a UDP host port
    into that namespace, is the kernel's either way."""
    cid = rt_engine.ok("run", "-d", "--network", "bridge", "-p", "127.0.0.1:15353:9000/udp", busybox,
                       "sleep", "60").stdout.strip()
    try:
        sandbox = _inspect(rt_engine, cid)["NetworkSettings"]["SandboxKey"]
        server = subprocess.Popen(
            ["nsenter", f"--net={sandbox}", sys.executable, "-c",
             "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9000)); "
             "print('ready', flush=True); data, peer = s.recvfrom(100); s.sendto(data.upper(), peer)"],
            stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().strip() == "ready"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.sendto(b"datagram-through-dnat", ("127.0.0.1", 15353))
                assert s.recvfrom(100)[0] == b"DATAGRAM-THROUGH-DNAT"
            assert server.wait(10) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            server.stdout.close()
    finally:
        rt_engine.ok("rm", "-f", cid)
    _no_network_left(rt_engine, cid)


def test_a_host_port_already_taken_is_refused_and_leaves_nothing(rt_engine, busybox):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = rt_engine.cli("run", "-d", "--network", "bridge", "--name", "clash", "-p", f"127.0.0.1:{port}:80",
                            busybox, "sleep", "60")
    assert res.returncode == 125
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    cid = rt_engine.ok("ps", "-aq", "--no-trunc", "--filter", "name=clash").stdout.strip()
    _no_network_left(rt_engine, cid)
    rt_engine.ok("rm", "clash")
    assert cid not in _state(rt_engine)["endpoints"]


# ---- other modes -------------------------------------------------------------------------------

def test_none_has_only_loopback_up(rt_engine, busybox):
    out = rt_engine.ok("run", "--rm", "--network", "none", busybox, "ip", "-o", "link").stdout.splitlines()
    assert len(out) == 1 and ": lo:" in out[0] and "UP" in out[0]


def test_host_shares_the_hosts_stack(rt_engine, busybox):
    host_addrs = {line.split()[3].split("/")[0] for line in subprocess.run(
        ["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout.splitlines()}
    out = rt_engine.ok("run", "--rm", "--network", "host", busybox, "ip", "-o", "-4", "addr").stdout
    seen = {line.split()[3].split("/")[0] for line in out.splitlines()}
    assert seen == host_addrs
    assert rt_engine.ok("run", "--rm", "--network", "host", busybox, "hostname").stdout.strip() == socket.gethostname()


def test_container_mode_joins_anothers_namespace(rt_engine, busybox):
    cid = rt_engine.ok("run", "-d", "--network", "bridge", "--name", "netowner", busybox, "sleep", "60").stdout.strip()
    try:
        ip = _inspect(rt_engine, cid)["NetworkSettings"]["IPAddress"]
        out = rt_engine.ok("run", "--rm", "--network", "container:netowner", busybox,
                           "ip", "-o", "-4", "addr", "show", "eth0").stdout
        assert f" {ip}/" in out
        res = rt_engine.cli("run", "--rm", "--network", "container:netowner", "-p", "80:80", busybox, "true")
        assert res.returncode == 125 and "conflicting options: port publishing" in res.stderr
    finally:
        rt_engine.ok("rm", "-f", cid)
    res = rt_engine.cli("run", "--rm", "--network", "container:netowner", busybox, "true")
    assert res.returncode == 125 and "No such container: netowner" in res.stderr


def test_an_unknown_network_is_refused(rt_engine, busybox):
    res = rt_engine.cli("run", "--rm", "--network", "nosuchnet", busybox, "true")
    assert res.returncode == 125 and "network nosuchnet not found" in res.stderr
    assert rt_engine.ok("ps", "-aq").lines == []


# ---- many, and a crash ---------------------------------------------------------------------------

def test_twenty_concurrent_starts_get_twenty_addresses(rt_engine, busybox):
    ids: list[str] = []
    errors: list[str] = []

    def start() -> None:
        res = rt_engine.cli("run", "-d", "--network", "bridge", busybox, "sleep", "60")
        (ids if res.returncode == 0 else errors).append(res.stdout.strip() or res.stderr)

    threads = [threading.Thread(target=start) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        addresses = [_inspect(rt_engine, cid)["NetworkSettings"]["IPAddress"] for cid in ids]
        assert len(set(addresses)) == 20 and "" not in addresses
    finally:
        if ids:
            rt_engine.ok("rm", "-f", *ids)
    for cid in ids:
        _no_network_left(rt_engine, cid)
    assert _state(rt_engine)["endpoints"] == {}


def test_a_runtime_killed_among_starts_leaves_consistent_leases(fresh_rt_engine_net, test_images):
    eng = fresh_rt_engine_net
    ref = test_images["oci-gzip"].ref
    eng.ok("pull", ref)
    first = eng.ok("run", "-d", "--network", "bridge", ref, "sleep", "120").stdout.strip()
    results: list[subprocess.CompletedProcess] = []

    def start() -> None:
        results.append(subprocess.run([sys.executable, "-m", "cli", "run", "-d", "--network", "bridge", ref,
                                       "sleep", "120"], capture_output=True, text=True,
                                      env={**os.environ, **eng.env}, timeout=120))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.4)
    eng.stop_service("runtime", kill=True)
    for t in threads:
        t.join()
    eng.start("runtime")
    existing = set(eng.ok("ps", "-aq", "--no-trunc").lines)
    endpoints = _state(eng)["endpoints"]
    assert set(endpoints) <= existing
    addresses = [ep["ip"] for ep in endpoints.values()]
    assert len(addresses) == len(set(addresses))
    assert first in endpoints and endpoints[first]["active"]
    running = set(eng.ok("ps", "-q", "--no-trunc").lines)
    for cid in running:
        assert _inspect(eng, cid)["NetworkSettings"]["IPAddress"] == endpoints[cid]["ip"]
    eng.ok("rm", "-f", *existing)
    assert _state(eng)["endpoints"] == {}
    for cid in existing:
        _no_network_left(eng, cid)


def test_a_runtime_restart_rewrites_no_duplicate_rule(fresh_rt_engine_net, test_images):
    from services.runtime.network import firewall
    from services.runtime.network.manager import chain_prefix

    eng = fresh_rt_engine_net
    ref = test_images["oci-gzip"].ref
    eng.ok("pull", ref)
    cid = eng.ok("run", "-d", "--network", "bridge", "-p", "127.0.0.1:18090:80", ref, "sleep", "120").stdout.strip()
    before = firewall.listing(prefix=chain_prefix(eng.bridge))
    eng.restart("runtime")
    eng.restart("runtime")
    assert firewall.listing(prefix=chain_prefix(eng.bridge)) == before
    assert before.count("--dport 18090") == 1
    eng.ok("rm", "-f", cid)
    assert "18090" not in firewall.listing(prefix=chain_prefix(eng.bridge))


def test_a_container_that_died_while_the_runtime_was_down_loses_its_lease(fresh_rt_engine_net, test_images):
    eng = fresh_rt_engine_net
    ref = test_images["oci-gzip"].ref
    eng.ok("pull", ref)
    cid = eng.ok("run", "-d", "--network", "bridge", "-p", "127.0.0.1:18091:80", ref, "sleep", "120").stdout.strip()
    pid = _inspect(eng, cid)["State"]["Pid"]
    eng.stop_service("runtime")
    os.kill(pid, 9)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=10, what="the container's end")
    assert cid in _state(eng)["endpoints"]  # nobody was there to release it
    eng.start("runtime")
    assert cid not in _state(eng)["endpoints"]
    _no_network_left(eng, cid)
    assert _inspect(eng, cid)["State"]["ExitCode"] == 137
    # started again, it is on the bridge again
    eng.ok("start", cid)
    assert _inspect(eng, cid)["NetworkSettings"]["IPAddress"] == _state(eng)["endpoints"][cid]["ip"]
    eng.ok("rm", "-f", cid)
    _no_network_left(eng, cid)


@pytest.fixture
def fresh_rt_engine_net():
    from tests.support.runtime import close_runtime_engine, start_runtime_engine

    eng = start_runtime_engine()
    try:
        yield eng
    finally:
        close_runtime_engine(eng)




# ---- outbound NAT and name servers ---------------------------------------------------------------

UPSTREAM_NET = "198.51.100.0/24"   # TEST-NET-2: no host route uses it
UPSTREAM_SERVER = "198.51.100.7"


@pytest.fixture
def upstream():
    """An "upstream" network namespace of the test's: a veth to the host
    (10.213.9.1 here, 10.213.9.2 there), a route to TEST-NET-2 through it,
    and an HTTP server on 198.51.100.7:8000 inside that logs its clients."""
    ns = f"bqtest-up-{os.getpid()}"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("ip", "netns", "add", ns)
    server = None
    try:
        run("ip", "link", "add", "bqtup0", "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "addr", "add", "10.213.9.1/30", "dev", "bqtup0")
        run("ip", "link", "set", "bqtup0", "up")
        for cmd in (["ip", "addr", "add", "10.213.9.2/30", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{UPSTREAM_SERVER}/32", "dev", "lo"]):
            run("ip", "netns", "exec", ns, *cmd)
        run("ip", "route", "add", UPSTREAM_NET, "via", "10.213.9.2")
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", "--bind",
                                   UPSTREAM_SERVER, "8000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, cwd="/")
        yield server
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
            server.stderr.close()
        subprocess.run(["ip", "route", "del", UPSTREAM_NET], capture_output=True)
        subprocess.run(["ip", "link", "del", "bqtup0"], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_a_container_reaches_an_upstream_server_through_nat(rt_engine, busybox, upstream):
    out = rt_engine.ok("run", "--rm", "--network", "bridge", busybox, "sh", "-c",
                       f"for i in 1 2 3 4 5; do wget -qO- http://{UPSTREAM_SERVER}:8000/ && break; sleep 0.5; done"
                       ).stdout
    assert "Directory listing" in out
    upstream.terminate()
    log = upstream.communicate(timeout=10)[1]
    # the server saw the host's address on its link, not the container's: masqueraded
    assert "10.213.9.1 - - " in log and "GET / " in log


def test_a_published_port_answers_another_host(rt_engine, busybox, upstream):
    """From the upstream namespace, standing for another machine, to this
    host's address on that link: PREROUTING's DNAT, not OUTPUT's."""
    cid = rt_engine.ok("run", "-d", "--network", "bridge", "-p", "18082:80", busybox, "sh", "-c", HTTPD
                       ).stdout.strip()
    try:
        ns = f"bqtest-up-{os.getpid()}"
        probe = (f"import urllib.request, time\n"
                 f"for i in range(50):\n"
                 f"    try:\n"
                 f"        print(urllib.request.urlopen('http://10.213.9.1:18082/', timeout=2).read().decode()); break\n"
                 f"    except OSError:\n"
                 f"        time.sleep(0.1)\n")
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", probe],
                             capture_output=True, text=True, timeout=30).stdout
        assert out.startswith("hello-")
    finally:
        rt_engine.ok("rm", "-f", cid)
    _no_network_left(rt_engine, cid)


def test_name_servers_come_from_the_configured_upstream(tmp_path, test_images):
    """The engine's resolv.conf source names a server this test runs (on
    the engine's bridge address); a container resolves a name through it."""
    from dnslib import RR, A, QTYPE, DNSRecord

    from tests.support.runtime import close_runtime_engine, start_runtime_engine

    source = tmp_path / "resolv.conf"
    source.write_text("nameserver 10.213.77.1\nsearch test.internal\noptions ndots:1\n")
    eng = start_runtime_engine(BARQUE_BRIDGE_SUBNET="10.213.77.0/24", BARQUE_RESOLV_CONF=str(source))
    stop = threading.Event()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server = None
    try:
        ref = test_images["oci-gzip"].ref
        eng.ok("pull", ref)
        assert eng.ok("run", "--rm", "--network", "bridge", ref, "cat", "/etc/resolv.conf").stdout == (
            "nameserver 10.213.77.1\nsearch test.internal\noptions ndots:1\n")
        sock.bind(("10.213.77.1", 53))  # the bridge exists now
        sock.settimeout(0.2)
        asked: list[str] = []

        def serve() -> None:
            while not stop.is_set():
                try:
                    data, peer = sock.recvfrom(512)
                except TimeoutError:
                    continue
                query = DNSRecord.parse(data)
                asked.append(str(query.q.qname))
                reply = query.reply()
                if query.q.qtype == QTYPE.A:
                    reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("10.213.77.99"), ttl=60))
                sock.sendto(reply.pack(), peer)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        out = eng.ok("run", "--rm", "--network", "bridge", ref, "nslookup", "web").stdout
        assert "10.213.77.99" in out
        assert "web.test.internal." in asked
        out = eng.ok("run", "--rm", "--network", "bridge", "--dns", "10.213.77.1", "--dns-search", "other.example",
                     ref, "cat", "/etc/resolv.conf").stdout
        assert out == "search other.example\nnameserver 10.213.77.1\noptions ndots:1\n"
    finally:
        stop.set()
        if server is not None:
            server.join(5)
        sock.close()
        close_runtime_engine(eng)

