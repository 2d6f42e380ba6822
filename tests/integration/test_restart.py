"""Restart policies and the Restart RPC on the real engine: a container that
exits under each policy, Docker's backoff between restarts, stop/kill/rm -f
cancelling restarts (also during the backoff), restart of running, stopped
and --rm containers, and containers that exited while the runtime service
was killed, after it starts again.

Driven through the client library's RPCs (what the CLI's --restart and
``barque restart`` send); the events and inspect are the engine's own."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from barque.runtime.v1 import runtime_pb2
from client.errors import BarqueError, FailedPrecondition, InvalidArgument
from tests.support.engine import Engine
from tests.support.host import alive, pids_matching
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

#: a command that exits 5 on its first run and sleeps on the next ones
#: (the container's upper dir keeps /again across restarts)
ONCE_THEN_SLEEP = "if [ -e /again ]; then exec sleep 60; fi; touch /again; exit 5"


@dataclass(frozen=True)
class Ev:
    action: str
    id: str
    at: float            # seconds (the engine's wall clock)
    attributes: dict


class Events:
    """The engine's events from now on, collected by a thread."""

    def __init__(self, engine: Engine) -> None:
        self._ctx = engine.client("runtime")
        stub = self._ctx.__enter__()
        self._stream = stub.Events(runtime_pb2.EventsRequest())
        self.seen: list[Ev] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        time.sleep(0.2)  # the stream is open before the test acts

    def _read(self) -> None:
        try:
            for e in self._stream:
                if e.type == "container":
                    self.seen.append(Ev(e.action, e.id, e.time_nanos / 1e9, dict(e.attributes)))
        except BarqueError:  # the channel closed
            pass

    def of(self, cid: str, *actions: str) -> list[Ev]:
        return [e for e in list(self.seen) if e.id == cid and (not actions or e.action in actions)]

    def wait(self, cid: str, action: str) -> list[Ev]:
        """The events of ``cid`` once ``action`` arrived (the stream is ordered)."""
        wait_for(lambda: self.of(cid, action), what=f"a {action} event")
        return self.of(cid)

    def close(self) -> None:
        self._ctx.__exit__(None, None, None)
        self._thread.join(10)


@pytest.fixture
def events(rt_engine) -> Iterator[Events]:
    ev = Events(rt_engine)
    try:
        yield ev
    finally:
        ev.close()


def create(engine: Engine, image: str, cmd: list[str], *, name: str = "", policy: str = "", retries: int = 0,
           auto_remove: bool = False, start: bool = True) -> str:
    host = runtime_pb2.HostConfig(auto_remove=auto_remove)
    host.restart_policy.name = policy
    host.restart_policy.maximum_retry_count = retries
    request = runtime_pb2.CreateRequest(name=name, config=runtime_pb2.ContainerConfig(image=image, cmd=cmd),
                                        host_config=host)
    with engine.client("runtime") as rt:
        cid = rt.Create(request, timeout=60).id
        if start:
            rt.Start(runtime_pb2.StartRequest(id=cid), timeout=60)
    return cid


def inspect(engine: Engine, cid: str) -> tuple[runtime_pb2.Container, dict]:
    with engine.client("runtime") as rt:
        resp = rt.Inspect(runtime_pb2.InspectRequest(id=cid), timeout=30)
    return resp.container, json.loads(resp.container_json)


def call(engine: Engine, method: str, request, timeout: float = 60):
    with engine.client("runtime") as rt:
        return getattr(rt, method)(request, timeout=timeout)


def state(engine: Engine, cid: str) -> dict:
    return inspect(engine, cid)[1]["State"]


def rm_f(engine: Engine, cid: str) -> None:
    call(engine, "Delete", runtime_pb2.DeleteRequest(id=cid, force=True))


# ---- each policy, for a container that exits non-zero ----------------------------------------

@pytest.mark.parametrize("policy", ["", "no"])
def test_no_policy_leaves_it_exited(rt_engine, busybox, events, policy):
    cid = create(rt_engine, busybox, ["sh", "-c", "exit 3"], policy=policy)
    wait_for(lambda: state(rt_engine, cid)["Status"] == "exited", what="the exit")
    time.sleep(1)
    container, doc = inspect(rt_engine, cid)
    assert doc["State"]["ExitCode"] == 3 and doc["RestartCount"] == 0 and not doc["State"]["Restarting"]
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert container.restart_count == 0 and not container.state.restarting
    assert [e.action for e in events.of(cid, "start", "die")] == ["start", "die"]
    rm_f(rt_engine, cid)


