"""run/create's port, DNS and hosts flags through the real CLI and a real
engine: a bad value stops in the CLI with one line and exit 125, before any
request; a good one reaches the engine, which either applies the field or
refuses it by name (services/runtime/spec/options.py refuse_unapplied).
``barque port`` on a container with nothing published."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.root]

#: the fields these flags fill, by their names in refuse_unapplied's message
NETWORK_FIELDS = ("Config.exposed_ports", "HostConfig.port_bindings", "HostConfig.publish_all_ports",
                  "HostConfig.dns", "HostConfig.dns_search", "HostConfig.dns_options", "HostConfig.extra_hosts")


@pytest.mark.parametrize("command", ["run", "create"])
@pytest.mark.parametrize("flags,message", [
    (["-p", "8o80:80"], "barque: Invalid hostPort: 8o80"),
    (["-p", "8000-8001:80-82"], "barque: Invalid ranges specified for container and host Ports: 80-82 and 8000-8001"),
    (["-p", "80/icmp"], "barque: Invalid proto: icmp"),
    (["--expose", "80:80"], "barque: invalid port format for --expose: 80:80"),
    (["--add-host", "db"], 'barque: invalid argument "db" for "--add-host" flag: bad format for add-host: "db"'),
    (["--dns", "resolver"], 'barque: invalid argument "resolver" for "--dns" flag: resolver is not an ip address'),
])
def test_a_bad_value_fails_in_the_cli_and_creates_nothing(rt_engine, busybox, command, flags, message):
    res = rt_engine.cli(command, *flags, "--name", "never", busybox, "true")
    assert res.returncode == 125
    assert res.stderr.splitlines() == [message]
    assert res.stdout == ""
    assert rt_engine.ok("ps", "-a", "--format", "{{.Names}}").stdout == ""


def test_run_publish_reaches_the_engine(rt_engine, busybox):
    """Today's engine refuses what it does not apply, naming the field;
    once it applies -p, the container runs."""
    res = rt_engine.cli("run", "--rm", "-p", "8080:80", busybox, "true")
    if res.returncode == 0:
        return
    assert res.returncode == 125, res.stderr
    assert "is not supported by barque yet" in res.stderr
    assert any(field in res.stderr for field in ("HostConfig.port_bindings", "Config.exposed_ports")), res.stderr
    assert rt_engine.ok("ps", "-aq").stdout == ""


def test_create_flags_reach_the_engine(rt_engine, busybox):
    """Each flag on its own: refused by its field's name, or kept in
    inspect as Docker keeps it."""
    cases = [
        (["--expose", "7000-7001/udp"], "Config.exposed_ports",
         lambda doc: {"7000/udp", "7001/udp"} <= set(doc["Config"]["ExposedPorts"] or {})),
        (["--dns", "192.0.2.53"], "HostConfig.dns", lambda doc: doc["HostConfig"]["Dns"] == ["192.0.2.53"]),
        (["--dns-search", "example.com."], "HostConfig.dns_search",
         lambda doc: doc["HostConfig"]["DnsSearch"] == ["example.com"]),
        (["--dns-option", "ndots:2"], "HostConfig.dns_options",
         lambda doc: doc["HostConfig"]["DnsOptions"] == ["ndots:2"]),
        (["--add-host", "db:192.0.2.10", "--add-host", "gw:host-gateway"], "HostConfig.extra_hosts",
         lambda doc: doc["HostConfig"]["ExtraHosts"] == ["db:192.0.2.10", "gw:host-gateway"]),
    ]
    for flags, field, kept in cases:
        res = rt_engine.cli("create", *flags, busybox, "true")
        if res.returncode == 0:
            cid = res.stdout.strip()
            try:
                doc = json.loads(rt_engine.ok("inspect", "--type", "container", cid).stdout)[0]
                assert kept(doc), (flags, doc["Config"], doc["HostConfig"])
            finally:
                rt_engine.ok("rm", "-f", cid)
            continue
        assert res.returncode == 125, (flags, res.stderr)
        assert res.stderr.strip().endswith(f"{field} is not supported by barque yet"), (flags, res.stderr)
    assert rt_engine.ok("ps", "-aq").stdout == ""


def test_port_on_a_container_with_nothing_published(rt_engine, busybox):
    cid = rt_engine.ok("create", "--name", "quiet", busybox, "true").stdout.strip()
    try:
        listing = rt_engine.cli("port", "quiet")
        assert (listing.returncode, listing.stdout, listing.stderr) == (0, "", "")
        one = rt_engine.cli("container", "port", "quiet", "80")
        assert (one.returncode, one.stdout) == (1, "")
        assert one.stderr == "Error: No public port '80/tcp' published for quiet\n"
        row = rt_engine.ok("ps", "-a", "--format", "{{.Names}}|{{.Ports}}|{{.Networks}}").stdout
        assert row.startswith("quiet||") and row.strip() != "quiet||"
    finally:
        rt_engine.ok("rm", "-f", cid)
    missing = rt_engine.cli("port", "ghost")
    assert (missing.returncode, missing.stderr) == (1, "Error: No such container: ghost\n")
