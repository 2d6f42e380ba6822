"""``make bench-net``: barque's default bridge network and a user-defined
network beside docker's and podman's, in one run: the benchmark of issues 11
and 12.

Run from the repository root as root: ``python -m bench.net [--runs 5] [--seconds 5] [--start-runs 15]
[--lookups 1000]``.

1. a fresh Debian ``docker-registry`` on 127.0.0.1 gets the busybox image of
   ``deploy/seed-image.sh``; each engine pulls it once, untimed:

   * barque: its three services under a temp root (tests/support/engine.py), the
     bench's own launcher and warm command server (as bench-run), and its own
     bridge, ``--bridge`` (default ``bqbench0``, ``BARQUE_BRIDGE``), so it never
     meets the host's barque0 or the tests' bridges;
   * docker: the dockerd answering on /var/run/docker.sock when there is one
     (used as it is, never stopped); else exactly one dockerd started for the
     run with its default bridge (docker0), iptables and userland proxy, and a
     private data root, exec root and socket, stopped by PID at the end. The
     bench refuses to start one while any other dockerd process exists;
   * podman: private ``--root``/``--runroot``/``--tmpdir``, cgroupfs, runc, its
     default network (``podman``, CNI here: bridge ``cni-podman0``).

2. TCP throughput with iperf3 (Debian's; busybox has none, so iperf3 runs in the
   containers' network namespaces with ``nsenter --net=<SandboxKey>``, or
   ``/proc/<State.Pid>/ns/net``: the path under test, veth, bridge, NAT and any
   proxy, is the same). Per engine, container A runs ``sleep`` with ``-p
   HOSTPORT:5201`` and an iperf3 server in its namespace; container B is a
   second container on the same default network. Paths:

   * ``host 127.0.0.1``: the host to A through the published port on 127.0.0.1;
   * ``host gateway``: the same on the engine's bridge address (the gateway);
   * ``ctr -> ctr``: B to A by A's address on the bridge;
   * ``ctr -> ctr, user network``: the same between two containers on a
     user-defined network of each engine (``network create benchnet-<pid>``,
     both containers ``run --network`` it, the server one ``--name
     benchnet-<pid>-target``): barque's ``bqbr…`` bridge, docker's ``br-…``,
     podman's CNI ``cni-podman<n>``;
   * ``veth``: the baseline, two namespaces of the bench's own joined by one
     veth pair (no bridge, no NAT), 198.18.0.1/30 and .2 (RFC 2544's range),
     routes only inside those namespaces.

   ``--runs`` rounds of ``--seconds`` s per path, paths and engines alternating
   within each round; medians in Gbit/s (iperf3's receiver figure).

3. name lookups on the user network: from the client container's network
   namespace (``nsenter --net``), the host's venv python sends ``--lookups``
   UDP queries (built with dnslib, one at a time, each timed from send to
   reply) for the target's name to the nameserver the client's
   /etc/resolv.conf names (read with ``exec cat /etc/resolv.conf``): barque's
   responder on the network's gateway, docker's embedded DNS at 127.0.0.11
   (its DNAT rules live in the container's namespace, so ``nsenter --net``
   reaches it as the container does). Only a nameserver that is the engine's
   own (127.0.0.11 or the network's gateway) is queried: podman's CNI
   network without the dnsname plugin hands the host's resolvers, so its
   lookups are skipped. Each reply must be NOERROR with the target's address;
   the first one that is not (or a 1 s timeout) ends that engine's lookups, so
   a name docker's resolver failed to find is forwarded outside at most once.
   ``--runs`` rounds, engines alternating, 20 untimed queries first in each;
   median, p10 and p90 in ms of all the lookups, barque's median as a ratio of
   each other's.

4. start-up: ``run --rm IMAGE true`` on the default network and with
   ``--network none``, two warm-up rounds then ``--start-runs`` rounds, every
   engine and mode once per round; medians, the difference (what the bridge
   adds) per engine, and the paired ratio of barque's default-network run to
   podman's and docker's.

5. prints the table and the targets met or missed (bench/report.py), and writes
   bench/results/net-<YYYYmmdd-HHMMSS>.json.

Traffic stays on this machine: loopback, the engines' bridges and the bench's
own namespaces.

Clean-up, also on failure or Ctrl-C: iperf3 servers stopped by PID, containers
removed with each engine's ``rm -f`` (by id on a reused dockerd), then the user
networks with each engine's ``network rm`` (their bridges checked gone), the bench's
namespaces deleted (their veth with them), barque's services and command server
stopped by PID, its bridge deleted and its chains ``BQ-<bridge>-FORWARD``,
``-DNAT``, ``-POSTROUTING`` and the jumps into them removed in one
``iptables-restore --noflush`` batch, a dockerd the bench started stopped by
PID, temp dirs unmounted and removed. What stays behind is the peers' host
state, as on any host running them: a docker host's firewall state (FORWARD's
policy DROP, the DOCKER chains), the docker0 bridge and br_netfilter's sysctls;
podman's cni-podman0 bridge and CNI chains.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench.barque import BarqueRuntime, CommandServer, install_launcher
from bench.many import alternate
from bench.report import net_targets, print_net_report
from bench.runprofile import median, paired_ratios, spread
from bench.tools import (BridgedDocker, Podman, ToolError, become_subreaper, hard_nofile, reap_orphans,
                         remove_cgroups, run, umount_under)
from tests.support import host
from tests.support.engine import Engine
from tests.support.registry import start_registry

__all__ = ["main", "run_benchmark", "iperf_gbits", "chain_names", "chain_removal", "throughput_summary",
           "startup_summary", "valid_bridge", "lookup_summary", "resolv_nameserver", "dns_lookups", "DNS_LOOP"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "seed-image.sh"
REPO, TAG = "bench/busybox", "latest"
ENGINES = ("barque", "docker", "podman")
DEFAULT_BRIDGE = "bqbench0"
IPERF_PORT = 5201
#: the bare veth baseline: two namespaces, one veth pair, an address of RFC 2544's benchmark range each
VETH_ADDRS = ("198.18.0.1", "198.18.0.2")
#: throughput paths, in each round's order after the veth baseline
PATHS = ("host", "host_gateway", "c2c", "user_c2c")
PATH_TITLES = {"veth": "veth (baseline)", "host": "host -> ctr 127.0.0.1:PORT", "host_gateway": "host -> ctr gateway:PORT",
               "c2c": "ctr -> ctr bridge address", "user_c2c": "ctr -> ctr user network"}
#: the nameserver docker's embedded DNS answers on, inside each container's namespace
DOCKER_EMBEDDED_DNS = "127.0.0.11"
LOOKUP_WARMUP = 20
LOOKUP_TIMEOUT_S = 1.0
CGROUP_PARENTS = {"docker": "bench-net-docker", "podman": "bench-net-podman"}
LABEL = "barque.bench=net"
WARMUP_ROUNDS = 2
_SBIN = ("/usr/sbin", "/sbin")


# --------------------------------------------------------------------- pure parts

def valid_bridge(name: str) -> bool:
    """A bridge name for the bench's engine: 1-13 letters, digits, '-', '_' or '.',
    so that ``BQ-<name>-POSTROUTING`` stays within iptables' 28 characters."""
    return bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,13}", name))


