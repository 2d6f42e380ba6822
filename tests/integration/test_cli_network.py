"""``barque network`` through the real CLI and a real engine: create, ls,
inspect, rm, prune, connect and disconnect end to end, with Docker 20.10's
output and exit codes, and run's --ip and --network-alias reaching the
container's endpoint. Client-side refusals are checked to create nothing.

Addresses are in 10.231.0.0/16, which nothing else on the machine uses;
every network and container a test makes is removed after it.
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.root]

SUBNET_A, GATEWAY_A = "10.231.1.0/24", "10.231.1.1"
SUBNET_B = "10.231.2.0/24"


@pytest.fixture
def clean(rt_engine):
    """After each test: no container, no user-defined network."""
    yield rt_engine
    ids = rt_engine.ok("ps", "-aq").lines
    if ids:
        rt_engine.ok("rm", "-f", *ids)
    custom = rt_engine.ok("network", "ls", "-q", "-f", "type=custom").lines
    if custom:
        rt_engine.ok("network", "rm", *custom)
    assert rt_engine.ok("network", "ls", "-q", "-f", "type=custom").lines == []


def _network(engine, name: str) -> dict:
    return json.loads(engine.ok("network", "inspect", name).stdout)[0]


def _container(engine, ref: str) -> dict:
    return json.loads(engine.ok("inspect", "--type", "container", ref).stdout)[0]


def test_create_ls_inspect_rm(clean, busybox):
    engine = clean
    res = engine.ok("network", "create", "--subnet", SUBNET_A, "--gateway", GATEWAY_A, "--ip-range",
                    "10.231.1.128/25", "--label", "env=test", "--internal", "app")
    ident = res.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", ident) and res.stderr == ""

    table = engine.ok("network", "ls").lines
    assert re.fullmatch(r"NETWORK ID +NAME +DRIVER +SCOPE", table[0])
    rows = {line.split()[1]: line.split() for line in table[1:]}
    assert rows["app"] == [ident[:12], "app", "bridge", "local"]
    assert {"bridge", "host", "none"} <= set(rows)
    assert [r[1] for r in (line.split() for line in table[1:])] == sorted(rows)  # name order
    assert engine.ok("network", "ls", "-q", "--no-trunc", "-f", "name=app").lines == [ident]
    assert engine.ok("network", "ls", "-f", "type=custom", "--format", "{{.Name}} {{.Internal}} {{.Labels}}"
                     ).lines == ["app true env=test"]
    assert "app" not in engine.ok("network", "ls", "--format", "{{.Name}}", "-f", "type=builtin").lines

    doc = _network(engine, "app")
    assert (doc["Name"], doc["Id"], doc["Driver"], doc["Scope"], doc["Internal"]) == (
        "app", ident, "bridge", "local", True)
    assert doc["Labels"] == {"env": "test"}
    assert doc["IPAM"]["Config"] == [{"Subnet": SUBNET_A, "IPRange": "10.231.1.128/25", "Gateway": GATEWAY_A}]
    assert doc["Containers"] == {}
    assert _network(engine, ident[:12])["Id"] == ident  # by id prefix
    assert engine.ok("network", "inspect", "-f", "{{.Name}} {{.Driver}}", "app").stdout == "app bridge\n"

    dup = engine.cli("network", "create", "app")
    assert (dup.returncode, dup.stdout) == (1, "")
    assert dup.stderr == "Error response from daemon: network with name app already exists\n"

    assert engine.ok("network", "rm", "app").stdout == "app\n"
    gone = engine.cli("network", "inspect", "app")
    assert (gone.returncode, gone.stdout, gone.stderr) == (1, "[]\n", "Error: No such network: app\n")
    gone = engine.cli("network", "rm", "app")
    assert (gone.returncode, gone.stdout, gone.stderr) == (1, "", "Error: No such network: app\n")


def test_client_side_refusals_create_nothing(clean):
    engine = clean
    for flags, status, message in [
        (["--gateway", GATEWAY_A], 1, "every ip-range or gateway must have a corresponding subnet\n"),
        (["--subnet", SUBNET_A, "--gateway", "10.231.9.1"], 1, "no matching subnet for gateway 10.231.9.1\n"),
        (["--subnet", "10.231.0.0/16", "--subnet", SUBNET_A], 1,
         "multiple overlapping subnet configuration is not supported\n"),
        (["--label", "=x"], 125, "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name\n"
                                 "See 'barque network create --help'.\n"),
    ]:
        res = engine.cli("network", "create", *flags, "never")
        assert (res.returncode, res.stdout, res.stderr) == (status, "", message), flags
    res = engine.cli("network", "create")
    assert res.returncode == 1 and res.stderr.startswith('"barque network create" requires exactly 1 argument.')
    assert "never" not in engine.ok("network", "ls", "--format", "{{.Name}}").lines


def test_connect_disconnect_and_rm_of_a_network_in_use(clean, busybox):
    engine = clean
    engine.ok("network", "create", "--subnet", SUBNET_A, "front")
    back = engine.ok("network", "create", "--subnet", SUBNET_B, "back").stdout.strip()
    cid = engine.ok("run", "-d", "--network", "front", "--name", "web", busybox, "sleep", "300").stdout.strip()

    assert engine.ok("network", "connect", "--alias", "api", "--ip", "10.231.2.20", "back", "web").stdout == ""
    endpoint = _container(engine, cid)["NetworkSettings"]["Networks"]["back"]
    assert endpoint["IPAddress"] == "10.231.2.20" and endpoint["NetworkID"] == back
    assert "api" in endpoint["Aliases"]
    assert cid in _network(engine, "back")["Containers"]
    addresses = engine.ok("exec", "web", "ip", "-o", "-4", "addr").stdout
    assert "10.231.2.20/24" in addresses and "10.231.1." in addresses

    busy = engine.cli("network", "rm", "back")
    assert (busy.returncode, busy.stdout) == (1, "")
    assert busy.stderr.startswith("Error response from daemon: error while removing network: network back id ")
    assert busy.stderr.rstrip().endswith("has active endpoints")

    assert engine.ok("network", "disconnect", "back", "web").stdout == ""
    assert "back" not in _container(engine, cid)["NetworkSettings"]["Networks"]
    assert _network(engine, "back")["Containers"] == {}
    assert "10.231.2.20" not in engine.ok("exec", "web", "ip", "-o", "-4", "addr").stdout
    assert engine.ok("network", "rm", "back").stdout == "back\n"

    ghost = engine.cli("network", "connect", "ghost", "web")
    assert ghost.returncode == 1 and ghost.stderr.startswith("Error response from daemon: ")
    assert engine.cli("network", "disconnect", "-f", "front", "web").returncode == 0


def test_run_ip_and_network_alias(clean, busybox):
    engine = clean
    engine.ok("network", "create", "--subnet", SUBNET_A, "app")
    cid = engine.ok("run", "-d", "--network", "app", "--ip", "10.231.1.50", "--network-alias", "db",
                    "--network-alias", "store", busybox, "sleep", "300").stdout.strip()
    endpoint = _container(engine, cid)["NetworkSettings"]["Networks"]["app"]
    assert endpoint["IPAddress"] == "10.231.1.50"
    assert endpoint["IPAMConfig"]["IPv4Address"] == "10.231.1.50"
    assert {"db", "store"} <= set(endpoint["Aliases"])
    assert "10.231.1.50/24" in engine.ok("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0").stdout

    refused = engine.cli("run", "--network-alias", "db", busybox, "true")
    assert (refused.returncode, refused.stdout) == (125, "")
    assert refused.stderr.splitlines() == [
        "barque: network-scoped aliases are only supported for user-defined networks"]


def test_prune_asks_then_removes_only_unused_networks(clean, busybox):
    engine = clean
    engine.ok("network", "create", "--subnet", SUBNET_A, "used")
    engine.ok("network", "create", "--subnet", SUBNET_B, "idle")
    engine.ok("run", "-d", "--network", "used", busybox, "sleep", "300")
    prompt = ("WARNING! This will remove all custom networks not used by at least one container.\n"
              "Are you sure you want to continue? [y/N] ")

    declined = engine.ok("network", "prune", input="n\n")
    assert declined.stdout == prompt
    assert {"used", "idle"} <= set(engine.ok("network", "ls", "--format", "{{.Name}}").lines)

    accepted = engine.ok("network", "prune", input="y\n")
    assert accepted.stdout == prompt + "Deleted Networks:\nidle\n\n"
    names = engine.ok("network", "ls", "--format", "{{.Name}}").lines
    assert "used" in names and "idle" not in names and {"bridge", "host", "none"} <= set(names)

    assert engine.ok("network", "prune", "-f").stdout == ""
