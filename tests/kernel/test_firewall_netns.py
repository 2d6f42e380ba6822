"""barque's firewall against the real iptables (1.8.9, nf_tables), as root.

The host's own iptables is never touched: every check runs in a Python child
started with ``unshare --net``, whose network namespace (and with it every
table, chain, link and sysctl the check makes) disappears when the child exits.
The child refuses to start unless its namespace differs from pytest's and its
iptables is empty. Processes a check starts inside it are killed by PID there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root]

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = '''
import json, os, shutil, subprocess, sys
assert os.readlink("/proc/self/ns/net") != os.environ["BQTEST_PARENT_NETNS"], "not in a private network namespace"
from services.runtime.network import firewall as fw
from services.runtime.network.firewall import BridgeNet, PublishedPort
SBIN = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
def tool(name):
    return shutil.which(name, path=SBIN)
def save():
    out = subprocess.run([tool("iptables-save")], capture_output=True, text=True, check=True).stdout
    return "\\n".join(ln for ln in out.splitlines() if not ln.startswith("#"))
def ipt(*args, table="filter"):
    subprocess.run([tool("iptables"), "-t", table, *args], check=True)
def chain(name, table="filter"):
    return [ln for ln in save_table(table) if ln.startswith(f"-A {name} ")]
def save_table(table):
    out = subprocess.run([tool("iptables-save"), "-t", table], capture_output=True, text=True, check=True).stdout
    return [ln for ln in out.splitlines() if not ln.startswith("#")]
assert save() == "", "the private namespace has iptables state already"
WEB = PublishedPort("tcp", "", 8080, "10.213.0.2", 80)
NET = BridgeNet("bqtest0", "10.213.0.0/24", (WEB, PublishedPort("udp", "127.0.0.1", 5353, "10.213.0.2", 53)))
'''


def in_netns(body: str) -> dict:
    """Run PRELUDE + `body` in a fresh network namespace; `body` ends by
    printing one JSON object, which is returned."""
    done = subprocess.run(["unshare", "--net", "--", sys.executable, "-c", PRELUDE + textwrap.dedent(body)], check=False,
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "BQTEST_PARENT_NETNS": os.readlink("/proc/self/ns/net")})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


OUR_LINKS = {"bqtest0", "bqtest1", "bqtest1h", "bqtest1c", "bqtest2h", "bqtest2u"}


@pytest.fixture(autouse=True)
def _no_links_left_on_the_host() -> Iterator[None]:
    """The links the checks make live in their private namespaces; none may reach the host's."""
    before = OUR_LINKS & set(os.listdir("/sys/class/net"))
    yield
    assert OUR_LINKS & set(os.listdir("/sys/class/net")) == before


def test_apply_lists_exactly_barques_rules() -> None:
    out = in_netns('''
        fw.apply([NET])
        print(json.dumps({"listing": fw.listing()}))
    ''')
    assert out["listing"].splitlines() == [
        "*filter",
        ":BARQUE-FORWARD - [0:0]",
        "-A FORWARD -j BARQUE-FORWARD",
        "-A BARQUE-FORWARD -o bqtest0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A BARQUE-FORWARD -o bqtest0 -m conntrack --ctstate DNAT -j ACCEPT",
        "-A BARQUE-FORWARD -i bqtest0 -j ACCEPT",
        "COMMIT",
        "*nat",
        ":BARQUE-DNAT - [0:0]",
        ":BARQUE-POSTROUTING - [0:0]",
        "-A PREROUTING -m addrtype --dst-type LOCAL -j BARQUE-DNAT",
        "-A OUTPUT -m addrtype --dst-type LOCAL -j BARQUE-DNAT",
        "-A POSTROUTING -j BARQUE-POSTROUTING",
        "-A BARQUE-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.213.0.2:80",
        "-A BARQUE-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 10.213.0.2:53",
        "-A BARQUE-POSTROUTING -s 10.213.0.0/24 ! -o bqtest0 -j MASQUERADE",
        "-A BARQUE-POSTROUTING -o bqtest0 -m addrtype --src-type LOCAL -j MASQUERADE",
        "-A BARQUE-POSTROUTING -s 10.213.0.0/24 -o bqtest0 -m conntrack --ctstate DNAT -j MASQUERADE",
        "COMMIT",
    ]


