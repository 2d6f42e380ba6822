"""The bounded event log's window (since/until as moby's), its enricher,
and the runtime's container attributes on events (moby's
LogContainerEventWithAttributes): pure, over in-memory logs."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from services.common.events import EventLog
from services.runtime.engine.eventattrs import ContainerAttributes


def _log_of(*actions: str) -> tuple[EventLog, list[int]]:
    log = EventLog()
    for action in actions:
        log.emit(action, "c1")
    return log, [e.time_ns for e in log.stream(1, lambda: True)]


def test_since_and_until_cut_the_kept_events_and_a_past_until_ends_at_once():
    log, times = _log_of("create", "start", "die", "destroy")
    assert len(times) == 4 and times == sorted(times)
    window = [e.action for e in log.stream(times[1], lambda: False, until_ns=times[2])]
    assert window == ["start", "die"]
    # until only: every kept event up to it, as moby's loadBufferedEvents
    assert [e.action for e in log.stream(0, lambda: False, until_ns=times[1])] == ["create", "start"]
    # neither: none of the past, and here nothing new before stop
    assert list(log.stream(0, lambda: True)) == []


def test_a_future_until_streams_new_events_then_ends():
    log = EventLog()
    until = time.time_ns() + 400_000_000
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(e.action for e in log.stream(0, lambda: False, until)))
    reader.start()
    time.sleep(0.1)
    log.emit("start", "c1")
    reader.join(5)
    assert not reader.is_alive(), "the stream did not end at until"
    assert got == ["start"]
    log.emit("late", "c1")
    assert [e.action for e in log.stream(1, lambda: True)] == ["start", "late"]


def test_the_ring_keeps_the_newest():
    log = EventLog(keep=2)
    for action in ("a", "b", "c"):
        log.emit(action, "x")
    assert [e.action for e in log.stream(1, lambda: True)] == ["b", "c"]


def test_an_enricher_adds_attributes_and_its_failure_is_not_the_emitter_s():
    calls = []

    def enrich(event_type, action, actor, attrs):
        calls.append((event_type, action, actor))
        if action == "boom":
            raise RuntimeError("bug")
        return {**attrs, "extra": "1"}

    log = EventLog(enrich=enrich)
    log.emit("create", "c1", name="web")
    log.emit("boom", "c1", name="web")
    events = list(log.stream(1, lambda: True))
    assert events[0].attributes == {"name": "web", "extra": "1"}
    assert events[1].attributes == {"name": "web"}
    assert calls[0] == ("container", "create", "c1")


def _record(name="web", image="busybox", labels=None):
    return SimpleNamespace(name=name, config=SimpleNamespace(image=image, labels=labels or {}))


def test_container_attributes_are_moby_s_and_outlive_the_record():
    records = {"c1": _record(labels={"team": "a", "name": "label-loses"})}
    attrs = ContainerAttributes(records.get)
    assert attrs("container", "die", "c1", {"exitCode": "0"}) == {
        "team": "a", "name": "web", "image": "busybox", "exitCode": "0"}
    # a rename's new name comes from the emitter; the record says it too
    records["c1"] = _record(name="new", labels={"team": "a"})
    assert attrs("container", "rename", "c1", {"name": "new", "oldName": "/web"})["name"] == "new"
    del records["c1"]  # removed: destroy still carries image and labels, then they are forgotten
    assert attrs("container", "destroy", "c1", {}) == {"team": "a", "name": "new", "image": "busybox"}
    assert attrs("container", "destroy", "c1", {}) == {}
    # other types keep what their emitter gave
    assert attrs("network", "connect", "n1", {"container": "c1", "name": "net"}) == {"container": "c1",
                                                                                     "name": "net"}
