"""cgroup values and layout: path resolution, v1 file values, the v2 writer
against a directory laid out as the kernel documents, mountinfo parsing."""

from __future__ import annotations

import pytest

from client.errors import FailedPrecondition, InvalidArgument
from services.runtime.oci import cgrouppaths, cgroups

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 23 0:39 /sub /mnt/cg rw - cgroup cgroup rw,pids
"""


def test_clean_and_inner_path_as_runc():
    """runc's CleanPath: '..' never climbs above the root; empty is the id."""
    assert cgrouppaths.inner_path(None, "c1") == "c1"
    assert cgrouppaths.inner_path("", "c1") == "c1"
    assert cgrouppaths.inner_path("/barque/a/b/", "x") == "/barque/a/b"
    assert cgrouppaths.inner_path("/libpod_parent/libpod-1", "x") == "/libpod_parent/libpod-1"
    assert cgrouppaths.inner_path("/a/../../b", "x") == "/b"
    assert cgrouppaths.inner_path("../../pod/c1", "x") == "pod/c1"
    assert cgrouppaths.inner_path("//x//y", "c") == "/x/y"
    assert cgrouppaths.inner_path("/..", "c") == "/"


PROC_CGROUP = """9:name=systemd:/user.slice
4:memory:/process_api/abc
2:cpu,cpuacct:/
0::/init.scope
"""


def test_placement_absolute_and_relative():
    own = cgrouppaths.parse_proc_cgroup(PROC_CGROUP)
    assert own[("cpu", "cpuacct")] == "/" and own[()] == "/init.scope"
    mnt = "/sys/fs/cgroup/memory"
    assert cgrouppaths.v1_dir(mnt, ("memory",), "/x/y", own) == "/sys/fs/cgroup/memory/x/y"
    assert cgrouppaths.v1_dir(mnt, ("memory",), "c1", own) == "/sys/fs/cgroup/memory/process_api/abc/c1"
    assert cgrouppaths.v1_dir("/sys/fs/cgroup/cpu,cpuacct", ("cpuacct", "cpu"), "c1", own) == \
        "/sys/fs/cgroup/cpu,cpuacct/c1"
    assert cgrouppaths.v1_dir("/sys/fs/cgroup/systemd", ("name=systemd",), "c1", own) == \
        "/sys/fs/cgroup/systemd/user.slice/c1"
    with pytest.raises(FailedPrecondition, match="not in /proc/self/cgroup"):
        cgrouppaths.v1_dir("/sys/fs/cgroup/pids", ("pids",), "c1", own)
    # v2: the parent of the process's own cgroup, as runc (it has tasks in it)
    assert cgrouppaths.v2_rel("c1", own) == "c1"
    assert cgrouppaths.v2_rel("c1", {(): "/a/b/leaf"}) == "a/b/c1"
    assert cgrouppaths.v2_rel("/libpod_parent/libpod-1", own) == "libpod_parent/libpod-1"


def test_systemd_form_refused_naming_pid1(monkeypatch):
    assert cgrouppaths.is_systemd_form("system.slice:docker:1234")
    assert not cgrouppaths.is_systemd_form("/a:b:c/d")
    assert not cgrouppaths.is_systemd_form("/barque/x")
    monkeypatch.setattr(cgrouppaths, "pid1_name", lambda: "init")
    with pytest.raises(cgrouppaths.SystemdUnavailable, match="systemd as PID 1.*PID 1 here is 'init'"):
        cgroups.new_manager("machine.slice:runc:x", "x")
    monkeypatch.setattr(cgrouppaths, "pid1_name", lambda: "systemd")
    with pytest.raises(cgrouppaths.SystemdUnavailable, match="does not have"):
        cgrouppaths.refuse_systemd("--systemd-cgroup")


def test_v1_hierarchies_from_mountinfo():
    found = cgroups.v1_hierarchies(MOUNTINFO)
    assert [(h.mountpoint, h.subsystems, h.name) for h in found] == [
        ("/sys/fs/cgroup/cpu,cpuacct", ("cpu", "cpuacct"), "cpu,cpuacct"),
        ("/sys/fs/cgroup/memory", ("memory",), "memory"),
        ("/sys/fs/cgroup/systemd", ("name=systemd",), "systemd"),
        ("/sys/fs/cgroup/unified", (), "unified"),
    ]


