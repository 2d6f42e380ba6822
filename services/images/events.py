"""The image-store's own events (``docker events --filter type=image``): pull,
tag, untag, delete, and the container "commit" an image is made by.

The store emits into a bounded :class:`~services.common.events.EventLog`;
:func:`select` streams it for one Events request with Docker's window (the
kept events between ``since`` and ``until``, then live ones, ending once
``until`` has passed) and docker's filters, read by the same
:class:`~services.common.eventfilter.EventFilter` the runtime's stream uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from services.common.eventfilter import EventFilter
from services.common.events import Event, EventLog

__all__ = ["KEEP", "new_log", "select"]

#: events kept for --since (the runtime keeps 1024 too)
KEEP = 1024


def new_log() -> EventLog:
    return EventLog(KEEP)


def select(log: EventLog, since_ns: int, until_ns: int, filters: list[str],
           active: Callable[[], bool]) -> Iterator[Event]:
    """The events of one request, in time order; ends when ``until_ns`` passes
    (0: never) or ``active()`` turns false (the client went away). A bad
    filter raises InvalidArgument before anything streams."""
    wanted = EventFilter.parse(filters)
    for event in log.stream(since_ns, lambda: not active(), until_ns):
        if wanted.include(event.type, event.action, event.id, event.attributes):
            yield event
