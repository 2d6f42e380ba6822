"""The engine's health-check scheduler: probes run as execs in the container on
each one's schedule, and their results go through the state machine of
:mod:`services.runtime.engine.health` into the container record.

One scheduler thread serves every monitored container: it starts each due
probe in a short-lived thread of its own (at most one per container at a time,
as Docker) and kills a probe at its timeout, the exec'd process and whatever
it forked, so a hanging probe never holds anything up. The thread ends when
nothing is monitored. No RPC thread ever waits for a probe.

The monitor follows containers through the engine's events: "start" (also a
restart) begins a container's monitor with its health reset to starting,
"die" ends it (Docker then reports unhealthy), "destroy" forgets it. After the
runtime service restarts, :meth:`HealthMonitor.resume` begins the monitors of
the containers still running, as dockerd's restore does.

Lock order: the store's lock, then the monitor's.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from client.errors import BarqueError, NotFound
from services.common.log import get_logger
from services.runtime.engine import health as hc
from services.runtime.engine.containers import ContainerRecord, ContainerStore
from services.common.events import Event, EventLog
from services.runtime.engine.status import alive

__all__ = ["HealthMonitor", "ProbeSession", "kill_tree"]

log = get_logger()

#: how long the exec of a probe may take to start before it counts as failed
START_TIMEOUT = 30.0


class ProbeSession(Protocol):
    """The part of :class:`services.runtime.engine.execs.ExecSession` a probe uses."""

    error: str

    def pid(self, timeout: float = 30.0) -> int: ...

    def output(self): ...

    def wait(self) -> int: ...

    def close(self) -> None: ...


#: (container id, argv) -> a started, non-interactive exec with stdout and stderr piped
StartProbe = Callable[[str, list[str]], ProbeSession]


@dataclass
class _Probe:
    """One probe in flight: its process once known, its deadline once started."""

    pid: int = 0
    start_time: str = ""     # /proc start time of pid, so a reused pid is never killed
    deadline: float = 0.0    # monotonic; 0 until the process runs
    timed_out: bool = False


@dataclass
class _Watch:
    container_id: str
    generation: int
    args: list[str]
    policy: hc.HealthPolicy
    started_at: float        # the container's StartedAt, epoch seconds
    due: float               # monotonic time of the next probe
    probe: _Probe | None = field(default=None)


class HealthMonitor:
    def __init__(self, store: ContainerStore, events: EventLog, start_probe: StartProbe) -> None:
        self._store = store
        self._events = events
        self._start_probe = start_probe
        self._cond = threading.Condition(threading.RLock())
        self._watches: dict[str, _Watch] = {}
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._unsubscribe = events.subscribe(self._on_event)

    # ---- following containers ------------------------------------------------------

    def resume(self, records: Iterable[ContainerRecord]) -> None:
        """Begin monitoring ``records``, the containers running when the service started."""
        for record in records:
            self.begin(record)

    def _on_event(self, event: Event) -> None:
        if event.type != "container":
            return
        if event.action == "start":
            try:
                record = self._store.find(event.id)
            except NotFound:
                return  # removed meanwhile
            self.begin(record)
        elif event.action == "die":
            try:
                if alive(self._store.find(event.id).pid):
                    return  # a late exit of the run before: the container runs again already
            except NotFound:
                pass  # removed meanwhile: end() forgets it
            self.end(event.id, stopped=True)
        elif event.action == "destroy":
            self.end(event.id, stopped=False)

    def begin(self, record: ContainerRecord) -> None:
        """Monitor ``record`` (it just started): health starting, the first
        probe after the first interval. A container without a check (none, or
        ``["NONE"]``) keeps no health state, as Docker's."""
        args = hc.probe_args(record.config)
        if args is None:
            return
        pol = hc.policy(record.config.healthcheck)
        started = _epoch(record.started_at)
        with self._store.lock:
            record.health = hc.reset(record.health)
            self._save(record)
            with self._cond:
                if self._closed:
                    return
                self._drop(record.id)
                self._generation += 1
                delay = hc.next_delay(pol, max(0.0, time.time() - started), hc.STARTING)
                self._watches[record.id] = _Watch(record.id, self._generation, args, pol, started,
                                                  time.monotonic() + delay)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True, name="health-monitor")
                    self._thread.start()
                self._cond.notify_all()
        log.info("health.monitor_started", id=record.id, interval=pol.interval, timeout=pol.timeout,
                 retries=pol.retries, start_period=pol.start_period)

    def end(self, container_id: str, *, stopped: bool) -> None:
        """Stop monitoring; a probe in flight is killed and its result dropped.
        ``stopped``: the container exited, its health becomes unhealthy."""
        with self._store.lock:
            with self._cond:
                watched = self._drop(container_id)
                self._cond.notify_all()
            if not (watched and stopped):
                return
            try:
                record = self._store.find(container_id)
            except NotFound:
                return
            record.health = hc.monitor_stopped(record.health)
            self._save(record)
        log.info("health.monitor_stopped", id=container_id)

    def watching(self) -> list[str]:
        """The ids of the containers monitored now."""
        with self._cond:
            return list(self._watches)

    def running(self) -> bool:
        """Whether the scheduler thread runs (it does only while something is monitored)."""
        with self._cond:
            return self._thread is not None

    def close(self) -> None:
        """Stop every monitor and kill the probes in flight; the records keep their state."""
        self._unsubscribe()
        with self._cond:
            self._closed = True
            for cid in list(self._watches):
                self._drop(cid)
            self._cond.notify_all()

    def _drop(self, container_id: str) -> bool:
        """Forget a container's watch (with ``_cond`` held), killing its probe."""
        w = self._watches.pop(container_id, None)
        if w is not None and w.probe is not None and w.probe.pid:
            kill_tree(w.probe.pid, w.probe.start_time)
        return w is not None

    # ---- the scheduler ---------------------------------------------------------------

    def _run(self) -> None:
        with self._cond:
            while self._watches:
                now = time.monotonic()
                wake = now + 60.0
                for w in list(self._watches.values()):
                    p = w.probe
                    if p is None:
                        if w.due <= now:
                            w.probe = _Probe()
                            threading.Thread(target=self._probe, args=(w, w.generation), daemon=True,
                                             name=f"health-{w.container_id[:12]}").start()
                        else:
                            wake = min(wake, w.due)
                    elif p.deadline and not p.timed_out:
                        if p.deadline <= now:
                            p.timed_out = True
                            kill_tree(p.pid, p.start_time)
                            log.info("health.probe_timed_out", id=w.container_id, timeout=w.policy.timeout)
                        else:
                            wake = min(wake, p.deadline)
                self._cond.wait(max(0.0, wake - now))
            self._thread = None
        log.info("health.scheduler_stopped")  # nothing is monitored

    def _current(self, w: _Watch, generation: int) -> bool:
        return self._watches.get(w.container_id) is w and w.generation == generation

    def _probe(self, w: _Watch, generation: int) -> None:
        """Run one probe (in its own thread) and record its result."""
        start_ns = time.time_ns()
        output = hc.LimitedOutput()
        probe = w.probe
        assert probe is not None
        try:
            session = self._start_probe(w.container_id, list(w.args))
        except (BarqueError, OSError) as exc:  # the container stopped meanwhile, or the exec could not start
            self._finish(w, generation, hc.result(start_ns, time.time_ns(), -1, str(exc)))
            return
        except Exception as exc:  # a bug: logged, and a failed probe, so the schedule goes on
            log.exception("health.probe_failed", id=w.container_id)
            self._finish(w, generation, hc.result(start_ns, time.time_ns(), -1, str(exc)))
            return
        try:
            pid = session.pid(START_TIMEOUT)
            with self._cond:
                if pid and self._current(w, generation):
                    probe.pid, probe.start_time = pid, _start_time(pid)
                    probe.deadline = time.monotonic() + w.policy.timeout
                    self._cond.notify_all()
                elif pid:
                    kill_tree(pid, _start_time(pid))  # dropped while it started
            for _, data in session.output():
                output.write(data)
            code = session.wait()
        finally:
            session.close()
        if session.error:
            entry = hc.result(start_ns, time.time_ns(), -1, session.error)
        elif probe.timed_out:
            entry = hc.result(start_ns, time.time_ns(), -1, hc.timeout_output(w.policy.timeout, output.text()))
        else:
            entry = hc.result(start_ns, time.time_ns(), code, output.text())
        self._finish(w, generation, entry)

    def _finish(self, w: _Watch, generation: int, entry: dict) -> None:
        changed = None
        with self._store.lock:
            with self._cond:
                if not self._current(w, generation):
                    return
            try:
                record = self._store.find(w.container_id)
            except NotFound:
                return
            record.health, changed = hc.record_result(record.health, entry, w.policy, w.started_at)
            self._save(record)
            with self._cond:
                if self._current(w, generation):
                    w.probe = None
                    since = max(0.0, time.time() - w.started_at)
                    w.due = time.monotonic() + hc.next_delay(w.policy, since, record.health["Status"])
                    self._cond.notify_all()
        log.debug("health.probe_done", id=w.container_id, exit_code=entry["ExitCode"],
                  status=record.health["Status"])
        if changed:
            self._events.emit(f"health_status: {changed}", w.container_id, name=record.name)

    def _save(self, record: ContainerRecord) -> None:
        try:
            self._store.save(record)
        except (OSError, ValueError) as exc:  # removed meanwhile: its directory is gone
            log.debug("health.save_skipped", id=record.id, error=str(exc))


def _epoch(rfc3339: str) -> float:
    try:
        return datetime.fromisoformat(rfc3339).timestamp()
    except ValueError:
        return time.time()


def _start_time(pid: int) -> str:
    """The start time of ``pid`` (/proc/PID/stat's 22nd field), "" once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def kill_tree(pid: int, start_time: str) -> None:
    """SIGKILL ``pid`` and every process it forked (a shell's children too),
    when ``pid`` is still the process that started at ``start_time``. Each is
    stopped before its children are listed, so none forks one more unseen."""
    if not pid or not start_time or _start_time(pid) != start_time:
        return
    stopped: list[int] = []
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            os.kill(p, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        stopped.append(p)
        pending.extend(c for c in _children(p) if c not in stopped)
    for p in stopped:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
