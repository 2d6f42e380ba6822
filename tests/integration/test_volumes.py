"""The engine's side of volumes and mounts, through the runtime's RPCs (the
client library) and the CLI's run flags, with real images and the kernel:
copy-up keeping owners, modes, xattrs and links; a hostile image whose
VOLUME path or content is a symlink pointing out of the rootfs; a failed
create leaving no volume and no mount; driver options (a tmpfs volume);
a volume in use refused; rm -v and --rm; shared bind propagation; inspect's
Mounts. (``test_cli_volumes.py`` covers the CLI's commands and output.)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from barque.runtime.v1 import runtime_pb2
from client.errors import FailedPrecondition, InvalidArgument
from tests.support import host
from tests.support.layers import build_tar, dir_entry, file_entry, hardlink_entry, symlink_entry

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture
def eng(rt_engine, busybox):
    """The module's engine; after each test no container and no volume."""
    yield rt_engine
    ids = rt_engine.ok("ps", "-aq", "--no-trunc").lines
    with rt_engine.client("runtime") as rt:
        for cid in ids:
            rt.Delete(runtime_pb2.DeleteRequest(id=cid, force=True, remove_volumes=True))
        for v in rt.ListVolumes(runtime_pb2.ListVolumesRequest()).volumes:
            rt.RemoveVolume(runtime_pb2.RemoveVolumeRequest(name=v.name))
    assert not _volume_mounts(rt_engine)


def _volumes_dir(engine) -> Path:
    return engine.state("runtime") / "volumes"


def _volume_mounts(engine) -> set[str]:
    return {p for p in host.mounts_naming(str(_volumes_dir(engine)))}


def _names(engine) -> list[str]:
    with engine.client("runtime") as rt:
        return [v.name for v in rt.ListVolumes(runtime_pb2.ListVolumesRequest()).volumes]


def _inspect(engine, ref: str) -> dict:
    with engine.client("runtime") as rt:
        return json.loads(rt.Inspect(runtime_pb2.InspectRequest(id=ref)).container_json)


def _create(engine, image: str, *cmd: str, **host_fields) -> str:
    config = runtime_pb2.ContainerConfig(image=image, cmd=list(cmd) or ["true"],
                                         volumes=host_fields.pop("volumes", []))
    with engine.client("runtime") as rt:
        return rt.Create(runtime_pb2.CreateRequest(config=config,
                                                   host_config=runtime_pb2.HostConfig(**host_fields))).id


COPY_UP = build_tar([
    dir_entry("data/", mode=0o750, uid=1234, gid=2345),
    file_entry("data/secret", b"image data\n", mode=0o640, uid=1234, gid=2345, xattrs={"user.kind": "copied"}),
    hardlink_entry("data/secret-link", "data/secret"),
    symlink_entry("data/abs", "/etc/passwd"),
    dir_entry("data/sub/", mode=0o700, uid=7, gid=8),
    file_entry("data/sub/setuid", b"#!/bin/sh\n", mode=0o4755),
])


def test_copy_up_keeps_owners_modes_xattrs_and_links(eng, hand_built_image):
    image = hand_built_image("volumes-copyup", config={"Volumes": {"/data": {}}}, extra_layers=[COPY_UP])
    eng.ok("pull", image.ref)
    cid = _create(eng, image.ref)
    doc = _inspect(eng, cid)
    assert doc["Config"]["Volumes"] == {"/data": {}}
    [mount] = doc["Mounts"]
    assert mount["Type"] == "volume" and mount["Driver"] == "local" and len(mount["Name"]) == 64
    assert (mount["Destination"], mount["Mode"], mount["RW"], mount["Propagation"]) == ("/data", "", True, "")
    data = Path(mount["Source"])
    assert data == _volumes_dir(eng) / mount["Name"] / "_data"
    top = data.stat()
    assert (top.st_uid, top.st_gid, top.st_mode & 0o7777) == (1234, 2345, 0o750)
    secret = (data / "secret").stat()
    assert (secret.st_uid, secret.st_gid, secret.st_mode & 0o7777) == (1234, 2345, 0o640)
    assert (data / "secret").read_bytes() == b"image data\n"
    assert os.getxattr(data / "secret", "user.kind") == b"copied"
    assert (data / "secret-link").stat().st_ino == secret.st_ino
    assert os.readlink(data / "abs") == "/etc/passwd"
    assert (data / "sub" / "setuid").stat().st_mode & 0o7777 == 0o4755
    assert ((data / "sub").stat().st_uid, (data / "sub").stat().st_mode & 0o777) == (7, 0o700)
    # the container sees the same, and a second container on the now non-empty volume copies nothing
    (data / "added").write_text("mine")
    out = eng.ok("run", "--rm", "--volumes-from", cid, image.ref, "sh", "-c",
                 "stat -c '%u:%g %a' /data /data/secret; cat /data/added").lines
    assert out == ["1234:2345 750", "1234:2345 640", "mine"]
    eng.ok("rm", "-v", cid)
    assert _names(eng) == []