def chain_names(bridge: str) -> dict[str, tuple[str, ...]]:
    """barque's chains of an engine whose bridge is ``bridge`` (not barque0), per table."""
    prefix = f"BQ-{bridge}"
    return {"filter": (f"{prefix}-FORWARD",), "nat": (f"{prefix}-DNAT", f"{prefix}-POSTROUTING")}


_TARGET = re.compile(r"(?:^|\s)-[jg] (\S+)(?=\s|\Z)")


def chain_removal(saved: str, bridge: str) -> str:
    """The ``iptables-restore --noflush`` input that deletes the chains of
    :func:`chain_names` found in ``saved`` (iptables-save output) and every rule
    of another chain jumping into them; "" when there is nothing of them.

    Per table: the jumps are deleted (``-D`` with the rule as saved), then each
    chain is declared (which flushes it under ``--noflush``) and deleted (``-X``).
    Nothing else is touched."""
    ours = chain_names(bridge)
    out: list[str] = []
    table = ""
    chains: dict[str, list[str]] = {}
    rules: dict[str, list[tuple[str, str]]] = {}
    for raw in saved.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            chains.setdefault(table, [])
            rules.setdefault(table, [])
        elif not table or line.startswith("#"):
            continue
        elif line.startswith(":"):
            chains[table].append(line[1:].split()[0])
        elif line.startswith("-A "):
            chain, _, spec = line[3:].partition(" ")
            rules[table].append((chain, spec))
    for name in chains:
        mine = ours.get(name, ())
        present = [c for c in mine if c in chains[name]]
        jumps = [(c, s) for c, s in rules[name] if c not in mine
                 and (m := _TARGET.search(s)) is not None and m.group(1) in mine]
        if present or jumps:
            out += [f"*{name}", *(f"-D {c} {s}" for c, s in jumps), *(f":{c} - [0:0]" for c in present),
                    *(f"-X {c}" for c in present), "COMMIT"]
    return "\n".join(out) + "\n" if out else ""


def iperf_gbits(report: str) -> float:
    """The receiver's throughput of one ``iperf3 -J`` client run, Gbit/s."""
    data = json.loads(report)
    if data.get("error"):
        raise ToolError(f"iperf3: {data['error']}")
    end = data.get("end", {})
    for key in ("sum_received", "sum"):
        if "bits_per_second" in end.get(key, {}):
            return round(end[key]["bits_per_second"] / 1e9, 3)
    raise ToolError("iperf3 -J: no end.sum_received.bits_per_second in its report")


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def throughput_summary(samples: dict[str, dict[str, list[float]]]) -> dict:
    """``samples``: path -> engine -> Gbit/s per round (the baseline as path
    ``veth``, engine ``veth``). Per path and engine the runs and median; per
    path the ratios of the medians: each engine to the baseline, and barque to
    each other engine."""
    base = median(samples.get("veth", {}).get("veth", []))
    out: dict = {"veth": {"runs_gbit": samples.get("veth", {}).get("veth", []), "median_gbit": base}}
    for path in PATHS:
        engines = samples.get(path, {})
        if not engines:
            continue
        meds = {name: median(values) for name, values in engines.items()}
        ratios = {f"{name}/veth": _ratio(m, base) for name, m in meds.items()}
        if meds.get("barque") is not None:
            ratios.update({f"barque/{name}": _ratio(meds["barque"], m) for name, m in meds.items() if name != "barque"})
        out[path] = {"engines": {name: {"runs_gbit": values, "median_gbit": meds[name]}
                                 for name, values in engines.items()},
                     "ratios": {k: v for k, v in ratios.items() if v is not None}}
    return out


