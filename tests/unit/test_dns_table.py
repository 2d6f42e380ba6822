"""The embedded DNS responder's answers (services.runtime.network.dnstable),
with queries built by dnslib: who may resolve what, and what is forwarded."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from services.runtime.network.dnstable import RESPONSE_TTL, DropQuery, NameTable, Upstream

WEB, DB, API, LONER = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
GW_A, GW_B = "172.20.0.1", "172.21.0.1"

DOC = {
    "upstream": ["10.0.0.2", "127.0.0.1:5353", "[fd00::1]:53"],
    "networks": {"neta": {"name": "front", "gateway": GW_A}, "netb": {"name": "back", "gateway": GW_B}},
    "endpoints": [
        {"network": "neta", "container": WEB, "ip": "172.20.0.2", "names": ["web", "www", WEB[:12]]},
        {"network": "neta", "container": API, "ip": "172.20.0.4", "names": ["api", "Shared"]},
        {"network": "netb", "container": API, "ip": "172.21.0.4", "names": ["api", "apib"]},
        {"network": "netb", "container": DB, "ip": "172.21.0.3", "names": ["db", "shared", DB[:12]]},
        {"network": "neta", "container": LONER, "ip": "172.20.0.9", "names": ["shared"]},
    ],
}


@pytest.fixture
def table() -> NameTable:
    return NameTable.from_json(DOC)


def ask(table: NameTable, name: str, qtype: str = "A", *, src: str, local: str, tcp: bool = False,
        edns: int | None = None, qid: int = 7) -> DNSRecord | None:
    query = DNSRecord.question(name, qtype)
    query.header.id = qid
    if edns:
        query.add_ar(EDNS0(udp_len=edns))
    reply = table.answer(query.pack(), src, local, tcp=tcp)
    if reply is None:
        return None
    record = DNSRecord.parse(reply)
    assert record.header.id == qid and record.header.qr == 1
    return record


def addresses(record: DNSRecord | None) -> list[str]:
    assert record is not None, "forwarded, not answered"
    assert record.header.rcode == RCODE.NOERROR
    return [str(rr.rdata) for rr in record.rr if rr.rtype == QTYPE.A]


def test_name_alias_and_short_id_resolve_on_a_shared_network(table: NameTable):
    for name in ("web", "www", WEB[:12], "web."):
        reply = ask(table, name, src="172.20.0.4", local=GW_A)
        assert addresses(reply) == ["172.20.0.2"]
        assert reply is not None and reply.rr[0].ttl == RESPONSE_TTL == 600


def test_names_compare_without_case(table: NameTable):
    assert addresses(ask(table, "WeB", src="172.20.0.4", local=GW_A)) == ["172.20.0.2"]
    assert addresses(ask(table, WEB[:12].upper(), src="172.20.0.4", local=GW_A)) == ["172.20.0.2"]


def test_name_with_the_network_as_suffix(table: NameTable):
    assert addresses(ask(table, "web.front", src="172.20.0.4", local=GW_A)) == ["172.20.0.2"]
    assert addresses(ask(table, "db.back", src="172.20.0.4", local=GW_A)) == ["172.21.0.3"]
    assert ask(table, "web.back", src="172.20.0.4", local=GW_A) is None


def test_a_container_on_another_network_only_is_not_resolved(table: NameTable):
    # web is on front only; db on back only: neither sees the other, the query goes upstream
    assert ask(table, "db", src="172.20.0.2", local=GW_A) is None
    assert ask(table, DB[:12], src="172.20.0.2", local=GW_A) is None
    assert ask(table, "web", src="172.21.0.3", local=GW_B) is None
    assert ask(table, "db", "AAAA", src="172.20.0.2", local=GW_A) is None


def test_a_querier_on_two_networks_resolves_both(table: NameTable):
    assert addresses(ask(table, "web", src="172.20.0.4", local=GW_A)) == ["172.20.0.2"]
    assert addresses(ask(table, "db", src="172.20.0.4", local=GW_A)) == ["172.21.0.3"]
    assert addresses(ask(table, "db", src="172.21.0.4", local=GW_B)) == ["172.21.0.3"]
    assert addresses(ask(table, "web", src="172.21.0.4", local=GW_B)) == ["172.20.0.2"]


def test_the_address_is_on_the_network_the_query_arrived_on(table: NameTable):
    # db asks for api, which is on both networks; web asks for it on front
    assert addresses(ask(table, "api", src="172.21.0.3", local=GW_B)) == ["172.21.0.4"]
    assert addresses(ask(table, "api", src="172.20.0.2", local=GW_A)) == ["172.20.0.4"]
    assert addresses(ask(table, "apib", src="172.20.0.4", local=GW_A)) == ["172.21.0.4"]


def test_a_shared_alias_gives_every_address_on_the_first_network_that_has_it(table: NameTable):
    first = addresses(ask(table, "shared", src="172.20.0.2", local=GW_A, qid=0))
    assert first == ["172.20.0.4", "172.20.0.9"]
    assert addresses(ask(table, "shared", src="172.20.0.2", local=GW_A, qid=1)) == first[::-1]
    assert addresses(ask(table, "shared", src="172.21.0.4", local=GW_B)) == ["172.21.0.3"]


def test_the_querier_is_its_source_on_the_receiving_network(table: NameTable):
    assert ask(table, "web", src="172.20.0.99", local=GW_A) is None  # no endpoint: all upstream
    assert ask(table, "web", src="172.20.0.4", local="172.22.0.1") is None  # not a gateway


def test_a_querier_asking_another_gateway_sees_its_own_networks_only(table: NameTable):
    # api's back address asking front's gateway (its resolv.conf names front): still api
    assert addresses(ask(table, "db", src="172.21.0.4", local=GW_A)) == ["172.21.0.3"]
    assert addresses(ask(table, "api", src="172.21.0.4", local=GW_A)) == ["172.20.0.4"]  # front first
    # db (back only) asking front's gateway: back's names, never front's
    assert addresses(ask(table, "api", src="172.21.0.3", local=GW_A)) == ["172.21.0.4"]
    assert ask(table, "web", src="172.21.0.3", local=GW_A) is None
    assert ask(table, "2.0.20.172.in-addr.arpa", "PTR", src="172.21.0.3", local=GW_A) is None


def test_aaaa_for_a_known_name_is_noerror_without_records(table: NameTable):
    reply = ask(table, "web", "AAAA", src="172.20.0.4", local=GW_A)
    assert reply is not None and reply.header.rcode == RCODE.NOERROR and reply.rr == []


def test_ptr_of_a_container_address(table: NameTable):
    reply = ask(table, "2.0.20.172.in-addr.arpa", "PTR", src="172.20.0.4", local=GW_A)
    assert reply is not None and [str(rr.rdata) for rr in reply.rr] == ["web.front."]
    assert reply.rr[0].ttl == 600
    reply = ask(table, "3.0.21.172.IN-ADDR.ARPA.", "PTR", src="172.20.0.4", local=GW_A)
    assert reply is not None and [str(rr.rdata) for rr in reply.rr] == ["db.back."]
    assert ask(table, "3.0.21.172.in-addr.arpa", "PTR", src="172.20.0.2", local=GW_A) is None  # not shared
    assert ask(table, "8.8.8.8.in-addr.arpa", "PTR", src="172.20.0.2", local=GW_A) is None


def test_unknown_names_and_other_types_are_forwarded(table: NameTable):
    assert ask(table, "example.com", src="172.20.0.2", local=GW_A) is None
    assert ask(table, "example.com", "AAAA", src="172.20.0.2", local=GW_A) is None
    assert ask(table, "web", "MX", src="172.20.0.4", local=GW_A) is None
    assert ask(table, "web", "TXT", src="172.20.0.4", local=GW_A) is None


def test_only_internal_networks_get_servfail_instead_of_forwarding():
    doc = {"networks": {"i": {"name": "inner", "gateway": "10.8.0.1", "internal": True},
                        "o": {"name": "outer", "gateway": "10.7.0.1"}},
           "endpoints": [{"network": "i", "container": WEB, "ip": "10.8.0.2", "names": ["web"]},
                         {"network": "i", "container": DB, "ip": "10.8.0.3", "names": ["db"]},
                         {"network": "o", "container": DB, "ip": "10.7.0.3", "names": ["db"]}]}
    table = NameTable.from_json(doc)
    assert addresses(ask(table, "db", src="10.8.0.2", local="10.8.0.1")) == ["10.8.0.3"]
    for name, qtype in (("example.com", "A"), ("example.com", "MX"), ("8.8.8.8.in-addr.arpa", "PTR")):
        reply = ask(table, name, qtype, src="10.8.0.2", local="10.8.0.1")  # web: internal only
        assert reply is not None and reply.header.rcode == RCODE.SERVFAIL and reply.rr == []
    assert ask(table, "example.com", src="10.8.0.99", local="10.8.0.1").header.rcode == RCODE.SERVFAIL
    assert ask(table, "example.com", src="10.8.0.3", local="10.8.0.1") is None  # db is also on outer
    assert ask(table, "example.com", src="10.7.0.99", local="10.7.0.1") is None
    with pytest.raises(ValueError):
        NameTable.from_json({"networks": {"i": {"name": "i", "gateway": "10.8.0.1", "internal": "yes"}}})


def test_large_udp_answers_are_truncated_unless_tcp_or_edns():
    doc = {"networks": {"n": {"name": "n", "gateway": "10.9.0.1"}},
           "endpoints": [{"network": "n", "container": f"{i:064x}", "ip": f"10.9.{i // 200}.{i % 200 + 2}",
                          "names": ["many"]} for i in range(60)]}
    table = NameTable.from_json(doc)
    src = "10.9.0.2"
    udp = ask(table, "many", src=src, local="10.9.0.1")
    assert udp is not None and udp.header.tc == 1 and udp.rr == []
    assert len(addresses(ask(table, "many", src=src, local="10.9.0.1", tcp=True))) == 60
    assert len(addresses(ask(table, "many", src=src, local="10.9.0.1", edns=4096))) == 60


def test_malformed_queries(table: NameTable):
    good = DNSRecord.question("web").pack()
    with pytest.raises(DropQuery):
        table.answer(good[:5], "172.20.0.4", GW_A)
    with pytest.raises(DropQuery):  # a response
        table.answer(DNSRecord.question("web").reply().pack(), "172.20.0.4", GW_A)
    for broken in (good[:-3], good[:12] + b"\xff" * 5, good[:4] + b"\x00\x02" + good[6:]):
        reply = table.answer(broken, "172.20.0.4", GW_A)
        assert reply is not None and reply[:2] == good[:2]
        assert DNSRecord.parse(reply).header.rcode == RCODE.FORMERR
    notify = DNSRecord.question("web")
    notify.header.opcode = 4
    reply = table.answer(notify.pack(), "172.20.0.4", GW_A)
    assert reply is not None and DNSRecord.parse(reply).header.rcode == RCODE.NOTIMP


def test_table_shape_is_checked():
    assert NameTable.from_json({}).gateways == set()
    assert NameTable.from_json(DOC).gateways == {GW_A, GW_B}
    assert NameTable.from_json(DOC).upstream == [Upstream("10.0.0.2"), Upstream("127.0.0.1", 5353),
                                                 Upstream("fd00::1")]
    bad = [
        {"networks": []},
        {"networks": {"n": {"name": "n", "gateway": "not-an-ip"}}},
        {"networks": {"n": {"name": "n"}}},
        {"endpoints": [{"network": "missing", "container": WEB, "ip": "10.0.0.2", "names": []}]},
        {"networks": {"n": {"name": "n", "gateway": "10.0.0.1"}},
         "endpoints": [{"network": "n", "container": WEB, "ip": "10.0.0.2", "names": "web"}]},
        {"upstream": ["dns.example.com"]},
        {"upstream": ["10.0.0.1:0"]},
        {"upstream": ["[fd00::1"]},
        [],
    ]
    for doc in bad:
        with pytest.raises(ValueError):
            NameTable.from_json(doc)


def test_repeated_queries_come_from_the_cache_with_their_own_id(table: NameTable):
    first = ask(table, "web", src="172.20.0.4", local=GW_A, qid=1)
    assert addresses(first) == ["172.20.0.2"] and len(table._replies) == 1
    for qid in (2, 513, 65535):
        assert addresses(ask(table, "web", src="172.20.0.4", local=GW_A, qid=qid)) == ["172.20.0.2"]
    assert len(table._replies) == 1
    # another querier, another network's view: its own entry, its own answer
    assert addresses(ask(table, "web", src="172.20.0.9", local=GW_A, qid=3)) == ["172.20.0.2"]
    assert len(table._replies) == 2
    # names to forward are not kept
    assert ask(table, "elsewhere.example", src="172.20.0.4", local=GW_A) is None
    assert len(table._replies) == 2
