"""The embedded DNS responder as a process (services.runtime.network.dns),
without root: it listens on 127.X.N.1 "gateways" on a high port (Linux
delivers all of 127.0.0.0/8 to lo), clients bind 127.X.N.2 and up as their
source, and the upstream is a fake DNS server this test runs on 127.X.53.1.
No packet leaves loopback; the machine's resolver is never asked."""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

ROOT = Path(__file__).resolve().parents[2]
WEB, DB = "a" * 64, "b" * 64


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind((host, 0))
        port = udp.getsockname()[1]
        tcp.bind((host, port))
        return port


class FakeUpstream:
    """A DNS server on loopback, UDP and TCP: ``example.test`` A 192.0.2.1;
    ``big.test`` truncated over UDP and 40 records over TCP; NXDOMAIN for the
    rest; silent when ``mute``. Records the names it was asked."""

    def __init__(self, host: str) -> None:
        self.host, self.port = host, _free_port(host)
        self.asked: list[tuple[str, str]] = []
        self.mute = False
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._tcp = socket.socket()
        self._udp.bind((host, self.port))
        self._tcp.bind((host, self.port))
        self._tcp.listen(8)
        self._stop_r, self._stop_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def reply(self, data: bytes, tcp: bool) -> bytes | None:
        query = DNSRecord.parse(data)
        name = str(query.q.qname).rstrip(".")
        self.asked.append((name, "tcp" if tcp else "udp"))
        if self.mute:
            return None
        reply = query.reply()
        if name == "example.test":
            reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=42))
        elif name == "big.test" and not tcp:
            reply.header.tc = 1
        elif name == "big.test":
            for i in range(40):
                reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(f"192.0.2.{i + 1}"), ttl=42))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply.pack()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            for sock in (self._udp, self._tcp, self._stop_r):
                sel.register(sock, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is self._stop_r:
                        return
                    if key.fileobj is self._udp:
                        data, addr = self._udp.recvfrom(65535)
                        if (out := self.reply(data, False)) is not None:
                            self._udp.sendto(out, addr)
                    else:
                        conn, _ = self._tcp.accept()
                        with conn:
                            conn.settimeout(2)
                            data = _recv_framed(conn)
                            if (out := self.reply(data, True)) is not None:
                                conn.sendall(len(out).to_bytes(2, "big") + out)

    def close(self) -> None:
        self._stop_w.send(b"x")
        self._thread.join(5)
        for sock in (self._udp, self._tcp, self._stop_r, self._stop_w):
            sock.close()


def _recv_framed(sock: socket.socket) -> bytes:
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data
    return exact(int.from_bytes(exact(2), "big"))


class Responder:
    def __init__(self, tmp: Path, base: str, upstream: FakeUpstream) -> None:
        self.base, self.upstream = base, upstream
        self.table = tmp / "dns-table.json"
        self.pid_file = tmp / "dns.pid"
        self.port = _free_port(f"{base}.0.1")
        self.doc: dict = {
            "upstream": [f"{upstream.host}:{upstream.port}"],
            "networks": {"n0": {"name": "mynet", "gateway": f"{base}.0.1"}},
            "endpoints": [
                {"network": "n0", "container": WEB, "ip": f"{base}.0.2", "names": ["web", "alias1", WEB[:12]]},
                {"network": "n0", "container": DB, "ip": f"{base}.0.3", "names": ["db"]},
            ],
        }
        self.write()
        self.log = open(tmp / "dns.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.runtime.network.dns", "--table", str(self.table),
             "--port", str(self.port), "--pid-file", str(self.pid_file), "--upstream-timeout", "0.5"],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.pid_file.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.output()
            time.sleep(0.02)

    def write(self) -> None:
        tmp = self.table.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.doc))
        os.replace(tmp, self.table)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def ask(self, name: str, qtype: str = "A", *, src: str, gateway: str | None = None, tcp: bool = False,
            timeout: float = 3.0) -> DNSRecord:
        query = DNSRecord.question(name, qtype)
        address = (gateway or f"{self.base}.0.1", self.port)
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.settimeout(timeout)
            sock.bind((src, 0))
            sock.connect(address)
            if tcp:
                sock.sendall(len(query.pack()).to_bytes(2, "big") + query.pack())
                data = _recv_framed(sock)
            else:
                sock.send(query.pack())
                data = sock.recv(65535)
        reply = DNSRecord.parse(data)
        assert reply.header.id == query.header.id
        return reply

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _addresses(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


def _eventually(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[Responder]:
    base = f"127.{random.randint(100, 250)}"
    upstream = FakeUpstream(f"{base}.53.1")
    responder = Responder(tmp_path, base, upstream)
    try:
        yield responder
    finally:
        responder.stop()
        upstream.close()


def test_names_over_udp_and_tcp(dns: Responder):
    src = f"{dns.base}.0.3"
    for tcp in (False, True):
        for name in ("web", "ALIAS1", WEB[:12], "web.mynet"):
            reply = dns.ask(name, src=src, tcp=tcp)
            assert _addresses(reply) == [f"{dns.base}.0.2"] and reply.rr[0].ttl == 600
        assert dns.ask("web", "AAAA", src=src, tcp=tcp).rr == []
        ptr = dns.ask(f"2.0.{dns.base.split('.')[1]}.127.in-addr.arpa", "PTR", src=src, tcp=tcp)
        assert [str(rr.rdata) for rr in ptr.rr] == ["web.mynet."]
    assert dns.upstream.asked == []


def test_forwarding_relays_the_upstream_answer(dns: Responder):
    src = f"{dns.base}.0.2"
    for tcp in (False, True):
        reply = dns.ask("example.test", src=src, tcp=tcp)
        assert _addresses(reply) == ["192.0.2.1"] and reply.rr[0].ttl == 42
        assert dns.ask("nothere", src=src, tcp=tcp).header.rcode == RCODE.NXDOMAIN
    assert dns.upstream.asked == [("example.test", "udp"), ("nothere", "udp"),
                                  ("example.test", "tcp"), ("nothere", "tcp")]
    truncated = dns.ask("big.test", src=src)  # relayed as it is; the client retries over TCP
    assert truncated.header.tc == 1 and truncated.rr == []
    assert len(_addresses(dns.ask("big.test", src=src, tcp=True))) == 40
    stranger = dns.ask("web", src=f"{dns.base}.0.77")  # no endpoint: nothing local, all upstream
    assert stranger.header.rcode == RCODE.NXDOMAIN and dns.upstream.asked[-1] == ("web", "udp")


def test_reload_adds_networks_and_forgets_removed_containers(dns: Responder):
    base = dns.base
    dns.doc["networks"]["n1"] = {"name": "other", "gateway": f"{base}.1.1"}
    dns.doc["endpoints"] += [{"network": "n1", "container": DB, "ip": f"{base}.1.3", "names": ["db"]},
                             {"network": "n1", "container": "c" * 64, "ip": f"{base}.1.4", "names": ["cache"]}]
    dns.write()
    reply = _eventually(lambda: dns.ask("cache", src=f"{base}.1.3", gateway=f"{base}.1.1", timeout=0.3))
    assert _addresses(reply) == [f"{base}.1.4"]
    assert _addresses(dns.ask("cache", src=f"{base}.0.3")) == [f"{base}.1.4"]  # db is on both networks
    assert dns.ask("cache", src=f"{base}.0.2").header.rcode == RCODE.NXDOMAIN  # web is not on other
    assert dns.upstream.asked == [("cache", "udp")]

    dns.doc["endpoints"] = [ep for ep in dns.doc["endpoints"] if ep["container"] != WEB]
    dns.write()
    _eventually(lambda: dns.ask("web", src=f"{base}.0.3").header.rcode == RCODE.NXDOMAIN or _fail())
    assert dns.upstream.asked[-1] == ("web", "udp")

    del dns.doc["networks"]["n1"]
    dns.doc["endpoints"] = [ep for ep in dns.doc["endpoints"] if ep["network"] != "n1"]
    dns.write()

    def unbound() -> None:
        try:
            dns.ask("db", src=f"{base}.1.4", gateway=f"{base}.1.1", timeout=0.3)
        except OSError:  # refused or timed out: nothing listens there any more
            return
        raise AssertionError("still listening")
    _eventually(unbound)
    assert _addresses(dns.ask("db", src=f"{base}.0.3")) == [f"{base}.0.3"]


def _fail() -> None:
    raise AssertionError("not yet")


def test_servfail_when_upstream_fails_and_local_names_meanwhile(dns: Responder):
    src = f"{dns.base}.0.2"
    dns.upstream.mute = True  # it listens, never answers: each query waits the 0.5 s timeout
    slow: list[DNSRecord] = []
    thread = threading.Thread(target=lambda: slow.append(dns.ask("example.test", src=src)))
    started = time.monotonic()
    thread.start()
    time.sleep(0.05)
    assert _addresses(dns.ask("db", src=src)) == [f"{dns.base}.0.3"]
    assert time.monotonic() - started < 0.4  # answered while the forward was still waiting
    thread.join(5)
    assert slow[0].header.rcode == RCODE.SERVFAIL

    dns.doc["upstream"] = [f"{dns.base}.53.2:{dns.port}"]  # nothing listens: refused
    dns.write()
    assert dns.ask("example.test", src=src).header.rcode == RCODE.SERVFAIL
    assert dns.ask("example.test", src=src, tcp=True).header.rcode == RCODE.SERVFAIL
    assert '"dns.upstream_failed"' in dns.output()


def test_malformed_packets_do_not_stop_it(dns: Responder):
    src = f"{dns.base}.0.2"
    good = DNSRecord.question("db").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((src, 0))
        sock.settimeout(2)
        sock.connect((f"{dns.base}.0.1", dns.port))
        for junk in (b"", b"\x01", os.urandom(300), good[:4] + b"\xff" * 20):
            sock.send(junk)
        sock.send(good[:-2])
        assert DNSRecord.parse(sock.recv(512)).header.rcode == RCODE.FORMERR
    with socket.create_connection((f"{dns.base}.0.1", dns.port), timeout=2) as conn:
        conn.sendall(b"\x00\x05abc")  # a frame cut short, then the peer leaves
    assert _addresses(dns.ask("db", src=src)) == [f"{dns.base}.0.3"]
    assert dns.proc.poll() is None


def test_bad_table_keeps_the_old_one_and_sigterm_exits_cleanly(dns: Responder):
    dns.table.write_text("{not json")
    _eventually(lambda: '"dns.table_invalid"' in dns.output() or _fail())
    assert _addresses(dns.ask("db", src=f"{dns.base}.0.2")) == [f"{dns.base}.0.3"]
    dns.proc.send_signal(signal.SIGTERM)
    assert dns.proc.wait(5) == 0
    assert not dns.pid_file.exists()
    assert '"dns.stopped"' in dns.output()