def startup_summary(times: dict[str, list[float]]) -> dict:
    """``times``: "<engine> bridge" / "<engine> none" -> seconds per round. Per
    engine both medians and spreads and ``added_s`` (bridge - none medians);
    the paired ratios of the bridge runs (and of the none runs), barque against each other engine."""
    engines: dict[str, dict] = {}
    for label, values in times.items():
        name, mode = label.rsplit(" ", 1)
        engines.setdefault(name, {})[mode] = {"runs_s": values, "median_s": median(values), **spread(values)}
    for modes in engines.values():
        b, n = modes.get("bridge", {}).get("median_s"), modes.get("none", {}).get("median_s")
        modes["added_s"] = None if b is None or n is None else round(b - n, 4)
    by_mode = {mode: {name: times.get(f"{name} {mode}", []) for name in engines} for mode in ("bridge", "none")}
    return {"engines": engines,
            "paired_ratios": {mode: paired_ratios(t) for mode, t in by_mode.items()}}


def resolv_nameserver(text: str) -> str | None:
    """The first ``nameserver`` of a resolv.conf, None when it names none."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            return fields[1]
    return None


def _rank(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def lookup_summary(samples: dict[str, list[list[float]]]) -> dict:
    """``samples``: engine -> one list of lookup latencies (ms) per round. Per
    engine, over every lookup: the count, median, p10, p90 (nearest rank), min
    and max, and each round's median; barque's median as a ratio of each other
    engine's (``ratios``, < 1: barque faster) and the median of the per-round
    ratios of the round medians (``paired_ratios``: the rounds alternate the engines)."""
    engines: dict[str, dict] = {}
    for name, rounds in samples.items():
        values = sorted(v for r in rounds for v in r)
        if not values:
            continue
        engines[name] = {"lookups": len(values), "median_ms": round(statistics.median(values), 4),
                         "p10_ms": round(_rank(values, 0.1), 4), "p90_ms": round(_rank(values, 0.9), 4),
                         "min_ms": round(values[0], 4), "max_ms": round(values[-1], 4),
                         "round_medians_ms": [round(statistics.median(r), 4) for r in rounds if r]}
    out: dict = {"engines": engines, "ratios": {}, "paired_ratios": {}}
    mine = engines.get("barque")
    if mine:
        for name, e in engines.items():
            if name == "barque":
                continue
            out["ratios"][f"barque/{name}"] = _ratio(mine["median_ms"], e["median_ms"])
            pairs = [a / b for a, b in zip(mine["round_medians_ms"], e["round_medians_ms"]) if b]
            if pairs:
                out["paired_ratios"][f"barque/{name}"] = round(statistics.median(pairs), 3)
    return out


#: run by the host's python inside a container's network namespace: ``argv``
#: server port name expected-address count warm-up timeout; prints
#: ``{"ms": [...], "error": str | None}``. One query at a time on one connected
#: UDP socket, timed from send to the reply with its id; the first reply that
#: is not NOERROR with ``expected`` among its A records, or a timeout, ends the loop.
DNS_LOOP = r"""
import json, socket, sys, time
from dnslib import DNSRecord, QTYPE, RCODE
server, port, name, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
count, warmup, timeout = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
query = DNSRecord.question(name, "A")
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(timeout)
sock.connect((server, port))
ms, error = [], None
clock = time.perf_counter_ns
for i in range(warmup + count):
    query.header.id = (i + 1) & 0xFFFF
    packet = query.pack()
    start = clock()
    sock.send(packet)
    try:
        data = sock.recv(4096)
        while data[:2] != packet[:2]:
            data = sock.recv(4096)
    except OSError as exc:
        error = f"query {i}: no reply from {server}:{port} ({exc or 'timed out'})"
        break
    elapsed = clock() - start
    reply = DNSRecord.parse(data)
    answers = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
    if reply.header.rcode != RCODE.NOERROR or expect not in answers:
        error = f"query {i}: {RCODE.get(reply.header.rcode)} {answers}, expected {expect}"
        break
    if i >= warmup:
        ms.append(round(elapsed / 1e6, 4))
print(json.dumps({"ms": ms, "error": error}))
"""


def dns_lookups(server: str, name: str, expect: str, count: int, netns: str | None = None, port: int = 53,
                warmup: int = LOOKUP_WARMUP, timeout: float = LOOKUP_TIMEOUT_S) -> list[float]:
    """``count`` timed lookups of ``name`` (A) at ``server`` by :data:`DNS_LOOP`,
    from ``netns`` when given, after ``warmup`` untimed ones; ms each. ToolError
    when one fails."""
    cmd = [sys.executable, "-c", DNS_LOOP, server, str(port), name, expect, str(count), str(warmup), str(timeout)]
    if netns:
        cmd = ["nsenter", f"--net={netns}", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60 + (count + warmup) * timeout)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise ToolError(f"DNS lookups of {name} at {server} failed ({proc.returncode}): {proc.stderr[-500:]}") from exc
    if data.get("error"):
        raise ToolError(f"DNS lookups of {name} at {server}: {data['error']}")
    return data["ms"]


# --------------------------------------------------------------------- the engines

class NetBarque(BarqueRuntime):
    """bench-run's barque (services under a temp root, its own launcher and warm
    command server) with the bridge of the bench's own."""

    def __init__(self, bridge: str) -> None:
        super().__init__()
        self.bridge = bridge

    def setup(self) -> None:
        self.engine = Engine.create(services=("registry", "images", "runtime"), BARQUE_BRIDGE=self.bridge)
        self.cli = install_launcher(self.engine.root / "bin")
        self.server = CommandServer(self.engine.root / "cli" / "cli.sock")
        self.server.start(self.cli, self.engine.env)


