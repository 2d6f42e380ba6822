"""The spec's mounts for volumes and tmpfs (spec.mounts.with_mounts and
with_readonly_rootfs): tmpfs entries, the root's propagation for shared and
slave binds, a read-only rootfs leaving the user's tmpfs alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.runtime.v1 import runtime_pb2
from client.errors import InvalidArgument
from services.runtime import spec as sb
from services.runtime.spec.flags import Bind


def build(tmp_path: Path, readonly: bool = False, **ctx) -> dict:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True, exist_ok=True)
    config = runtime_pb2.ContainerConfig(image="x", cmd=["true"])
    host = runtime_pb2.HostConfig(readonly_rootfs=readonly)
    return sb.build_spec(config, host, sb.SpecContext(id="c" * 64, rootfs=rootfs, **ctx))


def mount(spec: dict, dest: str) -> dict:
    [m] = [m for m in spec["mounts"] if m["destination"] == dest]
    return m


def test_tmpfs_mounts_and_shm_replaced(tmp_path: Path):
    spec = build(tmp_path, tmpfs_mounts={"/run/x": ["noexec", "size=1m"], "/dev/shm": ["size=2m"]},
                 binds=[Bind("/v/_data", "/run", False, "z")])
    assert mount(spec, "/run/x") == {"destination": "/run/x", "type": "tmpfs", "source": "tmpfs",
                                     "options": ["noexec", "size=1m"]}
    assert mount(spec, "/dev/shm")["options"] == ["size=2m"]
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests.index("/run") < dests.index("/run/x")
    assert "rootfsPropagation" not in spec["linux"]


def test_readonly_rootfs_keeps_user_tmpfs_writable(tmp_path: Path):
    spec = build(tmp_path, readonly=True, tmpfs_mounts={"/scratch": ["size=1m"]})
    assert mount(spec, "/scratch")["options"] == ["size=1m"]
    assert "ro" in mount(spec, "/sys/fs/cgroup")["options"]


@pytest.mark.parametrize("props,root", [(["rslave"], "rslave"), (["slave", "rshared"], "shared"),
                                        (["private"], None)])
def test_root_propagation_follows_binds(tmp_path: Path, props, root):
    binds = [Bind(f"/h{i}", f"/c{i}", False, p, propagation=p) for i, p in enumerate(props)]
    spec = build(tmp_path, binds=binds)
    assert spec["linux"].get("rootfsPropagation") == root
    assert mount(spec, "/c0")["options"] == ["rbind", props[0]]


def test_tmpfs_and_bind_at_one_place_refused(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="duplicate mount point"):
        build(tmp_path, tmpfs_mounts={"/x": []}, binds=[Bind("/h", "/x", False, "")])
