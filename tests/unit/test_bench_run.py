"""Unit tests of bench-run's pure parts: statistics, ratios, PSS parsing and
per-container arithmetic, the runtime-log phases, ``-X importtime`` and py-spy
per-process splitting, and the cgroup clean-up walk."""

from __future__ import annotations

import os

import pytest

from bench.run import memory_of, per_container
from bench.runprofile import (median, parse_importtime, parse_smaps_rollup, phases_from_records, process_kind,
                              ratios, split_by_process, spread)
from bench.tools import remove_cgroups

SMAPS = """55d1c7a4b000-7ffd1f1e5000 ---p 00000000 00:00 0                          [rollup]
Rss:               12928 kB
Pss:                3657 kB
Pss_Anon:           2120 kB
Pss_File:           1537 kB
Shared_Clean:       9600 kB
Private_Dirty:      2112 kB
Swap:                  0 kB
SwapPss:               0 kB
"""


def test_median_and_spread():
    assert median([0.3, 0.1, 0.2]) == 0.2
    assert median([0.1, 0.2, 0.3, 0.4]) == 0.25
    assert median([]) is None
    s = spread([float(x) for x in range(1, 12)])  # 1..11
    assert s == {"p10_s": 2.0, "p90_s": 10.0, "min_s": 1.0, "max_s": 11.0}
    assert spread([]) == {"p10_s": None, "p90_s": None, "min_s": None, "max_s": None}


def test_ratios_against_every_engine_with_a_median():
    got = ratios({"barque": 0.3, "docker": 0.2, "podman": 0.125, "runc": None})
    assert got == {"barque/docker": 1.5, "barque/podman": 2.4}
    assert ratios({"barque": None, "docker": 0.2}) == {}


def test_parse_smaps_rollup_takes_pss_not_its_sub_lines():
    assert parse_smaps_rollup(SMAPS) == {"pss_kib": 3657, "rss_kib": 12928}
    assert parse_smaps_rollup("") == {"pss_kib": 0, "rss_kib": 0}


def test_per_container_is_the_growth_divided_by_the_count():
    idle = {"pss_kib": 80_000, "rss_kib": 100_000, "processes": 4}
    loaded = {"pss_kib": 120_000, "rss_kib": 350_000, "processes": 24}
    assert per_container(idle, loaded, 20) == {"pss_kib": 2000.0, "rss_kib": 12500.0}
    with pytest.raises(ValueError, match="at least one container"):
        per_container(idle, loaded, 0)


def test_memory_of_reads_live_processes_and_skips_vanished_ones():
    mine = memory_of([os.getpid()])
    assert mine["processes"] == 1 and 0 < mine["pss_kib"] <= mine["rss_kib"]
    assert memory_of([2 ** 22 + 7]) == {"pss_kib": 0, "rss_kib": 0, "processes": 0}


def _rec(event: str, t: str) -> dict:
    return {"event": event, "timestamp": f"2026-11-28T09:00:{t}Z", "id": "x"}


def test_phases_cut_each_run_at_its_own_log_events():
    base = 1795856400.0  # 2026-11-28T09:00:00Z
    records = [
        _rec("container.created", "00.200000"), _rec("container.exited", "00.260000"),
        _rec("container.deleted", "00.280000"), {"event": "nofile_limit_clamped", "timestamp": "x"},
        _rec("container.created", "01.300000"), _rec("container.exited", "01.400000"),
        _rec("container.deleted", "01.420000"),
        _rec("container.created", "02.300000"),  # a third run that never exited
    ]
    windows = [(base, base + 0.31), (base + 1.0, base + 1.45), (base + 2.0, base + 2.5)]
    got = phases_from_records(records, windows)
    assert got["runs"] == 2 and got["incomplete"] == 1
    assert got["median_s"] == pytest.approx({"launch_to_created": 0.25, "created_to_exited": 0.08,
                                             "exited_to_deleted": 0.02, "deleted_to_cli_exit": 0.03}, abs=1e-4)


IMPORTTIME = """import time: self [us] | cumulative | imported package
import time:       400 |        400 |   _io
import time:      1200 |       1600 | encodings
import time:      5000 |       5000 |     google.protobuf.descriptor
import time:      2000 |       7000 |   google.protobuf
import time:      3000 |      10000 | cli.main
import time:       100 |      12000 | grpc
noise line
"""


def test_parse_importtime_level_one_cumulative_and_own():
    got = parse_importtime(IMPORTTIME)
    assert got["total_ms"] == 11.7
    assert got["cumulative"] == [("grpc", 12.0), ("cli.main", 10.0), ("encodings", 1.6)]
    assert got["own"][:2] == [("google.protobuf.descriptor", 5.0), ("cli.main", 3.0)]


def test_process_kind_and_split():
    assert process_kind('process 10:"/v/bin/python -m services.runtime"') == "runtime service"
    assert process_kind('process 11:"/v/bin/python -I -S /r/services/runtime/shim/zygote.py --socket s"') \
        == "shim/zygote"
    assert process_kind('process 12:"/v/bin/python3 /v/bin/barque-oci --root /s/oci create --bundle b x"') \
        == "barque-oci create"
    assert process_kind('process 13:"/usr/bin/true"') == "other"
    raw = "\n".join([
        'process 10:"python -m services.runtime";thread (0x1): a;Servicer.Run (services/runtime/rpc.py:90) 4',
        'process 12:"barque-oci --root r delete x";main (services/runtime/oci/cli.py:120) 2',
        'process 14:"barque-oci --root r delete y";main (services/runtime/oci/cli.py:120) 1',
    ])
    parts = split_by_process(raw)
    assert set(parts) == {"runtime service", "barque-oci delete"}
    assert parts["barque-oci delete"]["pids"] == {12, 14} and len(parts["barque-oci delete"]["lines"]) == 2


def test_remove_cgroups_removes_only_barque_subtree_children_first(tmp_path):
    for hierarchy in ("memory", "pids"):
        (tmp_path / hierarchy / "barque" / "bench-docker" / "abc").mkdir(parents=True)
        (tmp_path / hierarchy / "barque" / "other").mkdir(parents=True)
    (tmp_path / "memory" / "bench-docker").mkdir()  # same name outside barque/: not ours
    busy = tmp_path / "pids" / "barque" / "bench-docker" / "abc" / "keep"
    busy.write_text("a file stands for a busy cgroup: rmdir fails")
    left = remove_cgroups("bench-docker", base=tmp_path)
    assert not (tmp_path / "memory" / "barque" / "bench-docker").exists()
    assert (tmp_path / "memory" / "barque" / "other").is_dir()
    assert (tmp_path / "memory" / "bench-docker").is_dir()
    assert left == [str(busy.parent), str(busy.parent.parent)]
