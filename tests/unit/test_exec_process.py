"""The process object of an exec: its user is resolved as docker exec -u does."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.errors import InvalidArgument
from services.runtime.engine.execs import ExecOptions, exec_process

CONTAINER_USER = {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]}


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nstaff:x:50:app\n")
    return root


def process(rootfs: Path, **opts) -> dict:
    spec = {"process": {"user": CONTAINER_USER, "env": ["PATH=/bin"], "cwd": "/",
                        "capabilities": {"bounding": ["CAP_CHOWN"]}}}
    return exec_process(spec, rootfs, ExecOptions(args=["id"], env=[], **opts))


@pytest.mark.parametrize("user,expected", [
    ("1234:5678", {"uid": 1234, "gid": 5678, "additionalGids": [5678]}),
    ("app", {"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]}),
    ("root", {"uid": 0, "gid": 0, "additionalGids": [0]}),
])
def test_exec_user_has_the_primary_gid_among_its_groups(rootfs: Path, user, expected):
    assert process(rootfs, user=user)["user"] == expected


def test_exec_without_user_keeps_the_containers(rootfs: Path):
    assert process(rootfs)["user"] == CONTAINER_USER


def test_exec_unknown_user_is_refused(rootfs: Path):
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        process(rootfs, user="ghost")
