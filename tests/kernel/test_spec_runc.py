"""The spec barque builds, run for real under Debian's runc: a plain ``true``,
and a checks script (user and groups, capabilities, seccomp, no new
privileges, HOME and HOSTNAME, a read-only bind, a read-only root, masked
/proc/kcore) under memory, CPU and pids limits. Needs root and the kernel."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from barque.runtime.v1 import runtime_pb2
from services.runtime import spec as sb
from services.runtime.spec.flags import Bind, SecurityOpts
from tests.support.host import container_cgroups

pytestmark = [pytest.mark.root]

MB = 1024 * 1024
RUNC = shutil.which("runc")
BUSYBOX = "/bin/busybox"


def _busybox_rootfs(base: Path) -> Path:
    root = base / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "true", "grep", "id", "test", "cat"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nstaff:x:50:app\n")
    return root


@pytest.mark.skipif(RUNC is None or not os.path.exists(BUSYBOX), reason="needs runc and busybox-static")
@pytest.mark.parametrize("case", ["true", "checks"])
def test_runc_accepts_and_runs_the_spec(tmp_path: Path, case: str):
    bundle = tmp_path / "bundle"
    rootfs = _busybox_rootfs(bundle)
    state = tmp_path / "state"
    container_id = f"bqtest-{secrets.token_hex(4)}"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "marker").write_text("from host\n")
    if case == "true":
        config = runtime_pb2.ContainerConfig(cmd=["true"])
        host = runtime_pb2.HostConfig()
        context = sb.SpecContext(id=container_id, rootfs=rootfs, hostname="bqtest", image_config={"Cmd": ["sh"]})
    else:
        script = ("test \"$(id -u):$(id -g)\" = 1000:1000 && id -G | grep -qw 50 "
                  "&& grep -q '^CapBnd:.00000000a80425fb' /proc/self/status "
                  "&& grep -q '^CapEff:.0000000000000000' /proc/self/status "
                  "&& grep -q '^Seccomp:.2' /proc/self/status && grep -q '^NoNewPrivs:.1' /proc/self/status "
                  "&& test \"$HOME\" = /home/app && test \"$HOSTNAME\" = bqtest "
                  "&& grep -q 'from host' /data/marker && ! sh -c 'echo x > /data/new' 2>/dev/null "
                  "&& ! sh -c 'echo x > /rootfile' 2>/dev/null && test -z \"$(cat /proc/kcore)\"")
        config = runtime_pb2.ContainerConfig(cmd=[script])
        host = runtime_pb2.HostConfig(readonly_rootfs=True, memory=64 * MB, nano_cpus=500_000_000, pids_limit=64)
        context = sb.SpecContext(
            id=container_id, rootfs=rootfs, hostname="bqtest",
            image_config={"Entrypoint": ["sh", "-c"], "User": "app"},
            security=SecurityOpts(no_new_privileges=True),
            binds=[Bind(source=str(shared), destination="/data", read_only=True, mode="ro")],
            cgroups_path=f"/barque/{container_id}")
    context = dataclasses.replace(context, root_path="rootfs", facts=sb.HostFacts(
        swap_supported=os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")))
    spec = sb.build_spec(config, host, context)
    (bundle / "config.json").write_text(json.dumps(spec))
    try:
        proc = subprocess.run([RUNC, "--root", str(state), "run", "-b", str(bundle), container_id],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    finally:
        subprocess.run([RUNC, "--root", str(state), "delete", "--force", container_id],
                       capture_output=True, timeout=30)
    listed = subprocess.run([RUNC, "--root", str(state), "list", "-q"], capture_output=True, timeout=30)
    assert listed.stdout.decode().split() == []
    assert container_cgroups(container_id) == []
    assert (shared / "marker").read_text() == "from host\n" and sorted(os.listdir(shared)) == ["marker"]
