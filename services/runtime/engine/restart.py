"""Restart policies (``--restart``), as Docker's restart manager applies them
(moby ``restartmanager/restartmanager.go``, ``daemon/monitor.go``,
``daemon/kill.go``, ``daemon/start.go``, ``daemon/daemon.go`` restore).

The decisions are pure functions: which policies are valid, whether an exit
restarts, how long the backoff is. :class:`RestartManager`, one per engine,
keeps what dockerd keeps in memory per container (the backoff, and whether
restarts were cancelled) and fires due restarts from one timer thread.

Docker's rules, which these follow:

* ``always`` restarts after any exit; ``unless-stopped`` unless the user
  stopped or killed it; ``on-failure[:N]`` after a non-zero exit, at most N
  times since the user started it (0: no limit). ``no`` (or none) never.
* The delay before a restart is 100 ms, doubled at each exit up to one
  minute, and back at 100 ms once the container ran ten seconds or more.
* While it waits the container is ``restarting``; RestartCount counts the
  restarts since the user last started it.
* ``stop``, ``rm -f``, and ``kill`` with SIGKILL or the stop signal cancel
  restarts until the user starts the container again (moby's
  ``ExitOnNext``); any ``kill`` or ``stop`` marks it manually stopped.
* A user start (``start``, ``restart``) begins afresh: RestartCount 0, the
  backoff and the manual stop forgotten.
* When the engine starts, a container that ran before comes back when its
  policy says so for its last exit: every ``always`` one, ``unless-stopped``
  ones the user did not stop, ``on-failure`` ones by their rule.
"""

from __future__ import annotations

import heapq
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from barque.runtime.v1.runtime_pb2 import HostConfig
from client.errors import InvalidArgument
from client.units import parse_signal
from services.common.log import get_logger
from services.runtime.engine.containers import ContainerRecord
from services.runtime.spec.options import applies

__all__ = [
    "RESTARTING", "FIRST_DELAY", "MAX_DELAY", "RESET_AFTER",
    "RestartPolicy", "validate_policy", "should_restart", "next_delay", "ran_for", "kill_cancels",
    "comes_back", "RestartManager",
]

log = get_logger()

#: the status of a container waiting to be restarted
RESTARTING = "restarting"
#: the first delay, in seconds; doubled at each exit (moby defaultTimeout, backoffMultiplier)
FIRST_DELAY = 0.1
#: the longest delay (moby maxRestartTimeout)
MAX_DELAY = 60.0
#: a run this long (seconds) brings the delay back to the first
RESET_AFTER = 10.0

_NAMES = ("", "no", "always", "unless-stopped", "on-failure")


@dataclass(frozen=True)
class RestartPolicy:
    name: str = ""
    maximum_retry_count: int = 0

    @classmethod
    def of(cls, host: HostConfig) -> "RestartPolicy":
        p = host.restart_policy
        return cls(p.name, p.maximum_retry_count)

    @property
    def is_none(self) -> bool:
        return self.name in ("", "no")


@applies("HostConfig.restart_policy")
def validate_policy(host: HostConfig) -> None:
    """Refuse what dockerd refuses at create, with its messages
    (``validateRestartPolicy``, ``verifyPlatformContainerSettings``)."""
    policy = RestartPolicy(host.restart_policy.name, host.restart_policy.maximum_retry_count)
    if policy.name not in _NAMES:
        raise InvalidArgument(f"invalid restart policy '{policy.name}'")
    if policy.name == "on-failure" and policy.maximum_retry_count < 0:
        raise InvalidArgument("maximum retry count cannot be negative")
    if policy.name != "on-failure" and policy.maximum_retry_count != 0:
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{policy.name}'")
    if host.auto_remove and not policy.is_none:
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


def should_restart(policy: RestartPolicy, exit_code: int, manually_stopped: bool, restart_count: int) -> bool:
    """Whether ``policy`` restarts a container after an exit with ``exit_code``
    (moby ``ShouldRestart``): ``restart_count`` restarts happened since the user
    last started it."""
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not manually_stopped
    if policy.name == "on-failure":
        limit = policy.maximum_retry_count
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def next_delay(previous: float, ran_for: float) -> float:
    """The delay before the next restart, in seconds: ``previous`` (0 when
    none yet) doubled up to :data:`MAX_DELAY`, or :data:`FIRST_DELAY` when
    there was none or the container ran :data:`RESET_AFTER` seconds or more."""
    if ran_for >= RESET_AFTER or previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)


def _parse_time(text: str) -> datetime | None:
    """An RFC 3339 time (``Z``, up to nanoseconds); None for the zero time or garbage."""
    if not text or text.startswith("0001-"):
        return None
    head, dot, frac = text.removesuffix("Z").partition(".")
    try:
        return datetime.fromisoformat(f"{head}.{frac[:6].ljust(6, '0')}+00:00" if dot else f"{head}+00:00")
    except ValueError:
        return None


def ran_for(record: ContainerRecord) -> float:
    """How long its last run lasted, in seconds (0 when unknown)."""
    started, finished = _parse_time(record.started_at), _parse_time(record.finished_at)
    if started is None or finished is None:
        return 0.0
    return max(0.0, (finished - started).total_seconds())


