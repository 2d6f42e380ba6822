"""Unit tests of bench-run's pure parts: statistics, ratios (of medians and
paired), PSS parsing and per-container arithmetic, the runtime-log phases,
``-X importtime`` and py-spy per-process splitting, the alternating rounds,
the targets and the cgroup clean-up walk."""

from __future__ import annotations

import os

import pytest

from bench.many import alternate, summary
from bench.report import targets
from bench.run import memory_of, per_container
from bench.runprofile import (median, paired_ratios, parse_importtime, parse_smaps_rollup, phase_marks,
                              phases_from_records, process_kind, ratios, run_phases, split_by_process, spread)
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


def test_paired_ratios_are_the_median_of_per_round_ratios():
    times = {"barque": [0.10, 0.30, 0.20], "podman": [0.20, 0.20, 0.40], "docker": [0.05, 0.10], "runc": []}
    # per round 0.5, 1.5, 0.5 against podman; 2.0, 3.0 against docker (pairs as far as both have rounds)
    assert paired_ratios(times) == {"barque/podman": 0.5, "barque/docker": 2.5}
    assert paired_ratios({"barque": [], "podman": [0.1]}) == {}
    assert paired_ratios({"podman": [0.1]}) == {}


def _phase(cid: str, phase: str, mono: float) -> dict:
    return {"event": "container.phase", "id": cid, "phase": phase, "mono": mono, "level": "debug"}


RUN_PHASES = ("create.begin", "image_lookup", "snapshot_prepare", "overlay_mount", "spec", "record",
              "start.begin", "shim_spawn", "exit_reported", "teardown")


def _run_records(cid: str, launch: float, step: float = 0.01) -> list[dict]:
    """One ``run --rm``'s phase events, the first 0.05 s after the launch, then one every ``step``."""
    return [_phase(cid, name, launch + 0.05 + i * step) for i, name in enumerate(RUN_PHASES)]


def test_phase_marks_keep_only_phase_events_per_container_in_monotonic_order():
    records = [_phase("b", "spec", 5.0), _phase("a", "image_lookup", 2.0), _phase("a", "create.begin", 1.0),
               {"event": "container.created", "id": "a", "timestamp": "2026-11-28T09:00:00Z"},
               {"event": "container.phase", "id": "c", "phase": "spec"},  # no monotonic stamp
               {"event": "nofile_limit_clamped"}]
    assert phase_marks(records) == {"a": [(1.0, "create.begin"), (2.0, "image_lookup")], "b": [(5.0, "spec")]}


def test_run_phases_are_the_gaps_between_consecutive_marks_inside_the_call():
    marks = phase_marks(_run_records("a", 100.0) + [_phase("a", "late", 105.0)])
    got = dict(run_phases(marks, 100.0, 100.2))
    assert got["launch -> create.begin"] == pytest.approx(0.05)
    assert got["image_lookup"] == pytest.approx(0.01)
    assert got["teardown"] == pytest.approx(0.01)
    assert got["teardown -> exit"] == pytest.approx(0.2 - 0.05 - 0.09)
    assert "late" not in got and sum(got.values()) == pytest.approx(0.2)
    assert run_phases(marks, 200.0, 201.0) == []  # no container began in that call


def test_phases_match_each_call_to_the_container_that_began_inside_it():
    records = (_run_records("a", 100.0) + _run_records("b", 101.0, step=0.02)
               # a detached start of another container whose teardown falls inside b's call: not b's
               + [_phase("z", "create.begin", 50.0), _phase("z", "teardown", 101.1)])
    windows = [(100.0, 100.2), (101.0, 101.3), (102.0, 102.5)]  # the third call left no events
    got = phases_from_records(records, windows)
    assert got["calls"] == 2 and got["incomplete"] == 1
    assert list(got["median_s"])[:3] == ["launch -> create.begin", "image_lookup", "snapshot_prepare"]
    assert list(got["median_s"])[-2:] == ["teardown", "teardown -> exit"]
    assert got["median_s"]["launch -> create.begin"] == pytest.approx(0.05)
    assert got["median_s"]["image_lookup"] == pytest.approx(0.015)  # median of 0.01 and 0.02
    assert got["median_s"]["teardown -> exit"] == pytest.approx((0.06 + 0.07) / 2)
    assert got["runs"]["spec"] == 2 and got["total_median_s"] == pytest.approx(0.25)


def test_phases_name_a_phase_seen_in_some_calls_only():
    detached = [_phase("d", name, 10.0 + 0.01 * i) for i, name in
                enumerate(("create.begin", "image_lookup", "start.begin", "shim_spawn", "oci_create_start"))]
    got = phases_from_records(detached + _run_records("e", 20.0), [(9.99, 10.1), (20.0, 20.2)])
    assert got["runs"]["oci_create_start"] == 1 and got["runs"]["image_lookup"] == 2
    assert "oci_create_start -> exit" in got["median_s"] and "teardown -> exit" in got["median_s"]
    assert phases_from_records([], [(0.0, 1.0)]) == {"median_s": {}, "runs": {}, "total_median_s": None,
                                                    "calls": 0, "incomplete": 1}


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


