"""barque's IPv4 firewall: bridge forwarding, outbound NAT and published ports.

Contract. Every change is one ``iptables-save`` followed by one
``iptables-restore --noflush -w`` batch covering the tables ``filter`` and
``nat`` (never one command per rule). barque's rules live only in chains of its
own, ``<prefix>-FORWARD``, ``-DNAT`` and ``-POSTROUTING`` (prefix ``BARQUE``;
an engine beside the host's, as in tests, takes another); outside them barque
owns exactly four jumps from built-in chains, each added only when the saved
ruleset lacks it, so applying twice or after a restart never duplicates one.
:func:`apply` takes the *whole* desired state: a chain whose rules differ is
redeclared, which on a ``--noflush`` restore flushes it (verified, iptables
1.8.9 nf_tables), and refilled; when nothing differs no restore runs. Other
rules of built-in chains jumping into the three (duplicates, older forms) are
deleted; nothing else is touched, and no other chain name is taken for barque's.
Needs root and ``iptables-save``/``-restore`` on PATH or in /usr/sbin, /sbin.

The rules, and why:

* filter ``BARQUE-FORWARD``, jumped to from the top of ``FORWARD``: a host
  running Docker sets FORWARD's policy to DROP, and with br_netfilter even
  traffic between two ports of one bridge crosses FORWARD. Per bridge: replies
  (RELATED,ESTABLISHED) and DNATed connections (published ports) may leave
  through it, anything may enter from it (outbound, container to container).
* nat ``BARQUE-DNAT``, jumped to from PREROUTING and OUTPUT for local
  destinations (127.0.0.0/8 included: published ports answer on 127.0.0.1
  through the kernel, with ``route_localnet=1`` on the bridge; no userland
  proxy). One DNAT per published port.
* nat ``BARQUE-POSTROUTING``, jumped to from POSTROUTING. Per bridge: masquerade
  the subnet leaving by another interface; masquerade host-originated traffic
  entering the bridge (a 127.0.0.1 source cannot be routed back otherwise); and
  masquerade DNATed traffic from the bridge back into it (hairpin: without it
  the answer of a container on the same bridge skips the host's un-DNAT). With
  br_netfilter loaded, a container reaching its *own* published port also needs
  hairpin mode on its bridge port (verified; the plumbing's part, as Docker's).

Atomicity: iptables-restore commits each table on its ``COMMIT``, so a failed
batch leaves nothing half-done *within* a table, but a nat failure can follow
a committed filter section. The next :func:`apply` converges either way.
Callers in one process are serialised here; the runtime is the only writer.
:class:`FirewallError` is a :class:`~client.errors.FailedPrecondition`: what
makes iptables refuse barque's batch is the host's state (iptables missing, not
root, a kernel module unavailable, a table another tool made unreadable), which
the operator can fix and a plain retry cannot.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from client.errors import FailedPrecondition, InvalidArgument

__all__ = [
    "PREFIX",
    "BridgeNet",
    "FirewallError",
    "PublishedPort",
    "apply",
    "listing",
    "remove",
    "render",
]

PREFIX = "BARQUE"

_TABLES = ("filter", "nat")
_BUILTINS = {"filter": {"INPUT", "FORWARD", "OUTPUT"},
             "nat": {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}}
_TARGET = re.compile(r"(?:^|\s)-[jg] (\S+)(?=\s|\Z)")
_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,16}")  # + "-POSTROUTING" stays within 28 characters
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_SBIN = ("/usr/sbin", "/sbin")  # root's tools, absent from a user's PATH
_TIMEOUT = 60.0
_lock = threading.Lock()


class FirewallError(FailedPrecondition):
    """iptables is missing, or refused to read or change the ruleset."""


@dataclass(frozen=True)
class PublishedPort:
    proto: str            # "tcp" or "udp"
    host_ip: str          # "" or "0.0.0.0" = every local address, else one IPv4 address
    host_port: int
    container_ip: str
    container_port: int


@dataclass(frozen=True)
class BridgeNet:
    bridge: str           # e.g. "barque0"
    subnet: str           # e.g. "172.18.0.0/16"
    ports: tuple[PublishedPort, ...] = ()
    internal: bool = False  # no traffic in or out of the bridge, only within it


@dataclass(frozen=True)
class _Chains:
    forward: str
    dnat: str
    post: str

    @classmethod
    def of(cls, prefix: str) -> _Chains:
        if not _PREFIX.fullmatch(prefix):
            raise InvalidArgument(f"firewall: chain prefix {prefix!r} is not 1-16 letters, digits, '_' or '-'")
        return cls(f"{prefix}-FORWARD", f"{prefix}-DNAT", f"{prefix}-POSTROUTING")

    def of_table(self, table: str) -> tuple[str, ...]:
        return (self.forward,) if table == "filter" else (self.dnat, self.post)

    def jumps(self, table: str) -> set[tuple[str, str]]:
        """(built-in chain, rule spec exactly as iptables-save prints it)."""
        if table == "filter":
            return {("FORWARD", f"-j {self.forward}")}
        return {("PREROUTING", f"-m addrtype --dst-type LOCAL -j {self.dnat}"),
                ("OUTPUT", f"-m addrtype --dst-type LOCAL -j {self.dnat}"),
                ("POSTROUTING", f"-j {self.post}")}


@dataclass
class _Table:
    chains: list[str] = field(default_factory=list)               # user chains declared
    rules: list[tuple[str, str]] = field(default_factory=list)    # (chain, spec)


def _ipv4(value: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise InvalidArgument(f"firewall: {what} {value!r} is not an ipv4 address") from exc


def _port(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidArgument(f"firewall: {what} {value!r} is not a port number (1-65535)")
    return value


def _net_rules(net: BridgeNet, names: _Chains) -> tuple[list[str], list[str], list[str]]:
    """(forward, dnat, postrouting) rules of one bridge, spelt as iptables-save
    prints them, so that what is in place compares equal."""
    br = net.bridge
    if not _IFNAME.fullmatch(br):
        raise InvalidArgument(f"firewall: bridge name {br!r} is not a 1-15 character interface name")
    try:
        subnet = ipaddress.IPv4Network(net.subnet, strict=False)
    except ValueError as exc:
        raise InvalidArgument(f"firewall: bridge {br} subnet {net.subnet!r} is not an ipv4 network") from exc
    forward = [
        f"-A {names.forward} -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A {names.forward} -o {br} -m conntrack --ctstate DNAT -j ACCEPT",
        f"-A {names.forward} -i {br} -j ACCEPT",
    ]
    post = [] if net.internal else [
        f"-A {names.post} -s {subnet} ! -o {br} -j MASQUERADE",
        f"-A {names.post} -o {br} -m addrtype --src-type LOCAL -j MASQUERADE",
        f"-A {names.post} -s {subnet} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE",
    ]
    dnat = []
    for p in net.ports:
        if p.proto not in ("tcp", "udp"):
            raise InvalidArgument(f"firewall: bridge {br} port protocol {p.proto!r} is not tcp or udp")
        dest = "" if p.host_ip in ("", "0.0.0.0") else f"-d {_ipv4(p.host_ip, 'host ip')}/32 "
        hport = _port(p.host_port, "host port")
        cip, cport = _ipv4(p.container_ip, "container ip"), _port(p.container_port, "container port")
        dnat.append(f"-A {names.dnat} {dest}-p {p.proto} -m {p.proto} --dport {hport}"
                    f" -j DNAT --to-destination {cip}:{cport}")
    return forward, dnat, post


def _drops(nets: Sequence[BridgeNet], names: _Chains) -> list[str]:
    """The FORWARD rules that come before every accept: an internal
    bridge's traffic stays on it, and no two of barque's bridges reach each
    other (Docker's isolation chains, flattened)."""
    out = []
    for net in nets:
        if net.internal:
            out += [f"-A {names.forward} -i {net.bridge} ! -o {net.bridge} -j DROP",
                    f"-A {names.forward} ! -i {net.bridge} -o {net.bridge} -j DROP"]
    for a in nets:
        for b in nets:
            if a.bridge != b.bridge:
                out.append(f"-A {names.forward} -i {a.bridge} -o {b.bridge} -j DROP")
    return out


def _parse(saved: str) -> dict[str, _Table]:
    tables: dict[str, _Table] = {}
    current: _Table | None = None
    for raw in saved.splitlines():
        line = raw.strip()
        if line.startswith("#") and "incompatible" in line:
            raise FirewallError(f"iptables-save: {line.lstrip('# ')}")
        if line.startswith("*"):
            current = tables.setdefault(line[1:], _Table())
        elif current is None:
            continue
        elif line.startswith(":"):
            current.chains.append(line[1:].split()[0])
        elif line.startswith("-A "):
            chain, _, spec = line[3:].partition(" ")
            current.rules.append((chain, spec))
    return tables


def _jumps_into(chains: tuple[str, ...], table: str, parsed: _Table) -> list[tuple[str, str]]:
    """Rules of built-in chains whose target is one of `chains`."""
    return [(chain, spec) for chain, spec in parsed.rules if chain in _BUILTINS[table]
            and (target := _TARGET.search(spec)) is not None and target.group(1) in chains]


def render(nets: Sequence[BridgeNet], saved: str, *, prefix: str = PREFIX) -> str:
    """The iptables-restore --noflush input that makes barque's chains exactly
    `nets`, given `saved` (the current iptables-save output), adding only the
    jumps `saved` lacks. A chain already holding its rules is left out, one
    holding their beginning is appended to (deleting rules costs the kernel a
    grace period, tens of ms), and a table with nothing to change is left out:
    "" means the ruleset is already right."""
    names = _Chains.of(prefix)
    bridges = [n.bridge for n in nets]
    if len(set(bridges)) != len(bridges):
        raise InvalidArgument(f"firewall: a bridge appears twice in {bridges}")
    body: dict[str, list[str]] = {names.forward: _drops(nets, names), names.dnat: [], names.post: []}
    for net in nets:
        for chain, rules in zip((names.forward, names.dnat, names.post), _net_rules(net, names)):
            body[chain] += rules
    parsed = _parse(saved)
    out: list[str] = []
    for table in _TABLES:
        have = parsed.get(table, _Table())
        ours = names.of_table(table)
        now = {c: [f"-A {c} {s}" for ch, s in have.rules if ch == c] for c in ours}
        # a chain whose rules only need a tail is appended to (deleting a rule is what costs)
        grown = [c for c in ours if c in have.chains and body[c][:len(now[c])] == now[c]]
        changed = [c for c in ours if c not in grown]
        # declaring a chain creates it, or flushes it under --noflush
        lines = [f":{c} - [0:0]" for c in changed]
        kept: set[tuple[str, str]] = set()
        desired = names.jumps(table)
        for jump in _jumps_into(ours, table, have):
            if jump in desired and jump not in kept:
                kept.add(jump)
            else:  # a duplicate, or a form barque no longer writes
                lines.append(f"-D {jump[0]} {jump[1]}")
        for chain in ours:
            lines += body[chain][len(now[chain]):] if chain in grown else body[chain]
        for chain, spec in sorted(desired - kept):
            lines.append(f"-I {chain} 1 {spec}" if chain == "FORWARD" else f"-A {chain} {spec}")
        if lines:
            out += [f"*{table}", *lines, "COMMIT"]
    return "\n".join(out) + "\n" if out else ""


def _removal(saved: str, prefix: str = PREFIX) -> str:
    """The restore input deleting every jump and chain of barque's; "" if none."""
    names = _Chains.of(prefix)
    out: list[str] = []
    for table, have in _parse(saved).items():
        if table not in _TABLES:
            continue
        present = [c for c in names.of_table(table) if c in have.chains]
        jumps = _jumps_into(names.of_table(table), table, have)
        if present or jumps:
            out += [f"*{table}", *(f"-D {c} {s}" for c, s in jumps), *(f":{c} - [0:0]" for c in present),
                    *(f"-X {c}" for c in present), "COMMIT"]
    return "\n".join(out) + "\n" if out else ""


def _tool(name: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    found = shutil.which(name, path=path)
    if found is None:
        raise FirewallError(f"{name} not found in PATH or {', '.join(_SBIN)}: install iptables")
    return found


def _one_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines()
             if ln.strip() and not ln.lstrip().startswith("Try `")]
    return "; ".join(lines) or "no message"


def _run(argv: list[str], stdin: str = "") -> str:
    name = os.path.basename(argv[0])
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise FirewallError(f"{name}: no answer after {_TIMEOUT:.0f} s") from exc
    except OSError as exc:
        raise FirewallError(f"{name}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        raise FirewallError(f"{name} failed (exit {done.returncode}): {_one_line(done.stderr)}")
    return done.stdout


def _change(make_batch: Callable[[str], str]) -> None:
    """One save, the batch `make_batch` derives from it, one restore (none if the batch is empty)."""
    restore, save = _tool("iptables-restore"), _tool("iptables-save")
    with _lock:
        batch = make_batch(_run([save]))
        if batch:
            _run([restore, "--noflush", "-w"], batch)


def apply(nets: Sequence[BridgeNet], *, prefix: str = PREFIX) -> None:
    """Make barque's chains exactly `nets`."""
    _change(lambda saved: render(nets, saved, prefix=prefix))


def remove(*, prefix: str = PREFIX) -> None:
    """Delete every jump and chain of barque's, in one batch; nothing of anyone else's."""
    _change(lambda saved: _removal(saved, prefix))


def listing(*, prefix: str = PREFIX) -> str:
    """barque's chains, their rules and the jumps into them, as iptables-save prints them."""
    names = _Chains.of(prefix)
    out: list[str] = []
    for table, have in _parse(_run([_tool("iptables-save")])).items():
        if table not in _TABLES:
            continue
        ours = names.of_table(table)
        lines = [f":{c} - [0:0]" for c in have.chains if c in ours]
        jumps = _jumps_into(ours, table, have)
        lines += [f"-A {c} {s}" for c, s in have.rules if c in ours or (c, s) in jumps]
        if lines:
            out += [f"*{table}", *lines, "COMMIT"]
    return "\n".join(out) + "\n" if out else ""
