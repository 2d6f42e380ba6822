"""Pure parts of barque-oci's cgroup verbs: update's flags, ``-r`` JSON and
merge; exec --cgroup's arguments; ps's table filter; events' encoding."""

from __future__ import annotations

import argparse

import pytest

from client.errors import FailedPrecondition, InvalidArgument
from services.runtime.oci import cgroups, cgroupstats, events, execcgroup, psverb, update


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    update.add_arguments(parser)
    return parser.parse_args([*argv, "c1"])


def test_update_flags_as_runc():
    delta = update.delta_from_args(_args("--memory", "50M", "--memory-swap", "-1", "--cpu-quota", "-1",
                                         "--cpu-share", "200", "--pids-limit", "0", "--cpuset-cpus", "1",
                                         "--blkio-weight", "300", "--kernel-memory", "1m"))
    assert delta == {"memory": {"limit": 50 << 20, "swap": -1, "kernel": 1 << 20},
                     "cpu": {"quota": -1, "shares": 200, "cpus": "1"}, "blockIO": {"weight": 300}}
    for bad in (("--cpu-period", "-5"), ("--memory", "lots"), ("--pids-limit", "x")):
        with pytest.raises(InvalidArgument, match=f"invalid value for {bad[0][2:]}"):
            update.delta_from_args(_args(*bad))


def test_update_json_keys_match_case_insensitively():
    delta = update.delta_from_json('{"CPU": {"Cpus": "1", "quota": 0}, "Pids": {"limit": 20}, '
                                   '"unified": {"cpu.max": "max 100000"}, "other": 1}')
    assert delta == {"cpu": {"cpus": "1"}, "pids": {"limit": 20},
                     "unified": {"cpu.max": "max 100000"}}
    with pytest.raises(InvalidArgument):
        update.delta_from_json("[1]")


def test_merge_keeps_unnamed_limits_and_pairs_period_with_quota():
    stored = {"cpu": {"shares": 100, "quota": 500000, "period": 1000000}, "memory": {"limit": 1}}
    merged, writes = update.merge(stored, {"cpu": {"period": 900000}, "memory": {"kernel": 5}})
    assert writes == {"cpu": {"period": 900000, "quota": 500000}, "memory": {}}
    assert merged == {"cpu": {"shares": 100, "quota": 500000, "period": 900000}, "memory": {"limit": 1}}
    assert stored["cpu"]["period"] == 1000000  # not changed in place
    _, writes = update.merge({}, {"cpu": {"quota": 30000}})
    assert writes == {"cpu": {"quota": 30000}}


def test_exec_cgroup_arguments():
    assert execcgroup.parse(["sub"]) == {"": "sub"}
    assert execcgroup.parse(["memory:a", "cpu,cpuacct:b"]) == {"memory": "a", "cpu": "b", "cpuacct": "b"}
    with pytest.raises(InvalidArgument, match="missing <controller>: prefix"):
        execcgroup.parse(["a", "memory:b"])
    with pytest.raises(InvalidArgument, match="invalid --cgroup argument"):
        execcgroup.parse(["a:b:c"])
    hierarchies = [cgroups.Hierarchy("/sys/fs/cgroup/memory", ("memory",)),
                   cgroups.Hierarchy("/sys/fs/cgroup/cpu,cpuacct", ("cpu", "cpuacct"))]
    mgr = cgroups.CgroupV1("/x/c", hierarchies)
    sub = execcgroup.sub_manager(mgr, {"cpuacct": "s"})
    assert sub.paths == {"memory": "/sys/fs/cgroup/memory/x/c", "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/x/c/s"}
    assert execcgroup.sub_manager(mgr, {"": "/"}).paths == mgr.paths
    for bad in ("..", "../c2", "a/../../x"):
        with pytest.raises(InvalidArgument, match="is not a sub cgroup path"):
            execcgroup.sub_manager(mgr, {"": bad})
    with pytest.raises(InvalidArgument, match="unknown controller whaaat"):
        execcgroup.sub_manager(mgr, {"whaaat": "/"})


def test_ps_table_filter():
    out = "UID   PID  PPID CMD\nroot    1     0 init\nroot   42     1 sleep\n"
    assert psverb.filter_table(out, [42]) == ["UID   PID  PPID CMD", "root   42     1 sleep"]
    with pytest.raises(FailedPrecondition, match="couldn't find PID field"):
        psverb.filter_table("USER CMD\n", [1])


def test_events_encoding_and_cpuset_lists():
    assert events.encode("oom", "c1") == '{"type":"oom","id":"c1"}'
    assert events.encode("stats", "c<1>", {"a": 1}) == '{"type":"stats","id":"c\\u003c1\\u003e","data":{"a":1}}'
    assert cgroupstats.parse_list("0-2,4") == [0, 1, 2, 4]
    assert cgroupstats.parse_list("") == []