def test_a_hostile_volume_path_or_content_never_leaves_the_volume(eng, hand_built_image, tmp_path):
    outside = tmp_path / "bqtest-outside"
    outside.mkdir()
    (outside / "host-secret").write_text("host only\n")
    before = sorted(os.listdir(outside))
    hostile = build_tar([
        symlink_entry("escape", "../../../../../../../../" + str(outside).lstrip("/")),
        symlink_entry("abs-escape", str(outside)),
        dir_entry("data/"),
        symlink_entry("data/up", "../../../../../../../../" + str(outside).lstrip("/")),
        symlink_entry("data/abs", str(outside / "host-secret")),
    ])
    image = hand_built_image("volumes-hostile", config={"Volumes": {"/escape": {}, "/abs-escape": {}, "/data": {}}},
                             extra_layers=[hostile])
    eng.ok("pull", image.ref)
    res = eng.cli("run", "--rm", image.ref, "sh", "-c",
                  "echo pwned > /escape/x; echo pwned > /abs-escape/y; echo pwned > /data/up/z 2>/dev/null;"
                  " echo pwned > /data/abs 2>/dev/null; ls /escape /abs-escape")
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(outside)) == before
    assert (outside / "host-secret").read_text() == "host only\n"
    assert _names(eng) == []                                  # --rm took the anonymous volumes


def test_a_failed_create_leaves_no_volume_and_no_mount(eng, busybox):
    with eng.client("runtime") as rt:
        rt.CreateVolume(runtime_pb2.CreateVolumeRequest(name="tmpvol", driver_opts={"type": "tmpfs",
                                                                                    "o": "size=1m"}))
    with pytest.raises(InvalidArgument, match="nosuchuser"):
        config = runtime_pb2.ContainerConfig(image=busybox, cmd=["true"], user="nosuchuser", volumes=["/anon"])
        host_config = runtime_pb2.HostConfig(
            binds=["fresh:/fresh", "tmpvol:/t"], mounts=[runtime_pb2.Mount(type="volume", target="/m")])
        with eng.client("runtime") as rt:
            rt.Create(runtime_pb2.CreateRequest(config=config, host_config=host_config))
    assert _names(eng) == ["tmpvol"]
    assert sorted(os.listdir(_volumes_dir(eng))) == ["tmpvol"]
    assert not _volume_mounts(eng)                            # tmpvol was mounted for it, and unmounted
    with pytest.raises(InvalidArgument, match="Duplicate mount point"):
        _create(eng, busybox, binds=["a1:/x", "b1:/x"])
    assert _names(eng) == ["tmpvol"]