def test_on_failure_restarts_at_most_its_count(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["sh", "-c", "echo run; exit 3"], policy="on-failure", retries=3)
    wait_for(lambda: len(events.of(cid, "die")) == 4, timeout=30, what="four exits")
    time.sleep(1.5)  # a fourth restart would come 0.8 s after the fourth exit
    container, doc = inspect(rt_engine, cid)
    assert [e.action for e in events.of(cid, "start", "die")] == ["start", "die"] * 4
    assert [e.attributes["exitCode"] for e in events.of(cid, "die")] == ["3"] * 4
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 3
    assert doc["RestartCount"] == 3 and container.restart_count == 3
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert rt_engine.ok("logs", cid).stdout == "run\n" * 4
    # a user start begins afresh: RestartCount 0, three restarts again
    call(rt_engine, "Start", runtime_pb2.StartRequest(id=cid))
    assert inspect(rt_engine, cid)[1]["RestartCount"] == 0
    wait_for(lambda: len(events.of(cid, "die")) == 8, timeout=30, what="four more exits")
    time.sleep(1.5)
    assert inspect(rt_engine, cid)[1]["RestartCount"] == 3 and len(events.of(cid, "start")) == 8
    rm_f(rt_engine, cid)


def test_on_failure_leaves_a_success_alone(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["true"], policy="on-failure")
    wait_for(lambda: state(rt_engine, cid)["Status"] == "exited", what="the exit")
    time.sleep(1)
    assert inspect(rt_engine, cid)[1]["RestartCount"] == 0 and len(events.of(cid, "start")) == 1
    rm_f(rt_engine, cid)


@pytest.mark.parametrize("policy", ["always", "unless-stopped"])
def test_always_and_unless_stopped_restart_until_stopped(rt_engine, busybox, events, policy):
    cid = create(rt_engine, busybox, ["sh", "-c", ONCE_THEN_SLEEP], policy=policy)
    wait_for(lambda: len(events.of(cid, "start")) == 2, what="the restart")
    wait_for(lambda: state(rt_engine, cid)["Pid"] > 0, what="the second run")
    container, doc = inspect(rt_engine, cid)
    assert doc["RestartCount"] == 1 and container.restart_count == 1 and doc["State"]["Running"]
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": policy, "MaximumRetryCount": 0}
    assert [e.attributes["exitCode"] for e in events.of(cid, "die")] == ["5"]
    call(rt_engine, "Stop", runtime_pb2.StopRequest(id=cid, timeout=1))
    assert state(rt_engine, cid)["Status"] == "exited"
    time.sleep(1.5)
    assert state(rt_engine, cid)["Status"] == "exited", "a stopped container came back"
    assert len(events.of(cid, "start")) == 2
    rm_f(rt_engine, cid)


def test_kill_prevents_a_restart(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["sleep", "60"], policy="always")
    call(rt_engine, "Kill", runtime_pb2.KillRequest(id=cid, signal="SIGKILL"))
    wait_for(lambda: events.of(cid, "die"), what="the exit")
    time.sleep(1.5)
    assert state(rt_engine, cid)["Status"] == "exited" and len(events.of(cid, "start")) == 1
    rm_f(rt_engine, cid)


# ---- the backoff, and cancelling it ---------------------------------------------------------