@dataclass
class Peer:
    """One engine as the bench drives it."""

    name: str
    version: str
    command: Callable[..., list[str]]    # (*args) -> argv
    env: dict[str, str]
    run_flags: list[str] = field(default_factory=list)   # every `run` of the bench: cgroup parent, ulimits, label
    remove: list[str] = field(default_factory=list)      # + ids
    containers: list[str] = field(default_factory=list)  # long-lived ones the bench started
    networks: dict[str, str] = field(default_factory=dict)  # user networks the bench created: name -> bridge
    removed: dict[str, dict] = field(default_factory=dict)  # what removing them did, per network (for the result)

    def cli(self, *args: str, timeout: float = 120) -> str:
        return run(self.command(*args), what=f"{self.name} {args[0]}", env=self.env, timeout=timeout)


@dataclass
class Target:
    """A container with an iperf3 server (or a client side): its namespace and addresses."""

    id: str
    netns: str
    ip: str
    gateway: str
    host_port: int = 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def _network_of(info: dict, network: str = "") -> tuple[str, str]:
    """The container's address and gateway: on ``network`` when given, else
    on its (first) network."""
    ns = info.get("NetworkSettings") or {}
    if network:
        net = (ns.get("Networks") or {}).get(network) or {}
        return net.get("IPAddress") or "", net.get("Gateway") or ""
    ip, gw = ns.get("IPAddress") or "", ns.get("Gateway") or ""
    if not ip:
        for net in (ns.get("Networks") or {}).values():
            if net.get("IPAddress"):
                ip, gw = net["IPAddress"], net.get("Gateway") or gw
                break
    return ip, gw


def start_container(peer: Peer, ref: str, host_port: int = 0, network: str = "", name: str = "") -> Target:
    """``run -d`` a ``sleep`` container on the default network, or on
    ``network`` (publishing HOSTPORT:5201 when given, named ``name`` when
    given); its namespace path and addresses from inspect."""
    publish = ["-p", f"{host_port}:{IPERF_PORT}"] if host_port else []
    placed = (["--network", network] if network else []) + (["--name", name] if name else [])
    out = peer.cli("run", "-d", *peer.run_flags, *placed, *publish, ref, "sleep", "3600")
    cid = out.strip().splitlines()[-1]
    peer.containers.append(cid)
    info = json.loads(peer.cli("inspect", cid))
    info = info[0] if isinstance(info, list) else info
    key = (info.get("NetworkSettings") or {}).get("SandboxKey") or ""
    pid = (info.get("State") or {}).get("Pid") or 0
    netns = key if key and os.path.exists(key) else f"/proc/{pid}/ns/net"
    if not os.path.exists(netns):
        raise ToolError(f"{peer.name} container {cid[:12]}: no network namespace (SandboxKey {key!r}, pid {pid})")
    ip, gateway = _network_of(info, network)
    if not ip:
        raise ToolError(f"{peer.name} container {cid[:12]}: no address on the {network or 'default'} network")
    return Target(cid, netns, ip, gateway, host_port)


def remove_containers(peer: Peer) -> None:
    """The long-lived containers the bench started on ``peer``, then its user networks."""
    if peer.containers:
        subprocess.run([*peer.remove, *peer.containers], capture_output=True, env={**os.environ, **peer.env},
                       timeout=300)
        peer.containers.clear()
    remove_networks(peer)


def remove_networks(peer: Peer) -> None:
    """``network rm`` each user network the bench created on ``peer`` (its
    containers removed first); what happened, and whether its bridge is gone,
    in ``peer.removed`` (the latest attempt's)."""
    for name, bridge in list(peer.networks.items()):
        try:
            proc = subprocess.run(peer.command("network", "rm", name), capture_output=True, text=True,
                                  env={**os.environ, **peer.env}, timeout=120)
            error = "" if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()[-300:]
        except subprocess.TimeoutExpired:
            error = "network rm timed out"
        peer.removed[name] = {"bridge": bridge, "removed": not error, **({"error": error} if error else {}),
                              "bridge_left": bool(bridge) and os.path.exists(f"/sys/class/net/{bridge}")}
        if not error:
            del peer.networks[name]  # a failed one is tried again at the next clean-up (the engine's close)


def _bridge_of(peer: Peer, info: dict) -> str:
    """A user network's bridge from its inspect document: docker's
    ``com.docker.network.bridge.name`` option or ``br-<id12>``, podman's
    ``network_interface``, barque's ``bqbr<id11>``."""
    named = (info.get("Options") or {}).get("com.docker.network.bridge.name") or info.get("network_interface")
    if named:
        return named
    nid = info.get("Id") or info.get("id") or ""
    if peer.name == "docker" and nid:
        return f"br-{nid[:12]}"
    if peer.name == "barque" and nid:
        return f"bqbr{nid[:11]}"
    return ""


@dataclass
class UserNet:
    """One engine's user network for the bench: the iperf3 server / lookup
    target A (named), the client B, and the nameserver of B's resolv.conf."""

    peer: Peer
    network: str
    bridge: str
    target_name: str
    a: Target
    b: Target
    nameserver: str | None
    lookups_skipped: str = ""   # why the lookups are not measured on this engine ("" = they are)


def setup_user_network(peer: Peer, ref: str, tag: str) -> UserNet:
    """``network create benchnet-<tag>``, the target ``benchnet-<tag>-target``
    and a client container on it; the client's nameserver, checked to be the
    engine's own (docker's 127.0.0.11 or the network's gateway) before anything is asked of it."""
    network, target = f"benchnet-{tag}", f"benchnet-{tag}-target"
    peer.networks[network] = ""  # removed at clean-up even if create fails half-way
    peer.cli("network", "create", "--label", LABEL, network)
    info = json.loads(peer.cli("network", "inspect", network))
    info = info[0] if isinstance(info, list) else info
    peer.networks[network] = _bridge_of(peer, info)
    a = start_container(peer, ref, network=network, name=target)
    b = start_container(peer, ref, network=network)
    nameserver = resolv_nameserver(peer.cli("exec", b.id, "cat", "/etc/resolv.conf"))
    own = {DOCKER_EMBEDDED_DNS, b.gateway} if peer.name == "docker" else {b.gateway}
    skipped = ""
    if nameserver is None:
        skipped = "the client's resolv.conf names no nameserver"
    elif nameserver not in own:
        skipped = (f"the client's resolv.conf names {nameserver}, not a resolver of the engine's own "
                   f"(the network's gateway {b.gateway}): no name resolution on this network")
    return UserNet(peer, network, peer.networks[network], target, a, b, nameserver, skipped)


