"""The CLI's side of ports and networks, from constructed protos and JSON:
ps's PORTS and Networks (docker-cli 20.10 DisplayablePorts and Networks),
``barque port``'s lines and errors, and run/create's flags in the request."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from barque.runtime.v1 import runtime_pb2
from cli import port as port_cmd
from cli.containers import ps_row
from cli.main import command_parser
from cli.port import displayable_ports, mapping_lines, natural_less, port_lines
from cli.run import create_request
from client.errors import InvalidArgument, NotFound


def P(private, public=0, ip="", type_="tcp"):
    return runtime_pb2.Port(ip=ip, private_port=private, public_port=public, type=type_)


# ---- ps PORTS: docker-cli v20.10.27 formatter/container_test.go TestDisplayablePorts, case by case ----

@pytest.mark.parametrize("ports,want", [
    ([P(9988)],
     "9988/tcp"),
    ([P(9988, type_="udp")],
     "9988/udp"),
    ([P(9988, 0, "0.0.0.0")],
     "0.0.0.0:0->9988/tcp"),
    ([P(9988, 8899)],
     "9988/tcp"),
    ([P(9988, 8899, "4.3.2.1")],
     "4.3.2.1:8899->9988/tcp"),
    ([P(9988, 9988, "4.3.2.1")],
     "4.3.2.1:9988->9988/tcp"),
    ([P(9988, type_="udp"), P(9988, type_="udp")],
     "9988/udp, 9988/udp"),
    ([P(9998, 9998, "1.2.3.4", type_="udp"), P(9999, 9999, "1.2.3.4", type_="udp")],
     "1.2.3.4:9998-9999->9998-9999/udp"),
    ([P(9998, 8887, "1.2.3.4", type_="udp"), P(9999, 8888, "1.2.3.4", type_="udp")],
     "1.2.3.4:8887->9998/udp, 1.2.3.4:8888->9999/udp"),
    ([P(9998, type_="udp"), P(9999, type_="udp")],
     "9998-9999/udp"),
    ([P(6677, 7766, "1.2.3.4"), P(9988, 8899, type_="udp")],
     "9988/udp, 1.2.3.4:7766->6677/tcp"),
    ([P(9988, 8899, "1.2.3.4", type_="udp"), P(9988, 8899, "1.2.3.4"), P(2233, 3322, "4.3.2.1")],
     "4.3.2.1:3322->2233/tcp, 1.2.3.4:8899->9988/tcp, 1.2.3.4:8899->9988/udp"),
    ([P(9988, 8899, type_="udp"), P(6677, 7766, "1.2.3.4"), P(2233, 3322, "4.3.2.1")],
     "9988/udp, 4.3.2.1:3322->2233/tcp, 1.2.3.4:7766->6677/tcp"),
    ([P(80), P(1024), P(80, type_="udp"), P(1024, type_="udp"),
      P(1024, 80, "1.1.1.1"), P(1024, 80, "1.1.1.1", type_="udp"), P(80, 1024, "1.1.1.1"),
      P(80, 1024, "1.1.1.1", type_="udp"), P(1024, 80, "2.1.1.1"), P(1024, 80, "2.1.1.1", type_="udp"),
      P(80, 1024, "2.1.1.1"),
      P(80, 1024, "2.1.1.1", type_="udp"), P(12345, type_="sctp")],
     "80/tcp, 80/udp, 1024/tcp, 1024/udp, 12345/sctp, 1.1.1.1:1024->80/tcp, 1.1.1.1:1024->80/udp, "
     "2.1.1.1:1024->80/tcp, 2.1.1.1:1024->80/udp, 1.1.1.1:80->1024/tcp, 1.1.1.1:80->1024/udp, "
     "2.1.1.1:80->1024/tcp, 2.1.1.1:80->1024/udp"),
    # barque's: IPv6 published ports, ranges broken by a gap, and nothing at all
    ([P(80, 8080, "0.0.0.0"), P(80, 8080, "::")], "0.0.0.0:8080->80/tcp, :::8080->80/tcp"),
    ([P(8000, 8000, "::"), P(8001, 8001, "::")], ":::8000-8001->8000-8001/tcp"),
    ([P(6000), P(6001), P(6002), P(6004), P(6006, type_="udp"), P(6007, type_="udp")],
     "6000-6002/tcp, 6004/tcp, 6006-6007/udp"),
    ([], ""),
])
def test_displayable_ports(ports, want):
    assert displayable_ports(ports) == want


def test_ps_row_ports_and_networks():
    c = runtime_pb2.Container(id="a" * 64, name="web", host_config=runtime_pb2.HostConfig(network_mode="none"))
    c.ports.extend([P(81), P(80, 8080, "0.0.0.0")])
    c.networks["zeta"].ip_address = "10.0.0.2"
    c.networks["bridge"].ip_address = "172.18.0.2"
    row = ps_row(c)
    assert row["Ports"] == "81/tcp, 0.0.0.0:8080->80/tcp"  # host mappings last, as Docker
    assert row["Networks"] == "bridge,zeta"


@pytest.mark.parametrize("mode,want", [("host", "host"), ("", "default")])
def test_ps_networks_falls_back_to_the_network_mode(mode, want):
    c = runtime_pb2.Container(id="b" * 64, host_config=runtime_pb2.HostConfig(network_mode=mode))
    assert ps_row(c)["Networks"] == want and ps_row(c)["Ports"] == ""


def _ps(ctx_list, argv, capsys):
    args = command_parser().parse_args(["ps", *argv])
    ctx = SimpleNamespace(runtime=lambda: SimpleNamespace(list=lambda all_, filters: ctx_list))
    assert args.func(ctx, args) == 0
    return capsys.readouterr().out


def test_ps_table_and_format_show_the_ports(capsys):
    c = runtime_pb2.Container(id="c" * 64, name="web", created="2024-01-01T00:00:00Z",
                              config=runtime_pb2.ContainerConfig(image="busybox"))
    c.ports.extend([P(80, 8080, "0.0.0.0"), P(80, 8080, "::")])
    c.networks["bridge"].ip_address = "172.18.0.2"
    out = _ps([c], [], capsys).splitlines()
    assert out[0].split()[-2:] == ["PORTS", "NAMES"]
    assert "0.0.0.0:8080->80/tcp, :::8080->80/tcp   web" in out[1]
    assert _ps([c], ["--format", "{{.Ports}}|{{.Networks}}"], capsys) == (
        "0.0.0.0:8080->80/tcp, :::8080->80/tcp|bridge\n")


# ---- barque port ------------------------------------------------------------------------

PORTS = json.loads("""{
    "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
    "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
    "9/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}],
    "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
    "81/tcp": null,
    "82/tcp": []
}""")


def test_port_lines_all_in_natural_order():
    assert port_lines(PORTS) == [
        "9/tcp -> 0.0.0.0:49153",
        "53/udp -> 0.0.0.0:5353",
        "80/tcp -> 0.0.0.0:8080",
        "80/tcp -> :::8080",
        "443/tcp -> 127.0.0.1:8443",
    ]
    assert port_lines({}) == []


def test_natural_less():
    assert natural_less("9/tcp", "10/tcp") and not natural_less("10/tcp", "9/tcp")
    assert natural_less("a1", "a01") and natural_less("1", "a") and natural_less("ab", "abc")
    assert not natural_less("x", "x")


@pytest.mark.parametrize("spec,want", [
    ("80", ["0.0.0.0:8080", ":::8080"]),
    ("80/tcp", ["0.0.0.0:8080", ":::8080"]),
    ("080", ["0.0.0.0:8080", ":::8080"]),
    ("53/udp", ["0.0.0.0:5353"]),
    ("82", []),
])
def test_mapping_lines(spec, want):
    assert mapping_lines(PORTS, spec, "web") == want


@pytest.mark.parametrize("spec,message", [
    ("81", "Error: No public port '81/tcp' published for web"),
    ("53", "Error: No public port '53/tcp' published for web"),
    ("80/udp", "Error: No public port '80/udp' published for web"),
    ("80/", 'strconv.ParseUint: parsing "80/": invalid syntax'),
    ("x", 'strconv.ParseUint: parsing "x": invalid syntax'),
])
def test_mapping_lines_errors(spec, message):
    with pytest.raises(InvalidArgument) as info:
        mapping_lines(PORTS, spec, "web")
    assert str(info.value) == message


def _port(argv, document=None, missing=False):
    args = command_parser().parse_args(["port", *argv])

    def inspect_document(ref):
        if missing:
            raise NotFound(f"No such container: {ref}")
        return document

    ctx = SimpleNamespace(runtime=lambda: SimpleNamespace(inspect_document=inspect_document))
    try:
        return args.func(ctx, args)
    except SystemExit as exc:
        return exc.code


def test_port_command(capsys):
    doc = {"NetworkSettings": {"Ports": PORTS}}
    assert _port(["web"], doc) == 0
    assert capsys.readouterr().out.splitlines()[0] == "9/tcp -> 0.0.0.0:49153"
    assert _port(["web", "443"], doc) == 0
    assert capsys.readouterr().out == "127.0.0.1:8443\n"
    assert _port(["web", "81"], doc) == 1
    assert capsys.readouterr() == ("", "Error: No public port '81/tcp' published for web\n")
    assert _port(["ghost"], missing=True) == 1
    assert capsys.readouterr() == ("", "Error: No such container: ghost\n")
    assert _port(["web"], {"NetworkSettings": {"Ports": {}}}) == 0
    assert capsys.readouterr() == ("", "")


def test_port_is_a_container_command_too():
    args = command_parser().parse_args(["container", "port", "web", "80/udp"])
    assert (args.func, args.container, args.port) == (port_cmd.cmd_port, "web", "80/udp")


# ---- run/create: flags to request -------------------------------------------------------

def _request(*argv, command="run"):
    return create_request(command_parser().parse_args([command, *argv, "busybox", "true"]))


def test_flags_fill_the_request():
    req = _request("-p", "8080:80", "--publish", "127.0.0.1:53:53/udp", "-p", "9000-9001:90-91",
                   "-p", "[::1]::22", "-P", "--expose", "7000-7001/udp", "--expose", "80",
                   "--dns", "8.8.8.8", "--dns", "2001:DB8::1", "--dns-search", "example.com.",
                   "--dns-option", "ndots:2", "--dns-opt", "timeout:1",
                   "--add-host", "db:10.0.0.2", "--add-host", "gw:host-gateway")
    assert list(req.config.exposed_ports) == ["80/tcp", "53/udp", "90/tcp", "91/tcp", "22/tcp",
                                               "7000/udp", "7001/udp"]
    bindings = {k: [(b.host_ip, b.host_port) for b in v.bindings] for k, v in req.host_config.port_bindings.items()}
    assert bindings == {"80/tcp": [("", "8080")], "53/udp": [("127.0.0.1", "53")], "90/tcp": [("", "9000")],
                        "91/tcp": [("", "9001")], "22/tcp": [("::1", "")]}
    h = req.host_config
    assert h.publish_all_ports
    assert list(h.dns) == ["8.8.8.8", "2001:db8::1"] and list(h.dns_search) == ["example.com"]
    assert list(h.dns_options) == ["ndots:2", "timeout:1"]
    assert list(h.extra_hosts) == ["db:10.0.0.2", "gw:host-gateway"]


def test_create_takes_the_same_flags():
    req = _request("-p", "80", "--expose", "81", command="create")
    assert list(req.config.exposed_ports) == ["80/tcp", "81/tcp"]
    assert [(b.host_ip, b.host_port) for b in req.host_config.port_bindings["80/tcp"].bindings] == [("", "")]


def test_no_network_flags_leave_the_request_as_before():
    req = _request()
    assert not req.config.exposed_ports and not req.host_config.port_bindings
    assert not req.host_config.publish_all_ports and not req.host_config.dns and not req.host_config.extra_hosts
    assert req.host_config.network_mode == "default"  # Docker's CLI sends "default"; the engine puts it on the bridge


@pytest.mark.parametrize("argv,message", [
    (["-p", "8o80:80"], "Invalid hostPort: 8o80"),
    (["-p", "80:70000"], "Invalid containerPort: 70000"),
    (["-p", "1-2:1-3"], "Invalid ranges specified for container and host Ports: 1-3 and 1-2"),
    (["--expose", "1:2"], "invalid port format for --expose: 1:2"),
    (["--add-host", "db"], 'invalid argument "db" for "--add-host" flag: bad format for add-host: "db"'),
    (["--add-host", "db:x"], 'invalid argument "db:x" for "--add-host" flag: invalid IP address in add-host: "x"'),
    (["--dns", "x"], 'invalid argument "x" for "--dns" flag: x is not an ip address'),
    (["--dns-search=-x"], 'invalid argument "-x" for "--dns-search" flag: -x is not a valid domain'),
])
def test_bad_values_are_refused_before_any_request(argv, message):
    with pytest.raises(InvalidArgument) as info:
        _request(*argv)
    assert str(info.value) == message


def test_a_bad_spec_fails_run_with_one_line_and_125(monkeypatch, capsys):
    """Through main: nothing reaches a runtime (it would fail the test)."""
    from cli import main as cli_main

    class NoRuntime:
        def __getattr__(self, name):
            raise AssertionError("a request was sent")

    monkeypatch.setattr(cli_main.Context, "runtime", lambda self: NoRuntime())
    codes = []
    monkeypatch.setattr(cli_main, "exit_now", codes.append)
    monkeypatch.setattr(sys, "argv", ["barque"])
    cli_main.main(["run", "-p", "8o80:80", "busybox", "true"])
    assert codes == [125]
    assert capsys.readouterr().err == "barque: Invalid hostPort: 8o80\n"
