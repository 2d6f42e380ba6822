"""``--init`` on the real engine: Debian's static tini as PID 1 reaps an
orphan that exits (without it the orphan stays a zombie), forwards the stop
signal (sleep as PID 1 ignores SIGTERM; under tini it dies of it, 143), and
inspect shows the command, not the init, as Docker's does."""

from __future__ import annotations

import json
import time

import pytest

from barque.runtime.v1 import runtime_pb2
from tests.support.engine import Engine
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

#: a shell that leaves an orphan: the subshell exits at once, its
#: background sleep is re-parented to PID 1 and exits 0.1 s later
ORPHAN = "(sleep 0.1 &); exec sleep 60"


def create(engine: Engine, image: str, cmd: list[str], init: bool | None) -> str:
    host = runtime_pb2.HostConfig()
    if init is not None:
        host.init = init
    request = runtime_pb2.CreateRequest(config=runtime_pb2.ContainerConfig(image=image, cmd=cmd), host_config=host)
    with engine.client("runtime") as rt:
        cid = rt.Create(request, timeout=60).id
        rt.Start(runtime_pb2.StartRequest(id=cid), timeout=60)
    return cid


def document(engine: Engine, cid: str) -> dict:
    with engine.client("runtime") as rt:
        return json.loads(rt.Inspect(runtime_pb2.InspectRequest(id=cid), timeout=30).container_json)


def processes(engine: Engine, cid: str) -> dict[int, tuple[str, str]]:
    """The container's processes as its own /proc shows them: pid -> (name, state)."""
    out = engine.ok("exec", cid, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null").stdout
    procs = {}
    for line in out.splitlines():
        head, _, rest = line.rpartition(")")
        pid, _, name = head.partition(" (")
        procs[int(pid)] = (name, rest.split()[0])
    return procs


def zombies(engine: Engine, cid: str) -> list[str]:
    return [name for name, st in processes(engine, cid).values() if st == "Z"]


def test_init_reaps_an_orphan_that_exits(rt_engine, busybox):
    cid = create(rt_engine, busybox, ["sh", "-c", ORPHAN], init=True)
    time.sleep(1)
    procs = processes(rt_engine, cid)
    assert procs[1][0] == "docker-init", procs
    assert zombies(rt_engine, cid) == []
    rt_engine.ok("rm", "-f", cid)


def test_without_init_the_orphan_stays_a_zombie(rt_engine, busybox):
    cid = create(rt_engine, busybox, ["sh", "-c", ORPHAN], init=None)
    wait_for(lambda: zombies(rt_engine, cid) == ["sleep"], timeout=10, what="the zombie")
    assert processes(rt_engine, cid)[1][0] == "sleep"
    rt_engine.ok("rm", "-f", cid)


def test_init_forwards_the_stop_signal(rt_engine, busybox):
    cid = create(rt_engine, busybox, ["sleep", "60"], init=True)
    began = time.monotonic()
    rt_engine.ok("stop", "-t", "20", cid)
    assert time.monotonic() - began < 5, "the stop waited for its timeout: SIGTERM was not forwarded"
    assert document(rt_engine, cid)["State"]["ExitCode"] == 143
    rt_engine.ok("rm", cid)


def test_init_passes_the_exit_code_through(rt_engine, busybox):
    cid = create(rt_engine, busybox, ["sh", "-c", "echo from-under-init; exit 9"], init=True)
    assert rt_engine.ok("wait", cid).stdout == "9\n"
    assert rt_engine.ok("logs", cid).stdout == "from-under-init\n"
    rt_engine.ok("rm", cid)


def test_inspect_shows_the_command_and_init(rt_engine, busybox):
    cid = create(rt_engine, busybox, ["sleep", "60"], init=True)
    doc = document(rt_engine, cid)
    assert doc["Path"] == "sleep" and doc["Args"] == ["60"]
    assert doc["HostConfig"]["Init"] is True
    # the init is bound read-only where Docker puts it, not copied into the image's layer
    out = rt_engine.cli("exec", cid, "sh", "-c", "touch /sbin/docker-init 2>&1; echo $?").stdout
    assert out.strip().splitlines()[-1] != "0"
    plain = create(rt_engine, busybox, ["true"], init=False)
    assert document(rt_engine, plain)["HostConfig"]["Init"] is False
    unset = create(rt_engine, busybox, ["true"], init=None)
    assert "Init" not in document(rt_engine, unset)["HostConfig"]
    rt_engine.ok("rm", "-f", cid, plain, unset)
