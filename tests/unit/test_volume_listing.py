"""``volume ls`` filters, ``prune``'s choice, ``inspect``'s JSON, shared and
slave propagation checks, and the runtime's Volumes over a fake set of
containers (no mounts: plain volumes only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.volumes.listing import filter_volumes, prunable, volume_json
from services.runtime.volumes.manager import Volumes
from services.runtime.volumes.propagation import check_bind_propagation, rootfs_propagation, source_mount
from services.runtime.volumes.store import Volume


def vol(name, labels=None, anonymous=False, options=None):
    return Volume(name=name, mountpoint=f"/v/{name}/_data", created_at="2026-01-01T00:00:00Z",
                  labels=labels or {}, anonymous=anonymous, options=options or {})


VOLS = [vol("app-data", {"env": "prod", "tier": "db"}), vol("cache", {"env": "dev"}), vol("a" * 64, anonymous=True)]
USERS = {"app-data": ["c1"]}


@pytest.mark.parametrize("filters,names", [
    ([], ["a" * 64, "app-data", "cache"]),
    (["name=data"], ["app-data"]),
    (["name=data", "name=cac"], ["app-data", "cache"]),
    (["label=env"], ["app-data", "cache"]),
    (["label=env=prod", "label=tier"], ["app-data"]),
    (["dangling=true"], ["a" * 64, "cache"]),
    (["dangling=false"], ["app-data"]),
    (["driver=local"], ["a" * 64, "app-data", "cache"]),
    (["driver=nfs"], []),
])
def test_ls_filters(filters, names):
    assert [v.name for v in filter_volumes(VOLS, USERS, filters)] == names


@pytest.mark.parametrize("filters", [["bogus=1"], ["name"], ["dangling=maybe"]])
def test_ls_filters_refused(filters):
    with pytest.raises(InvalidArgument):
        filter_volumes(VOLS, USERS, filters)


def test_prune_choice():
    assert [v.name for v in prunable(VOLS, USERS, [], False)] == ["a" * 64]
    assert [v.name for v in prunable(VOLS, USERS, [], True)] == ["cache", "a" * 64]
    assert [v.name for v in prunable(VOLS, USERS, ["all=true"], False)] == ["cache", "a" * 64]
    assert [v.name for v in prunable(VOLS, USERS, ["label!=env=dev"], True)] == ["a" * 64]
    assert [v.name for v in prunable(VOLS, USERS, ["label=env"], True)] == ["cache"]


def test_volume_json_is_docker_2010s():
    assert volume_json(vol("x")) == {
        "CreatedAt": "2026-01-01T00:00:00Z", "Driver": "local", "Labels": None, "Mountpoint": "/v/x/_data",
        "Name": "x", "Options": None, "Scope": "local"}
    doc = volume_json(vol("x", {"b": "1", "a": "2"}, options={"type": "tmpfs"}))
    assert list(doc) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]
    assert doc["Labels"] == {"a": "2", "b": "1"} and doc["Options"] == {"type": "tmpfs"}


MOUNTINFO = """\
22 1 0:21 / / rw - ext4 /dev/vda rw
30 22 0:30 / /srv rw shared:5 - tmpfs tmpfs rw
31 30 0:31 / /srv/slave rw master:5 - tmpfs tmpfs rw
32 22 0:32 / /with\\040space rw shared:7 - tmpfs tmpfs rw
"""


def test_source_mount_and_checks():
    assert source_mount("/srv/slave/x", MOUNTINFO) == ("/srv/slave", ["master:5"])
    assert source_mount("/srvx", MOUNTINFO)[0] == "/"
    assert source_mount("/with space/a", MOUNTINFO) == ("/with space", ["shared:7"])
    check_bind_propagation("/srv/a", "rshared", MOUNTINFO)
    check_bind_propagation("/srv/slave/a", "slave", MOUNTINFO)
    check_bind_propagation("/home", "rprivate", MOUNTINFO)
    with pytest.raises(InvalidArgument, match="path /home is mounted on / but it is not a shared mount"):
        check_bind_propagation("/home", "shared", MOUNTINFO)
    with pytest.raises(InvalidArgument, match="not a shared mount"):
        check_bind_propagation("/srv/slave/a", "rshared", MOUNTINFO)
    with pytest.raises(InvalidArgument, match="not a shared or slave mount"):
        check_bind_propagation("/home", "rslave", MOUNTINFO)


def test_rootfs_propagation():
    assert rootfs_propagation(["rprivate", "private"]) == ""
    assert rootfs_propagation(["rslave", "rprivate"]) == "rslave"
    assert rootfs_propagation(["slave", "rshared"]) == "shared"


class FakeContainers:
    def __init__(self):
        self.mounts: dict[str, list[dict]] = {}

    def __call__(self):
        return list(self.mounts.items())


def test_volumes_api_in_use_remove_prune(tmp_path: Path):
    events = []
    containers = FakeContainers()
    volumes = Volumes(tmp_path, containers, lambda *a, **kw: events.append((a, kw)))
    data, created = volumes.create("data", labels={"k": "v"})
    assert created and events[-1] == (("create", "data"), {"event_type": "volume", "driver": "local"})
    assert volumes.create("data")[1] is False
    with pytest.raises(NotFound, match="plugin"):
        volumes.create("x1", driver="nfs")
    containers.mounts["c" * 64] = [{"Type": "volume", "Name": "data", "Destination": "/d", "RW": True}]
    with pytest.raises(FailedPrecondition, match=f"remove data: volume is in use - \\[{'c' * 64}\\]"):
        volumes.remove("data", force=True)
    assert volumes.inspect("data")[1] == ["c" * 64]
    assert [v.name for v, _ in volumes.list_volumes(["dangling=true"])] == []
    volumes.remove("absent", force=True)
    with pytest.raises(NotFound, match="get absent: no such volume"):
        volumes.remove("absent")
    anon, _ = volumes.create(anonymous=True)
    (Path(anon.mountpoint) / "f").write_bytes(b"x" * 100)
    removed, freed = volumes.prune()
    assert removed == [anon.name] and freed == 100
    del containers.mounts["c" * 64]
    volumes.remove("data")
    assert events[-1][0] == ("destroy", "data")
    assert volumes.list_volumes() == []


def test_release_removes_what_a_failed_create_made_and_anonymous_on_request(tmp_path: Path):
    from services.runtime.volumes.plan import plan_mounts

    containers = FakeContainers()
    volumes = Volumes(tmp_path / "v", containers, lambda *a, **kw: None)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    volumes.create("kept")
    plan = plan_mounts(binds=["kept:/k", "new1:/n", "/anon"])
    attached = volumes.setup("c1", plan, rootfs)
    assert [m["Type"] for m in attached.records] == ["volume"] * 3
    assert volumes.users()["new1"] == ["c1"]                 # claimed while the create is in flight
    volumes.release("c1", [])                                # the create failed
    assert [v.name for v, _ in volumes.list_volumes()] == ["kept"]
    attached = volumes.setup("c2", plan, rootfs)
    volumes.commit("c2")
    containers.mounts["c2"] = attached.records
    volumes.release("c2", attached.records, remove_anonymous=True)
    assert sorted(v.name for v, _ in volumes.list_volumes()) == ["kept", "new1"]