def test_a_tmpfs_volume_is_mounted_while_used(eng, busybox):
    with eng.client("runtime") as rt:
        v = rt.CreateVolume(runtime_pb2.CreateVolumeRequest(
            name="scratch", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=2m,mode=1770"})).volume
        assert dict(v.options) == {"type": "tmpfs", "device": "tmpfs", "o": "size=2m,mode=1770"}
        doc = json.loads(rt.InspectVolume(runtime_pb2.InspectVolumeRequest(name="scratch")).json)
        assert doc["Options"] == dict(v.options) and doc["Labels"] is None
        with pytest.raises(InvalidArgument, match="not supported"):
            rt.CreateVolume(runtime_pb2.CreateVolumeRequest(name="nfs", driver_opts={"type": "nfs", "device": ":/x"}))
    assert not _volume_mounts(eng)
    cid = _create(eng, busybox, "sh", "-c", "stat -f -c '%S %b' /s; stat -c %a /s", binds=["scratch:/s"])
    assert _volume_mounts(eng) == {v.mountpoint}
    eng.ok("start", "-a", cid)
    block, blocks = eng.ok("logs", cid).lines[0].split()
    assert int(block) * int(blocks) == 2 << 20
    assert eng.ok("logs", cid).lines[1] == "1770"
    with eng.client("runtime") as rt:
        with pytest.raises(FailedPrecondition, match=f"remove scratch: volume is in use - \\[{cid}\\]"):
            rt.RemoveVolume(runtime_pb2.RemoveVolumeRequest(name="scratch", force=True))
        rt.Delete(runtime_pb2.DeleteRequest(id=cid, remove_volumes=True))
        assert not _volume_mounts(eng)
        assert [x.name for x in rt.ListVolumes(runtime_pb2.ListVolumesRequest()).volumes] == ["scratch"]
        rt.RemoveVolume(runtime_pb2.RemoveVolumeRequest(name="scratch"))
        rt.RemoveVolume(runtime_pb2.RemoveVolumeRequest(name="scratch", force=True))  # absent: no error


def test_rm_v_and_auto_remove_take_anonymous_volumes_only(eng, busybox):
    cid = _create(eng, busybox, binds=["named:/n", "/anon1"], volumes=["/anon2"],
                  mounts=[runtime_pb2.Mount(type="volume", target="/anon3")])
    mounts = {m["Destination"]: m for m in _inspect(eng, cid)["Mounts"]}
    assert (mounts["/n"]["Name"], mounts["/n"]["Mode"]) == ("named", "z")
    assert len(_names(eng)) == 4
    with eng.client("runtime") as rt:
        rt.Delete(runtime_pb2.DeleteRequest(id=cid, remove_volumes=True))
    assert _names(eng) == ["named"]
    eng.ok("run", "--rm", "-v", "named:/n", "-v", "/anon", busybox, "true")
    assert _names(eng) == ["named"]
    cid = _create(eng, busybox, volumes=["/kept"])
    eng.ok("rm", cid)                                           # without -v the anonymous volume stays
    assert len(_names(eng)) == 2


def test_tmpfs_and_mount_types_in_spec_and_inspect(eng, busybox, tmp_path):
    src = tmp_path / "bind-src"
    src.mkdir()
    cid = _create(eng, busybox, "sh", "-c", "grep -E ' /(t1|t2|b) ' /proc/mounts",
                  tmpfs={"/t1": "size=64k,exec"},
                  mounts=[runtime_pb2.Mount(type="tmpfs", target="/t2", tmpfs_size_bytes=1 << 20, tmpfs_mode=0o700),
                          runtime_pb2.Mount(type="bind", source=str(src), target="/b", read_only=True)])
    doc = _inspect(eng, cid)
    assert [(m["Type"], m["Destination"]) for m in doc["Mounts"]] == [("tmpfs", "/t2"), ("bind", "/b")]
    bind = doc["Mounts"][1]
    assert bind == {"Type": "bind", "Source": str(src), "Destination": "/b", "Mode": "", "RW": False,
                    "Propagation": "rprivate"}
    eng.ok("start", "-a", cid)
    lines = {line.split()[1]: line.split()[3].split(",") for line in eng.ok("logs", cid).lines}
    assert "size=64k" in lines["/t1"] and "noexec" not in lines["/t1"] and "nosuid" in lines["/t1"]
    assert "size=1024k" in lines["/t2"] and "mode=700" in lines["/t2"] and "noexec" in lines["/t2"]
    assert "ro" in lines["/b"]
    with pytest.raises(InvalidArgument, match="bind source path does not exist"):
        _create(eng, busybox, mounts=[runtime_pb2.Mount(type="bind", source=str(tmp_path / "nope"), target="/x")])
    assert not (tmp_path / "nope").exists()


@pytest.fixture
def shared_dir(tmp_path):
    """A tmpfs made shared, for binds that ask for shared propagation."""
    point = tmp_path / "bqtest-shared"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "bqtest-shared", str(point)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(point)], check=True)
        yield point
    finally:
        subprocess.run(["umount", "-R", "-l", str(point)], check=True)


