"""Disk full: the engine's whole state dir on a 48 MiB ext4 filesystem (a
loop device over a sparse file, made by the test and detached after), as
moby's TestDaemonNoSpaceLeftOnDeviceError runs dockerd on a 3 MiB one.

A pull, a build and a container that each need more than is free: the user
gets one line saying "no space left on device"; nothing half-written is kept
(no ingest file, blob, half-built or extra snapshot, image record); the
engine goes on serving, and a small operation works afterwards. A container
writing until the disk is full gets ENOSPC inside, and its logs are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.engine import Engine
from tests.support.faults import blob_problems, small_fs
from tests.support.runtime import close_runtime_engine, start_runtime_engine

pytestmark = [pytest.mark.integration, pytest.mark.root]

ENOSPC = "no space left on device"


@dataclass
class Full:
    eng: Engine
    state: Path
    busybox: str

    def snapshots(self) -> list[str]:
        return sorted(p.name for p in (self.state / "images" / "snapshots" / "snapshots").iterdir())

    def nothing_half_written(self) -> None:
        images = self.state / "images"
        assert sorted(p.name for p in (images / "content" / "ingest").iterdir()) == []
        assert sorted(p.name for p in (self.state / "registry" / "ingest").iterdir()) == []
        assert sorted(p.name for p in (images / "snapshots" / "tmp").iterdir()) == []
        assert blob_problems(images / "content") == [] and blob_problems(self.state / "registry") == []

    def serves(self) -> None:
        assert self.eng.ok("run", "--rm", self.busybox, "echo", "still serving").stdout == "still serving\n"


@pytest.fixture(scope="module")
def full(test_images) -> Iterator[Full]:
    with small_fs(48) as mnt:
        eng = start_runtime_engine(BARQUE_STATE_DIR=str(mnt / "state"))
        try:
            busybox = test_images["oci-gzip"].ref
            eng.ok("pull", busybox)
            yield Full(eng, mnt / "state", busybox)
        finally:
            close_runtime_engine(eng)


def _one_line_enospc(res) -> None:
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert lines and ENOSPC in lines[-1].lower(), res.stderr


def test_a_pull_that_fills_the_disk(full, test_images):
    before = full.snapshots()
    images = full.eng.ok("images", "-q").lines
    res = full.eng.cli("pull", test_images["big"].ref, timeout=120)
    _one_line_enospc(res)
    full.nothing_half_written()
    assert full.snapshots() == before
    assert full.eng.ok("images", "-q").lines == images
    assert full.eng.cli("image", "inspect", test_images["big"].ref).returncode != 0
    full.serves()


def test_a_build_that_fills_the_disk(full, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with open(ctx / "big", "wb") as f:
        f.truncate(64 << 20)  # sparse here, 64 MiB once copied into a layer
    (ctx / "Dockerfile").write_text(f"FROM {full.busybox}\nCOPY big /big\n")
    before, images = full.snapshots(), full.eng.ok("images", "-q").lines
    res = full.eng.cli("build", "-q", "-t", "full/build:1", str(ctx), timeout=120)
    _one_line_enospc(res)
    full.nothing_half_written()
    assert full.snapshots() == before
    assert full.eng.ok("images", "-q").lines == images
    assert full.eng.ok("ps", "-aq").lines == []
    full.serves()


def test_a_container_that_fills_the_disk(full):
    script = "echo before; dd if=/dev/zero of=/fill bs=1M count=100 2>&1 | head -1; echo dd done; exit 9"
    cid = full.eng.ok("run", "-d", full.busybox, "sh", "-c", script).stdout.strip()
    assert full.eng.ok("wait", cid, timeout=60).stdout == "9\n"
    logs = full.eng.ok("logs", cid).stdout.splitlines()
    assert logs[0] == "before" and ENOSPC in logs[1].lower() and logs[-1] == "dd done", logs
    state = json.loads(full.eng.ok("inspect", "--format", "{{json .State}}", cid).stdout)
    assert state["ExitCode"] == 9 and state["Error"] == ""
    full.eng.ok("rm", cid)  # its writable layer goes, and the space with it
    full.serves()
    full.nothing_half_written()
