"""The health-check scheduler (services/runtime/engine/healthmonitor.py) with
probes run as host processes in place of execs: it follows the engine's
events, records results into the store, emits health_status events, kills a
hanging probe and what it forked at the timeout, and its thread ends once
nothing is monitored."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from barque.runtime.v1.runtime_pb2 import ContainerConfig, HealthConfig, HostConfig

from client.errors import FailedPrecondition
from services.runtime.engine.containers import ContainerRecord, ContainerStore, new_id
from services.common.events import EventLog
from services.runtime.engine.healthmonitor import HealthMonitor, kill_tree
from services.runtime.engine.status import utc_now

MS = 1_000_000


class HostSession:
    """A probe as a host process: the part of an ExecSession the monitor uses."""

    def __init__(self, argv: list[str]) -> None:
        self.error = ""
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def pid(self, timeout: float = 30.0) -> int:
        return self.proc.pid

    def output(self):
        assert self.proc.stdout is not None
        while chunk := self.proc.stdout.read1(65536):
            yield "stdout", chunk

    def wait(self) -> int:
        return self.proc.wait()

    def close(self) -> None:
        assert self.proc.stdout is not None
        self.proc.stdout.close()


class Probes:
    """start_probe: runs each probe on the host and remembers its pid."""

    def __init__(self) -> None:
        self.sessions: list[HostSession] = []
        self.lock = threading.Lock()

    def __call__(self, container_id: str, args: list[str]) -> HostSession:
        session = HostSession(args)
        with self.lock:
            self.sessions.append(session)
        return session


@pytest.fixture
def env(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    events = EventLog()
    probes = Probes()
    seen: list[tuple[str, str]] = []
    events.subscribe(lambda e: seen.append((e.action, e.id)))
    monitor = HealthMonitor(store, events, probes)
    yield store, events, monitor, probes, seen
    monitor.close()
    for s in probes.sessions:
        if s.proc.poll() is None:
            s.proc.kill()
        s.proc.wait()


def _container(store: ContainerStore, test: list[str], **hc) -> ContainerRecord:
    record = ContainerRecord(
        id=new_id(), name=f"c{len(store.all())}", created=utc_now(), image_id="sha256:x",
        config=ContainerConfig(image="x", healthcheck=HealthConfig(test=test, **hc)), host_config=HostConfig(),
        status="running", started_at=utc_now())
    store.reserve(record)
    return record


def _wait(predicate, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_passing_probe_makes_it_healthy_with_an_event(env):
    store, events, monitor, probes, seen = env
    record = _container(store, ["CMD-SHELL", "echo fine"], interval=50 * MS)
    events.emit("start", record.id)
    assert record.health["Status"] == "starting"
    _wait(lambda: record.health["Status"] == "healthy", what="healthy")
    _wait(lambda: ("health_status: healthy", record.id) in seen, what="the event")  # emitted once saved
    entry = record.health["Log"][0]
    assert entry["ExitCode"] == 0 and entry["Output"] == "fine\n"
    assert entry["Start"] <= entry["End"]
    saved = ContainerStore(store.root).find(record.id)  # persisted in the record
    assert saved.health["Status"] == "healthy"


def test_a_failing_probe_turns_unhealthy_after_its_retries(env):
    store, events, monitor, probes, seen = env
    record = _container(store, ["CMD", "/bin/sh", "-c", "echo no; exit 3"], interval=20 * MS, retries=2)
    events.emit("start", record.id)
    _wait(lambda: record.health["FailingStreak"] >= 7, what="seven failures")
    health = record.health
    assert health["Status"] == "unhealthy"
    assert len(health["Log"]) == 5 and all(e["ExitCode"] == 3 and e["Output"] == "no\n" for e in health["Log"])
    assert [a for a, _ in seen].count("health_status: unhealthy") == 1


def test_output_is_bounded(env):
    store, events, monitor, probes, seen = env
    record = _container(store, ["CMD-SHELL", "head -c 100000 /dev/zero | tr '\\0' x"], interval=20 * MS)
    events.emit("start", record.id)
    _wait(lambda: record.health["Log"], what="a result")
    assert record.health["Log"][0]["Output"] == "x" * 4096 + "..."


def test_a_hanging_probe_and_its_children_are_killed_at_the_timeout(env):
    store, events, monitor, probes, seen = env
    record = _container(store, ["CMD-SHELL", "echo waiting; sleep 60; echo never"], interval=20 * MS,
                        timeout=300 * MS, retries=1)
    began = time.monotonic()
    events.emit("start", record.id)
    _wait(lambda: probes.sessions and _children(probes.sessions[0].proc.pid), what="the probe's sleep")
    sleeper = _children(probes.sessions[0].proc.pid)[0]
    _wait(lambda: record.health["Log"], what="the timed-out result")
    took = time.monotonic() - began
    entry = record.health["Log"][0]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (300ms): waiting\n"
    assert record.health["Status"] == "unhealthy"
    assert 0.3 <= took < 5
    assert probes.sessions[0].proc.wait(5) == -9
    _wait(lambda: not _running(sleeper), timeout=5, what="the probe's child to be killed")


def test_the_monitor_ends_on_die_and_its_thread_with_the_last_one(env):
    store, events, monitor, probes, seen = env
    record = _container(store, ["CMD-SHELL", "sleep 61"], interval=20 * MS, timeout=30_000 * MS)
    events.emit("start", record.id)
    _wait(lambda: probes.sessions and probes.sessions[0].proc.poll() is None, what="the probe to run")
    time.sleep(0.1)
    assert monitor.watching() == [record.id] and monitor.running()
    events.emit("die", record.id)
    assert monitor.watching() == []
    assert record.health["Status"] == "unhealthy"  # Docker's status once stopped
    assert probes.sessions[0].proc.wait(5) == -9  # the probe in flight is killed
    _wait(lambda: not monitor.running(), what="the scheduler thread to end")
    _wait(lambda: not [t for t in threading.enumerate() if t.name.startswith("health-")],
          what="the probe's thread to end")
    count = len(probes.sessions)
    time.sleep(0.2)
    assert len(probes.sessions) == count
    assert record.health["Log"] == []  # the killed probe's result is dropped


def test_restart_resets_to_starting_and_destroy_forgets(env):
    store, events, monitor, probes, seen = env
    record = _container(store, ["CMD", "false"], interval=20 * MS, retries=1)
    events.emit("start", record.id)
    _wait(lambda: record.health["Status"] == "unhealthy", what="unhealthy")
    events.emit("die", record.id)
    log = list(record.health["Log"])
    events.emit("start", record.id)
    assert record.health["Status"] == "starting" and record.health["FailingStreak"] == 0
    assert record.health["Log"][:len(log)] == log
    events.emit("destroy", record.id)
    assert monitor.watching() == []
    _wait(lambda: not monitor.running(), what="the scheduler thread to end")


def test_no_check_or_none_keeps_no_state(env):
    store, events, monitor, probes, seen = env
    none = _container(store, ["NONE"], interval=20 * MS)
    events.emit("start", none.id)
    assert none.health == {} and monitor.watching() == [] and not monitor.running()


def test_resume_reads_the_records_of_running_containers(env):
    store, events, monitor, probes, seen = env
    record = _container(store, ["CMD", "true"], interval=20 * MS)
    record.health = {"Status": "unhealthy", "FailingStreak": 4, "Log": [{"ExitCode": 1}]}
    monitor.resume([record])
    assert record.health["Status"] == "starting" and record.health["Log"] == [{"ExitCode": 1}]
    _wait(lambda: record.health["Status"] == "healthy", what="healthy")


def test_a_probe_that_cannot_start_fails_with_the_error(env):
    store, events, _, _, _ = env

    def refuse(container_id, args):
        raise FailedPrecondition("container is not running")

    monitor = HealthMonitor(store, events, refuse)
    try:
        record = _container(store, ["CMD", "true"], interval=20 * MS, retries=1)
        monitor.begin(record)
        _wait(lambda: record.health["Log"], what="a result")
        assert record.health["Log"][0]["ExitCode"] == -1
        assert record.health["Log"][0]["Output"] == "container is not running"
    finally:
        monitor.close()


def test_kill_tree_spares_a_process_that_is_not_the_one_it_started():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        kill_tree(proc.pid, "1")  # another start time: a reused pid
        assert proc.poll() is None
        kill_tree(proc.pid, "")
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_late_die_of_the_run_before_does_not_end_a_running_containers_monitor(env):
    """A restart can come before the old run's exit is reported: its "die"
    then finds the container's new process alive and is ignored."""
    store, events, monitor, probes, seen = env
    record = _container(store, ["CMD", "true"], interval=20 * MS)
    events.emit("start", record.id)
    record.pid = os.getpid()  # its process runs
    events.emit("die", record.id)
    assert monitor.watching() == [record.id] and record.health["Status"] != "unhealthy"
    record.pid = 0
    events.emit("die", record.id)
    assert monitor.watching() == [] and record.health["Status"] == "unhealthy"


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """``pid`` exists and is no zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
