"""A container's shim SIGKILLed: nobody reaps the container or holds its
stdio any more, so the runtime kills every process of its cgroup, removes
the cgroup and records the exit the shim could not: exit code 137 (128 +
SIGKILL, as containerd's cleanupAfterDeadShim reports a dead shim's task)
and State.Error ``shim died: container killed``. Its logs up to then are
kept, its network is given back, its restart policy applies to that exit,
and ``start`` runs it again. The same when the shim dies while the runtime
itself is down: the runtime finds it at start."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from services.runtime.shim.client import SHIM_DIED
from tests.support import host
from tests.support.engine import Engine
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

SCRIPT = "echo up; exec sleep 300"


def _state(engine: Engine, cid: str) -> dict:
    return json.loads(engine.ok("inspect", "--format", "{{json .State}}", cid).stdout)


def _shim_pid(engine: Engine, cid: str) -> int:
    return int((engine.state("runtime") / "containers" / cid / "shim" / "shim.pid").read_text())


def _assert_killed_and_clean(engine: Engine, cid: str, pids: list[int]) -> None:
    wait_for(lambda: _state(engine, cid)["Status"] == "exited", timeout=20, what="the exit recorded")
    st = _state(engine, cid)
    assert (st["ExitCode"], st["Error"], st["Running"], st["Pid"]) == (*SHIM_DIED, False, 0), st
    assert st["FinishedAt"] > st["StartedAt"]
    wait_for(lambda: not any(host.alive(p) for p in pids), timeout=10, what="the container's processes gone")
    assert host.container_cgroups(cid) == [], "the container's cgroup remains"
    assert host.links(f"bq{cid[:10]}") == set(), "the container's veth remains"
    assert not host.is_mounted(Path(engine.root / "run" / "netns" / cid)), "its netns stays mounted"
    assert engine.ok("logs", cid).stdout == "up\n"


def test_a_killed_shim_gets_its_container_killed_and_recorded(rt_engine, busybox):
    cid = rt_engine.ok("run", "-d", busybox, "sh", "-c", SCRIPT).stdout.strip()
    try:
        wait_for(lambda: rt_engine.ok("logs", cid).stdout == "up\n", what="the container's output")
        rt_engine.ok("exec", "-d", cid, "sleep", "301")  # a second process in its cgroup
        init = _state(rt_engine, cid)["Pid"]
        procs = sorted(host.cgroup_pids(f"barque/{cid}"))
        assert init in procs and len(procs) >= 2, procs
        os.kill(_shim_pid(rt_engine, cid), signal.SIGKILL)
        _assert_killed_and_clean(rt_engine, cid, procs)
        events = rt_engine.ok("events", "--since", "0", "--until", str(time.time() + 1), "--filter", f"container={cid}",
                              "--format", "{{json .}}", timeout=30).lines
        dies = [json.loads(e)["Actor"]["Attributes"]["exitCode"] for e in events if json.loads(e)["Action"] == "die"]
        assert dies == [str(SHIM_DIED[0])], events
        # and it starts again, a shim of its own
        rt_engine.ok("start", cid)
        wait_for(lambda: rt_engine.ok("logs", cid).stdout == "up\nup\n", what="the second run's output")
        assert _state(rt_engine, cid)["Running"] and _state(rt_engine, cid)["Error"] == ""
    finally:
        rt_engine.ok("rm", "-f", cid)
    assert host.container_cgroups(cid) == []


def test_a_shim_killed_while_the_runtime_is_down(fresh_rt_engine, test_images):
    eng = fresh_rt_engine
    eng.ok("pull", test_images["oci-gzip"].ref)
    plain = eng.ok("run", "-d", test_images["oci-gzip"].ref, "sh", "-c", SCRIPT).stdout.strip()
    always = eng.ok("run", "-d", "--restart", "always", test_images["oci-gzip"].ref,
                    "sh", "-c", SCRIPT).stdout.strip()
    for cid in (plain, always):
        wait_for(lambda: eng.ok("logs", cid).stdout == "up\n", what="the container's output")
    procs = {cid: sorted(host.cgroup_pids(f"barque/{cid}")) for cid in (plain, always)}
    eng.stop_service("runtime", kill=True)
    for cid in (plain, always):
        os.kill(_shim_pid(eng, cid), signal.SIGKILL)
    eng.start("runtime")
    _assert_killed_and_clean(eng, plain, procs[plain])
    # the restart policy applies to that exit: the container runs again, in a new cgroup
    wait_for(lambda: eng.ok("logs", always).stdout == "up\nup\n", timeout=30, what="the policy's restart")
    st = _state(eng, always)
    assert st["Running"] and st["Pid"] not in procs[always]
    assert not any(host.alive(p) for p in procs[always])