class IperfServers:
    """iperf3 servers in namespaces, each stopped by PID at :meth:`close`."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self, netns: str, what: str) -> None:
        log = open(self.logdir / f"iperf3-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(["nsenter", f"--net={netns}", "iperf3", "-s", "-p", str(IPERF_PORT)],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append(proc)
        deadline = time.monotonic() + 15
        while True:
            listening = subprocess.run(["nsenter", f"--net={netns}", "ss", "-Hltn", f"sport = :{IPERF_PORT}"],
                                       capture_output=True, text=True).stdout.strip()
            if listening:
                return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ToolError(f"iperf3 server for {what} did not listen on {IPERF_PORT} "
                                f"(exit {proc.poll()}): {(self.logdir / f'iperf3-{len(self.procs) - 1}.log').read_text()[-500:]}")
            time.sleep(0.05)

    def pids(self) -> set[int]:
        return {p.pid for p in self.procs}

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.procs.clear()


def iperf_client(address: str, port: int, seconds: int, netns: str | None = None) -> float:
    """One ``iperf3 -c`` run of ``seconds`` s (from ``netns`` when given), Gbit/s."""
    cmd = ["iperf3", "-c", address, "-p", str(port), "-t", str(seconds), "-J"]
    if netns:
        cmd = ["nsenter", f"--net={netns}", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=seconds + 60)
    if proc.returncode != 0:
        try:
            iperf_gbits(proc.stdout)
        except (ValueError, ToolError) as exc:
            raise ToolError(f"iperf3 -c {address}:{port} failed ({proc.returncode}): {exc}") from exc
        raise ToolError(f"iperf3 -c {address}:{port} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return iperf_gbits(proc.stdout)


class VethPair:
    """Two namespaces of the bench's own joined by one veth pair: the baseline."""

    def __init__(self) -> None:
        tag = f"bqnet{os.getpid() % 100000}"
        self.names = (f"{tag}a", f"{tag}b")
        self.made: list[str] = []

    def path(self, i: int) -> str:
        return f"/run/netns/{self.names[i]}"

    def setup(self) -> None:
        a, b = self.names
        for name in self.names:
            run(["ip", "netns", "add", name], what=f"ip netns add {name}")
            self.made.append(name)
        run(["ip", "-n", a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", b],
            what="ip link add veth")
        for name, dev, addr in ((a, "veth0", VETH_ADDRS[0]), (b, "veth1", VETH_ADDRS[1])):
            run(["ip", "-n", name, "addr", "add", f"{addr}/30", "dev", dev], what="ip addr add")
            run(["ip", "-n", name, "link", "set", dev, "up"], what="ip link set up")
            run(["ip", "-n", name, "link", "set", "lo", "up"], what="ip link set lo up")

    def close(self) -> None:
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.made.clear()


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *_SBIN]))
    if found is None:
        raise ToolError(f"{name} not found: install iptables")
    return found


def remove_bridge_network(bridge: str) -> dict:
    """Delete barque's bridge ``bridge`` and its chains (one save, one restore batch);
    what was removed."""
    done: dict = {"bridge": None, "chains": []}
    if os.path.exists(f"/sys/class/net/{bridge}"):
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        done["bridge"] = bridge
    saved = run([_tool("iptables-save")], what="iptables-save")
    batch = chain_removal(saved, bridge)
    if batch:
        proc = subprocess.run([_tool("iptables-restore"), "--noflush", "-w"], input=batch, capture_output=True,
                              text=True, timeout=60)
        if proc.returncode != 0:
            raise ToolError(f"iptables-restore --noflush (removing {bridge}'s chains) failed: {proc.stderr[-500:]}")
        done["chains"] = [line[3:] for line in batch.splitlines() if line.startswith("-X ")]
    return done


# --------------------------------------------------------------------- setting up

