"""Restart policies as Docker's restart manager decides them, and the timer
that fires due restarts (services/runtime/engine/restart.py)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from client.errors import InvalidArgument
from services.runtime.engine.containers import ContainerConfig, ContainerRecord, HostConfig
from services.runtime.engine.restart import (
    FIRST_DELAY,
    MAX_DELAY,
    RESTARTING,
    RestartManager,
    RestartPolicy,
    comes_back,
    kill_cancels,
    next_delay,
    ran_for,
    should_restart,
    validate_policy,
)


def _host(name: str = "", count: int = 0, auto_remove: bool = False) -> HostConfig:
    host = HostConfig(auto_remove=auto_remove)
    host.restart_policy.name = name
    host.restart_policy.maximum_retry_count = count
    return host


def _record(name: str = "always", count: int = 0, *, exit_code: int = 1, cid: str = "a",
            started: str = "2026-01-01T00:00:00.000000Z", finished: str = "2026-01-01T00:00:01.5Z",
            starts: int = 1) -> ContainerRecord:
    return ContainerRecord(id=cid * 64, name="n", created="t", image_id="sha256:" + "b" * 64,
                           config=ContainerConfig(), host_config=_host(name, count), status="exited",
                           exit_code=exit_code, started_at=started, finished_at=finished, starts=starts)


# ---- validation (moby validateRestartPolicy and the AutoRemove check) ---------------------

@pytest.mark.parametrize("name,count", [("", 0), ("no", 0), ("always", 0), ("unless-stopped", 0),
                                        ("on-failure", 0), ("on-failure", 5)])
def test_valid_policies(name, count):
    validate_policy(_host(name, count))


@pytest.mark.parametrize("host,message", [
    (_host("sometimes"), "invalid restart policy 'sometimes'"),
    (_host("on-failure", -1), "maximum retry count cannot be negative"),
    (_host("always", 3), "maximum retry count cannot be used with restart policy 'always'"),
    (_host("unless-stopped", 1), "maximum retry count cannot be used with restart policy 'unless-stopped'"),
    (_host("no", 2), "maximum retry count cannot be used with restart policy 'no'"),
    (_host("always", auto_remove=True), "can't create 'AutoRemove' container with restart policy"),
    (_host("on-failure", 2, auto_remove=True), "can't create 'AutoRemove' container with restart policy"),
])
def test_invalid_policies_are_refused_with_dockers_message(host, message):
    with pytest.raises(InvalidArgument) as err:
        validate_policy(host)
    assert str(err.value) == message


def test_auto_remove_without_a_policy_is_fine():
    validate_policy(_host("no", auto_remove=True))
    validate_policy(_host("", auto_remove=True))


# ---- the decision -------------------------------------------------------------------

@pytest.mark.parametrize("name,count,exit_code,stopped,restarts,expected", [
    ("", 0, 1, False, 0, False),
    ("no", 0, 1, False, 0, False),
    ("always", 0, 0, False, 0, True),
    ("always", 0, 1, True, 99, True),          # a manual stop cancels by ExitOnNext, not here
    ("unless-stopped", 0, 0, False, 0, True),
    ("unless-stopped", 0, 1, True, 0, False),
    ("on-failure", 0, 0, False, 0, False),
    ("on-failure", 0, 1, False, 1000, True),   # 0: no limit
    ("on-failure", 3, 2, False, 2, True),
    ("on-failure", 3, 2, False, 3, False),     # the limit reached
    ("on-failure", 3, 137, True, 0, True),
])
def test_should_restart(name, count, exit_code, stopped, restarts, expected):
    assert should_restart(RestartPolicy(name, count), exit_code, stopped, restarts) is expected


def test_the_delay_doubles_up_to_a_minute():
    delays, delay = [], 0.0
    for _ in range(12):
        delay = next_delay(delay, ran_for=1.0)
        delays.append(delay)
    assert delays[:5] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
    assert delays[9] == pytest.approx(51.2)
    assert delays[10:] == [MAX_DELAY, MAX_DELAY]


def test_a_run_of_ten_seconds_resets_the_delay():
    assert next_delay(6.4, ran_for=9.99) == pytest.approx(12.8)
    assert next_delay(6.4, ran_for=10.0) == FIRST_DELAY
    assert next_delay(MAX_DELAY, ran_for=3600) == FIRST_DELAY


def test_ran_for_reads_dockers_timestamps():
    assert ran_for(_record()) == pytest.approx(1.5)
    nano = _record(started="2026-01-01T00:00:00.123456789Z", finished="2026-01-01T00:00:10.223456999Z")
    assert ran_for(nano) == pytest.approx(10.1)
    assert ran_for(_record(started="0001-01-01T00:00:00Z")) == 0.0
    assert ran_for(_record(finished="garbage")) == 0.0
    assert ran_for(_record(started="2026-01-01T00:00:05Z", finished="2026-01-01T00:00:01Z")) == 0.0


def test_which_kills_cancel_restarts():
    assert kill_cancels("", signal.SIGKILL) and kill_cancels("", signal.SIGTERM) and kill_cancels("", signal.SIGUSR1)
    assert kill_cancels("SIGUSR1", signal.SIGKILL) and kill_cancels("SIGUSR1", signal.SIGUSR1)
    assert kill_cancels("USR1", signal.SIGUSR1) and kill_cancels("10", signal.SIGUSR1)
    assert not kill_cancels("SIGUSR1", signal.SIGTERM)
    assert not kill_cancels("SIGQUIT", signal.SIGHUP)


def test_what_comes_back_when_the_engine_starts():
    assert comes_back(_record("always", exit_code=0))
    stopped = _record("always", exit_code=137)
    stopped.manually_stopped = True
    assert comes_back(stopped)                          # dockerd restarts even those
    unless = _record("unless-stopped", exit_code=0)
    assert comes_back(unless)
    unless.manually_stopped = True
    assert not comes_back(unless)
    assert comes_back(_record("on-failure", exit_code=3))
    assert not comes_back(_record("on-failure", exit_code=0))
    spent = _record("on-failure", 2, exit_code=3)
    spent.restart_count = 2
    assert not comes_back(spent)
    assert not comes_back(_record("no"))
    assert not comes_back(_record("always", starts=0))  # never started: created stays created


# ---- the manager ----------------------------------------------------------------------

class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.event = threading.Event()

    def __call__(self, cid: str) -> None:
        self.calls.append((cid, time.monotonic()))
        self.event.set()


def test_exited_marks_the_record_and_backs_off():
    manager = RestartManager(Recorder())
    record = _record("on-failure", 3)
    delays = []
    for _ in range(3):
        delays.append(manager.exited(record))
        assert record.status == RESTARTING
        record.status = "exited"
    assert delays == pytest.approx([0.1, 0.2, 0.4])
    assert record.restart_count == 3
    assert manager.exited(record) is None and record.status == "exited" and record.restart_count == 3
    manager.close()


def test_no_policy_never_restarts():
    manager = RestartManager(Recorder())
    record = _record("no")
    assert manager.exited(record) is None and record.restart_count == 0
    manager.close()


def test_a_long_run_brings_the_delay_back():
    manager = RestartManager(Recorder())
    record = _record("always")
    assert [manager.exited(record) for _ in range(4)] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    record.finished_at = "2026-01-01T00:00:12Z"
    assert manager.exited(record) == pytest.approx(FIRST_DELAY)
    manager.close()


def test_cancel_stops_restarts_until_reset():
    manager = RestartManager(Recorder())
    record = _record("always")
    manager.exited(record)
    manager.cancel(record.id)
    record.status = "exited"
    assert manager.exited(record) is None and record.status == "exited"
    manager.reset(record.id)
    assert manager.exited(record) == pytest.approx(FIRST_DELAY)  # the backoff starts over too
    manager.close()


def test_a_kept_container_does_not_restart():
    manager = RestartManager(Recorder())
    record = _record("always")
    manager.keep(record.id, True)
    assert manager.kept(record.id) and manager.exited(record) is None
    manager.keep(record.id, False)
    assert not manager.kept(record.id) and manager.exited(record) is not None
    manager.close()


def test_an_armed_restart_fires_after_its_delay():
    rec = Recorder()
    manager = RestartManager(rec)
    armed_at = time.monotonic()
    manager.arm("c" * 64, 0.3)
    assert manager.armed("c" * 64)
    assert rec.event.wait(5)
    assert rec.calls[0][0] == "c" * 64
    assert 0.3 <= rec.calls[0][1] - armed_at < 2.0
    assert not manager.armed("c" * 64)
    manager.close()
    assert manager.threads() == 0


def test_restarts_fire_in_due_order():
    rec = Recorder()
    manager = RestartManager(rec)
    manager.arm("b" * 64, 0.4)
    manager.arm("a" * 64, 0.1)
    deadline = time.monotonic() + 5
    while len(rec.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [cid for cid, _ in rec.calls] == ["a" * 64, "b" * 64]
    manager.close()


def test_cancel_drops_a_pending_restart():
    rec = Recorder()
    manager = RestartManager(rec)
    manager.arm("c" * 64, 0.2)
    manager.cancel("c" * 64)
    assert not manager.armed("c" * 64)
    manager.arm("c" * 64, 0.0)  # cancelled: arming does nothing until a reset
    time.sleep(0.5)
    assert rec.calls == []
    manager.reset("c" * 64)
    manager.arm("c" * 64, 0.0)
    assert rec.event.wait(5)
    manager.close()


def test_reset_drops_a_pending_restart():
    rec = Recorder()
    manager = RestartManager(rec)
    manager.arm("c" * 64, 0.2)
    manager.reset("c" * 64)
    time.sleep(0.5)
    assert rec.calls == []
    manager.close()


def test_rearming_replaces_the_pending_restart():
    rec = Recorder()
    manager = RestartManager(rec)
    manager.arm("c" * 64, 0.1)
    manager.arm("c" * 64, 0.6)
    time.sleep(0.4)
    assert rec.calls == []
    assert rec.event.wait(5) and len(rec.calls) == 1
    time.sleep(0.3)
    assert len(rec.calls) == 1
    manager.close()


def test_close_drops_pending_restarts_and_ends_every_thread():
    rec = Recorder()
    manager = RestartManager(rec)
    manager.arm("c" * 64, 30)
    assert manager.threads() == 1
    began = time.monotonic()
    manager.close()
    assert time.monotonic() - began < 2
    assert manager.threads() == 0 and rec.calls == []
    manager.arm("d" * 64, 0)  # closed: nothing is armed any more
    assert not manager.armed("d" * 64) and manager.threads() == 0


def test_close_waits_for_a_restart_under_way():
    release, entered = threading.Event(), threading.Event()

    def slow(cid: str) -> None:
        entered.set()
        release.wait(5)

    manager = RestartManager(slow)
    manager.arm("c" * 64, 0)
    assert entered.wait(5)
    threading.Timer(0.3, release.set).start()
    manager.close()
    assert release.is_set() and manager.threads() == 0


def test_a_failing_restart_is_logged_and_its_thread_ends():
    calls = []

    def failing(cid: str) -> None:
        calls.append(cid)
        raise RuntimeError("no start")

    manager = RestartManager(failing)
    manager.arm("c" * 64, 0)
    deadline = time.monotonic() + 5
    while (not calls or manager.threads() > 1) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert calls == ["c" * 64] and manager.threads() == 1  # the timer alone
    manager.close()
    assert manager.threads() == 0