def test_alternate_rounds_call_every_probe_in_turn_after_warmup():
    calls = []

    def probe(name: str, seconds: float):
        def once() -> float:
            calls.append(name)
            return seconds
        return once

    times = alternate({"barque": probe("barque", 0.1), "podman": probe("podman", 0.2)}, runs=3, warmup=1)
    assert calls == ["barque", "podman"] * 4
    assert times == {"barque": [0.1] * 3, "podman": [0.2] * 3}
    got = summary(times)
    assert got["engines"]["podman"]["median_s"] == 0.2 and got["engines"]["barque"]["runs_s"] == [0.1] * 3
    assert got["ratios"] == {"barque/podman": 0.5} and got["paired_ratios"] == {"barque/podman": 0.5}


def test_alternate_drops_a_round_with_a_failed_call_and_runs_another():
    calls = {"n": 0}

    def flaky() -> float:
        calls["n"] += 1
        if calls["n"] == 3:  # the second timed round (after one warm-up)
            raise RuntimeError("barque --help failed (1): ValueError")
        return 0.1

    failed: list[dict] = []
    rounds = []
    times = alternate({"barque": flaky, "podman": lambda: 0.2}, runs=3, warmup=1, failed=failed,
                      progress=lambda i, seconds: rounds.append((i, seconds)))
    assert times == {"barque": [0.1] * 3, "podman": [0.2] * 3}
    assert failed == [{"round": 2, "row": "barque", "error": "barque --help failed (1): ValueError"}]
    assert rounds == [(0, {"barque": 0.1, "podman": 0.2}), (1, {"barque": 0.1, "podman": 0.2}), (2, {}),
                      (3, {"barque": 0.1, "podman": 0.2}), (4, {"barque": 0.1, "podman": 0.2})]
    assert summary(times, failed=failed)["failed_calls"] == failed
    with pytest.raises(RuntimeError, match="ValueError"):  # without a list to note it in, a failure raises
        calls["n"] = 0
        alternate({"barque": flaky}, runs=3, warmup=0)


def test_alternate_gives_up_when_more_than_half_the_rounds_fail():
    def broken() -> float:
        raise RuntimeError("no such image")

    failed: list[dict] = []
    with pytest.raises(RuntimeError, match="no such image"):
        alternate({"barque": broken}, runs=4, warmup=0, failed=failed)
    assert len(failed) == 3


def _fixed(barque: float, podman: float, docker: float) -> dict:
    return {"engines": {}, "paired_ratios": {"barque/podman": barque / podman, "barque/docker": barque / docker}}


def test_targets_met_missed_and_not_measured():
    result = {
        "fixed_cost": {"ps": _fixed(0.04, 0.08, 0.04), "version": _fixed(0.06, 0.05, 0.05)},
        "paired_ratios": {"barque/podman": 0.8, "barque/docker": 0.5},
        "exec": {"paired_ratios": {"barque/podman": 0.81}},
        "concurrent_start": {"containers": 20, "paired_ratios": {}},
        "ps_loaded": {"containers": 100, "engines": {"barque": {"median_s": 0.1}}},
        "memory": {"barque": {"per_container": {"pss_kib": 900.0}}},
    }
    got = {t["target"]: t["met"] for t in targets(result)}
    assert got == {
        "fixed cost: barque ps <= podman ps": True,
        "fixed cost: barque version <= podman version": False,
        "fixed cost: barque images -q <= podman images -q": None,
        "run --rm IMAGE true <= 0.8x podman": True,
        "exec C true <= 0.8x podman": False,
        "20 concurrent starts <= 0.8x podman": None,
        "barque ps with 100 running < 0.1 s": False,  # under, not at
        "memory per running container <= 1 MiB PSS": True,
        "moonshot: barque ps <= docker ps": True,
        "moonshot: barque version <= docker version": False,
        "moonshot: barque images -q <= docker images -q": None,
    }
    assert all(t["met"] is None for t in targets({}))
    failed = {"containers": 20, "concurrent_start": {"error": "barque run -d failed"}}
    assert [t["met"] for t in targets(failed) if "concurrent" in t["target"]] == [None]
    assert "20 concurrent starts <= 0.8x podman" in {t["target"] for t in targets(failed)}


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


def test_everyday_targets_judge_each_figure_against_both_peers():
    from bench.everyday import everyday_targets

    result = {"stats": {"paired_ratios": {"barque/docker": 0.4, "barque/podman": 1.2}},
              "commit": {"paired_ratios": {"barque/docker": 1.0}}}
    found = {t["target"]: t for t in everyday_targets(result)}
    assert found["stats --no-stream <= docker"]["met"] is True
    assert found["stats --no-stream <= podman"]["met"] is False
    assert found["commit C IMAGE <= docker"]["met"] is True  # "no slower": equal meets it
    assert found["commit C IMAGE <= podman"]["met"] is None  # not measured
    assert found["cp FILE C:/tmp <= docker"]["value"] is None
    assert len(found) == 10
