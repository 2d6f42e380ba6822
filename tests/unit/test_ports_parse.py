"""Docker's port grammar (client.ports): go-connections/nat v0.4.0's
ParsePortSpec as docker-cli 20.10 vendors it, docker-cli's --expose and
``-p name=value`` handling, the --dns/--dns-search/--add-host validators,
and moby 20.10's check of PortBindings; error texts are Docker's."""

from __future__ import annotations

import pytest

from client.errors import InvalidArgument
from client.ports import (
    PortMapping,
    convert_to_standard_notation,
    expose_ports,
    flag_error,
    go_quote,
    new_port,
    parse_port_range,
    parse_port_spec,
    publish_and_expose,
    split_proto_port,
    validate_dns_search,
    validate_extra_host,
    validate_ip_address,
    validate_port_bindings,
)


@pytest.mark.parametrize("raw,want", [
    ("80", [PortMapping("80/tcp", "", "")]),
    ("8080:80", [PortMapping("80/tcp", "", "8080")]),
    ("127.0.0.1:8080:80", [PortMapping("80/tcp", "127.0.0.1", "8080")]),
    ("127.0.0.1::80", [PortMapping("80/tcp", "127.0.0.1", "")]),
    (":80", [PortMapping("80/tcp", "", "")]),
    ("53:53/udp", [PortMapping("53/udp", "", "53")]),
    ("80/UDP", [PortMapping("80/udp", "", "")]),
    ("80/sctp", [PortMapping("80/sctp", "", "")]),
    ("80/", [PortMapping("80/tcp", "", "")]),
    ("080", [PortMapping("80/tcp", "", "")]),
    ("80-81", [PortMapping("80/tcp", "", ""), PortMapping("81/tcp", "", "")]),
    ("8000-8001:80-81", [PortMapping("80/tcp", "", "8000"), PortMapping("81/tcp", "", "8001")]),
    ("127.0.0.1:8000-8001:80-81/udp",
     [PortMapping("80/udp", "127.0.0.1", "8000"), PortMapping("81/udp", "127.0.0.1", "8001")]),
    # one container port and a host range: the engine picks a port from the range
    ("8000-8010:80", [PortMapping("80/tcp", "", "8000-8010")]),
    ("[::1]:8080:80", [PortMapping("80/tcp", "::1", "8080")]),
    ("[::]::80", [PortMapping("80/tcp", "::", "")]),
    ("0:80", [PortMapping("80/tcp", "", "0")]),
    ("65535:65535", [PortMapping("65535/tcp", "", "65535")]),
])
def test_parse_port_spec(raw, want):
    assert parse_port_spec(raw) == want


@pytest.mark.parametrize("raw,message", [
    ("8o80:80", "Invalid hostPort: 8o80"),
    ("80:8o80", "Invalid containerPort: 8o80"),
    ("65536", "Invalid containerPort: 65536"),
    ("81-80", "Invalid containerPort: 81-80"),
    ("-80", "Invalid containerPort: -80"),
    ("8080-:80", "Invalid hostPort: 8080-"),
    ("8000-8001:80-82", "Invalid ranges specified for container and host Ports: 80-82 and 8000-8001"),
    ("8000:80-81", "Invalid ranges specified for container and host Ports: 80-81 and 8000"),
    ("80/foo", "Invalid proto: foo"),
    ("80/FOO", "Invalid proto: FOO"),
    ("8080:", "No port specified: 8080:<empty>"),
    ("", "No port specified: <empty>"),
    ("/tcp", "No port specified: /tcp<empty>"),
    ("1.2.3.4.5:80:80", "Invalid ip address: 1.2.3.4.5"),
    ("localhost:80:80", "Invalid ip address: localhost"),
    ("::1:8080:80", "Invalid ip address ::1: address ::1:: too many colons in address"),
    ("[::1:8080:80", "Invalid ip address [::1: address [::1:: missing ']' in address"),
    ("[fe80::1%eth0]:8080:80", "Invalid ip address: fe80::1%eth0"),
])
def test_parse_port_spec_errors(raw, message):
    with pytest.raises(InvalidArgument) as info:
        parse_port_spec(raw)
    assert str(info.value) == message


def test_ip_is_checked_before_the_ports_and_the_proto_last():
    with pytest.raises(InvalidArgument, match="^Invalid ip address: x$"):
        parse_port_spec("x:y:z/foo")
    with pytest.raises(InvalidArgument, match="^Invalid containerPort: z$"):
        parse_port_spec("y:z/foo")
    with pytest.raises(InvalidArgument, match="^Invalid ranges"):
        parse_port_spec("1-3:1-2/foo")


@pytest.mark.parametrize("raw,want", [
    ("80", ("tcp", "80")), ("80/udp", ("udp", "80")), ("80/", ("tcp", "80")),
    ("/udp", ("", "")), ("", ("", "")), ("80/udp/x", ("udp", "80")),
])
def test_split_proto_port(raw, want):
    assert split_proto_port(raw) == want


@pytest.mark.parametrize("raw,message", [
    ("", "Empty string specified for ports."),
    ("x", 'strconv.ParseUint: parsing "x": invalid syntax'),
    ("+1", 'strconv.ParseUint: parsing "+1": invalid syntax'),
    ("70000", 'strconv.ParseUint: parsing "70000": value out of range'),
    ("70000x", 'strconv.ParseUint: parsing "70000x": value out of range'),
    ("80-", 'strconv.ParseUint: parsing "": invalid syntax'),
    ("9-8", "Invalid range specified for the Port: 9-8"),
])
def test_parse_port_range_errors(raw, message):
    with pytest.raises(InvalidArgument) as info:
        parse_port_range(raw)
    assert str(info.value) == message


