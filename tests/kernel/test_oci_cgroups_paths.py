"""barque-oci's cgroup placement and cgroup verbs, on real containers.

``linux.cgroupsPath`` as runc 1.1 places it: absolute anywhere in each
hierarchy, relative (and empty = ``<id>``) below the cgroup of barque-oci's
own process, the systemd form refused naming PID 1; ``delete`` removes the
container's cgroup, its sub-cgroups and the parents its create made.
``update`` (flags and ``-r``), ``ps``, ``events`` and ``exec --cgroup``
against the kernel's files. The v2 driver runs on the hybrid host's
``unified`` hierarchy (hugetlb only), as far as that goes.

Every cgroup these tests make is below a ``barque`` directory
(``barque/t-<hex>...``) and is gone at the end of each test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host import cgroup_dirs
from tests.support.ocibundle import OCI, REPO, Bundle, temp_busybox_rootfs

pytestmark = [pytest.mark.root]

CG = Path("/sys/fs/cgroup")
UNIFIED = CG / "unified"
V1 = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd")


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    with temp_busybox_rootfs("barque-cgpaths-rootfs-") as root:
        yield root


class _Case:
    """Bundles of one test and the ``barque/t-<hex>`` subtree they live in."""

    def __init__(self, tmp: Path, rootfs: Path):
        self.tmp, self.rootfs = tmp, rootfs
        self.bundles: list[Bundle] = []
        self.top = f"barque/t-{os.urandom(5).hex()}"
        #: dirs the test made itself (removed here, deepest first, before the check)
        self.own: list[Path] = []

    def bundle(self, cgroups_path: str | None, *argv: str) -> Bundle:
        sub = self.tmp / f"b{len(self.bundles)}"
        sub.mkdir()
        b = Bundle(sub, self.rootfs)
        b.config["root"]["readonly"] = False
        if cgroups_path is None:
            del b.config["linux"]["cgroupsPath"]
        else:
            b.config["linux"]["cgroupsPath"] = cgroups_path
        b.args(*(argv or ("sleep", "1000")))
        b.write()
        self.bundles.append(b)
        return b

    def cleanup(self) -> list[str]:
        for b in self.bundles:
            b.cli("delete", "--force", b.id)
        for d in sorted(self.own, key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
        left = [str(d) for d in cgroup_dirs(self.top)]
        for d in cgroup_dirs(self.top):  # deepest first
            try:
                d.rmdir()
            except OSError:
                pass
        return left


@pytest.fixture
def case(tmp_path: Path, rootfs: Path) -> Iterator[_Case]:
    c = _Case(tmp_path, rootfs)
    try:
        yield c
    finally:
        left = c.cleanup()
    assert not left, f"cgroups left behind: {left}"


def _oci_in_cgroup(b: Bundle, cgroup_dirs_: list[Path], *args: str, env: dict | None = None):
    """barque-oci started from a process moved into ``cgroup_dirs_`` first."""
    mover = ("import os, sys\n"
             "for d in sys.argv[1].split(':'):\n"
             "    fd = os.open(os.path.join(d, 'cgroup.procs'), os.O_WRONLY)\n"
             "    os.write(fd, str(os.getpid()).encode())\n"
             "    os.close(fd)\n"
             "os.execv(sys.argv[2], sys.argv[2:])\n")
    argv = [sys.executable, "-c", mover, ":".join(map(str, cgroup_dirs_)), *OCI,
            "--root", str(b.state_root), *args]
    return _detached(argv, env={**os.environ, **(env or {})})


def _detached(argv: list[str], **kw) -> subprocess.CompletedProcess:
    """A command whose detached container keeps its stdio: stderr to a file, not a pipe."""
    with tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=err, text=True, timeout=60, **kw)
        err.seek(0)
        done.stderr = err.read()
    return done


def _run_detached(b: Bundle, **kw) -> None:
    done = _detached([*OCI, "--root", str(b.state_root), "run", "-d", "--bundle", str(b.dir), b.id],
                     **kw)
    assert done.returncode == 0, done.stderr


def _cgroups_of(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/cgroup").read_text().split()
    return {line.split(":", 2)[1]: line.split(":", 2)[2] for line in lines}


def _pid(b: Bundle) -> int:
    return json.loads(b.cli("state", b.id).stdout)["pid"]


def test_absolute_path_anywhere_and_delete_removes_what_create_made(case: _Case):
    b = case.bundle(f"/{case.top}/inner")
    _run_detached(b)
    placed = _cgroups_of(_pid(b))
    assert set(placed.values()) == {f"/{case.top}/inner"}, placed
    assert (CG / "memory" / case.top / "inner" / "memory.limit_in_bytes").read_text().strip() == \
        str(64 << 20)
    assert b.cli("delete", "--force", b.id).returncode == 0
    assert not cgroup_dirs(case.top), "the container's cgroup or the parent its create made is left"
    assert (CG / "memory" / "barque").is_dir()  # the engine's shared parent stays


def test_relative_and_empty_paths_are_below_our_own_cgroup(case: _Case):
    parent = f"{case.top}-parent"
    case.top = parent  # cleanup checks and removes this subtree
    dirs = [CG / h / parent for h in (*V1, "unified") if (CG / h).is_dir()]
    for d in dirs:
        d.mkdir()
    case.own += dirs
    for name in ("cpuset.cpus", "cpuset.mems"):  # a new v1 cpuset takes no task until set
        (CG / "cpuset" / parent / name).write_text((CG / "cpuset" / name).read_text())
    rel = case.bundle("rel/inner")
    empty = case.bundle(None)
    for b in (rel, empty):
        done = _oci_in_cgroup(b, dirs, "run", "-d", "--bundle", str(b.dir), b.id)
        assert done.returncode == 0, done.stderr
    assert set(_cgroups_of(_pid(rel)).values()) == {f"/{parent}/rel/inner"}
    assert set(_cgroups_of(_pid(empty)).values()) == {f"/{parent}/{empty.id}"}
    for b in (rel, empty):
        assert b.cli("delete", "--force", b.id).returncode == 0
    # what the creates made (rel, rel/inner, <id>) is gone; the test's own parent stays
    assert [d for d in cgroup_dirs(parent) if d.name != Path(parent).name] == []


def test_systemd_form_and_flag_refused_naming_pid1(case: _Case):
    b = case.bundle("machine.slice:runc:x")
    done = b.cli("run", "-d", "--bundle", str(b.dir), b.id)
    assert done.returncode == 1
    pid1 = Path("/proc/1/comm").read_text().strip()
    if pid1 != "systemd":
        assert f"PID 1 here is '{pid1}'" in done.stderr, done.stderr
    assert not (b.state_root / b.id).exists()
    flag = b.cli("--systemd-cgroup", "create", "--bundle", str(b.dir), b.id)
    assert flag.returncode == 1 and "--systemd-cgroup needs the systemd cgroup driver" in flag.stderr


def _value(top: str, controller: str, name: str) -> str:
    return (CG / controller / top / name).read_text().strip()


def test_update_flags_resources_file_and_stored_spec(case: _Case):
    b = case.bundle(f"/{case.top}")
    b.config["linux"]["resources"]["cpu"] = {"shares": 100, "quota": 500000, "period": 1000000}
    b.write()
    _run_detached(b)
    ok = lambda *a, **kw: b.cli("update", *a, b.id, **kw)  # noqa: E731
    assert ok("--cpu-period", "900000").returncode == 0
    # a lone period keeps the stored quota (runc)
    assert (_value(case.top, "cpu", "cpu.cfs_period_us"), _value(case.top, "cpu", "cpu.cfs_quota_us")) \
        == ("900000", "500000")
    # blkio.weight exists only with a proportional I/O scheduler (CFQ/BFQ)
    weighted = (CG / "blkio" / case.top / "blkio.weight").exists()
    assert ok("--memory", "50M", "--memory-reservation", "32M", "--pids-limit", "-1",
              "--cpu-share", "200", *(["--blkio-weight", "300"] if weighted else [])).returncode == 0
    assert _value(case.top, "memory", "memory.limit_in_bytes") == str(50 << 20)
    assert _value(case.top, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
    assert _value(case.top, "pids", "pids.max") == "max"
    assert _value(case.top, "cpu", "cpu.shares") == "200"
    if weighted:
        assert _value(case.top, "blkio", "blkio.weight") == "300"
    # swap grows past the limit: written first (runc's order), then the limit
    if (CG / "memory" / case.top / "memory.memsw.limit_in_bytes").exists():
        assert ok("--memory", "60M", "--memory-swap", "80M").returncode == 0
        assert _value(case.top, "memory", "memory.memsw.limit_in_bytes") == str(80 << 20)
        assert ok("--memory", "-1").returncode == 0  # swap follows to unlimited
        assert _value(case.top, "memory", "memory.memsw.limit_in_bytes") == \
            _value("", "memory", "memory.memsw.limit_in_bytes")
    doc = json.dumps({"CPU": {"Cpus": "0"}, "pids": {"limit": 20}, "memory": {"limit": 33554432}})
    assert ok("-r", "-", input=doc).returncode == 0
    assert _value(case.top, "cpuset", "cpuset.cpus") == "0"
    assert _value(case.top, "pids", "pids.max") == "20"
    stored = json.loads((b.state_root / b.id / "state.json").read_text())["config"]["linux"]["resources"]
    assert stored["cpu"] == {"shares": 200, "quota": 500000, "period": 900000, "cpus": "0"}
    assert stored["pids"] == {"limit": 20} and stored["memory"]["limit"] == 33554432
    bad = ok("--cpu-period", "x")
    assert bad.returncode == 1 and "invalid value for cpu-period" in bad.stderr
    rdt = ok("--l3-cache-schema", "L3:0=f")
    assert rdt.returncode == 1 and "Intel RDT" in rdt.stderr
    assert b.cli("kill", b.id, "KILL").returncode == 0
    time.sleep(0.3)
    stopped = ok("--pids-limit", "5")
    assert stopped.returncode == 1 and "container not running" in stopped.stderr


def test_ps_events_and_oom(case: _Case):
    b = case.bundle(f"/{case.top}")
    b.config["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    b.write()
    _run_detached(b)
    pid = _pid(b)
    assert json.loads(b.cli("ps", "--format", "json", b.id).stdout) == [pid]
    table = b.cli("ps", b.id, "--", "-o", "pid,comm").stdout.splitlines()
    assert table[0].split() == ["PID", "COMMAND"] and table[1].split() == [str(pid), "sleep"]
    stats = b.cli("events", "--stats", b.id).stdout.splitlines()
    assert len(stats) == 1 and stats[0].startswith(f'{{"type":"stats","id":"{b.id}","data":{{')
    data = json.loads(stats[0])["data"]
    assert list(data) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                          "network_interfaces"]
    assert data["pids"]["current"] == 1 and data["memory"]["usage"]["limit"] == 32 << 20
    stream = subprocess.Popen([*OCI, "--root", str(b.state_root), "events", "--interval", "200ms",
                               b.id], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.8)
        hog = b.cli("exec", b.id, "sh", "-c", "x=$(dd if=/dev/zero bs=1M count=64 | tr '\\0' a)")
        assert hog.returncode != 0
        time.sleep(0.5)
        assert b.cli("delete", "--force", b.id).returncode == 0
        out, _ = stream.communicate(timeout=10)  # the stream ends with the cgroup
    finally:
        if stream.poll() is None:
            stream.kill()
            stream.wait()
    kinds = [json.loads(line)["type"] for line in out.splitlines()]
    assert kinds.count("stats") >= 2 and f'{{"type":"oom","id":"{b.id}"}}' in out.splitlines()
    gone = b.cli("events", "--stats", b.id)
    assert gone.returncode == 1 and "does not exist" in gone.stderr


def test_exec_cgroup_joins_sub_cgroups_that_exist(case: _Case):
    b = case.bundle(f"/{case.top}")
    _run_detached(b)
    run = lambda *a: b.cli("exec", *a)  # noqa: E731
    up = run("--cgroup", "..", b.id, "true")
    assert up.returncode != 0 and " .. is not a sub cgroup path" in up.stderr
    missing = run("--cgroup", "nonexistent", b.id, "true")
    assert missing.returncode != 0 and " adding pid " in missing.stderr
    assert "/nonexistent/cgroup.procs: no such file " in missing.stderr
    unknown = run("--cgroup", "whaaat:/", b.id, "true")
    assert unknown.returncode != 0 and "unknown controller " in unknown.stderr
    for h in ("memory", "cpu", "cpuacct"):
        (CG / h / case.top / ("submem" if h == "memory" else "subcpu")).mkdir()
    done = run("--cgroup", "memory:submem", "--cgroup", "cpu,cpuacct:subcpu", b.id,
               "cat", "/proc/self/cgroup")
    assert done.returncode == 0, done.stderr
    placed = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in done.stdout.split()}
    assert placed["memory"] == f"/{case.top}/submem" and placed["cpu"] == f"/{case.top}/subcpu"
    assert placed["pids"] == f"/{case.top}"
    # delete removes the sub-cgroups with the container's own (runc's RemovePaths)
    assert b.cli("delete", "--force", b.id).returncode == 0
    assert not cgroup_dirs(case.top)


@pytest.mark.skipif(not (UNIFIED / "cgroup.controllers").exists(),
                    reason="no cgroup2 hierarchy at /sys/fs/cgroup/unified")
def test_v2_driver_on_the_hybrid_unified_hierarchy(case: _Case):
    """v2 as far as a hugetlb-only hierarchy goes: placement (absolute and
    relative to the parent of our own cgroup), ps, events, exec --cgroup,
    an update the hierarchy cannot take refused naming the controller."""
    env = {"BARQUE_CGROUP_VERSION": "2", "BARQUE_CGROUP2_ROOT": str(UNIFIED)}
    b = case.bundle(f"/{case.top}/abs")
    b.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    b.write()
    _run_detached(b, env={**os.environ, **env})
    pid = _pid(b)
    assert _cgroups_of(pid)[""] == f"/{case.top}/abs"
    assert json.loads(b.cli("ps", "-f", "json", b.id).stdout) == [pid]
    data = json.loads(b.cli("events", "--stats", b.id).stdout)["data"]
    assert isinstance(data["hugetlb"], dict)
    (UNIFIED / case.top / "abs" / "sub").mkdir()  # removed by delete, as runc
    done = b.cli("exec", "--cgroup", "sub", b.id, "cat", "/proc/self/cgroup")
    assert f"0::/{case.top}/abs/sub" in done.stdout.split(), done.stderr
    refused = b.cli("update", "--pids-limit", "10", b.id)
    assert refused.returncode == 1 and "'pids'" in refused.stderr
    # the init moves to a sub-cgroup and a domain controller goes on: the
    # container's cgroup is no leaf, so exec joins the init's (runc), but not
    # with --cgroup / (exec.bats' v2 test, on hugetlb)
    container = UNIFIED / case.top / "abs"
    (container / "foo").mkdir()
    (container / "foo" / "cgroup.procs").write_text(str(pid))
    for d in (UNIFIED, UNIFIED / "barque", UNIFIED / case.top, container):
        (d / "cgroup.subtree_control").write_text("+hugetlb")  # as CgroupV2 enables them
    done = b.cli("exec", b.id, "cat", "/proc/self/cgroup")
    assert f"0::/{case.top}/abs/foo" in done.stdout.split(), done.stderr
    busy = b.cli("exec", "--cgroup", "/", b.id, "true")
    assert busy.returncode != 0 and "device or resource busy" in busy.stderr
    # relative: below the parent of barque-oci's own cgroup (runc's fs2 defaultpath)
    own = UNIFIED / case.top / "me" / "leaf"
    own.mkdir(parents=True)
    # barque-oci made case.top (for "abs"); with "me" in it, its delete leaves it to us
    case.own += [own, own.parent, own.parent.parent]
    rel = case.bundle("rel-v2")
    rel.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    rel.write()
    started = _oci_in_cgroup(rel, [own], "run", "-d", "--bundle", str(rel.dir), rel.id, env=env)
    assert started.returncode == 0, started.stderr
    assert _cgroups_of(_pid(rel))[""] == f"/{case.top}/me/rel-v2"
    for x in (b, rel):
        assert x.cli("delete", "--force", x.id).returncode == 0
    assert not (UNIFIED / case.top / "abs").exists() and not (UNIFIED / case.top / "me" / "rel-v2").exists()


def test_an_existing_cgroup_frozen_is_refused_and_a_busy_one_warned(case: _Case):
    """runc's checks before create: nothing is made for a frozen cgroup; a
    second container in the first one's cgroup starts with a warning."""
    frozen = CG / "freezer" / case.top
    frozen.mkdir()
    case.own.append(frozen)
    (frozen / "freezer.state").write_text("FROZEN")
    b = case.bundle(f"/{case.top}")
    done = _detached([*OCI, "--root", str(b.state_root), "run", "-d", "--bundle", str(b.dir), b.id])
    assert done.returncode == 1 and "container's cgroup unexpectedly frozen" in done.stderr
    assert [str(d) for d in cgroup_dirs(case.top)] == [str(frozen)]  # nothing made
    (frozen / "freezer.state").write_text("THAWED")
    _run_detached(b)
    second = case.bundle(f"/{case.top}")
    done = _detached([*OCI, "--root", str(second.state_root), "run", "-d", "--bundle",
                      str(second.dir), second.id])
    assert done.returncode == 0, done.stderr
    assert "container's cgroup is not empty: 1 process(es) found" in done.stderr