def test_backoff_doubles_and_stop_cancels_the_pending_restart(rt_engine, busybox, events):
    """The gaps from each exit to the next start are Docker's 100 ms doubling:
    never shorter (without a backoff a fast-failing container restarts in a
    few tens of ms), never much longer. Then a stop during the wait."""
    cid = create(rt_engine, busybox, ["sh", "-c", "exit 1"], policy="always")
    wait_for(lambda: len(events.of(cid, "start")) >= 6, timeout=40, what="five restarts")
    evs = events.of(cid, "start", "die")
    gaps = []
    for die, start in zip(evs[1::2], evs[2::2]):
        assert (die.action, start.action) == ("die", "start")
        gaps.append(start.at - die.at)
    expected = [0.1, 0.2, 0.4, 0.8, 1.6]
    for gap, delay in zip(gaps, expected):
        assert delay - 0.02 <= gap <= delay + 3.0, (gaps, expected)
    assert gaps[4] > gaps[0] + 1.0, gaps

    # the sixth exit waits 3.2 s: restarting in inspect, the proto and ps (without -a)
    wait_for(lambda: state(rt_engine, cid)["Status"] == "restarting", timeout=15, what="the restarting state")
    container, doc = inspect(rt_engine, cid)
    assert doc["State"]["Restarting"] is True and doc["State"]["Running"] is True
    assert doc["State"]["Pid"] == 0 and doc["State"]["ExitCode"] == 1
    assert container.state.status == "restarting" and container.state.restarting
    assert doc["RestartCount"] >= 5 and container.restart_count == doc["RestartCount"]
    listed = call(rt_engine, "List", runtime_pb2.ListRequest()).containers
    assert [c.state.status for c in listed if c.id == cid] == ["restarting"]
    filtered = call(rt_engine, "List", runtime_pb2.ListRequest(all=True, filters=["status=restarting"])).containers
    assert [c.id for c in filtered] == [cid]

    # rm without force refuses it, as a running one; stop cancels the pending restart
    with pytest.raises(FailedPrecondition, match="You cannot remove a restarting container"):
        call(rt_engine, "Delete", runtime_pb2.DeleteRequest(id=cid))
    starts = len(events.of(cid, "start"))
    began = time.monotonic()
    call(rt_engine, "Stop", runtime_pb2.StopRequest(id=cid))
    assert time.monotonic() - began < 8, "stop waited for its 10 s timeout: the pending restart was not cancelled"
    doc = inspect(rt_engine, cid)[1]
    assert doc["State"]["Status"] == "exited" and not doc["State"]["Restarting"] and not doc["State"]["Running"]
    events.wait(cid, "stop")
    time.sleep(4)  # past the 3.2 s it waited for
    assert len(events.of(cid, "start")) == starts and state(rt_engine, cid)["Status"] == "exited"
    rm_f(rt_engine, cid)


def test_stop_at_any_moment_of_a_restart_loop_ends_it(rt_engine, busybox):
    """A stop that lands while a policy restart is starting the process, or
    while the exit of an instant run is being handled, still ends the loop:
    it waits for that start or exit handling (Docker's container lock), then
    sees the container running or waiting to restart and stops it. Before,
    such a stop found it "exited" for a moment, did nothing, and the loop
    went on."""
    for delay in (0.05, 0.13, 0.21, 0.34, 0.55, 0.8):
        cid = create(rt_engine, busybox, ["sh", "-c", "exit 1"], policy="always")
        try:
            time.sleep(delay)
            call(rt_engine, "Stop", runtime_pb2.StopRequest(id=cid))
            count = inspect(rt_engine, cid)[1]["RestartCount"]
            time.sleep(1.0)  # the backoff is under a second this early: a restart would be done
            container, doc = inspect(rt_engine, cid)
            assert (doc["RestartCount"], doc["State"]["Status"], doc["State"]["Restarting"]) == \
                (count, "exited", False), (delay, doc["State"])
        finally:
            rm_f(rt_engine, cid)


def test_ten_seconds_up_bring_the_backoff_back_to_100ms(rt_engine, busybox, events):
    """Five quick exits push the delay to 1.6 s; the sixth run lasts 10.5 s,
    so the next delay is 100 ms again where it would have been 3.2 s."""
    script = "n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs; " \
             "if [ $n -eq 6 ]; then sleep 10.5; fi; exit 1"
    cid = create(rt_engine, busybox, ["sh", "-c", script], policy="always")
    wait_for(lambda: len(events.of(cid, "start")) >= 7, timeout=60, what="the run after the long one")
    evs = events.of(cid, "start", "die")
    long_run = evs[11].at - evs[10].at
    gap = evs[12].at - evs[11].at
    assert [e.action for e in evs[10:13]] == ["start", "die", "start"]
    assert long_run >= 10.4, long_run
    assert 0.08 <= gap < 2.0, gap
    call(rt_engine, "Stop", runtime_pb2.StopRequest(id=cid, timeout=0))
    rm_f(rt_engine, cid)


def test_rm_f_cancels_a_pending_restart(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["sh", "-c", "exit 1"], policy="always")
    wait_for(lambda: len(events.of(cid, "die")) >= 4, timeout=30, what="three restarts")
    wait_for(lambda: state(rt_engine, cid)["Status"] == "restarting", timeout=15, what="a wait to restart")
    rm_f(rt_engine, cid)
    wait_for(lambda: events.of(cid, "destroy"), what="the destroy event")
    time.sleep(3)  # past the wait it was in
    assert events.of(cid)[-1].action == "destroy", "an event after the removal"
    assert pids_matching(cid) == []
    ids = [c.id for c in call(rt_engine, "List", runtime_pb2.ListRequest(all=True)).containers]
    assert cid not in ids