def _seed(registry_host: str) -> str:
    proc = subprocess.run([str(SEED_SCRIPT), registry_host, f"{REPO}:{TAG}"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise ToolError(f"seed-image.sh failed: {proc.stderr[-1500:]}")
    return f"{registry_host}/{REPO}:{TAG}"


def _close_docker(d: BridgedDocker, peer_box: list[Peer]) -> None:
    for peer in peer_box:
        remove_containers(peer)
    if d.proc is not None and d.proc.poll() is None:
        # our own daemon: every container on it is the bench's
        ids = subprocess.run(d.command("ps", "-aq"), capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(d.command("rm", "-f", *ids), capture_output=True)
    elif d.reused:
        ids = subprocess.run(d.command("ps", "-aq", "--filter", f"label={LABEL}"), capture_output=True,
                             text=True).stdout.split()
        if ids:
            subprocess.run(d.command("rm", "-f", *ids), capture_output=True)
    d.close()


def _close_podman(p: Podman) -> None:
    subprocess.run(p.command("rm", "-af", "-t", "0"), capture_output=True, env={**os.environ, **p.env})
    p.close()


def _close_barque(bq: NetBarque, cleanup: dict) -> None:
    try:
        bq.close()
    finally:
        cleanup["barque_network"] = remove_bridge_network(bq.bridge)


def _peers(engines: list[str], root: Path, ref: str, bridge: str, stack: ExitStack, result: dict) -> list[Peer]:
    out: list[Peer] = []
    skipped = result["skipped"]
    removed = result["cleanup"].setdefault("user_networks", {})
    for name in engines:
        try:
            if name == "barque":
                bq = NetBarque(bridge)
                if bq.available():
                    raise ToolError(bq.available() or "")
                stack.callback(_close_barque, bq, result["cleanup"])
                bq.setup()
                bq.cli_run("pull", ref)
                peer = Peer(name, bq.version(), bq.command, bq.env, remove=bq.command("rm", "-f"))
                stack.callback(remove_containers, peer)
                peer.removed = removed.setdefault(name, {})
                out.append(peer)
                result["engines"][name] = {"version": peer.version, "bridge": bridge}
            elif name == "docker":
                d = BridgedDocker(root / "docker")
                if d.available():
                    raise ToolError(d.available() or "")
                box: list[Peer] = []
                stack.callback(_close_docker, d, box)
                d.setup()
                d._docker("pull", "-q", ref, what="docker pull")
                flags = ["--label", LABEL]
                if not d.reused:
                    flags += ["--cgroup-parent", f"/barque/{CGROUP_PARENTS['docker']}"]
                info = json.loads(d._docker("info", "--format", "{{json .}}", what="docker info"))
                peer = Peer(name, d.version(), d.command, {}, flags, d.command("rm", "-f"))
                box.append(peer)
                peer.removed = removed.setdefault(name, {})
                out.append(peer)
                result["engines"][name] = {
                    "version": peer.version, "daemon": "reused /var/run/docker.sock" if d.reused else
                    "started by the bench (default bridge, iptables, userland proxy)",
                    "cgroup_driver": info.get("CgroupDriver"), "bridge": "docker0",
                }
            elif name == "podman":
                p = Podman(root / "podman")
                if p.available():
                    raise ToolError(p.available() or "")
                stack.callback(_close_podman, p)
                p.setup()
                p._podman("pull", "--quiet", "--tls-verify=false", ref, what="podman pull")
                limit = hard_nofile()  # as bench-run: runc may not raise podman's default limits here
                flags = ["--label", LABEL, "--cgroup-parent", f"/barque/{CGROUP_PARENTS['podman']}",
                         "--ulimit", f"nofile={limit}:{limit}", "--ulimit", f"nproc={limit}:{limit}"]
                backend = run(p.command("info", "--format", "{{.Host.NetworkBackend}}"), what="podman info",
                              env=p.env).strip()
                peer = Peer(name, p.version(), p.command, p.env, flags, p.command("rm", "-f", "-t", "0"))
                stack.callback(remove_containers, peer)
                peer.removed = removed.setdefault(name, {})
                out.append(peer)
                result["engines"][name] = {"version": peer.version, "network_backend": backend}
        except ToolError as exc:
            skipped[name] = str(exc)
            print(f"skipping {name}: {exc}", flush=True)
    return out


# --------------------------------------------------------------------- measuring

def _proxies() -> list[str]:
    """docker-proxy processes now running (docker's userland proxy for published ports)."""
    return [host.cmdline(pid) for pid in host.pids_matching("docker-proxy", "-host-port")]


def setup_user_networks(peers: list[Peer], ref: str, notes: dict) -> dict[str, UserNet]:
    """Each engine's user network (:func:`setup_user_network`); an engine
    where it fails is left out of the user-network measures, its error noted."""
    tag = str(os.getpid() % 100000)
    out: dict[str, UserNet] = {}
    for peer in peers:
        try:
            user = setup_user_network(peer, ref, tag)
        except (ToolError, ValueError) as exc:  # ValueError: an inspect that was not JSON
            print(f"  {peer.name}: no user network: {exc}", flush=True)
            notes[peer.name] = {"error": str(exc)[-1000:]}
            continue
        out[peer.name] = user
        notes[peer.name] = {"network": user.network, "bridge": user.bridge, "gateway": user.b.gateway,
                            "target": {"name": user.target_name, "ip": user.a.ip, "netns": user.a.netns},
                            "client": {"ip": user.b.ip, "netns": user.b.netns}, "nameserver": user.nameserver,
                            **({"lookups_skipped": user.lookups_skipped} if user.lookups_skipped else {})}
    return out


def measure_lookups(user: dict[str, UserNet], lookups: int, rounds: int) -> dict:
    """``lookups`` lookups of the target's name per engine from its client's
    namespace, in ``rounds`` rounds alternating the engines (each round's share
    in one :func:`dns_lookups` call); :func:`lookup_summary` of them. An engine
    whose call fails is dropped from the later rounds, its error kept."""
    active = [u for u in user.values() if not u.lookups_skipped]
    samples: dict[str, list[list[float]]] = {u.peer.name: [] for u in active}
    errors: list[dict] = []
    rounds = max(1, min(rounds, lookups))
    for i in range(rounds):
        count = lookups // rounds + (1 if i < lookups % rounds else 0)
        line = [f"round {i + 1}/{rounds}"]
        for u in list(active):
            try:
                ms = dns_lookups(u.nameserver or "", u.target_name, u.a.ip, count, u.b.netns)
            except ToolError as exc:
                errors.append({"round": i + 1, "engine": u.peer.name, "error": str(exc)[-500:]})
                line.append(f"{u.peer.name} failed")
                active.remove(u)  # one failure ends that engine's lookups: never hammer a resolver that forwards
                continue
            samples[u.peer.name].append(ms)
            line.append(f"{u.peer.name} {statistics.median(ms):.3f} ms")
        print("  " + "  ".join(line), flush=True)
    out = lookup_summary(samples)
    out["failed"] = errors
    out["lookups"], out["rounds"], out["warmup_per_round"] = lookups, rounds, LOOKUP_WARMUP
    out["skipped"] = {u.peer.name: u.lookups_skipped for u in user.values() if u.lookups_skipped}
    out["nameservers"] = {u.peer.name: u.nameserver for u in user.values()}
    return out


def measure_throughput(peers: list[Peer], ref: str, runs: int, seconds: int, servers: IperfServers,
                       veth: VethPair, notes: dict, user: dict[str, UserNet] | None = None) -> dict:
    """Every path of every engine once per round, the veth baseline first; Gbit/s per round.
    ``user``: each engine's user network, for the ``user_c2c`` path."""
    veth.setup()
    servers.start(veth.path(0), "veth")
    plan: list[tuple[str, str, Callable[[int], float]]] = [
        ("veth", "veth", lambda t: iperf_client(VETH_ADDRS[0], IPERF_PORT, t, veth.path(1)))]
    for peer in peers:
        port = _free_port()
        a = start_container(peer, ref, port)
        b = start_container(peer, ref)
        servers.start(a.netns, f"{peer.name} container")
        notes[peer.name] = {"server": {"ip": a.ip, "gateway": a.gateway, "host_port": port, "netns": a.netns},
                            "client": {"ip": b.ip, "netns": b.netns}}
        plan += [("host", peer.name, lambda t, a=a: iperf_client("127.0.0.1", a.host_port, t)),
                 ("host_gateway", peer.name, lambda t, a=a: iperf_client(a.gateway, a.host_port, t)),
                 ("c2c", peer.name, lambda t, a=a, b=b: iperf_client(a.ip, IPERF_PORT, t, b.netns))]
        u = (user or {}).get(peer.name)
        if u is not None:
            servers.start(u.a.netns, f"{peer.name} container on {u.network}")
            plan.append(("user_c2c", peer.name, lambda t, u=u: iperf_client(u.a.ip, IPERF_PORT, t, u.b.netns)))
    notes["docker_proxy"] = _proxies()
    # one untimed 1-s pass: the first connection of each path (ARP, conntrack, proxy) is not measured
    for path, name, probe in plan:
        try:
            probe(1)
        except ToolError as exc:
            print(f"  warm-up {path} {name} failed: {exc}", flush=True)
    samples: dict[str, dict[str, list[float]]] = {}
    errors: list[dict] = []
    for i in range(1, runs + 1):
        line = [f"round {i}/{runs}"]
        for path, name, probe in plan:
            try:
                gbit = probe(seconds)
            except ToolError as exc:
                errors.append({"round": i, "path": path, "engine": name, "error": str(exc)[-500:]})
                line.append(f"{name} {path} failed")
                continue
            samples.setdefault(path, {}).setdefault(name, []).append(gbit)
            line.append(f"{name} {path} {gbit:.2f}")
        print("  " + "  ".join(line), flush=True)
    summary = throughput_summary(samples)
    summary["failed"] = errors
    summary["seconds"], summary["runs"] = seconds, runs
    return summary


def measure_startup(peers: list[Peer], ref: str, runs: int, keep: set[int]) -> dict:
    """``run --rm IMAGE true`` on the default network and with ``--network none``, alternating."""
    probes: dict[str, Callable[[], float]] = {}
    for mode in ("bridge", "none"):
        for peer in peers:
            net = ["--network", "none"] if mode == "none" else []
            argv = peer.command("run", "--rm", *peer.run_flags, *net, ref, "true")

            def probe(argv=argv, peer=peer) -> float:
                start = time.monotonic()
                proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                      env={**os.environ, **peer.env}, timeout=120)
                elapsed = time.monotonic() - start
                if proc.returncode != 0:
                    raise RuntimeError(f"{peer.name} run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
                return elapsed

            probes[f"{peer.name} {mode}"] = probe

    def progress(i: int, seconds: dict[str, float]) -> None:
        label = f"round {i:2d}/{runs}" if i > 0 else f"warm-up {i + WARMUP_ROUNDS}"
        print("  " + "  ".join([label, *(f"{k} {v:.3f}s" for k, v in seconds.items())] if seconds
                               else [label, "dropped: a call failed"]), flush=True)
        reap_orphans(keep)

    failed: list[dict] = []
    times = alternate(probes, runs, WARMUP_ROUNDS, failed, progress=progress)
    out = startup_summary(times)
    out["failed_calls"] = failed
    out["runs"] = runs
    return out


def _tree() -> dict:
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=repo).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted": git("status", "--short", "--", "services", "cli").splitlines()}


def _host_state() -> dict:
    """Firewall facts that explain the peers' paths (FORWARD's policy, br_netfilter)."""
    out: dict = {}
    try:
        saved = run([_tool("iptables-save"), "-t", "filter"], what="iptables-save")
        m = re.search(r"^:FORWARD (\w+)", saved, re.M)
        out["forward_policy"] = m.group(1) if m else None
    except ToolError as exc:
        out["forward_policy"] = f"unknown: {exc}"
    nf = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    out["bridge_nf_call_iptables"] = nf.read_text().strip() if nf.exists() else "absent (br_netfilter not loaded)"
    return out


def _remove_root(root: Path) -> None:
    umount_under(root)
    shutil.rmtree(root, ignore_errors=True)


def _interrupt(signum, frame):  # SIGTERM: clean up as on Ctrl-C
    raise KeyboardInterrupt(f"signal {signum}")


def run_benchmark(runs: int, seconds: int, start_runs: int, engines: list[str], bridge: str,
                  lookups: int = 1000) -> dict:
    result: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                 "loadavg_start": os.getloadavg(), "iperf3": run(["iperf3", "--version"], what="iperf3").split("\n")[0]},
        "runs": runs, "seconds": seconds, "start_runs": start_runs, "lookups": lookups, "bridge": bridge,
        "engines": {}, "skipped": {}, "cleanup": {}, "tree": _tree(),
    }
    result["host"]["pythondontwritebytecode"] = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    become_subreaper()
    if os.path.exists(f"/sys/class/net/{bridge}") or chain_removal(run([_tool("iptables-save")], what="iptables-save"),
                                                                  bridge):
        print(f"removing {bridge} and its chains, left by an earlier bench-net", flush=True)
        result["cleanup"]["earlier_leftovers"] = remove_bridge_network(bridge)
    try:
        _measure(result, runs, seconds, start_runs, engines, bridge, lookups)
    finally:
        reap_orphans(set())  # the shims and conmons the bench (a subreaper) inherited, also on Ctrl-C
    result["host"]["firewall_after"] = _host_state()
    left = [b for b in (bridge,) if os.path.exists(f"/sys/class/net/{b}")]
    saved = run([_tool("iptables-save")], what="iptables-save")
    left += [c for cs in chain_names(bridge).values() for c in cs if c in saved]
    left += [n for n in VethPair().names if os.path.exists(f"/run/netns/{n}")]
    left += [f"{engine} network {net} (bridge {done['bridge']})"
             for engine, nets in result["cleanup"].get("user_networks", {}).items() for net, done in nets.items()
             if not done.get("removed") or (done.get("bridge") and os.path.exists(f"/sys/class/net/{done['bridge']}"))]
    result["cleanup"]["left_behind"] = left
    return result