def test_parse_port_range_reads_two_parts_only_as_go_does():
    assert parse_port_range("1-2-x") == (1, 2)
    assert new_port("udp", "7-9") == "7-9/udp" and new_port("tcp", "") == "0/tcp"


def test_expose():
    assert expose_ports(["80", "7000-7002/udp", "80/tcp"]) == ["80/tcp", "7000/udp", "7001/udp", "7002/udp"]


@pytest.mark.parametrize("raw,message", [
    ("8080:80", "invalid port format for --expose: 8080:80"),
    ("x", 'invalid range format for --expose: x, error: strconv.ParseUint: parsing "x": invalid syntax'),
    ("/udp", "invalid range format for --expose: /udp, error: Empty string specified for ports."),
    ("9-8", "invalid range format for --expose: 9-8, error: Invalid range specified for the Port: 9-8"),
])
def test_expose_errors(raw, message):
    with pytest.raises(InvalidArgument) as info:
        expose_ports([raw])
    assert str(info.value) == message


def test_publishing_exposes_and_bindings_accumulate_per_port():
    exposed, bindings = publish_and_expose(
        ["8080:80", "127.0.0.1:9090:80", "53:53/udp", "8000-8001:90-91"], ["80", "443"])
    assert exposed == ["80/tcp", "53/udp", "90/tcp", "91/tcp", "443/tcp"]
    assert bindings == {
        "80/tcp": [("", "8080"), ("127.0.0.1", "9090")],
        "53/udp": [("", "53")],
        "90/tcp": [("", "8000")],
        "91/tcp": [("", "8001")],
    }
    assert publish_and_expose([], []) == ([], {})


def test_long_publish_syntax():
    assert convert_to_standard_notation(["published=8080,target=80", "target=53,protocol=udp", "81"]) == [
        "8080:80/tcp", ":53/udp", "81"]
    assert publish_and_expose(["published=8080,target=80,mode=host"], [])[1] == {"80/tcp": [("", "8080")]}
    with pytest.raises(InvalidArgument) as info:
        convert_to_standard_notation(["published=8080,target"])
    assert str(info.value) == "invalid publish opts format (should be name=value but got 'target')"


def test_the_first_bad_spec_fails_the_lot():
    with pytest.raises(InvalidArgument, match="^Invalid hostPort: x$"):
        publish_and_expose(["80", "x:80"], ["1"])


def test_validate_port_bindings_as_moby():
    validate_port_bindings({"80/tcp": ["8080", "", "8000-8010"], "53/udp": ["53"]})
    with pytest.raises(InvalidArgument) as info:
        validate_port_bindings({"80-81/tcp": ["8080"]})
    assert str(info.value) == 'invalid port specification: "80-81"'
    with pytest.raises(InvalidArgument) as info:
        validate_port_bindings({"80/tcp": ["80a"]})
    assert str(info.value) == 'invalid port specification: "80a"'


@pytest.mark.parametrize("raw,want", [
    ("8.8.8.8", "8.8.8.8"), (" 1.1.1.1 ", "1.1.1.1"), ("2001:DB8::0:1", "2001:db8::1"),
    ("::ffff:1.2.3.4", "1.2.3.4"),
])
def test_validate_ip_address(raw, want):
    assert validate_ip_address(raw) == want


@pytest.mark.parametrize("raw", ["", "dns.example", "1.2.3", "fe80::1%eth0", "01.2.3.4"])
def test_validate_ip_address_errors(raw):
    with pytest.raises(InvalidArgument) as info:
        validate_ip_address(raw)
    assert str(info.value) == f"{raw} is not an ip address"


@pytest.mark.parametrize("raw,want", [
    ("example.com", "example.com"), ("example.com.", "example.com"), (".", "."), (" a.b ", "a.b"),
    ("a-b.c", "a-b.c"),
])
def test_validate_dns_search(raw, want):
    assert validate_dns_search(raw) == want


@pytest.mark.parametrize("raw,message", [
    ("-a.com", "-a.com is not a valid domain"), ("123", "123 is not a valid domain"),
    ("a..b", "a..b is not a valid domain"), ("a" * 255, "a" * 255 + " is not a valid domain"),
])
def test_validate_dns_search_errors(raw, message):
    with pytest.raises(InvalidArgument) as info:
        validate_dns_search(raw)
    assert str(info.value) == message


@pytest.mark.parametrize("raw", ["db:10.0.0.2", "gw:host-gateway", "v6:2001:db8::1", "sp: 1.2.3.4"])
def test_validate_extra_host(raw):
    assert validate_extra_host(raw) == raw  # stored as given, as Docker's ExtraHosts


@pytest.mark.parametrize("raw,message", [
    ("db", 'bad format for add-host: "db"'),
    (":10.0.0.2", 'bad format for add-host: ":10.0.0.2"'),
    ("db:", 'invalid IP address in add-host: ""'),
    ("db:example.com", 'invalid IP address in add-host: "example.com"'),
    ("db:Host-Gateway", 'invalid IP address in add-host: "Host-Gateway"'),
])
def test_validate_extra_host_errors(raw, message):
    with pytest.raises(InvalidArgument) as info:
        validate_extra_host(raw)
    assert str(info.value) == message


def test_flag_error_is_pflags():
    exc = flag_error("--add-host", "db", InvalidArgument('bad format for add-host: "db"'))
    assert str(exc) == 'invalid argument "db" for "--add-host" flag: bad format for add-host: "db"'
    assert go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'