def test_rm_f_of_a_running_container_does_not_restart_it(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["sleep", "60"], policy="always")
    rm_f(rt_engine, cid)
    time.sleep(1.5)
    assert len(events.of(cid, "start")) == 1 and pids_matching(cid) == []


# ---- the Restart RPC -------------------------------------------------------------------------

def test_restart_of_a_running_container(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"],
                 name="restarted")
    before = inspect(rt_engine, cid)[1]["State"]
    began = time.monotonic()
    call(rt_engine, "Restart", runtime_pb2.RestartRequest(id="restarted", timeout=10))
    assert time.monotonic() - began < 8  # the trap ended it, no SIGKILL after the timeout
    after = inspect(rt_engine, cid)[1]
    assert after["State"]["Running"] and after["State"]["Pid"] != before["Pid"]
    assert after["State"]["StartedAt"] > before["StartedAt"] and after["RestartCount"] == 0
    assert not alive(before["Pid"])
    events.wait(cid, "restart")
    actions = [e.action for e in events.of(cid, "start", "die", "stop", "restart")]
    assert actions == ["start", "die", "stop", "start", "restart"]
    assert events.of(cid, "die")[0].attributes["exitCode"] == "7"
    rm_f(rt_engine, cid)


def test_restart_kills_after_its_timeout(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["sleep", "60"])  # PID 1 ignores SIGTERM
    began = time.monotonic()
    call(rt_engine, "Restart", runtime_pb2.RestartRequest(id=cid, timeout=1))
    assert 0.9 < time.monotonic() - began < 8
    events.wait(cid, "restart")
    assert events.of(cid, "die")[0].attributes["exitCode"] == "137"
    assert state(rt_engine, cid)["Running"]
    rm_f(rt_engine, cid)


def test_restart_starts_a_stopped_container(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["sh", "-c", "echo ran"], start=False)
    call(rt_engine, "Restart", runtime_pb2.RestartRequest(id=cid))
    wait_for(lambda: rt_engine.ok("logs", cid).stdout == "ran\n", what="its run")
    events.wait(cid, "restart")
    assert [e.action for e in events.of(cid, "start", "restart")] == ["start", "restart"]
    rm_f(rt_engine, cid)


def test_restart_keeps_an_auto_remove_container(rt_engine, busybox, events):
    cid = create(rt_engine, busybox, ["sleep", "60"], auto_remove=True)
    call(rt_engine, "Restart", runtime_pb2.RestartRequest(id=cid, timeout=0))
    assert state(rt_engine, cid)["Running"]
    assert not events.of(cid, "destroy")
    call(rt_engine, "Kill", runtime_pb2.KillRequest(id=cid, signal="SIGKILL"))
    wait_for(lambda: events.of(cid, "destroy"), what="the auto-removal after its next exit")


def test_restart_of_an_unknown_container(rt_engine):
    with pytest.raises(BarqueError, match="No such container: nothing-here"):
        call(rt_engine, "Restart", runtime_pb2.RestartRequest(id="nothing-here"))


# ---- refused at create -----------------------------------------------------------------------

@pytest.mark.parametrize("policy,retries,auto_remove,message", [
    ("always", 0, True, "can't create 'AutoRemove' container with restart policy"),
    ("on-failure", 2, True, "can't create 'AutoRemove' container with restart policy"),
    ("sometimes", 0, False, "invalid restart policy 'sometimes'"),
    ("on-failure", -1, False, "maximum retry count cannot be negative"),
    ("always", 3, False, "maximum retry count cannot be used with restart policy 'always'"),
])
def test_bad_policies_are_refused(rt_engine, busybox, policy, retries, auto_remove, message):
    before = call(rt_engine, "List", runtime_pb2.ListRequest(all=True)).containers
    with pytest.raises(InvalidArgument) as err:
        create(rt_engine, busybox, ["true"], policy=policy, retries=retries, auto_remove=auto_remove,
               name="refused")
    assert str(err.value) == message
    assert call(rt_engine, "List", runtime_pb2.ListRequest(all=True)).containers == before


# ---- after the runtime service was killed ----------------------------------------------------


