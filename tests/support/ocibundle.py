"""barque-oci's test harness: a busybox root filesystem, an OCI bundle made
by ``barque-oci spec`` and tuned as Docker would (default capabilities, no new
privileges, rlimits, cgroup limits, cgroupsPath ``/barque/<id>``), and the
check that a container left nothing behind.

Every bundle has its own id (``bqtest-<hex>``); :func:`assert_clean` asserts
that no mount of the bundle, no cgroup dir, no state dir and no process of the
container remains.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.runtime.oci.caps import DOCKER_DEFAULT_CAPS
from tests.support import host

__all__ = ["OCI", "REPO", "BUSYBOX", "busybox_rootfs", "temp_busybox_rootfs", "oci_cli", "Bundle", "assert_clean",
           "delete_and_assert_clean"]

OCI = [sys.executable, "-m", "services.runtime.oci.cli"]
REPO = Path(__file__).resolve().parents[2]
BUSYBOX = "/bin/busybox"


def busybox_rootfs(path: Path) -> None:
    """A root filesystem of the static busybox: ``/bin`` with every applet
    (relative links) and a sticky ``/tmp``."""
    (path / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, path / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", path / "bin" / applet)
    (path / "tmp").mkdir(mode=0o1777)


def oci_cli(root: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    """``barque-oci --root ROOT ARGS`` from the repository (text, captured, 60 s unless told)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run([*OCI, "--root", str(root), *args], cwd=REPO, **kw)


class Bundle:
    def __init__(self, tmp: Path, rootfs: Path):
        self.id = f"bqtest-{uuid.uuid4().hex[:10]}"
        self.dir = tmp / "bundle"
        self.dir.mkdir()
        self.state_root = tmp / "state"
        done = oci_cli(self.state_root, "spec", "--bundle", str(self.dir))
        assert done.returncode == 0, done.stderr
        self.config = json.loads((self.dir / "config.json").read_text())
        c = self.config
        c["root"]["path"] = str(rootfs)
        c["hostname"] = "bqtest"
        proc = c["process"]
        proc["terminal"] = False
        proc["noNewPrivileges"] = True
        proc["capabilities"] = {k: list(DOCKER_DEFAULT_CAPS)
                                for k in ("bounding", "effective", "permitted")}
        proc["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]
        for m in c["mounts"]:
            if m["destination"] == "/proc":
                m["options"] = ["nosuid", "noexec", "nodev"]
        c["linux"]["cgroupsPath"] = f"/barque/{self.id}"
        c["linux"]["resources"] = {
            "devices": [{"allow": False, "access": "rwm"}],
            "memory": {"limit": 64 << 20},
            "pids": {"limit": 64},
        }

    def write(self) -> None:
        (self.dir / "config.json").write_text(json.dumps(self.config))

    def args(self, *argv: str) -> None:
        self.config["process"]["args"] = list(argv)

    def cli(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return oci_cli(self.state_root, *args, **kw)

    def run(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        if argv:
            self.args(*argv)
        self.write()
        return self.cli("run", "--bundle", str(self.dir), self.id, **kw)


def assert_clean(b: Bundle) -> None:
    assert not host.mounts_naming(str(b.dir)), "a mount of the bundle outlived the container"
    assert not host.container_cgroups(b.id), "container cgroup left behind"
    assert not (b.state_root / b.id).exists(), "state dir left behind"
    assert not host.cgroup_pids(f"barque/{b.id}"), "container process left behind"


def delete_and_assert_clean(b: Bundle) -> None:
    """A test's end: ``delete --force``, then nothing of the container left,
    and no barque-oci process of its state root."""
    b.cli("delete", "--force", b.id)
    assert_clean(b)
    assert not host.pids_matching(str(b.state_root)), "a barque-oci process outlived its command"


@contextmanager
def temp_busybox_rootfs(prefix: str) -> Iterator[Path]:
    """A busybox rootfs in a temp dir of its own (a module's fixture), removed after."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        busybox_rootfs(base / "rootfs")
        yield base / "rootfs"
    finally:
        shutil.rmtree(base)
