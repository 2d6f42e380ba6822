"""Lifecycle events: an in-memory ring that Events streams from."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator

__all__ = ["Event", "EventLog"]


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

    def emit(self, action: str, container_id: str, *, event_type: str = "container", **attributes: str) -> None:
        """An event of ``event_type`` ("container", or "network" with the network's id)."""
        with self._cond:
            self._events.append(Event(action, container_id, dict(attributes), time.time_ns(), event_type))
            self._seq += 1
            self._cond.notify_all()

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
