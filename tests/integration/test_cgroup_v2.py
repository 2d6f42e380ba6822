"""The cgroup v2 path on the real kernel: containers in a cgroup2 hierarchy,
device rules enforced by an eBPF program, freeze and kill through the core
files, and a clear refusal of a limit whose controller the hierarchy lacks.

On a cgroup v2 host this runs against ``/sys/fs/cgroup``. On a v1 host with a
hybrid cgroup2 mount at ``/sys/fs/cgroup/unified`` (whose only controller may
be hugetlb) it runs there, selected by ``BARQUE_CGROUP_VERSION=2`` and
``BARQUE_CGROUP2_ROOT``: the container is in no v1 devices cgroup of ours, so
any device denial seen here is the eBPF filter's.

Device nodes are made outside the container, in a temp dir bound in, because
the filter also judges ``mknod``. Only harmless numbers are used: a loop
device (block 7:N, opened read-only) is denied, ``/dev/full`` (1:7) allowed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from services.runtime.oci import bpf, cgroups
from tests.support.host import alive
from tests.support.ocibundle import Bundle, assert_clean, busybox_rootfs
from tests.support.runtime import close_runtime_engine, start_runtime_engine

pytestmark = [
    pytest.mark.root,
]


def _v2_root() -> str | None:
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if cgroups.is_v2(root):
            return root
    return None


V2_ROOT = _v2_root()
if V2_ROOT is None:
    pytestmark.append(pytest.mark.skip(reason="no cgroup2 hierarchy on this host"))
V2_ENV = {"BARQUE_CGROUP_VERSION": "2", "BARQUE_CGROUP2_ROOT": V2_ROOT or ""}
LOOP_MINOR = 250  # a loop device number; opened read-only, and only if the filter fails


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("oci-v2") / "rootfs"
    busybox_rootfs(path)
    return path


@pytest.fixture
def devdir(tmp_path) -> Path:
    """Device nodes made from outside: a loop block device and /dev/full."""
    d = tmp_path / "devs"
    d.mkdir()
    os.mknod(d / "loop", 0o600 | stat.S_IFBLK, os.makedev(7, LOOP_MINOR))
    os.mknod(d / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return d


@pytest.fixture
def bundle(tmp_path, rootfs, devdir):
    b = Bundle(tmp_path, rootfs)
    b.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    b.config["mounts"].append({"destination": "/devs", "type": "bind", "source": str(devdir),
                               "options": ["rbind"]})
    yield b
    if (b.state_root / b.id).exists():
        b.cli("delete", "--force", b.id, env=_env())
    assert_clean(b)
    assert not Path(V2_ROOT, "barque", b.id).exists(), "v2 cgroup left behind"


def _env() -> dict[str, str]:
    return {**os.environ, **V2_ENV}


def _leaf(b: Bundle) -> Path:
    return Path(V2_ROOT, "barque", b.id)


OPEN_PROBE = ("e=$(head -c 1 /devs/loop 2>&1 >/dev/null); echo loop=$?:$e; "
              "head -c 1 /devs/full | wc -c | sed 's/^/full=/'; "
              "e=$( (echo x > /devs/full) 2>&1); echo fullw=$?:$e; "
              "head -c 1 /dev/zero | wc -c | sed 's/^/zero=/'; "
              "cat /proc/self/cgroup")


def test_host_can_open_the_nodes(devdir):
    """The control: outside any filter, the loop node gets past the device
    check (the kernel answers with the device's own result, not EPERM)."""
    try:
        os.close(os.open(devdir / "loop", os.O_RDONLY))
    except OSError as exc:
        assert exc.errno != 1, "the host itself may not open the loop node"
    os.close(os.open(devdir / "full", os.O_RDONLY))


def test_device_rules_hold_on_v2(bundle):
    done = bundle.run("sh", "-c", OPEN_PROBE, env=_env())
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "loop=1:head: /devs/loop: Operation not permitted" in out, out
    assert "full=1" in out and "zero=1" in out, out
    assert "fullw=1:" in out and "No space left on device" in out, out  # write reached the device
    assert f"0::/barque/{bundle.id}" in out or "0::/\n" in out, out


def test_spec_rule_opens_a_device_read_only(bundle):
    bundle.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "b", "major": 7, "minor": LOOP_MINOR, "access": "r"})
    done = bundle.run("sh", "-c", "e=$(head -c 1 /devs/loop 2>&1 >/dev/null); echo r=$?:$e; "
                      "e=$( (echo x >/devs/loop) 2>&1); echo w=$?:$e", env=_env())
    assert done.returncode == 0, done.stderr
    assert "Operation not permitted" not in done.stdout.splitlines()[0], done.stdout
    assert "w=1:" in done.stdout and "Operation not permitted" in done.stdout, done.stdout


