"""``ps --filter`` over container views, as moby's daemon/list.go: each key
(ancestor, label, exited, volume, network, health, before, since, status,
id, name), same key ORs, keys AND, labels all hold, moby's errors; and
``ps --size``'s byte count of a writable layer and its SIZE text."""

from __future__ import annotations

import os

import pytest

from barque.runtime.v1 import runtime_pb2 as pb
from cli.containers import size_text
from client.errors import InvalidArgument, NotFound
from services.runtime.engine.containers import ContainerConfig, ContainerRecord, HostConfig
from services.runtime.engine.filters import FilterContext, ListFilter, parse_filters
from services.runtime.engine.runtimestate import ContainerView
from services.runtime.engine.sizes import tree_size

NEVER = "0001-01-01T00:00:00Z"


def _record(cid: str, name: str, created: str, *, image_id="sha256:aaa", labels=None, status="exited",
            exit_code=0, started=True, mounts=(), networks=None, mode="", health="") -> ContainerRecord:
    return ContainerRecord(
        id=cid * 64, name=name, created=created, image_id=image_id,
        config=ContainerConfig(image="busybox", labels=labels or {}), host_config=HostConfig(network_mode=mode),
        status=status, exit_code=exit_code, started_at="2026-12-02T09:00:00Z" if started else NEVER,
        mounts=list(mounts), networks=networks or {}, health={"Status": health} if health else {})


WEB = ContainerView(_record("a", "web", "2026-12-02T09:00:01.000001Z", labels={"tier": "front", "env": "prod"},
                            status="running", networks={"appnet": {}},
                            mounts=[{"Destination": "/data", "Name": "webdata", "Source": "/v/webdata"}],
                            health="healthy"), True)
DB = ContainerView(_record("b", "db", "2026-12-02T09:00:02.000001Z", image_id="sha256:bbb", labels={"tier": "back"},
                           exit_code=3, networks={"bridge": {}},
                           mounts=[{"Destination": "/src", "Name": "", "Source": "/home/me/src"}]), False)
NEW = ContainerView(_record("c", "fresh", "2026-12-02T09:00:03.000001Z", status="created", started=False,
                            mode="host"), False)
PAUSED = ContainerView(_record("d", "nap", "2026-12-02T09:00:04.000001Z", status="paused", health="starting"),
                       True)
ALL = [WEB, DB, NEW, PAUSED]


def _context() -> FilterContext:
    by_name = {v.record.name: v.record for v in ALL}

    def find(ref):
        if ref in by_name:
            return by_name[ref]
        raise NotFound(f"No such container: {ref}")

    images = {"busybox": "sha256:aaa", "redis:7": "sha256:bbb", "sha256:bbb": "sha256:bbb"}
    return FilterContext(find=find, image_id=images.get,
                         network_ids=lambda: {"appnet": "f00d" + "0" * 60, "bridge": "beef" + "0" * 60})


def _names(*filters: str) -> list[str]:
    wanted = ListFilter.parse(list(filters), _context())
    return [v.record.name for v in ALL if wanted.include(v)]


def test_status_uses_moby_s_states_and_lists_stopped_ones():
    assert _names("status=running") == ["web"]
    assert _names("status=paused") == ["nap"]
    assert _names("status=exited", "status=created") == ["db", "fresh"]
    assert ListFilter.parse(["status=exited"], _context()).lists_stopped
    assert not ListFilter.parse(["name=db"], _context()).lists_stopped


def test_ancestor_by_name_or_id_and_an_unknown_image_matches_none():
    assert _names("ancestor=busybox") == ["web", "fresh", "nap"]
    assert _names("ancestor=redis:7") == ["db"]
    assert _names("ancestor=sha256:bbb", "ancestor=busybox") == ["web", "db", "fresh", "nap"]
    assert _names("ancestor=nothing") == []