def test_applying_again_or_from_a_restarted_process_duplicates_nothing() -> None:
    out = in_netns('''
        fw.apply([NET])
        first = save()
        fw.apply([NET])
        second = save()
        # a service restart: a new process, same namespace
        subprocess.run([sys.executable, "-c", "from services.runtime.network import firewall as fw\\n"
                        "from services.runtime.network.firewall import BridgeNet, PublishedPort\\n"
                        f"fw.apply([{NET!r}])"], check=True)
        third = save()
        print(json.dumps({"first": first, "second": second, "third": third,
                          "left": fw.render([NET], save() + "\\n")}))
    ''')
    assert out["first"] == out["second"] == out["third"]
    rules = [ln for ln in out["first"].splitlines() if ln.startswith("-A ")]
    assert len(rules) == len(set(rules)) == 12  # 4 jumps; 3 forward, 2 dnat, 3 postrouting rules
    assert out["left"] == ""  # iptables-save prints each rule as render spells it


def test_changed_ports_replace_the_old_ones() -> None:
    out = in_netns('''
        fw.apply([NET])
        before_forward = chain("BARQUE-FORWARD")
        moved = BridgeNet("bqtest0", "10.213.0.0/24", (PublishedPort("tcp", "", 9090, "10.213.0.3", 80),))
        fw.apply([moved])
        moved_dnat = chain("BARQUE-DNAT", "nat")
        more = BridgeNet("bqtest0", "10.213.0.0/24", (*moved.ports, PublishedPort("udp", "", 53, "10.213.0.4", 53)))
        fw.apply([more])  # appended to the chain, not rewritten
        print(json.dumps({"dnat": moved_dnat, "more": chain("BARQUE-DNAT", "nat"), "forward": chain("BARQUE-FORWARD"),
                          "before_forward": before_forward, "left": fw.render([more], save() + "\\n")}))
    ''')
    assert out["dnat"] == ["-A BARQUE-DNAT -p tcp -m tcp --dport 9090 -j DNAT --to-destination 10.213.0.3:80"]
    assert out["more"] == out["dnat"] + [
        "-A BARQUE-DNAT -p udp -m udp --dport 53 -j DNAT --to-destination 10.213.0.4:53"]
    assert out["left"] == ""
    assert out["forward"] == out["before_forward"]


def test_forward_jump_sits_first_when_forward_already_drops() -> None:
    out = in_netns('''
        ipt("-P", "FORWARD", "DROP")
        ipt("-A", "FORWARD", "-s", "10.213.9.9/32", "-j", "ACCEPT")
        fw.apply([NET])
        print(json.dumps({"filter": save_table("filter")}))
    ''')
    assert ":FORWARD DROP [0:0]" in out["filter"]
    assert [ln for ln in out["filter"] if ln.startswith("-A FORWARD ")] == [
        "-A FORWARD -j BARQUE-FORWARD", "-A FORWARD -s 10.213.9.9/32 -j ACCEPT"]


def test_remove_restores_the_ruleset_exactly_and_keeps_others_rules() -> None:
    out = in_netns('''
        ipt("-P", "FORWARD", "DROP")
        ipt("-N", "OTHER")
        ipt("-A", "OTHER", "-s", "10.213.9.9/32", "-j", "ACCEPT")
        ipt("-A", "FORWARD", "-j", "OTHER")
        ipt("-A", "POSTROUTING", "-s", "10.213.8.0/24", "-j", "MASQUERADE", table="nat")
        ipt("-A", "OUTPUT", "-d", "10.213.7.7/32", "-j", "RETURN", table="nat")
        before = save()
        fw.apply([NET, BridgeNet("bqtest1", "10.213.1.0/24")])
        during = save()
        fw.remove()
        after = save()
        listing = fw.listing()
        fw.remove()  # nothing left: a no-op, not an error
        print(json.dumps({"before": before, "during": during, "after": after, "listing": listing,
                          "again": save()}))
    ''')
    assert "BARQUE" in out["during"]
    assert out["after"] == out["before"] == out["again"]
    assert out["listing"] == ""


