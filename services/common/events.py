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

__all__ = ["Event", "EventLog", "Enricher"]

log = get_logger()


@dataclass(frozen=True)
class Event:
    action: str
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_ns: int = 0
    type: str = "container"


#: ``enrich(event_type, action, id, attributes) -> attributes``: what a service
#: adds to each event it emits (the runtime: a container's image, name and labels)
Enricher = Callable[[str, str, str, dict[str, str]], dict[str, str]]


class EventLog:
    def __init__(self, keep: int = 1024, enrich: Enricher | None = None) -> None:
        self._enrich = enrich
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
        attrs = dict(attributes)
        if self._enrich is not None:
            try:
                attrs = self._enrich(event_type, action, container_id, attrs)
            except Exception:  # the event still goes out with what the emitter gave
                log.exception("events.enrich_failed", action=action, id=container_id)
        event = Event(action, container_id, attrs, time.time_ns(), event_type)
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

    def stream(self, since_ns: int, stop: Callable[[], bool], until_ns: int = 0) -> Iterator[Event]:
        """Docker's events window: the kept events at or after ``since_ns``
        and at or before ``until_ns`` (none kept ones when both are 0; all
        up to ``until_ns`` when only it is given), then new ones until
        ``stop()``; with ``until_ns`` the stream ends once that time has
        passed (at once when it is in the past)."""
        with self._cond:
            backlog = [e for e in self._events if (since_ns or until_ns) and e.time_ns >= since_ns
                       and (not until_ns or e.time_ns <= until_ns)]
            seen = self._seq
        yield from backlog

        def over() -> bool:
            return stop() or (until_ns > 0 and time.time_ns() > until_ns)

        while not over():
            wait = 0.5 if not until_ns else max(0.0, min(0.5, (until_ns - time.time_ns()) / 1e9))
            with self._cond:
                self._cond.wait_for(lambda: self._seq != seen or stop(), timeout=wait)
                fresh = min(self._seq - seen, len(self._events))
                new = list(self._events)[-fresh:] if fresh else []
                seen = self._seq
            for event in new:
                if until_ns and event.time_ns > until_ns:
                    return
                yield event