def test_labels_all_hold():
    assert _names("label=tier") == ["web", "db"]
    assert _names("label=tier=back") == ["db"]
    assert _names("label=tier", "label=env=prod") == ["web"]
    assert _names("label=tier=front", "label=tier=back") == []


def test_exited_needs_a_run_that_ended_with_that_code():
    assert _names("exited=3") == ["db"]
    assert _names("exited=0") == []  # fresh never ran, web and nap run
    assert _names("exited=0", "exited=3") == ["db"]


def test_volume_by_name_destination_or_bind_source():
    for value, expected in [("webdata", ["web"]), ("/data", ["web"]), ("/home/me/src", ["db"]), ("/src", ["db"]),
                            ("/v/webdata", []), ("other", [])]:
        assert _names(f"volume={value}") == expected, value


def test_network_by_name_or_id_prefix():
    assert _names("network=appnet") == ["web"]
    assert _names("network=f00d") == ["web"]
    assert _names("network=beef", "network=host") == ["db", "fresh"]
    assert _names("network=app") == []


def test_health_and_none():
    assert _names("health=healthy") == ["web"]
    assert _names("health=starting") == ["nap"]
    assert _names("health=none") == ["db", "fresh"]


def test_before_and_since_by_creation():
    assert _names("before=fresh") == ["web", "db"]
    assert _names("since=db") == ["fresh", "nap"]
    assert _names("since=web", "before=nap") == ["db", "fresh"]
    with pytest.raises(NotFound, match="No such container: ghost"):
        ListFilter.parse(["before=ghost"], _context())


def test_publish_and_expose_by_container_port_or_range():
    web, db = WEB.record, DB.record
    web.host_config.port_bindings["80/tcp"].bindings.add(host_port="8080")
    web.config.exposed_ports[:] = ["80/tcp", "443/tcp"]
    db.config.exposed_ports[:] = ["53/udp"]
    try:
        assert _names("publish=80") == ["web"]
        assert _names("publish=443") == []  # exposed, not published
        assert _names("expose=443") == ["web"]
        assert _names("expose=50-60/udp") == ["db"]
        assert _names("expose=53") == []  # tcp unless told
        assert _names("expose=53/udp", "expose=80") == ["web", "db"]
    finally:
        del web.host_config.port_bindings["80/tcp"]
        del web.config.exposed_ports[:], db.config.exposed_ports[:]


def test_id_and_name_are_searched_as_moby_s_regular_expressions():
    assert _names("name=^d") == ["db"]
    assert _names("name=a") == ["nap"]
    assert _names("id=^bbb") == ["db"]
    assert _names("name=web", "status=exited") == []


def test_errors_are_moby_s():
    for bad, message in [("colour=red", "invalid filter 'colour'"),
                         ("status=up", "Unrecognised filter value for status: up"),
                         ("health=ok", "Unrecognised filter value for health: ok"),
                         ("exited=x", 'strconv.Atoi: parsing "x": invalid syntax'),
                         ("name", r"bad format of filter \(expected name=value\)"),
                         ("publish=80:80", "filter for 'publish' should not contain ':': 80:80"),
                         ("expose=x", "error while looking up for expose x")]:
        with pytest.raises(InvalidArgument, match=message):
            parse_filters([bad])


def test_tree_size_counts_files_and_links_once(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"x" * 1000)
    (tmp_path / "b").write_bytes(b"y" * 234)
    os.link(tmp_path / "b", tmp_path / "d" / "b-again")
    os.symlink("/etc/passwd", tmp_path / "link")
    assert tree_size(str(tmp_path)) == 1000 + 234 + len("/etc/passwd")
    assert tree_size(str(tmp_path / "missing")) == 0


def test_size_text_is_docker_s():
    assert size_text(pb.Container(size_rw=12, size_root_fs=4_860_000)) == "12B (virtual 4.86MB)"
    assert size_text(pb.Container(size_rw=0)) == "0B"
    assert size_text(pb.Container(size_rw=1_234_567, size_root_fs=5_000_000)) == "1.23MB (virtual 5MB)"
