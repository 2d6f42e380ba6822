"""Events of a service's own objects: a bounded in-memory ring that the
service's Events RPC streams from, and in-process subscribers (the runtime's
health monitor starts on a container's "start" and stops on its "die").
Each service keeps its own log; ``barque events`` merges their streams."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from services.common.log import get_logger

__all__ = ["Event", "EventLog"]

log = get_logger()


@dataclass(frozen=True)
class Event:
    action: str
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_ns: int = 0
    type: str = "container"


class EventLog:
    def __init__(self, keep: int = 1024) -> None:
        self._events: deque[Event] = deque(maxlen=keep)
        self._cond = threading.Condition()
        self._seq = 0
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` with every later event, in the emitting thread
        once the event is in the ring (it must not block); returns the
        unsubscribe function. A callback that raises is logged, not fatal."""
        with self._cond:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, action: str, container_id: str, *, event_type: str = "container", **attributes: str) -> None:
        """An event of ``event_type`` ("container", or "network" with the network's id)."""
        event = Event(action, container_id, dict(attributes), time.time_ns(), event_type)
        with self._cond:
            self._events.append(event)
            self._seq += 1
            self._cond.notify_all()
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not fail the emitter's operation: logged
                log.exception("events.subscriber_failed", action=action, id=container_id)

    def stream(self, since_ns: int, stop: Callable[[], bool]) -> Iterator[Event]:
        """Past events after ``since_ns`` (none when 0), then new ones until ``stop()``."""
        with self._cond:
            backlog = [e for e in self._events if since_ns and e.time_ns > since_ns]
            seen = self._seq
        yield from backlog
        while not stop():
            with self._cond:
                self._cond.wait_for(lambda: self._seq != seen or stop(), timeout=0.5)
                fresh = self._seq - seen
                new = list(self._events)[-fresh:] if fresh else []
                seen = self._seq
            yield from new
