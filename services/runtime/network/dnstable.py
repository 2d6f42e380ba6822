"""The embedded DNS responder's answers, without sockets: a :class:`NameTable`
read from the runtime's name table file, and :meth:`NameTable.answer`, which
turns one query packet into a reply, or ``None`` for "forward it upstream".
The server around it is :mod:`.dns`.

The name table file (JSON, written atomically by the runtime)::

    {"upstream": ["192.168.1.1", "127.0.0.53", "10.0.0.2:5353", "[fd00::1]:53"],
     "networks": {"<network id>": {"name": "mynet", "gateway": "172.20.0.1", "internal": false}},
     "endpoints": [{"network": "<network id>", "container": "<64-hex id>",
                    "ip": "172.20.0.2", "names": ["web", "alias1", "0123456789ab"]}]}

``upstream``: the servers names are forwarded to, tried in order; an entry is
an address with an optional port (53 if none; an IPv6 address with a port in
brackets). ``networks``: every user-defined network with a responder; its
gateway is the bridge's address, where the responder listens and which the
containers' resolv.conf names; ``internal`` (optional, false) as
``network create --internal``. ``endpoints``: one per container per network;
``names[0]`` is the container's name (the one a PTR answer gives), then its
network aliases and short id, in any case. A missing key is an empty one; an
endpoint naming no listed network, or any malformed value, makes the whole
file invalid (``ValueError``), so the responder keeps the table it had.

What is answered, as Docker's embedded DNS (moby ``libnetwork/resolver.go``):

- The querier is the endpoint whose address is the query's source on the
  network whose gateway received it, else (a container whose resolv.conf
  names a network it left, or another of its networks' gateway) the
  endpoint with that address on any network: subnets do not overlap, and
  a packet's source is the address of the interface it left by. It sees
  the names of every network its container is on, the receiving network
  first (if it is on it), then the others in file order. A query from no known endpoint sees no names (all of it goes
  upstream, as below). So a container never resolves names of a network it is not on,
  and such names get the upstream's answer (NXDOMAIN, usually).
- A gets the addresses, on the first of those networks that has the name,
  of every container with that name there (an alias may be shared: the list
  is rotated by the query id, a cheap round robin). Names compare without
  case; ``NAME.NETWORK`` is also the name on NETWORK. TTL 600, as moby's
  ``respTTL``.
- AAAA for a name that exists as above: NOERROR with no records, not
  forwarded (networks here are IPv4; an upstream must not answer for a
  container's name).
- PTR ``D.C.B.A.in-addr.arpa`` for an endpoint's address on one of those
  networks: ``NAME.NETWORK.``, as Docker answers.
- Anything else (other types, unknown names) is forwarded, unless the
  querier is only on internal networks (or, unknown, asked an internal
  network's gateway): then SERVFAIL, as moby's resolver without external
  access, so nothing from outside reaches an internal network.
- A packet that is not a query (too short for a header, or a response)
  raises :class:`DropQuery`; a query whose body does not parse, or with
  other than one question, gets FORMERR; other opcodes NOTIMP.
- A UDP reply larger than the client's size (512, or its EDNS size) is sent
  truncated (TC, no records), so the client asks again over TCP.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from dnslib import EDNS0, OPCODE, PTR, QTYPE, RCODE, RR, A, DNSError, DNSHeader, DNSRecord
from dnslib.buffer import Buffer, BufferError

__all__ = ["NameTable", "DropQuery", "Upstream", "RESPONSE_TTL", "UDP_SIZE", "TCP_SIZE", "reply_with_rcode"]

RESPONSE_TTL = 600
UDP_SIZE = 512  # a UDP reply's limit when the query carries no EDNS size (RFC 1035)
TCP_SIZE = 65535
_ARPA = ".in-addr.arpa"


class DropQuery(ValueError):
    """The packet is not a query one can answer: drop it silently."""


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Upstream:
        """``ADDR``, ``ADDR:PORT`` (IPv4), ``IPV6`` or ``[IPV6]:PORT``."""
        host, port = text, "53"
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"upstream {text!r}: expected [ADDR]:PORT")
            port = rest[1:] or "53"
        elif text.count(":") == 1:
            host, port = text.split(":")
        ipaddress.ip_address(host)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"upstream {text!r}: bad port")
        return cls(host, int(port))


@dataclass
class _Network:
    name: str
    gateway: str
    internal: bool = False
    names: dict[str, list[str]] = field(default_factory=dict)  # lower-case name -> addresses
    ptr: dict[str, str] = field(default_factory=dict)  # address -> "NAME.NETWORK"


def _ipv4(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what}: not an address: {value!r}")
    return str(ipaddress.IPv4Address(value))


def _network(net_id: str, doc: Any) -> _Network:
    if not isinstance(doc.get("internal", False), bool):
        raise ValueError(f"network {net_id}: internal is not a boolean")
    return _Network(str(doc["name"]), _ipv4(doc["gateway"], f"network {net_id}"), doc.get("internal", False))


def reply_with_rcode(query: bytes, rcode: int) -> bytes:
    """The header and question of ``query`` with ``rcode`` (SERVFAIL, FORMERR...)."""
    try:
        record = DNSRecord.parse(query)
        reply = DNSRecord(DNSHeader(id=record.header.id, bitmap=record.header.bitmap, qr=1, ra=1,
                                    rcode=rcode), q=record.q if record.questions else None)
    except DNSError:
        header = _header(query)
        reply = DNSRecord(DNSHeader(id=header.id, bitmap=header.bitmap, qr=1, ra=1, rcode=rcode))
    reply.header.aa = 0
    reply.header.tc = 0
    reply.header.rcode = rcode
    return reply.pack()


def _header(query: bytes) -> DNSHeader:
    try:
        header = DNSHeader.parse(Buffer(query))
    except (DNSError, BufferError) as exc:
        raise DropQuery(f"no DNS header: {exc}") from exc
    if header.qr:
        raise DropQuery("a response, not a query")
    return header


#: local answers a table keeps before it starts afresh
_CACHE_LIMIT = 4096


class NameTable:
    """The names each querier may resolve; built once per table file."""

    def __init__(self, upstream: list[Upstream], networks: dict[str, _Network],
                 endpoints: dict[tuple[str, str], str], container_networks: dict[str, list[str]]) -> None:
        self.upstream = upstream
        self._networks = networks
        self._by_gateway = {net.gateway: net_id for net_id, net in networks.items()}
        self._endpoints = endpoints  # (network id, address) -> container id
        self._container_networks = container_networks  # container id -> network ids, file order
        self._by_address: dict[str, str] = {}  # address -> container id, the first endpoint listed
        for (_, ip), container in endpoints.items():
            self._by_address.setdefault(ip, container)
        # local answers by everything that decides them (the query without its id, who asked, where,
        # over what): a repeated query costs a dict lookup instead of a parse and a pack. The cache
        # lives as long as this table, which a reload replaces.
        self._replies: dict[tuple[bytes, str, str, bool], bytes] = {}
        self._rotated = False

    @classmethod
    def empty(cls) -> NameTable:
        return cls([], {}, {}, {})

    @classmethod
    def from_json(cls, doc: Any) -> NameTable:
        """The table of a parsed name table file; ``ValueError`` when malformed."""
        try:
            upstream = [Upstream.parse(s) for s in doc.get("upstream", [])]
            networks = {str(k): _network(k, v) for k, v in doc.get("networks", {}).items()}
            endpoints: dict[tuple[str, str], str] = {}
            container_networks: dict[str, list[str]] = {}
            for ep in doc.get("endpoints", []):
                net_id, container, ip = ep["network"], str(ep["container"]), _ipv4(ep["ip"], "endpoint")
                if not isinstance(ep["names"], list):
                    raise ValueError(f"endpoint of {container[:12]}: names is not a list")
                names = [str(n).lower().rstrip(".") for n in ep["names"]]
                if net_id not in networks:
                    raise ValueError(f"endpoint of {container[:12]} names unknown network {net_id!r}")
                net = networks[net_id]
                endpoints[(net_id, ip)] = container
                container_networks.setdefault(container, []).append(net_id)
                for name in dict.fromkeys(names):
                    net.names.setdefault(name, []).append(ip)
                if names:
                    net.ptr[ip] = f"{names[0]}.{net.name}"
        except (AttributeError, KeyError, TypeError) as exc:
            raise ValueError(f"malformed name table: {exc!r}") from exc
        return cls(upstream, networks, endpoints, container_networks)

    @property
    def gateways(self) -> set[str]:
        return set(self._by_gateway)

    def _may_forward(self, querier_ip: str, local_ip: str) -> bool:
        visible = self._visible(querier_ip, local_ip)
        if visible:
            return any(not net.internal for net in visible)
        arrival = self._by_gateway.get(local_ip)
        return arrival is None or not self._networks[arrival].internal

    def _visible(self, querier_ip: str, local_ip: str) -> list[_Network]:
        arrival = self._by_gateway.get(local_ip)
        if arrival is None:
            return []
        container = self._endpoints.get((arrival, querier_ip)) or self._by_address.get(querier_ip)
        if container is None:
            return []
        order = sorted(self._container_networks[container], key=lambda n: n != arrival)  # stable
        return [self._networks[n] for n in order]

    @staticmethod
    def _lookup(net: _Network, name: str) -> list[str]:
        found = net.names.get(name)
        suffix = "." + net.name.lower()
        if found is None and name.endswith(suffix):
            found = net.names.get(name[:-len(suffix)])
        return found or []

    def answer(self, query: bytes, querier_ip: str, local_ip: str, *, tcp: bool = False) -> bytes | None:
        """The reply to ``query`` from ``querier_ip`` received on ``local_ip``,
        or ``None`` to forward it upstream; raises :class:`DropQuery`."""
        key = (bytes(query[2:]), querier_ip, local_ip, tcp)
        cached = self._replies.get(key)
        if cached is not None:
            return query[:2] + cached[2:]
        self._rotated = False
        reply = self._answer_locally(query, querier_ip, local_ip, tcp)
        if reply is None and not self._may_forward(querier_ip, local_ip):
            return reply_with_rcode(query, RCODE.SERVFAIL)
        if reply is not None and not self._rotated and len(query) >= 12:
            if len(self._replies) >= _CACHE_LIMIT:
                self._replies.clear()
            self._replies[key] = reply
        return reply

    def _answer_locally(self, query: bytes, querier_ip: str, local_ip: str, tcp: bool) -> bytes | None:
        header = _header(query)
        try:
            record = DNSRecord.parse(query)
        except DNSError:
            return reply_with_rcode(query, RCODE.FORMERR)
        if header.opcode != OPCODE.QUERY:
            return reply_with_rcode(query, RCODE.NOTIMP)
        if len(record.questions) != 1:
            return reply_with_rcode(query, RCODE.FORMERR)
        question = record.q
        name = str(question.qname).rstrip(".").lower()
        reply = record.reply(ra=1, aa=0)
        if question.qtype in (QTYPE.A, QTYPE.AAAA):
            for net in self._visible(querier_ip, local_ip):
                if addresses := self._lookup(net, name):
                    break
            else:
                return None
            self._rotated = len(addresses) > 1  # the order follows the query's id: not cached
            if question.qtype == QTYPE.A:
                turn = header.id % len(addresses)
                for ip in addresses[turn:] + addresses[:turn]:
                    reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(ip), ttl=RESPONSE_TTL))
        elif question.qtype == QTYPE.PTR and name.endswith(_ARPA):
            ip = ".".join(reversed(name[:-len(_ARPA)].split(".")))
            target = next((net.ptr[ip] for net in self._visible(querier_ip, local_ip) if ip in net.ptr), None)
            if target is None:
                return None
            reply.add_answer(RR(question.qname, QTYPE.PTR, rdata=PTR(target + "."), ttl=RESPONSE_TTL))
        else:
            return None
        return self._fit(reply, record, tcp)

    @staticmethod
    def _fit(reply: DNSRecord, query: DNSRecord, tcp: bool) -> bytes:
        limit = TCP_SIZE
        edns = next((rr for rr in query.ar if rr.rtype == QTYPE.OPT), None)
        if edns is not None:
            reply.add_ar(EDNS0(udp_len=1232))
        if not tcp:
            limit = max(UDP_SIZE, edns.rclass if edns is not None else 0)
        packed = reply.pack()
        if len(packed) > limit:
            reply.rr = []
            reply.header.tc = 1
            packed = reply.pack()
        return packed
