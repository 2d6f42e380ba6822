"""Resource limits through the real CLI: memory, swap, CPU, shares, pids,
the OOM killer, and the cgroups' lifetime (gone with their container).
Written for cgroup v1 (this host); v2 hosts are skipped, not faked."""

from __future__ import annotations

import time

import pytest

from tests.support.host import CGROUP_ROOT, container_cgroups
from tests.support.runtime import sh

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not (CGROUP_ROOT / "memory" / "memory.limit_in_bytes").exists(),
                       reason="needs the cgroup v1 memory hierarchy"),
]

MIB = 1024 * 1024


def _read(rt_engine, image, *files_and_flags) -> list[str]:
    files = [f for f in files_and_flags if f.startswith("/")]
    flags = [f for f in files_and_flags if not f.startswith("/")]
    res = sh(rt_engine, image, "; ".join(f"cat {f}" for f in files), *flags)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_memory_limit_is_visible_and_read_only_inside(rt_engine, busybox):
    res = sh(rt_engine, busybox, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; "
             "echo 999999999 > /sys/fs/cgroup/memory/memory.limit_in_bytes && echo RAISED; "
             "cat /sys/fs/cgroup/memory/memory.limit_in_bytes", "-m", "32m")
    assert res.stdout.split() == [str(32 * MIB), str(32 * MIB)]
    assert "Read-only file system" in res.stderr


def test_memory_swap(rt_engine, busybox):
    f = ["/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"]
    # docker's default: swap limit twice the memory limit
    assert _read(rt_engine, busybox, *f, "-m", "32m") == [str(32 * MIB), str(64 * MIB)]
    assert _read(rt_engine, busybox, *f, "-m", "32m", "--memory-swap", "48m") == [str(32 * MIB), str(48 * MIB)]
    unlimited = _read(rt_engine, busybox, *f, "-m", "32m", "--memory-swap", "-1")
    assert unlimited[0] == str(32 * MIB) and int(unlimited[1]) > 2**60


def test_memory_swap_smaller_than_memory_is_refused(rt_engine, busybox):
    res = rt_engine.cli("run", "--rm", "-m", "32m", "--memory-swap", "16m", busybox, "true")
    assert res.returncode == 125
    assert "swap" in res.stderr.lower()
    assert rt_engine.ok("ps", "-aq").lines == []


def test_cpus(rt_engine, busybox):
    f = ["/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"]
    assert _read(rt_engine, busybox, *f, "--cpus", "0.5") == ["50000", "100000"]
    assert _read(rt_engine, busybox, *f, "--cpus", "1.5") == ["150000", "100000"]
    assert _read(rt_engine, busybox, *f) == ["-1", "100000"]


def test_cpu_shares(rt_engine, busybox):
    assert _read(rt_engine, busybox, "/sys/fs/cgroup/cpu/cpu.shares", "--cpu-shares", "512") == ["512"]
    assert _read(rt_engine, busybox, "/sys/fs/cgroup/cpu/cpu.shares") == ["1024"]


def test_pids_limit_holds_a_fork_bomb(rt_engine, busybox):
    """40 background sleeps against a limit of 20: forks fail, the container
    (PID 1) survives, kills what did start and exits normally."""
    script = (
        'sh -c "i=0; while [ \\$i -lt 40 ]; do sleep 30 & i=\\$((i+1)); done" 2>/dev/null; '
        "read max < /sys/fs/cgroup/pids/pids.max; read cur < /sys/fs/cgroup/pids/pids.current; "
        "read ev < /sys/fs/cgroup/pids/pids.events; echo $max $cur $ev; kill -9 -1; echo survived"
    )
    start = time.monotonic()
    res = sh(rt_engine, busybox, script, "--pids-limit", "20")
    assert res.returncode == 0, res.stderr
    max_, cur, _, failures, last = res.stdout.split()
    assert max_ == "20"
    assert int(cur) in (19, 20)  # at the limit (the inner sh may already be gone)
    assert int(failures) > 0
    assert last == "survived"
    assert time.monotonic() - start < 20, "the sleeps were not killed"


def test_oom_kill_is_137_and_reported(rt_engine, busybox):
    """-m 16m (swap then defaults to 32m) against 64 MiB held by PID 1 itself."""
    res = rt_engine.cli("run", "--name", "oom", "-m", "16m", busybox, "sh", "-c",
                        'x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo ${#x}')
    try:
        assert res.returncode == 137
        assert res.stdout == ""
        assert rt_engine.ok("wait", "oom").stdout == "137\n"
        state = rt_engine.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}}", "oom")
        assert state.stdout == "true 137 exited\n"
    finally:
        rt_engine.ok("rm", "-f", "oom")


def test_oom_kill_of_a_child_is_reported_with_the_exit_status_of_pid_1(rt_engine, busybox):
    """Docker's OOMKilled means "the OOM killer acted in this container", not
    "PID 1 died of it"."""
    res = rt_engine.cli("run", "--name", "oom-child", "-m", "16m", busybox, "sh", "-c",
                        "tail /dev/zero; echo child=$?")
    try:
        assert (res.returncode, res.stdout) == (0, "child=137\n")
        state = rt_engine.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom-child").stdout
        assert state == "true 0\n"
    finally:
        rt_engine.ok("rm", "-f", "oom-child")


def test_a_normal_exit_is_not_oom_killed(rt_engine, busybox):
    rt_engine.ok("run", "--name", "fits", "-m", "64m", busybox, "sh", "-c",
                 'x=$(head -c 1048576 /dev/zero | tr "\\0" a); echo ${#x}')
    try:
        assert rt_engine.ok("logs", "fits").stdout == "1048576\n"
        assert rt_engine.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "fits").stdout == (
            "false 0\n")
    finally:
        rt_engine.ok("rm", "fits")


def test_cgroups_live_and_die_with_the_container(rt_engine, busybox):
    cid = rt_engine.ok("run", "-d", "-m", "24m", "--pids-limit", "30", busybox, "sleep", "60").stdout.strip()
    try:
        dirs = {p.parent.parent.name: p for p in container_cgroups(cid)}
        assert {"memory", "pids", "cpu", "devices"} <= set(dirs)
        assert (dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(24 * MIB)
        assert (dirs["pids"] / "pids.max").read_text().strip() == "30"
        pid = rt_engine.ok("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        assert pid in (dirs["memory"] / "cgroup.procs").read_text().split()
    finally:
        rt_engine.ok("rm", "-f", cid)
    assert container_cgroups(cid) == []


def test_run_rm_leaves_no_cgroup(rt_engine, busybox):
    res = sh(rt_engine, busybox, "cat /proc/self/cgroup", "-m", "20m")
    assert res.returncode == 0
    paths = {line.split(":", 2)[2] for line in res.stdout.splitlines()}
    barque = [p for p in paths if p.startswith("/barque/")]
    assert barque, f"the container ran outside the barque subtree: {paths}"
    cid = barque[0].split("/")[2]
    assert len(cid) == 64
    assert container_cgroups(cid) == []
