"""``docker events --filter`` as moby's daemon/events/filter.go: same key
ORs, different keys AND, labels all hold, fuzzy container/network/volume
names and the health_status / exec_* prefixes, image with or without tag."""

from __future__ import annotations

import pytest

from client.errors import InvalidArgument
from client.eventfilter import EventFilter

WEB = ("container", "start", "abcdef012345", {"name": "web", "image": "busybox:latest", "tier": "front"})
DB = ("container", "die", "0123456789ab", {"name": "db", "image": "docker.io/library/redis:7", "exitCode": "0"})
NET = ("network", "connect", "feed00000000", {"name": "appnet", "container": "abcdef012345", "type": "bridge"})
VOL = ("volume", "mount", "data", {"driver": "local", "container": "abcdef012345"})
IMG = ("image", "tag", "sha256:1234", {"name": "busybox:v2"})
HEALTH = ("container", "health_status: healthy", "abcdef012345", {"name": "web", "image": "busybox:latest"})
ALL = [WEB, DB, NET, VOL, IMG, HEALTH]


def _kept(*filters: str) -> list[tuple]:
    f = EventFilter.parse(list(filters))
    return [e for e in ALL if f.include(*e)]


def test_no_filter_keeps_all():
    assert _kept() == ALL


def test_same_key_ors_different_keys_and():
    assert _kept("type=network", "type=volume") == [NET, VOL]
    assert _kept("type=container", "event=die") == [DB]
    assert _kept("type=container", "event=die", "event=start") == [WEB, DB]


def test_container_matches_id_prefix_or_name_prefix_and_drops_other_actors():
    assert _kept("container=web") == [WEB, HEALTH]
    assert _kept("container=abcdef") == [WEB, HEALTH]
    assert _kept("container=we", "container=db") == [WEB, DB, HEALTH]
    # moby's FuzzyMatch looks at any actor: a volume named "data" passes container=d
    assert _kept("container=d") == [DB, VOL]


def test_network_and_volume_by_name_or_id():
    assert _kept("network=appnet") == [NET]
    assert _kept("network=feed") == [NET]
    assert _kept("volume=data") == [VOL]


def test_event_prefix_only_for_health_and_exec_actions():
    assert _kept("event=health_status") == [HEALTH]
    assert _kept("event=health_status: healthy") == [HEALTH]
    assert _kept("event=sta") == []


def test_image_with_or_without_tag_and_for_image_events_the_name():
    assert _kept("image=busybox") == [WEB, IMG, HEALTH]
    assert _kept("image=busybox:latest") == [WEB, HEALTH]
    assert _kept("image=redis") == [DB]
    assert _kept("image=sha256:1234") == [IMG]
    assert _kept("image=busybox", "type=image") == [IMG]


def test_labels_must_all_hold():
    assert _kept("label=tier") == [WEB]
    assert _kept("label=tier=front") == [WEB]
    assert _kept("label=tier=back") == []
    assert _kept("label=tier", "label=image") == [WEB]
    assert _kept("label=tier", "label=nope") == []


def test_bad_filters_are_docker_s_errors():
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        EventFilter.parse(["colour=red"])
    with pytest.raises(InvalidArgument, match=r"bad format of filter \(expected name=value\)"):
        EventFilter.parse(["container"])
    assert _kept("scope=local") == ALL and _kept("scope=swarm") == []
    assert _kept("daemon=x") == []