def _measure(result: dict, runs: int, seconds: int, start_runs: int, engines: list[str], bridge: str,
             lookups: int) -> None:
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="barque-benchnet-"))
        stack.callback(_remove_root, root)
        for parent in CGROUP_PARENTS.values():
            stack.callback(remove_cgroups, parent)
        registry = start_registry(root / "registry")
        stack.callback(registry.stop)
        ref = _seed(registry.host)
        result["ref"] = ref
        peers = _peers(engines, root, ref, bridge, stack, result)
        result["host"]["firewall"] = _host_state()
        keep = {registry.proc.pid}
        servers = IperfServers(root)
        stack.callback(servers.close)
        veth = VethPair()
        stack.callback(veth.close)

        print("user networks: network create, a target and a client container on each", flush=True)
        user_notes: dict = {}
        result["user_network"] = user_notes
        user = setup_user_networks(peers, ref, user_notes)

        print(f"throughput: iperf3, {runs} rounds of {seconds} s per path, engines alternating", flush=True)
        notes: dict = {}
        try:
            result["throughput"] = measure_throughput(peers, ref, runs, seconds, servers, veth, notes, user)
        except (ToolError, RuntimeError) as exc:
            print(f"  failed: {exc}", flush=True)
            result["throughput"] = {"error": str(exc)}
        result["paths"] = notes

        print(f"name lookups: {lookups} per engine of the target's name from the client's namespace, {runs} rounds, "
              "engines alternating", flush=True)
        try:
            result["lookups"] = measure_lookups(user, lookups, runs)
        except (ToolError, RuntimeError) as exc:
            print(f"  failed: {exc}", flush=True)
            result["lookups"] = {"error": str(exc)}
        servers.close()
        for peer in peers:
            remove_containers(peer)
        reap_orphans(keep)

        print(f"start-up: run --rm IMAGE true, default network and --network none, {WARMUP_ROUNDS} warm-up "
              f"rounds then {start_runs}, engines alternating", flush=True)
        try:
            result["startup"] = measure_startup(peers, ref, start_runs, keep)
        except (ToolError, RuntimeError) as exc:
            print(f"  failed: {exc}", flush=True)
            result["startup"] = {"error": str(exc)}
        result["host"]["loadavg_end"] = os.getloadavg()
        result["targets"] = net_targets(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.net", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="throughput rounds (default 5)")
    parser.add_argument("--seconds", type=int, default=5, help="seconds of each iperf3 run (default 5)")
    parser.add_argument("--start-runs", type=int, default=15, help="start-up rounds per engine and mode (default 15)")
    parser.add_argument("--lookups", type=int, default=1000,
                        help="name lookups per engine on the user network (default 1000)")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    parser.add_argument("--bridge", default=DEFAULT_BRIDGE, help=f"barque's bridge for the bench (default {DEFAULT_BRIDGE})")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engines {unknown}")
    if min(args.runs, args.seconds, args.start_runs, args.lookups) < 1:
        parser.error("--runs, --seconds, --start-runs and --lookups must be at least 1")
    if not valid_bridge(args.bridge) or args.bridge == "barque0":
        parser.error(f"--bridge {args.bridge!r}: 1-13 letters, digits, '-', '_' or '.', not barque0")
    if os.geteuid() != 0:
        print("bench-net needs root (namespaces, bridges, iptables, dockerd)", file=sys.stderr)
        return 2
    missing = [t for t in ("iperf3", "nsenter", "ip", "ss") if not shutil.which(t)]
    if missing:
        print(f"bench-net needs {', '.join(missing)} (make bench-deps)", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run_benchmark(args.runs, args.seconds, args.start_runs, engines, args.bridge, args.lookups)
    except (ToolError, RuntimeError) as exc:
        print(f"bench-net failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench-net interrupted; what it started was stopped and removed", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print_net_report(result)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"net-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