def test_shared_bind_propagation(eng, busybox, shared_dir, tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    with pytest.raises(InvalidArgument, match="is mounted on .* but it is not a shared mount"):
        _create(eng, busybox, binds=[f"{private}:/x:rshared"])
    cid = eng.ok("run", "-d", "-v", f"{shared_dir}:/x:rshared", busybox, "sleep", "60").stdout.strip()
    try:
        doc = _inspect(eng, cid)
        assert doc["Mounts"][0]["Propagation"] == "rshared"
        spec = json.loads((eng.state("runtime") / "containers" / cid / "config.json").read_text())
        assert spec["linux"]["rootfsPropagation"] == "shared"
        sub = shared_dir / "sub"
        sub.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "bqtest-sub", str(sub)], check=True)
        assert " /x/sub " in eng.ok("exec", cid, "cat", "/proc/mounts").stdout  # the host's mount reached it
        root = [line for line in eng.ok("exec", cid, "cat", "/proc/self/mountinfo").lines if line.split()[4] == "/"]
        assert "shared:" in root[-1].split(" - ")[0]                              # the root's propagation
        plain = [line for line in eng.ok("run", "--rm", busybox, "cat", "/proc/self/mountinfo").lines
                 if line.split()[4] == "/"]
        assert "shared:" not in plain[-1].split(" - ")[0]                        # not without a shared bind
    finally:
        eng.ok("rm", "-f", cid)


def test_an_image_volume_over_a_file_is_refused_and_leaves_nothing(eng, hand_built_image):
    layer = build_tar([file_entry("cfg", b"a file\n")])
    image = hand_built_image("volumes-over-file", config={"Volumes": {"/cfg": {}}}, extra_layers=[layer])
    eng.ok("pull", image.ref)
    with pytest.raises(InvalidArgument, match="cannot mount volume over existing file, file exists .*/cfg"):
        _create(eng, image.ref, binds=["made-for-it:/other"])
    assert _names(eng) == []
    assert eng.ok("ps", "-aq").lines == []


def test_volume_events(eng, busybox):
    import threading

    from client.errors import BarqueError
    from tests.support.runtime import wait_for

    seen: list[tuple[str, str, dict]] = []
    with eng.client("runtime") as rt:
        stream = rt.Events(runtime_pb2.EventsRequest())

        def read() -> None:
            try:
                for e in stream:
                    if e.type == "volume":
                        seen.append((e.action, e.id, dict(e.attributes)))
            except BarqueError:  # the channel closes when the test is done
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        eng.ok("run", "--rm", "-v", "evvol:/data:ro", busybox, "true")
        rt.RemoveVolume(runtime_pb2.RemoveVolumeRequest(name="evvol"))
        wait_for(lambda: any(a == "destroy" for a, _, _ in seen), timeout=30, what="the volume events")
    reader.join(5)
    assert [(a, n) for a, n, _ in seen] == [("create", "evvol"), ("mount", "evvol"), ("unmount", "evvol"),
                                            ("destroy", "evvol")]
    mount = seen[1][2]
    assert (mount["driver"], mount["destination"], mount["read/write"], mount["propagation"]) == \
        ("local", "/data", "false", "")
    assert len(mount["container"]) == 64


def test_a_bind_volume_shows_its_device_and_removing_it_keeps_the_host_data(eng, busybox, tmp_path):
    device = tmp_path / "bqtest-device"
    device.mkdir()
    (device / "before").write_text("host\n")
    with eng.client("runtime") as rt:
        rt.CreateVolume(runtime_pb2.CreateVolumeRequest(
            name="hostdir", driver_opts={"type": "none", "o": "bind", "device": str(device)}))
    out = eng.ok("run", "--rm", "-v", "hostdir:/d", busybox, "sh", "-c", "cat /d/before; echo new > /d/after")
    assert out.stdout == "host\n"
    assert (device / "after").read_text() == "new\n"
    assert not _volume_mounts(eng)                              # unmounted once its container is gone
    with eng.client("runtime") as rt:
        rt.RemoveVolume(runtime_pb2.RemoveVolumeRequest(name="hostdir"))
    assert sorted(os.listdir(device)) == ["after", "before"]
    with eng.client("runtime") as rt:
        rt.CreateVolume(runtime_pb2.CreateVolumeRequest(
            name="gone", driver_opts={"type": "none", "o": "bind", "device": str(tmp_path / "missing")}))
    res = eng.cli("run", "--rm", "-v", "gone:/d", busybox, "true")
    assert res.returncode == 125 and "no such directory" in res.stderr
    assert eng.ok("ps", "-aq").lines == [] and not _volume_mounts(eng)