def test_empty_nets_leave_empty_chains_with_their_jumps() -> None:
    out = in_netns('''
        fw.apply([])
        print(json.dumps({"listing": fw.listing()}))
    ''')
    assert [ln for ln in out["listing"].splitlines() if ln.startswith("-A BARQUE-")] == []
    assert "-A FORWARD -j BARQUE-FORWARD" in out["listing"].splitlines()
    assert ":BARQUE-DNAT - [0:0]" in out["listing"].splitlines()


def test_a_refused_batch_is_one_line_and_changes_nothing() -> None:
    # someone else's chain jumps into barque's: barque's chain cannot go
    out = in_netns('''
        fw.apply([NET])
        ipt("-N", "OTHER")
        ipt("-A", "OTHER", "-j", "BARQUE-FORWARD")
        before = save()
        try:
            fw.remove()
            error = None
        except fw.FirewallError as exc:
            error = str(exc)
        print(json.dumps({"error": error, "before": before, "after": save()}))
    ''')
    assert out["error"] is not None and "\n" not in out["error"]
    assert out["error"].startswith("iptables-restore failed (exit 4): ")
    assert "BARQUE-FORWARD" in out["error"]
    assert out["after"] == out["before"]


def test_engines_with_other_prefixes_keep_apart() -> None:
    out = in_netns('''
        fw.apply([NET])
        barque = save()
        other = BridgeNet("bqtest1", "10.213.1.0/24", (PublishedPort("tcp", "", 8081, "10.213.1.2", 80),))
        fw.apply([other], prefix="BQ-bqtest1")
        fw.apply([NET])
        both = save()
        listing = fw.listing(prefix="BQ-bqtest1")
        fw.remove(prefix="BQ-bqtest1")
        print(json.dumps({"barque": barque, "both": both, "listing": listing, "after": save()}))
    ''')
    assert "BQ-bqtest1" in out["both"]
    assert "BARQUE" not in out["listing"]
    assert "-A BQ-bqtest1-DNAT -p tcp -m tcp --dport 8081 -j DNAT --to-destination 10.213.1.2:80" \
        in out["listing"].splitlines()
    assert out["after"] == out["barque"]


SERVER = '''
import signal, socket, socketserver, sys, threading
signal.alarm(30)  # never outlive the check, whatever happens to it
class T(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.client_address[0].encode())
class U(socketserver.BaseRequestHandler):
    def handle(self):
        self.request[1].sendto(self.client_address[0].encode(), self.client_address)
socketserver.ThreadingTCPServer.allow_reuse_address = True
tcp = socketserver.ThreadingTCPServer(("0.0.0.0", int(sys.argv[1])), T)
udp = socketserver.UDPServer(("0.0.0.0", int(sys.argv[1])), U)
threading.Thread(target=udp.serve_forever, daemon=True).start()
print("ready", flush=True)
tcp.serve_forever()
'''


