"""A host reboot, simulated (tests/support/faults.py ``simulate_reboot``):
every service, shim, container process and helper SIGKILLed, every mount
under the engine gone, the containers' cgroups, network namespaces, veths,
bridge and firewall chains removed, the run dir emptied; the state dir kept.

Then the engine starts, and as dockerd's restore (moby ``daemon/daemon.go``:
a task containerd no longer knows is ``SetStopped`` with exit code 255,
"unknown"; then every container whose policy restarts that exit is started
as a user would, RestartCount 0) it:

* marks the containers that ran exited with 255;
* frees what they held: no cgroup made again, their addresses (IPAM leases)
  and port rules given back, their rootfs mounted only when one runs;
* starts ``always``, ``unless-stopped`` and ``on-failure`` ones again (255
  is a failure), leaves ``no`` ones and the ``unless-stopped`` one the user
  stopped exited;
* and ``barque start`` runs any of them again, on its rootfs (mounted
  again), its volumes (a tmpfs volume mounted again) and network.
"""

from __future__ import annotations

import json

import pytest

from tests.support import host
from tests.support.engine import Engine
from tests.support.faults import simulate_reboot
from tests.support.runtime import RUNTIME_SERVICES, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

SCRIPT = "echo up; echo data >> /kept; exec sleep 300"


def _state(engine: Engine, cid: str) -> dict:
    return json.loads(engine.ok("inspect", "--format", "{{json .State}}", cid).stdout)


def _endpoints(engine: Engine) -> set[str]:
    doc = json.loads((engine.state("runtime") / "network" / "state.json").read_text())
    return {ep["container_id"] for ep in doc.get("endpoints", {}).values()}


def _dnat_rules(engine: Engine) -> list[str]:
    from tests.support.leaks import _firewall_rules

    return sorted(r for r in _firewall_rules() if engine.bridge in r and "DNAT" in r and "--to-destination" in r)


def test_the_engine_recovers_from_a_host_reboot(fresh_rt_engine, test_images):
    eng = fresh_rt_engine
    image = test_images["oci-gzip"].ref
    eng.ok("pull", image)
    eng.ok("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "scratch")
    ids = {}
    for name, flags in (("plain", ("-v", "scratch:/scratch")), ("always", ("--restart", "always")),
                        ("unless", ("--restart", "unless-stopped")), ("failing", ("--restart", "on-failure:2")),
                        ("stopped", ("--restart", "unless-stopped"))):
        ids[name] = eng.ok("run", "-d", "--name", name, "-p", "127.0.0.1::80", *flags, image,
                           "sh", "-c", SCRIPT).stdout.strip()
    eng.ok("stop", "-t", "0", "stopped")
    for name in ids:
        wait_for(lambda: eng.ok("logs", name).stdout == "up\n", what=f"{name}'s output")
    before = {name: _state(eng, name) for name in ids}
    assert len(_dnat_rules(eng)) == 4

    simulate_reboot(eng)
    assert all(host.container_cgroups(cid) == [] for cid in ids.values())
    assert host.mounts_under(eng.root) == []
    for service in RUNTIME_SERVICES:
        eng.start(service)

    back = ("always", "unless", "failing")
    for name in back:
        wait_for(lambda: _state(eng, name)["Running"], timeout=30, what=f"{name} started again")
    for name in back:
        st = _state(eng, name)
        assert st["Pid"] != before[name]["Pid"] and st["StartedAt"] > before[name]["StartedAt"], name
        assert eng.ok("inspect", "--format", "{{.RestartCount}}", name).stdout == "0\n"
        assert eng.ok("exec", name, "cat", "/kept").stdout == "data\ndata\n"  # its own rootfs, kept
        assert eng.ok("logs", name).stdout == "up\nup\n"
    plain = _state(eng, "plain")
    assert (plain["Status"], plain["ExitCode"], plain["Running"], plain["Pid"]) == ("exited", 255, False, 0), plain
    stopped = _state(eng, "stopped")
    assert (stopped["Status"], stopped["ExitCode"]) == ("exited", before["stopped"]["ExitCode"]), stopped

    # what the stopped ones held is free: no cgroup, no endpoint (lease), no port rule, no rootfs mount
    for name in ("plain", "stopped"):
        assert host.container_cgroups(ids[name]) == [], name
    assert _endpoints(eng) == {ids[n] for n in back}
    assert len(_dnat_rules(eng)) == 3
    mounted = {cid for cid in ids.values()
               if host.is_mounted(eng.state("runtime") / "containers" / cid / "rootfs")}
    assert mounted <= {ids[n] for n in back}

    # and they start again
    eng.ok("start", "plain")
    wait_for(lambda: _state(eng, "plain")["Running"], what="plain started again")
    assert eng.ok("exec", "plain", "cat", "/kept").stdout == "data\ndata\n"
    # its tmpfs volume is mounted again (empty, as after any reboot)
    mounts = eng.ok("exec", "plain", "cat", "/proc/mounts").stdout.splitlines()
    assert any(line.split()[1:3] == ["/scratch", "tmpfs"] for line in mounts), mounts
    assert _state(eng, "plain")["Error"] == ""
    assert len(_dnat_rules(eng)) == 4