def test_v1_writes_values_and_order():
    writes = cgroups.v1_writes({
        "memory": {"limit": 67108864, "swap": 134217728, "reservation": 1024},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 20},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    })
    assert writes[:9] == [
        ("memory", "memory.limit_in_bytes", "67108864"),
        ("memory", "memory.memsw.limit_in_bytes", "134217728"),
        ("memory", "memory.soft_limit_in_bytes", "1024"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("pids", "pids.max", "20"),
        ("devices", "devices.deny", "a"),
    ]
    devices = [w[1:] for w in writes if w[0] == "devices"]
    assert devices[1:3] == [("devices.deny", "a"), ("devices.allow", "c 1:3 rw")]
    assert ("devices.allow", "c 136:* rwm") in devices
    assert ("devices.allow", "c *:* m") in devices


def test_v1_pids_unlimited_and_unset():
    assert ("pids", "pids.max", "max") in cgroups.v1_writes({"pids": {"limit": -1}})
    assert not [w for w in cgroups.v1_writes({"pids": {"limit": 0}}) if w[0] == "pids"]


def test_shares_to_weight_matches_runc():
    assert cgroups.shares_to_weight(2) == 1
    assert cgroups.shares_to_weight(1024) == 39
    assert cgroups.shares_to_weight(262144) == 10000


def test_v2_writes():
    writes = cgroups.v2_writes({
        "memory": {"limit": 100, "swap": 300},
        "cpu": {"shares": 1024, "quota": 20000, "period": 50000},
        "pids": {"limit": 5},
        "devices": [{"allow": False, "access": "rwm"}],
    })
    assert writes == [("memory.max", "100"), ("memory.swap.max", "200"), ("cpu.weight", "39"),
                      ("cpu.max", "20000 50000"), ("pids.max", "5")]
    writes = cgroups.v2_writes({"memory": {"limit": -1, "swap": -1}, "cpu": {"period": 1000}})
    assert writes == [("memory.max", "max"), ("memory.swap.max", "max"), ("cpu.max", "max 1000")]
    with pytest.raises(InvalidArgument):
        cgroups.v2_writes({"memory": {"limit": 100, "swap": 50}})


def _kernel_dir(path, controllers):
    """What the kernel shows in a cgroup2 directory."""
    path.mkdir(exist_ok=True)
    (path / "cgroup.controllers").write_text(" ".join(controllers) + "\n")
    for name in ("cgroup.subtree_control", "cgroup.procs", "memory.max", "memory.swap.max",
                 "cpu.max", "cpu.weight", "pids.max"):
        (path / name).write_text("")


def test_v2_writer_against_kernel_layout(tmp_path):
    _kernel_dir(tmp_path, ["cpuset", "cpu", "io", "memory", "pids"])
    _kernel_dir(tmp_path / "barque", ["cpu", "memory", "pids"])
    (tmp_path / "barque" / "c1").mkdir()
    _kernel_dir(tmp_path / "barque" / "c1", [])
    mgr = cgroups.CgroupV2("barque/c1", root=str(tmp_path))
    mgr.create()
    mgr.write_limits({"memory": {"limit": 1 << 26}, "cpu": {"shares": 512, "quota": 1000},
                      "pids": {"limit": 20}, "devices": [{"allow": False, "access": "rwm"}]})
    leaf = tmp_path / "barque" / "c1"
    assert (leaf / "memory.max").read_text() == str(1 << 26)
    assert (leaf / "cpu.weight").read_text() == "20"
    assert (leaf / "cpu.max").read_text() == "1000 100000"
    assert (leaf / "pids.max").read_text() == "20"
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (tmp_path / "barque" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (leaf / "cgroup.subtree_control").read_text() == ""
    mgr.join(1234)
    assert (leaf / "cgroup.procs").read_text() == "1234"
    assert cgroups.manager_from_state(mgr.to_state()).path == str(leaf)


def test_v2_writer_refuses_missing_controller_file(tmp_path):
    _kernel_dir(tmp_path, ["memory"])
    (tmp_path / "barque").mkdir()
    _kernel_dir(tmp_path / "barque", ["memory"])
    (tmp_path / "barque" / "c2").mkdir()
    mgr = cgroups.CgroupV2("barque/c2", root=str(tmp_path))
    with pytest.raises(cgroups.CgroupError, match="memory.max"):
        mgr.write_limits({"memory": {"limit": 10}})


def test_v2_names_a_controller_the_hierarchy_lacks(tmp_path):
    """A hybrid host's cgroup2 mount offers hugetlb only: a memory limit is
    refused naming the controller, before anything is written."""
    _kernel_dir(tmp_path, ["hugetlb"])
    (tmp_path / "barque").mkdir()
    _kernel_dir(tmp_path / "barque", [])
    mgr = cgroups.CgroupV2("barque/c3", root=str(tmp_path))
    with pytest.raises(cgroups.ControllerMissing, match=r"controller 'pids' \(for pids.max\)"):
        mgr.write_limits({"pids": {"limit": 10}})
    assert (tmp_path / "cgroup.subtree_control").read_text() == ""
    # core files need no controller
    assert cgroups.v2_controllers([("cgroup.max.depth", "2"), ("memory.high", "1")]) == {
        "memory": "memory.high"}


def test_hierarchy_from_config(tmp_path):
    from client.config import CgroupConfig
    assert cgroups.hierarchy(CgroupConfig("1", str(tmp_path))) == (1, "/sys/fs/cgroup")
    with pytest.raises(FailedPrecondition, match="not a cgroup2 mount"):
        cgroups.hierarchy(CgroupConfig("2", str(tmp_path)))
    (tmp_path / "cgroup.controllers").write_text("hugetlb\n")
    assert cgroups.hierarchy(CgroupConfig("2", str(tmp_path))) == (2, str(tmp_path))
    auto = cgroups.hierarchy(CgroupConfig("auto", str(tmp_path)))
    assert auto == ((2, "/sys/fs/cgroup") if cgroups.is_v2() else (1, "/sys/fs/cgroup"))


def test_is_v2(tmp_path):
    assert not cgroups.is_v2(str(tmp_path))
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    assert cgroups.is_v2(str(tmp_path))


def test_v1_state_roundtrip():
    mgr = cgroups.CgroupV1("barque/c1", cgroups.v1_hierarchies(MOUNTINFO))
    assert mgr.paths["memory"] == "/sys/fs/cgroup/memory/barque/c1"
    again = cgroups.manager_from_state(mgr.to_state())
    assert again.paths == mgr.paths
    old = {k: v for k, v in mgr.to_state().items() if k not in ("paths", "made")}
    assert cgroups.manager_from_state(old).paths == mgr.paths  # a state from before "paths"
    assert [h.name for h, _ in again.container_mounts()] == ["cpu,cpuacct", "memory", "systemd"]


def test_v1_device_deny_rules_that_change_nothing_are_left_out():
    """runc's minimal transitions: after deny-all, a deny before any allow is
    a no-op (update.bats' 'rwa' rule, which the kernel would refuse)."""
    writes = [w[1:] for w in cgroups.v1_writes({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]}) if w[0] == "devices"]
    assert writes[:4] == [("devices.deny", "a"), ("devices.deny", "a"),
                          ("devices.allow", "c 1:3 rwm"), ("devices.deny", "c 1:3 w")]
    assert ("devices.deny", "c 1:11 rwa") not in writes


def test_v1_weight_device_and_bfq_file_names(tmp_path):
    writes = cgroups.v1_writes({"blockIO": {"weight": 333, "weightDevice": [
        {"major": 7, "minor": 0, "weight": 444}, {"major": 7, "minor": 1}]}})
    assert [w for w in writes if w[0] == "blkio"] == [
        ("blkio", "blkio.weight", "333"), ("blkio", "blkio.weight_device", "7:0 444")]
    (tmp_path / "blkio.bfq.weight").write_text("100")
    assert cgroups.v1_file(str(tmp_path), "blkio.weight") == str(tmp_path / "blkio.bfq.weight")
    (tmp_path / "blkio.weight").write_text("100")
    assert cgroups.v1_file(str(tmp_path), "blkio.weight") == str(tmp_path / "blkio.weight")
    assert cgroups.v1_file(str(tmp_path), "pids.max") == str(tmp_path / "pids.max")
