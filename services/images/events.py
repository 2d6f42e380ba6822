"""The image-store's own events (``docker events --filter type=image``): pull,
tag, untag, delete, and the container "commit" an image is made by.

The store emits into a bounded :class:`~services.common.events.EventLog`;
:func:`select` streams it for one Events request: the backlog after
``since``, then live events, ending once ``until`` has passed, narrowed by
docker's filters (``image=`` matching the id, a prefix of it or the name
attribute, ``event=``/``action=``, ``label=`` on attributes, ``type=``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from client.errors import InvalidArgument
from services.common.events import Event, EventLog

__all__ = ["KEEP", "matches", "new_log", "parse_filters", "select"]

#: events kept for --since (docker keeps 256 per daemon; the runtime 1024)
KEEP = 1024

_KEYS = ("image", "event", "action", "label", "type", "container")


def new_log() -> EventLog:
    return EventLog(KEEP)


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    """``["image=busybox", "event=tag"]`` → ``{"image": ["busybox"], "event": ["tag"]}``."""
    out: dict[str, list[str]] = {}
    for text in filters:
        key, sep, value = text.partition("=")
        key = key.strip().lower()
        if not sep or key not in _KEYS:
            raise InvalidArgument(f"invalid filter {text!r}")
        out.setdefault(key, []).append(value)
    return out


def _image_matches(event: Event, wanted: str) -> bool:
    names = {event.id, event.attributes.get("name", ""), event.attributes.get("imageID", "")}
    if wanted in names:
        return True
    bare = wanted.removeprefix("sha256:")
    if len(bare) >= 4 and any(n.removeprefix("sha256:").startswith(bare) for n in names if n):
        return True
    # docker matches "busybox" against "docker.io/library/busybox:latest"
    short = {n.removeprefix("docker.io/").removeprefix("library/") for n in names if n}
    return wanted in short or f"{wanted}:latest" in short


def matches(event: Event, filters: dict[str, list[str]]) -> bool:
    checks: list[tuple[str, Callable[[str], bool]]] = [
        ("type", lambda v: event.type == v),
        ("event", lambda v: event.action == v),
        ("action", lambda v: event.action == v),
        ("image", lambda v: _image_matches(event, v)),
        ("container", lambda v: event.type == "container" and event.id.startswith(v)),
        ("label", lambda v: _label_matches(event, v)),
    ]
    for key, check in checks:
        values = filters.get(key)
        if values and not any(check(v) for v in values):
            return False
    return True


def _label_matches(event: Event, text: str) -> bool:
    key, sep, value = text.partition("=")
    if key not in event.attributes:
        return False
    return not sep or event.attributes[key] == value


def select(log: EventLog, since_ns: int, until_ns: int, filters: list[str],
           active: Callable[[], bool]) -> Iterator[Event]:
    """The events of one request, in time order; ends when ``until_ns`` passes
    (0: never) or ``active()`` turns false (the client went away)."""
    wanted = parse_filters(filters)

    def stop() -> bool:
        return not active() or (until_ns > 0 and time.time_ns() > until_ns)

    for event in log.stream(since_ns, stop):
        if until_ns and event.time_ns > until_ns:
            return
        if matches(event, wanted):
            yield event