def kill_cancels(config_stop_signal: str, signum: int) -> bool:
    """Whether a kill with ``signum`` cancels restarts (moby ``killWithSignal``):
    SIGKILL always; another signal when it is the container's configured
    stop signal, or when it configures none."""
    if signum == signal.SIGKILL or not config_stop_signal:
        return True
    try:
        return parse_signal(config_stop_signal) == signum
    except InvalidArgument:  # create keeps none: as Docker, the stop signal then is SIGTERM
        return signum == signal.SIGTERM


def comes_back(record: ContainerRecord) -> bool:
    """Whether the engine, starting, restarts this stopped container (dockerd's
    restore: it ran before and its policy restarts its last exit)."""
    policy = RestartPolicy.of(record.host_config)
    return (record.starts > 0 and not policy.is_none
            and should_restart(policy, record.exit_code, record.manually_stopped, record.restart_count))


class RestartManager:
    """Each container's backoff and cancellation, and a timer thread that
    calls ``restart(container_id)`` when a restart is due (in a thread of its
    own, as starting a container takes a while).

    The caller serialises per container; ``restart`` must check that the
    container still waits for it (a stop or delete may have come between).
    """

    def __init__(self, restart: Callable[[str], None]) -> None:
        self._restart = restart
        self._cond = threading.Condition()
        self._delay: dict[str, float] = {}      # the last delay, by container
        self._canceled: set[str] = set()
        self._kept: set[str] = set()            # a user restart is stopping it
        self._heap: list[tuple[float, int, str]] = []
        self._armed: dict[str, int] = {}        # container -> its due restart's sequence number
        self._seq = 0
        self._timer: threading.Thread | None = None
        self._firing: set[threading.Thread] = set()
        self._closed = False

    # ---- decisions ------------------------------------------------------------

    def exited(self, record: ContainerRecord) -> float | None:
        """Docker's exit handling for ``record``, whose exit was just recorded:
        when its policy restarts it, the record is marked restarting with its
        RestartCount raised, and the delay is returned (the caller saves the
        record, then :meth:`arm` s it); else None and the record is untouched."""
        policy = RestartPolicy.of(record.host_config)
        if policy.is_none:
            return None
        with self._cond:
            if self._closed or record.id in self._canceled or record.id in self._kept:
                return None
            delay = next_delay(self._delay.get(record.id, 0.0), ran_for(record))
            self._delay[record.id] = delay
        if not should_restart(policy, record.exit_code, record.manually_stopped, record.restart_count):
            return None
        record.status = RESTARTING
        record.restart_count += 1
        return delay

    def cancel(self, container_id: str) -> None:
        """No restart until the next :meth:`reset` (a stop, kill or rm -f); a
        pending one is dropped."""
        with self._cond:
            self._canceled.add(container_id)
            self._armed.pop(container_id, None)
            self._cond.notify_all()

    def reset(self, container_id: str) -> None:
        """Forget the container's backoff and cancellation (a user start, a removal)."""
        with self._cond:
            self._canceled.discard(container_id)
            self._delay.pop(container_id, None)
            self._armed.pop(container_id, None)
            self._cond.notify_all()

    def keep(self, container_id: str, kept: bool) -> None:
        """While ``kept`` (a user restart stops it), its exit restarts nothing
        and does not auto-remove it (moby's containerRestart clears AutoRemove)."""
        with self._cond:
            (self._kept.add if kept else self._kept.discard)(container_id)

    def kept(self, container_id: str) -> bool:
        with self._cond:
            return container_id in self._kept

    # ---- the timer ------------------------------------------------------------

    def arm(self, container_id: str, delay: float) -> None:
        """Call ``restart(container_id)`` in ``delay`` seconds, unless cancelled first."""
        with self._cond:
            if self._closed or container_id in self._canceled:
                return
            self._seq += 1
            self._armed[container_id] = self._seq
            heapq.heappush(self._heap, (time.monotonic() + delay, self._seq, container_id))
            if self._timer is None:
                self._timer = threading.Thread(target=self._run, name="restart-timer", daemon=True)
                self._timer.start()
            self._cond.notify_all()

    def armed(self, container_id: str) -> bool:
        with self._cond:
            return container_id in self._armed

    def threads(self) -> int:
        """Its live threads: the timer and restarts under way."""
        with self._cond:
            return len(self._firing) + (self._timer is not None and self._timer.is_alive())

    def close(self, timeout: float = 60.0) -> None:
        """Drop every pending restart and wait for those under way and the timer to end."""
        with self._cond:
            self._closed = True
            self._armed.clear()
            self._cond.notify_all()
            timer, firing = self._timer, list(self._firing)
        if timer is not None:
            timer.join(timeout)
        for thread in firing:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._armed.get(self._heap[0][2]) != self._heap[0][1]:
                        heapq.heappop(self._heap)  # cancelled or re-armed
                    if self._closed:
                        return
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                _, _, container_id = heapq.heappop(self._heap)
                del self._armed[container_id]
                thread = threading.Thread(target=self._fire, args=(container_id,),
                                          name=f"restart-{container_id[:12]}", daemon=True)
                self._firing.add(thread)
            thread.start()

    def _fire(self, container_id: str) -> None:
        try:
            self._restart(container_id)
        except Exception as exc:  # logged: nobody else will see it
            log.warning("container.restart_failed", id=container_id, error=str(exc))
        finally:
            with self._cond:
                self._firing.discard(threading.current_thread())
