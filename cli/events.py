"""``barque events`` (also ``system events``): the runtime's events
(containers, networks, volumes) and the image-store's (images) merged in
time order, with docker's --since/--until, --filter and --format.

Each service streams its own bounded log (``Events`` in runtime.proto and
images.proto); both are read at once, each in a thread, and an event is
printed once it has waited :data:`HOLD` seconds, earliest first, so the two
streams interleave by time; when both ended (``--until``) the rest is
printed in order and the command exits. An image-store without Events
(UNIMPLEMENTED) is skipped. Filters are applied here, once, with moby's
semantics (:class:`~client.eventfilter.EventFilter`).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import queue
import sys
import threading
import time
from dataclasses import dataclass, field

from cli.commands import add_command
from client.errors import InvalidArgument

__all__ = ["register", "EventLine", "pretty", "message", "render", "merge_ready", "HOLD"]

#: how long an event waits for an earlier one from the other stream
HOLD = 0.15


@dataclass(order=True)
class EventLine:
    time_ns: int
    seq: int
    type: str = field(compare=False)
    action: str = field(compare=False)
    id: str = field(compare=False)
    attributes: dict = field(compare=False, default_factory=dict)


def _timestamp(ns: int) -> str:
    from cli.containers import format_ts

    return format_ts(ns)


def pretty(ev: EventLine) -> str:
    """docker/cli's prettyPrintEvent: time, type, action, actor id and the
    attributes sorted by key."""
    line = f"{_timestamp(ev.time_ns)} {ev.type} {ev.action} {ev.id}"
    if ev.attributes:
        line += " (" + ", ".join(f"{k}={ev.attributes[k]}" for k in sorted(ev.attributes)) + ")"
    return line


def message(ev: EventLine) -> dict:
    """Docker's events.Message as its JSON: the deprecated status/id/from
    for containers and images (omitted when empty), Type, Action, Actor,
    scope, time and timeNano."""
    out: dict = {}
    if ev.type in ("container", "image"):
        out["status"] = ev.action
        out["id"] = ev.id
        if ev.type == "container" and ev.attributes.get("image"):
            out["from"] = ev.attributes["image"]
    out.update({"Type": ev.type, "Action": ev.action,
                "Actor": {"ID": ev.id, "Attributes": {k: ev.attributes[k] for k in sorted(ev.attributes)}},
                "scope": "local", "time": ev.time_ns // 1_000_000_000, "timeNano": ev.time_ns})
    return out


def _fields(ev: EventLine) -> dict:
    """The Message by its Go field names, for ``{{.Type}}``, ``{{.Actor.ID}}``..."""
    m = message(ev)
    return {"Status": m.get("status", ""), "ID": m.get("id", ""), "From": m.get("from", ""),
            "Type": ev.type, "Action": ev.action, "Actor": m["Actor"], "Scope": "local",
            "Time": m["time"], "TimeNano": ev.time_ns}


def render(ev: EventLine, fmt: str | None) -> str:
    if not fmt:
        return pretty(ev)
    if fmt.strip() in ("json", "{{json .}}"):
        return json.dumps(message(ev), separators=(",", ":"))
    from cli.format import Template

    return Template(fmt).render(_fields(ev))


def merge_ready(heap: list[tuple[EventLine, float]], now: float, flush: bool = False) -> list[EventLine]:
    """Pop, earliest first, the events that waited :data:`HOLD` since they
    arrived (all of them with ``flush``); an event that arrived late holds
    back the later ones behind it."""
    out = []
    while heap and (flush or heap[0][1] + HOLD <= now):
        out.append(heapq.heappop(heap)[0])
    return out


_END = object()


def _read(name: str, open_stream, seq, q: queue.Queue) -> None:
    import grpc

    from client.grpcerrors import from_grpc

    try:
        for e in open_stream():
            q.put(EventLine(e.time_nanos, next(seq), e.type, e.action, e.id, dict(e.attributes)))
    except grpc.RpcError as err:
        if err.code() not in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.CANCELLED):
            q.put(from_grpc(err, name))
    except Exception as exc:  # handed to the main thread, which reports it
        q.put(exc)
    finally:
        q.put(_END)


def cmd_events(ctx, args) -> int:
    from barque.images.v1 import images_pb2, images_pb2_grpc
    from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
    from cli.containers import parse_since
    from client.channels import connect
    from client.eventfilter import EventFilter

    wanted = EventFilter.parse(args.filter or [])
    now = time.time()
    since = parse_since(args.since, now) if args.since else 0
    until = parse_since(args.until, now) if args.until else 0
    if since and until and until < since:
        raise InvalidArgument(f"`since` time ({args.since}) cannot be after `until` time ({args.until})")
    runtime = runtime_pb2_grpc.RuntimeStub(connect(ctx.config, "runtime"))
    images = images_pb2_grpc.ImagesStub(connect(ctx.config, "images"))
    opens = {
        "runtime": lambda: runtime.Events(runtime_pb2.EventsRequest(since_nanos=since, until_nanos=until)),
        "images": lambda: images.Events(images_pb2.EventsRequest(since_nanos=since, until_nanos=until)),
    }
    q: queue.Queue = queue.Queue()
    seq = itertools.count()
    for name, open_stream in opens.items():
        threading.Thread(target=_read, args=(name, open_stream, seq, q), daemon=True,
                         name=f"events-{name}").start()
    heap: list[tuple[EventLine, float]] = []
    open_streams = len(opens)
    out = sys.stdout
    while open_streams:
        try:
            item = q.get(timeout=HOLD / 2)
        except queue.Empty:
            item = None
        if item is _END:
            open_streams -= 1
        elif isinstance(item, BaseException):
            raise item
        elif item is not None and wanted.include(item.type, item.action, item.id, item.attributes):
            heapq.heappush(heap, (item, time.monotonic()))
        for ev in merge_ready(heap, time.monotonic(), flush=not open_streams):
            out.write(render(ev, args.format) + "\n")
            out.flush()
    return 0


def register(sub) -> None:
    places = [(sub, "events")]
    system = sub.choices.get("system")
    if system is not None:  # ``system events``: cli/system.py's group, found by name
        places += [(a, "events") for a in system._actions if isinstance(a, argparse._SubParsersAction)]
    for p in add_command(places, cmd_events, help="Get real time events from the server"):
        p.add_argument("-f", "--filter", action="append", help="Filter output based on conditions provided")
        p.add_argument("--format", help="Format output using a custom template")
        p.add_argument("--since", default="", help="Show all events created since timestamp")
        p.add_argument("--until", default="", help="Stream events until this timestamp")
