"""Which mounts a container gets (services.runtime.volumes.plan) and ``-v``
parsing (spec.flags.parse_volume_spec), with Docker's rules and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.errors import InvalidArgument
from services.runtime.spec.flags import parse_volume_spec
from services.runtime.volumes.plan import (
    MountRequest,
    create_bind_sources,
    parse_volumes_from,
    plan_mounts,
    tmpfs_options,
)


def by_dest(plan):
    return {p.destination: p for p in plan}


@pytest.mark.parametrize("spec,kind,source,dest,ro,prop,copy", [
    ("/data", "volume", "", "/data", False, "", True),
    ("data:/data", "volume", "data", "/data", False, "", True),
    ("data:/data:ro,nocopy", "volume", "data", "/data", True, "", False),
    ("/srv/x/../y:/data//sub/:rshared", "bind", "/srv/y", "/data/sub", False, "rshared", True),
    ("/srv:/data:slave,ro", "bind", "/srv", "/data", True, "slave", True),
])
def test_parse_volume_spec(spec, kind, source, dest, ro, prop, copy):
    v = parse_volume_spec(spec)
    assert (v.type, v.source, v.destination, v.read_only, v.propagation, v.copy) == \
        (kind, source, dest, ro, prop, copy)


@pytest.mark.parametrize("spec,message", [
    ("", "invalid volume specification"),
    (":/data", "invalid volume specification"),
    ("/data:rw", "invalid volume specification"),       # DEST:MODE is not a volume
    ("a:/b:ro:x", "invalid volume specification"),
    ("data:rel", "not an absolute path"),
    ("data:/", "can't be '/'"),
    ("data:/x:ro,rw", "conflict"),
    ("data:/x:shared,slave", "conflict"),
    ("data:/x:bogus", "invalid mode"),
])
def test_parse_volume_spec_refuses(spec, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_volume_spec(spec)


def test_named_and_anonymous_volumes_get_docker_modes():
    plan = by_dest(plan_mounts(binds=["data:/data", "logs:/logs:ro", "/anon"]))
    assert (plan["/data"].name, plan["/data"].mode, plan["/data"].rw, plan["/data"].anonymous) == \
        ("data", "z", True, False)
    assert (plan["/logs"].mode, plan["/logs"].rw) == ("ro", False)
    assert plan["/anon"].anonymous and plan["/anon"].name == ""


def test_config_volumes_yield_to_binds_mounts_and_tmpfs(tmp_path: Path):
    plan = by_dest(plan_mounts(
        binds=[f"{tmp_path}:/a"], mounts=[MountRequest("volume", "/b", source="vb")],
        tmpfs={"/c": ""}, volumes=["/a", "/b", "/c", "/d/"]))
    assert plan["/a"].type == "bind" and plan["/b"].name == "vb" and plan["/c"].type == "tmpfs"
    assert plan["/d"].anonymous and plan["/d"].from_image and plan["/d"].copy
    assert not plan["/c"].listed                              # --tmpfs is not in inspect's Mounts


@pytest.mark.parametrize("kwargs", [
    {"binds": ["a1:/x", "b1:/x/"]},
    {"binds": ["a1:/x"], "mounts": [MountRequest("volume", "/x", source="b1")]},
    {"binds": ["a1:/x"], "tmpfs": {"/x": ""}},
])
def test_duplicate_mount_points(kwargs):
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /x"):
        plan_mounts(**kwargs)


def test_volumes_from_keeps_modes_and_yields_to_own_mounts():
    other = [
        {"Type": "volume", "Name": "v1", "Source": "/s/v1", "Destination": "/v1", "RW": True, "Mode": "z"},
        {"Type": "bind", "Source": "/h", "Destination": "/h", "RW": False, "Mode": "ro", "Propagation": "rslave"},
        {"Type": "volume", "Name": "v2", "Source": "/s/v2", "Destination": "/v2", "RW": True},
    ]
    plan = by_dest(plan_mounts(volumes_from=[(other, True)], binds=["mine:/v2"]))
    assert (plan["/v1"].name, plan["/v1"].rw, plan["/v1"].mode, plan["/v1"].copy) == ("v1", True, "", False)
    assert (plan["/h"].rw, plan["/h"].propagation) == (False, "rslave")
    assert plan["/v2"].name == "mine"
    ro = by_dest(plan_mounts(volumes_from=[(other, False)]))
    assert not ro["/v1"].rw


@pytest.mark.parametrize("spec,result", [("c1", ("c1", True)), ("c1:ro", ("c1", False)), ("c1:rw,z", ("c1", True))])
def test_parse_volumes_from(spec, result):
    assert parse_volumes_from(spec) == result


@pytest.mark.parametrize("spec", ["", "c1:shared", "c1:nocopy", "c1:ro,rw"])
def test_parse_volumes_from_refuses(spec):
    with pytest.raises(InvalidArgument):
        parse_volumes_from(spec)


def test_mount_requests(tmp_path: Path):
    plan = by_dest(plan_mounts(mounts=[
        MountRequest("bind", "/b", source=str(tmp_path), read_only=True, bind_propagation="rslave"),
        MountRequest("volume", "/v", source="named", volume_no_copy=True, volume_labels={"k": "v"}),
        MountRequest("volume", "/anon"),
        MountRequest("tmpfs", "/t", tmpfs_size_bytes=64 << 20, tmpfs_mode=0o1777),
        MountRequest("tmpfs", "/t2", read_only=True, tmpfs_size_bytes=1000),
    ]))
    assert (plan["/b"].rw, plan["/b"].propagation, plan["/b"].mode) == (False, "rslave", "")
    assert (plan["/v"].copy, dict(plan["/v"].labels), plan["/v"].mode) == (False, {"k": "v"}, "z")
    assert plan["/anon"].anonymous
    assert list(plan["/t"].tmpfs) == ["noexec", "nosuid", "nodev", "rprivate", "mode=1777", "size=64m"]
    assert list(plan["/t2"].tmpfs) == ["noexec", "nosuid", "nodev", "rprivate", "ro", "size=1000"]
    assert plan["/t"].listed


@pytest.mark.parametrize("request_,message", [
    (MountRequest("bind", "/x", source="/nonexistent/bqtest"),
     'invalid mount config for type "bind": bind source path does not exist: /nonexistent/bqtest'),
    (MountRequest("bind", "/x"), "field Source must not be empty"),
    (MountRequest("bind", "/x", source="/", volume_no_copy=True), "field VolumeOptions must not be specified"),
    (MountRequest("bind", "/x", source="/", bind_propagation="bogus"), "invalid propagation mode: bogus"),
    (MountRequest("volume", "/x", bind_propagation="shared"), "field BindOptions must not be specified"),
    (MountRequest("volume", "/x", read_only=True), "must not set ReadOnly mode when using anonymous volumes"),
    (MountRequest("tmpfs", "/x", source="a"), "field Source must not be specified"),
    (MountRequest("npipe", "/x"), 'invalid mount config for type "npipe": mount type unknown'),
    (MountRequest("volume", "rel"), "mount path must be absolute"),
    (MountRequest("volume", "/"), "can't be '/'"),
    (MountRequest("volume", ""), "field Target must not be empty"),
])
def test_mount_requests_refused(request_, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        plan_mounts(mounts=[request_])


def test_tmpfs_options_merge_as_docker():
    assert tmpfs_options("") == ["noexec", "nosuid", "nodev", "rprivate"]
    assert tmpfs_options("exec,size=64m,mode=1777") == ["nosuid", "nodev", "rprivate", "exec", "size=64m",
                                                        "mode=1777"]
    assert tmpfs_options("size=1m,size=2m,shared") == ["noexec", "nosuid", "nodev", "size=2m", "shared"]


@pytest.mark.parametrize("data,message", [("foo", r'\["foo"\]'), ("bar=1", r'\["bar" "1"\]')])
def test_tmpfs_options_refused(data, message):
    with pytest.raises(InvalidArgument, match="Invalid tmpfs option " + message):
        plan_mounts(tmpfs={"/t": data})


def test_bind_sources_created_only_for_v_and_only_once_valid(tmp_path: Path):
    missing = tmp_path / "a" / "b"
    with pytest.raises(InvalidArgument):
        plan_mounts(binds=[f"{missing}:/x", "bad/name:/y:bogus"])
    assert not missing.exists()
    plan = create_bind_sources(plan_mounts(binds=[f"{missing}:/x"]))
    assert missing.is_dir() and not plan[0].create_source


@pytest.mark.parametrize("kwargs,message", [
    ({"binds": ["a:/x"]}, "too short"),
    ({"binds": ["../etc:/x"]}, "includes invalid characters"),
    ({"mounts": [MountRequest("volume", "/x", source="a/b")]}, "includes invalid characters"),
])
def test_volume_names_checked_before_anything_is_made(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        plan_mounts(**kwargs)
