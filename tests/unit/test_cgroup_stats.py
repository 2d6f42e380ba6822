"""The stats readers over fake cgroup v1 and v2 trees and /proc texts
(services/runtime/engine/cgroupstats.py), and top's pure parts
(services/runtime/engine/top.py) against moby v20.10's daemon/top_unix.go."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.errors import Internal, InvalidArgument
from services.runtime.engine.cgroupstats import (
    CLOCK_TICKS,
    host_memory,
    parse_net_dev,
    read_v1,
    read_v2,
    system_cpu_usage,
)
from services.runtime.engine.top import cgroup_pids, parse_ps_output, validate_ps_args

GiB = 1 << 30
HOST_MEM = 8 * GiB


def _tree(root: Path, files: dict[str, str]) -> dict[str, str]:
    dirs = {}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        dirs[rel.split("/")[0]] = str(path.parent)
    return dirs


V1_FILES = {
    "cpuacct/barque/c/cpuacct.usage": "5000000000\n",
    "cpuacct/barque/c/cpuacct.usage_user": "3000000000\n",
    "cpuacct/barque/c/cpuacct.usage_sys": "2000000000\n",
    "memory/barque/c/memory.usage_in_bytes": "104857600\n",
    "memory/barque/c/memory.limit_in_bytes": "268435456\n",
    "memory/barque/c/memory.max_usage_in_bytes": "209715200\n",
    "memory/barque/c/memory.stat": "cache 4096\nrss 100000\ntotal_inactive_file 8192\n",
    "blkio/barque/c/blkio.throttle.io_service_bytes_recursive":
        "8:0 Read 1000\n8:0 Write 2000\n8:0 Sync 3000\n8:0 Async 0\n8:0 Total 3000\n"
        "8:16 Read 500\n8:16 Write 0\nTotal 3500\n",
    "pids/barque/c/pids.current": "3\n",
    "pids/barque/c/pids.max": "100\n",
}


def test_v1_counters(tmp_path):
    c = read_v1(_tree(tmp_path, V1_FILES), HOST_MEM)
    assert (c.cpu.total_usage, c.cpu.usage_in_usermode, c.cpu.usage_in_kernelmode) == (5e9, 3e9, 2e9)
    assert (c.memory.usage, c.memory.limit, c.memory.max_usage) == (104857600, 268435456, 209715200)
    assert c.memory.stats == {"cache": 4096, "rss": 100000, "total_inactive_file": 8192}
    assert (c.block_read, c.block_write) == (1500, 2000)
    assert (c.pids, c.pids_limit) == (3, 100)


def test_v1_no_limit_is_the_host_memory_and_old_kernels_give_ticks(tmp_path):
    files = dict(V1_FILES)
    files["memory/barque/c/memory.limit_in_bytes"] = "9223372036854771712\n"
    files["pids/barque/c/pids.max"] = "max\n"
    del files["cpuacct/barque/c/cpuacct.usage_user"], files["cpuacct/barque/c/cpuacct.usage_sys"]
    files["cpuacct/barque/c/cpuacct.stat"] = f"user {3 * CLOCK_TICKS}\nsystem {CLOCK_TICKS}\n"
    c = read_v1(_tree(tmp_path, files), HOST_MEM)
    assert c.memory.limit == HOST_MEM and c.pids_limit == 0
    assert (c.cpu.usage_in_usermode, c.cpu.usage_in_kernelmode) == (3_000_000_000, 1_000_000_000)


def test_v1_blkio_falls_back_to_the_scheduler_file_never_both(tmp_path):
    files = {k: v for k, v in V1_FILES.items() if "blkio" not in k}
    files["blkio/barque/c/blkio.throttle.io_service_bytes_recursive"] = "Total 0\n"
    files["blkio/barque/c/blkio.io_service_bytes_recursive"] = "8:0 Read 7\n8:0 Write 9\n"
    c = read_v1(_tree(tmp_path, files), HOST_MEM)
    assert (c.block_read, c.block_write) == (7, 9)
    files["blkio/barque/c/blkio.throttle.io_service_bytes_recursive"] = "8:0 Read 1\n8:0 Write 2\n"
    c = read_v1(_tree(tmp_path / "again", files), HOST_MEM)
    assert (c.block_read, c.block_write) == (1, 2)


def test_v1_missing_controllers_and_files_read_as_zero(tmp_path):
    c = read_v1({"cpuacct": str(tmp_path / "gone"), "memory": str(tmp_path / "gone")}, HOST_MEM)
    assert (c.cpu.total_usage, c.memory.usage, c.memory.stats, c.pids) == (0, 0, {}, 0)
    assert c.memory.limit == HOST_MEM
    assert read_v1({}, HOST_MEM).memory.limit == HOST_MEM


V2_FILES = {
    "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 0\n",
    "memory.current": "52428800\n",
    "memory.max": "104857600\n",
    "memory.stat": "anon 40000000\nfile 12000000\ninactive_file 4096\nactive_file 0\n",
    "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
               "8:16 rbytes=100 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
    "pids.current": "2\n",
    "pids.max": "max\n",
}


def test_v2_counters(tmp_path):
    for name, text in V2_FILES.items():
        (tmp_path / name).write_text(text)
    c = read_v2(str(tmp_path), HOST_MEM)
    assert (c.cpu.total_usage, c.cpu.usage_in_usermode, c.cpu.usage_in_kernelmode) == (1.5e9, 1e9, 5e8)
    assert (c.memory.usage, c.memory.limit, c.memory.max_usage) == (52428800, 104857600, 0)
    assert c.memory.stats["inactive_file"] == 4096 and c.memory.stats["anon"] == 40000000
    assert (c.block_read, c.block_write) == (4196, 8192)
    assert (c.pids, c.pids_limit) == (2, 0)


def test_v2_with_only_the_core_files(tmp_path):
    """A hierarchy whose only controller is hugetlb: cpu.stat is there, the rest are not."""
    (tmp_path / "cpu.stat").write_text("usage_usec 7\nuser_usec 5\nsystem_usec 2\n")
    c = read_v2(str(tmp_path), HOST_MEM)
    assert (c.cpu.total_usage, c.memory.usage, c.memory.limit, c.block_read, c.pids) == (7000, 0, HOST_MEM, 0, 0)
    (tmp_path / "memory.max").write_text("max\n")
    assert read_v2(str(tmp_path), HOST_MEM).memory.limit == HOST_MEM


NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0
  eth0:    5306      45    1    2    0     0          0         0     2198      22    3    4    0     0       0          0
  eth1: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0
"""