def test_procs_freeze_and_kill(bundle, tmp_path):
    bundle.args("sh", "-c", "sleep 300 & sleep 300 & wait")
    bundle.write()
    env = _env()
    # the init inherits create's stdio: a pipe would stay open, so use a file
    with open(tmp_path / "create.err", "w+") as err:
        done = bundle.cli("create", "--bundle", str(bundle.dir), bundle.id, env=env,
                          stdin=subprocess.DEVNULL, capture_output=False,
                          stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        assert done.returncode == 0, err.read()
    leaf = _leaf(bundle)
    assert bpf.attached_device_programs(str(leaf)), "no device program attached"
    init = json.loads(bundle.cli("state", bundle.id, env=env).stdout)["pid"]
    assert (leaf / "cgroup.procs").read_text().split() == [str(init)]
    assert bundle.cli("start", bundle.id, env=env).returncode == 0
    deadline = time.monotonic() + 10
    while len((leaf / "cgroup.procs").read_text().split()) < 3:
        assert time.monotonic() < deadline, "children never appeared in cgroup.procs"
        time.sleep(0.05)

    assert bundle.cli("pause", bundle.id, env=env).returncode == 0
    assert (leaf / "cgroup.freeze").read_text().strip() == "1"
    deadline = time.monotonic() + 10
    while "frozen 1" not in (leaf / "cgroup.events").read_text():
        assert time.monotonic() < deadline, "the cgroup never reported frozen"
        time.sleep(0.05)
    assert json.loads(bundle.cli("state", bundle.id, env=env).stdout)["status"] == "paused"
    assert bundle.cli("resume", bundle.id, env=env).returncode == 0
    assert (leaf / "cgroup.freeze").read_text().strip() == "0"

    pids = [int(p) for p in (leaf / "cgroup.procs").read_text().split()]
    done = bundle.cli("delete", "--force", bundle.id, env=env)
    assert done.returncode == 0, done.stderr
    for pid in pids:
        assert not alive(pid)
    assert not leaf.exists()


def test_cgroup_kill_ends_every_process():
    """CgroupV2.destroy(force) empties the cgroup through cgroup.kill."""
    mgr = cgroups.CgroupV2(f"barque/bqtest-kill-{os.getpid()}", V2_ROOT)
    mgr.create()
    procs = []
    try:
        for _ in range(3):
            procs.append(subprocess.Popen(
                ["sh", "-c", f"echo $$ > {mgr.path}/cgroup.procs && exec sleep 300"]))
        deadline = time.monotonic() + 10
        while len(mgr.pids()) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        mgr.destroy(force=True)
        for p in procs:
            assert p.wait(timeout=10) == -9
        assert not os.path.exists(mgr.path)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.path.exists(mgr.path):
            os.rmdir(mgr.path)


def test_missing_controller_is_refused_by_name(bundle):
    offered = Path(V2_ROOT, "cgroup.controllers").read_text().split()
    if "pids" in offered:
        pytest.skip("this cgroup2 hierarchy offers pids")
    bundle.config["linux"]["resources"]["pids"] = {"limit": 10}
    done = bundle.run("true", env=_env())
    assert done.returncode != 0
    assert "controller 'pids'" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not _leaf(bundle).exists()


@pytest.fixture(scope="module")
def v2_engine():
    eng = start_runtime_engine(**V2_ENV)
    try:
        yield eng
    finally:
        close_runtime_engine(eng)


def test_engine_runs_containers_on_v2(v2_engine, test_images, devdir):
    ref = test_images["oci-gzip"].ref
    v2_engine.ok("pull", ref)
    done = v2_engine.cli("run", "--rm", "-v", f"{devdir}:/devs", ref, "sh", "-c", OPEN_PROBE)
    assert done.returncode == 0, done.stderr
    assert "loop=1:head: /devs/loop: Operation not permitted" in done.stdout, done.stdout
    assert "full=1" in done.stdout, done.stdout
    # a limit the hierarchy cannot apply: one line naming the controller, exit 125
    if "pids" not in Path(V2_ROOT, "cgroup.controllers").read_text().split():
        done = v2_engine.cli("run", "--rm", "--pids-limit", "10", ref, "true")
        assert done.returncode == 125
        assert "controller 'pids'" in done.stderr, done.stderr
    assert v2_engine.ok("ps", "-aq").lines == []
