"""The image-store's Events RPC: pull, tag, untag and delete as docker names
them, the container "commit" with its image's "tag", cut by since/until and
narrowed by filters; a live stream ends once its until has passed."""

from __future__ import annotations

import threading
import time

import pytest
from barque.images.v1 import images_pb2

from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _events(engine, since: int, until: int, *filters: str) -> list[images_pb2.EventsResponse]:
    with engine.client("images") as images:
        return list(images.Events(images_pb2.EventsRequest(since_nanos=since, until_nanos=until,
                                                          filters=list(filters))))


def _collapse(actions: list[str]) -> list[str]:
    out: list[str] = []
    for a in actions:
        if not out or out[-1] != a:
            out.append(a)
    return out


def test_pull_tag_untag_delete_with_since_and_until(fresh_engine, test_images):
    img = test_images["oci-gzip"]
    t0 = time.time_ns()
    fresh_engine.ok("pull", img.ref)
    fresh_engine.ok("tag", img.ref, "evt:1")
    t_tagged = time.time_ns()
    fresh_engine.ok("rmi", "evt:1")
    fresh_engine.ok("rmi", img.ref)
    t_end = time.time_ns()

    events = _events(fresh_engine, t0, t_end)
    assert all(e.type == "image" for e in events)
    assert _collapse([e.action for e in events]) == ["pull", "tag", "untag", "delete"]
    assert [e.time_nanos for e in events] == sorted(e.time_nanos for e in events)
    pull, tag = events[0], events[1]
    familiar = img.ref  # a registry with a port keeps its host in the familiar name
    assert pull.id == familiar and pull.attributes["name"] == familiar.rsplit(":", 1)[0]
    assert tag.id == img.config_digest and tag.attributes["name"] == "evt:1"
    assert {e.id for e in events[2:]} == {img.config_digest}
    assert events[-1].action == "delete" and events[-1].attributes["name"] == img.config_digest

    assert [e.action for e in _events(fresh_engine, t0, t_tagged)] == ["pull", "tag"]
    assert [e.action for e in _events(fresh_engine, t_tagged, t_end, "event=delete")] == ["delete"]
    assert [e.attributes["name"] for e in _events(fresh_engine, t0, t_end, "image=evt:1")] == ["evt:1"]
    assert _events(fresh_engine, t_end, t_end + 1) == []
    # docker's --until alone: every kept event up to it
    assert [e.action for e in _events(fresh_engine, 0, t_tagged)][-2:] == ["pull", "tag"]


def test_live_stream_ends_after_until(fresh_engine, test_images):
    img = test_images["oci-gzip"]
    fresh_engine.ok("pull", img.ref)
    got: list[images_pb2.EventsResponse] = []
    since = time.time_ns()
    until = since + 3_000_000_000

    def follow() -> None:
        got.extend(_events(fresh_engine, since, until))

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    time.sleep(0.5)  # the stream is open: the pull before ``since`` is not in it
    fresh_engine.ok("tag", img.ref, "live:1")
    wait_for(lambda: bool(got) or not reader.is_alive(), what="the live event", timeout=10)
    reader.join(15)
    assert not reader.is_alive(), "the stream outlived its until"
    assert [(e.action, e.attributes["name"]) for e in got] == [("tag", "live:1")]


def test_commit_emits_container_commit_and_image_tag(clean, busybox):
    cid = clean.ok("run", "-d", busybox, "sh", "-c", "echo x > /x").stdout.strip()
    wait_for(lambda: clean.ok("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "exited",
             what="the container to exit")
    t0 = time.time_ns()
    image_id = clean.ok("commit", "-m", "why", cid, "evcommit:1").stdout.strip()
    try:
        events = _events(clean, t0, time.time_ns())
        assert [(e.type, e.action, e.id) for e in events] == [
            ("container", "commit", cid), ("image", "tag", image_id)]
        assert events[0].attributes["comment"] == "why" and events[0].attributes["imageID"] == image_id
        assert events[1].attributes["name"] == "evcommit:1"
    finally:
        clean.cli("rmi", "evcommit:1")