def test_net_dev_all_interfaces_but_loopback():
    eth0, eth1 = parse_net_dev(NET_DEV)
    assert (eth0.name, eth0.rx_bytes, eth0.rx_packets, eth0.rx_errors, eth0.rx_dropped) == ("eth0", 5306, 45, 1, 2)
    assert (eth0.tx_bytes, eth0.tx_packets, eth0.tx_errors, eth0.tx_dropped) == (2198, 22, 3, 4)
    assert (eth1.name, eth1.rx_bytes, eth1.tx_bytes) == ("eth1", 100, 200)
    assert parse_net_dev("") == []


def test_system_cpu_usage_is_the_first_seven_fields_in_ns():
    text = "cpu  100 20 30 400 5 6 7 800 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\nintr 1\n"
    assert system_cpu_usage(text) == (100 + 20 + 30 + 400 + 5 + 6 + 7) * 1_000_000_000 // CLOCK_TICKS
    assert system_cpu_usage(Path("/proc/stat").read_text()) > 0


def test_host_memory_is_mem_total():
    assert host_memory("MemTotal:       16303580 kB\nMemFree: 1 kB\n") == 16303580 * 1024
    assert host_memory(Path("/proc/meminfo").read_text()) > 0


# ---- top --------------------------------------------------------------------------------

PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 09:00 ?        00:00:01 /sbin/init splash
root         100       1  0 09:01 ?        00:00:00 sleep 1000
root         101     100  0 09:01 ?        00:00:00 sh -c while true; do :; done
"""


def test_ps_rows_of_the_container_only_with_overhanging_fields_joined():
    result = parse_ps_output(PS_EF, {100, 101})
    assert result.titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert result.processes == [
        ["root", "100", "1", "0", "09:01", "?", "00:00:00", "sleep 1000"],
        ["root", "101", "100", "0", "09:01", "?", "00:00:00", "sh -c while true; do :; done"],
    ]
    assert parse_ps_output(PS_EF, set()).processes == []


def test_thread_rows_follow_their_process():
    out = "PID TID CMD\n100 - sleep\n- 100 -\n200 - other\n- 200 -\n"
    assert parse_ps_output(out, {100}).processes == [["100", "-", "sleep"], ["-", "100", "-"]]


def test_ps_output_without_pid_or_with_a_bad_pid():
    with pytest.raises(Internal, match="Couldn't find PID field in ps output"):
        parse_ps_output("USER COMMAND\nroot x\n", {1})
    with pytest.raises(Internal, match="Unexpected pid 'abc'"):
        parse_ps_output("PID CMD\nabc x\n", {1})


def test_ps_args_may_rename_only_pid_to_a_pid_title():
    validate_ps_args("-o pid=PID,comm")
    validate_ps_args("-ef")
    with pytest.raises(InvalidArgument, match='specifying "user=PID" is not allowed'):
        validate_ps_args("-o pid,comm -o user=PID")


def test_cgroup_pids_are_collected_recursively(tmp_path):
    (tmp_path / "cgroup.procs").write_text("10\n11\n")
    (tmp_path / "child").mkdir()
    (tmp_path / "child" / "cgroup.procs").write_text("12\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "cgroup.procs").write_text("")
    assert cgroup_pids(str(tmp_path)) == {10, 11, 12}
    assert cgroup_pids(str(tmp_path / "gone")) == set()


def test_the_first_rounds_precpu_is_the_containers_start():
    """No earlier reading: CPU % is averaged since the start, the host's CPU
    time then reckoned as wall time times the online CPUs."""
    from services.runtime.engine.stats import ContainerSample, _at_start

    class Host:
        system, cpus = 1_000_000_000_000, 2

    read = 1_700_000_010 * 10**9
    sample = ContainerSample(id="c", name="c", read_nanos=read)
    pre, preread = _at_start("2023-11-14T22:13:20Z", sample, Host())  # 10 s before the read
    assert preread == 1_700_000_000 * 10**9
    assert pre.total_usage == 0 and pre.online_cpus == 2
    assert pre.system_cpu_usage == Host.system - 10 * 10**9 * 2
    # a start that cannot be read, or lies ahead, counts as the read itself
    assert _at_start("garbage", sample, Host())[1] == read
    assert _at_start("2099-01-01T00:00:00Z", sample, Host())[1] == read