def test_policies_apply_to_exits_while_the_runtime_was_down(fresh_rt_engine, test_images):
    eng = fresh_rt_engine
    image = test_images["oci-gzip"].ref
    eng.ok("pull", image)
    # the first run waits on a sleep the test ends while the runtime is down: no race with the clock
    dies_later = "if [ -e /again ]; then exec sleep 60; fi; touch /again; sleep 600 & wait; exit {code}"
    ids = {
        "always": create(eng, image, ["sh", "-c", dies_later.format(code=0)], name="always", policy="always"),
        "unless": create(eng, image, ["sh", "-c", dies_later.format(code=0)], name="unless",
                         policy="unless-stopped"),
        "failing": create(eng, image, ["sh", "-c", dies_later.format(code=3)], name="failing",
                          policy="on-failure", retries=2),
        "succeeding": create(eng, image, ["sh", "-c", dies_later.format(code=0)], name="succeeding",
                             policy="on-failure"),
        "none": create(eng, image, ["sh", "-c", dies_later.format(code=4)], name="none"),
        "stopped-unless": create(eng, image, ["sleep", "60"], name="stopped-unless", policy="unless-stopped"),
        "stopped-always": create(eng, image, ["sleep", "60"], name="stopped-always", policy="always"),
    }
    for name in ("stopped-unless", "stopped-always"):
        call(eng, "Stop", runtime_pb2.StopRequest(id=name, timeout=0))
    dying = [state(eng, name)["Pid"] for name in ("always", "unless", "failing", "succeeding", "none")]
    assert all(dying)
    killed_at = time.time()
    eng.stop_service("runtime", kill=True)
    for pid in dying:  # the first runs end now, while the service is down (their shims reap them)
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            os.kill(int(child), signal.SIGKILL)
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in dying), timeout=60,
             what="the first runs to end while the runtime is down")
    eng.start("runtime")

    back = ("always", "unless", "failing", "stopped-always")
    for name in back:
        wait_for(lambda: state(eng, name)["Pid"] > 0, timeout=30, what=f"{name} back")
    for name, code in (("succeeding", 0), ("none", 4), ("stopped-unless", 137)):
        doc = inspect(eng, name)[1]
        assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == code, (name, doc["State"])
    for name in back:
        doc = inspect(eng, name)[1]
        assert doc["RestartCount"] == 0, name  # dockerd starts them as a user would
        assert doc["State"]["StartedAt"] > inspect_time(killed_at)

    # the exits that happened while it was down were reported as they are seen again
    seen: list[tuple[str, str, str]] = []
    names = {v: k for k, v in ids.items()}
    with eng.client("runtime") as rt:
        try:  # the backlog, then new events until the deadline
            for e in rt.Events(runtime_pb2.EventsRequest(since_nanos=int(killed_at * 1e9)), timeout=3):
                seen.append((names.get(e.id, e.id), e.action, e.attributes.get("exitCode", "")))
        except BarqueError:
            pass
    dies = {(n, code) for n, action, code in seen if action == "die"}
    assert dies == {("always", "0"), ("unless", "0"), ("failing", "3"), ("succeeding", "0"), ("none", "4")}
    assert {n for n, action, _ in seen if action == "start"} == set(back)
    # and they run on: the second run sleeps
    time.sleep(1)
    assert all(state(eng, name)["Running"] for name in back)


def inspect_time(at: float) -> str:
    """``at`` as Docker's timestamps, comparable as strings with StartedAt."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def test_a_container_waiting_to_restart_when_the_runtime_was_killed_comes_back(fresh_rt_engine, test_images):
    eng = fresh_rt_engine
    image = test_images["oci-gzip"].ref
    eng.ok("pull", image)
    script = "n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs; " \
             "if [ $n -ge 6 ]; then exec sleep 60; fi; exit 1"
    cid = create(eng, image, ["sh", "-c", script], name="waiting", policy="always")
    # the fifth exit waits 1.6 s: the service dies meanwhile, the record says restarting
    wait_for(lambda: inspect(eng, cid)[1]["RestartCount"] == 5, timeout=30, what="five restarts")
    assert state(eng, cid)["Status"] == "restarting"
    eng.stop_service("runtime", kill=True)
    time.sleep(2.5)  # past the restart that was due
    eng.start("runtime")
    wait_for(lambda: state(eng, cid)["Running"] and state(eng, cid)["Pid"] > 0, timeout=30,
             what="the restart after recovery")
    doc = inspect(eng, cid)[1]
    assert doc["RestartCount"] == 0 and doc["State"]["Running"]
    assert eng.ok("exec", cid, "cat", "/runs").stdout == "6\n"
