"""``barque events`` rendering and merging, pure: docker/cli's default line
(prettyPrintEvent), docker's events.Message JSON and template fields, and
the time-ordered merge of two streams with its hold-back."""

from __future__ import annotations

import json

from cli.events import HOLD, EventLine, merge_ready, message, pretty, render

NS = 1_796_203_800_123_456_789  # 2026-12-02T09:30:00.123456789Z


def _ev(action="create", t=NS, seq=0, type_="container", actor="c" * 64, **attrs) -> EventLine:
    return EventLine(t, seq, type_, action, actor, attrs)


def test_default_line_is_docker_cli_s_with_sorted_attributes():
    ev = _ev(name="x", image="busybox", team="a")
    assert pretty(ev) == f"2026-12-02T09:30:00.123456789Z container create {'c' * 64} (image=busybox, name=x, team=a)"
    assert pretty(_ev(type_="network", action="destroy", actor="n1")) == \
        "2026-12-02T09:30:00.123456789Z network destroy n1"


def test_json_is_docker_s_events_message():
    doc = json.loads(render(_ev(name="x", image="busybox"), "{{json .}}"))
    assert list(doc) == ["status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert doc == {"status": "create", "id": "c" * 64, "from": "busybox", "Type": "container", "Action": "create",
                   "Actor": {"ID": "c" * 64, "Attributes": {"image": "busybox", "name": "x"}}, "scope": "local",
                   "time": NS // 10**9, "timeNano": NS}
    # the deprecated fields are omitted where docker leaves them empty
    net = message(_ev(type_="network", action="connect", actor="n1", container="c1"))
    assert "status" not in net and "id" not in net and "from" not in net
    assert render(_ev(), "json") == render(_ev(), "{{json .}}")


def test_template_fields_are_the_go_names():
    ev = _ev(action="die", exitCode="3", name="web")
    assert render(ev, "{{.Type}} {{.Action}} {{.Actor.Attributes.exitCode}} {{.Status}} {{.TimeNano}}") == \
        f"container die 3 die {NS}"


def test_merge_holds_each_event_then_gives_the_earliest_first():
    heap: list = []
    import heapq

    heapq.heappush(heap, (_ev("b", t=NS + 2, seq=0), 10.0))
    heapq.heappush(heap, (_ev("a", t=NS + 1, seq=1), 10.05))  # arrived later, happened earlier
    assert merge_ready(heap, 10.0 + HOLD - 0.01) == []
    assert [e.action for e in merge_ready(heap, 10.05 + HOLD)] == ["a", "b"]
    heapq.heappush(heap, (_ev("c", t=NS + 3, seq=2), 20.0))
    assert merge_ready(heap, 20.0) == []
    assert [e.action for e in merge_ready(heap, 20.0, flush=True)] == ["c"]


def test_a_stream_the_service_lacks_is_skipped_and_other_errors_reach_the_command():
    import itertools
    import queue

    import grpc

    from cli.events import _END, _read
    from client.errors import BarqueError

    class Err(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

        def details(self):
            return "boom"

    def failing(code):
        def open_stream():
            yield SimpleEvent()
            raise Err(code)
        return open_stream

    class SimpleEvent:
        time_nanos, type, action, id, attributes = NS, "image", "tag", "sha256:1", {"name": "x"}

    for code, expect_error in [(grpc.StatusCode.UNIMPLEMENTED, False), (grpc.StatusCode.CANCELLED, False),
                               (grpc.StatusCode.INTERNAL, True)]:
        q: queue.Queue = queue.Queue()
        _read("images", failing(code), itertools.count(), q)
        items = [q.get_nowait() for _ in range(q.qsize())]
        assert isinstance(items[0], EventLine) and items[0].action == "tag"
        assert items[-1] is _END
        assert any(isinstance(i, BarqueError) for i in items) == expect_error, code