def test_traffic_through_a_bridge_with_forward_dropping() -> None:
    """A "container" and an "upstream" namespace, each a child of the private
    namespace, serving TCP and UDP that answer with the client's address."""
    out = in_netns(f'''
        import socket, time
        SERVER = {SERVER!r}
        def sh(*cmd):
            subprocess.run(cmd, check=True)
        def child(port):
            p = subprocess.Popen(["unshare", "--net", "--", sys.executable, "-c", SERVER, str(port)],
                                 stdout=subprocess.PIPE, text=True)
            assert p.stdout.readline() == "ready\\n"
            return p
        def into(p, host, peer, addr, gw):
            sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
            sh("ip", "link", "set", peer, "netns", str(p.pid))
            ns = ["nsenter", "-t", str(p.pid), "-n", "--"]
            sh(*ns, "ip", "link", "set", "lo", "up")
            sh(*ns, "ip", "addr", "add", addr, "dev", peer)
            sh(*ns, "ip", "link", "set", peer, "up")
            if gw:
                sh(*ns, "ip", "route", "add", "default", "via", gw)
            sh("ip", "link", "set", host, "up")
        def ask(addr, port, proto="tcp", via=None, wait=3):
            code = ("import socket,sys\\n"
                    f"s = socket.socket(socket.AF_INET, socket.SOCK_{{'STREAM' if proto == 'tcp' else 'DGRAM'}})\\n"
                    f"s.settimeout({{wait}})\\n"
                    f"s.connect(({{addr!r}}, {{port}}))\\n"
                    "s.send(b'?')\\n"
                    "print(s.recv(64).decode())\\n")
            cmd = [sys.executable, "-c", code]
            if via:
                cmd = ["nsenter", "-t", str(via.pid), "-n", "--", *cmd]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return done.stdout.strip() or done.stderr.strip().splitlines()[-1]
        sh("ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "bqtest0", "type", "bridge")
        sh("ip", "addr", "add", "10.213.0.1/24", "dev", "bqtest0")
        sh("ip", "link", "set", "bqtest0", "up")
        for path, value in (("ipv4/ip_forward", "1"), ("ipv4/conf/bqtest0/route_localnet", "1")):
            with open(f"/proc/sys/net/{{path}}", "w") as f:
                f.write(value)
        ipt("-P", "FORWARD", "DROP")
        procs = []
        try:
            procs.append(child(80))
            container = procs[0]
            into(container, "bqtest1h", "bqtest1c", "10.213.0.2/24", "10.213.0.1")
            sh("ip", "link", "set", "bqtest1h", "master", "bqtest0")
            procs.append(child(9000))
            into(procs[1], "bqtest2h", "bqtest2u", "10.213.1.2/24", None)
            sh("ip", "addr", "add", "10.213.1.1/24", "dev", "bqtest2h")
            before = {{"outbound": ask("10.213.1.2", 9000, via=container, wait=0.5)}}
            fw.apply([BridgeNet("bqtest0", "10.213.0.0/24", (
                PublishedPort("tcp", "", 8080, "10.213.0.2", 80),
                PublishedPort("udp", "127.0.0.1", 5353, "10.213.0.2", 80)))])
            t0 = time.monotonic()
            result = {{
                "before": before,
                "loopback": ask("127.0.0.1", 8080),
                "bridge_address": ask("10.213.0.1", 8080),
                "udp_loopback": ask("127.0.0.1", 5353, "udp"),
                # br_netfilter (loaded here) bridges the DNATed frame back out of the port it came in by
                "hairpin_port_off": ask("10.213.0.1", 8080, via=container, wait=0.5),
                "outbound": ask("10.213.1.2", 9000, via=container),
                "outbound_udp": ask("10.213.1.2", 9000, "udp", via=container),
            }}
            sh("ip", "link", "set", "bqtest1h", "type", "bridge_slave", "hairpin", "on")
            result["hairpin"] = ask("10.213.0.1", 8080, via=container)
            nf = "/proc/sys/net/bridge/bridge-nf-call-iptables"
            result["br_netfilter"] = open(nf).read().strip() if os.path.exists(nf) else "0"
            fw.remove()
            result["after_remove"] = ask("127.0.0.1", 8080)
        finally:
            for p in procs:
                p.kill()
                p.wait()
        print(json.dumps(result))
    ''')
    assert out["before"]["outbound"].startswith("TimeoutError")  # FORWARD drops it without barque's chain
    assert out["loopback"] == "10.213.0.1"          # 127.0.0.1 masqueraded to the bridge address
    assert out["bridge_address"] == "10.213.0.1"
    assert out["udp_loopback"] == "10.213.0.1"
    assert out["hairpin"] == "10.213.0.1"           # container -> its own published port
    if out["br_netfilter"] == "1":
        # the bridge port needs hairpin mode, as Docker sets it with the proxy off
        assert out["hairpin_port_off"].startswith("TimeoutError")
    assert out["outbound"] == "10.213.1.1"          # masqueraded to the upstream-facing address
    assert out["outbound_udp"] == "10.213.1.1"
    assert out["after_remove"].startswith("ConnectionRefusedError")
