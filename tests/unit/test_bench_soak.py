"""bench/soak's pure parts: the quarter math, the RSS and descriptor verdicts,
the call counts, the held-container peak, chain ids, the failures it reports,
the table and its argument checks."""

from __future__ import annotations

import hashlib
import threading

import pytest

from bench.soak import failures, main
from bench.soak_stats import Held, Op, chain_ids, fd_verdict, format_report, op_summary, quarter_means, rss_verdict


def test_quarter_means_split_by_time_and_boundaries_go_to_the_later_quarter():
    samples = [(0.0, 10.0), (1.0, 20.0), (2.5, 30.0), (3.0, 40.0), (5.0, 50.0), (7.9, 60.0), (8.0, 70.0)]
    # quarters of [0, 8]: [0,2) [2,4) [4,6) [6,8]; the end belongs to the last
    assert quarter_means(samples, 0.0, 8.0) == [15.0, 35.0, 50.0, 65.0]


def test_quarter_means_ignore_samples_outside_the_run_and_mark_empty_quarters():
    samples = [(-1.0, 999.0), (0.5, 10.0), (7.0, 20.0), (9.0, 999.0)]
    assert quarter_means(samples, 0.0, 8.0) == [10.0, None, None, 20.0]
    with pytest.raises(ValueError):
        quarter_means(samples, 5.0, 5.0)


def test_rss_verdict_allows_ten_percent_over_the_second_quarter():
    assert rss_verdict([90.0, 100.0, 105.0, 110.0])["ok"]
    grown = rss_verdict([90.0, 100.0, 105.0, 110.5])
    assert not grown["ok"] and "1.10 x second" in grown["why"] and grown["growth"] == 0.105
    shrunk = rss_verdict([120.0, 100.0, 90.0, 80.0])
    assert shrunk["ok"] and shrunk["growth"] == -0.2
    empty = rss_verdict([100.0, None, 100.0, 100.0])
    assert not empty["ok"] and empty["why"] == "a quarter has no sample"


def test_fd_verdict_compares_the_end_with_the_second_quarters_most_plus_slack():
    samples = [(t, v) for t, v in [(0.0, 5), (2.0, 10), (3.0, 12), (5.0, 30), (7.0, 9)]]
    assert fd_verdict(samples, 0.0, 8.0, final=20)["ok"]          # 12 + 8
    bad = fd_verdict(samples, 0.0, 8.0, final=21)
    assert not bad["ok"] and bad["second_quarter_max"] == 12 and "21 fds" in bad["why"]
    assert not fd_verdict([(0.0, 5)], 0.0, 8.0, final=5)["ok"]     # nothing in the second quarter


def test_op_summary_counts_answered_failed_and_unanswered_calls():
    ops = [Op(0, "create", 0.0, 0.1, 0), Op(0, "start", 0.1, 0.3, 0), Op(1, "create", 0.0, 0.2, 0),
           Op(1, "exec", 0.5, 0.1, 0, "exec printed 'x', not 'y'"), Op(1, "logs", 0.6, 120.0, None, "no answer"),
           Op(0, "rm", 0.9, 0.1, 1, "rm c: boom")]
    out = op_summary(ops, 3.0)
    assert (out["total"], out["answered"], out["unanswered"], out["failed"]) == (6, 5, 1, 3)
    assert out["ops_per_s"] == 2.0
    assert out["by_kind"]["create"] == {"count": 2, "failed": 0, "median_s": 0.15}
    assert [f["kind"] for f in out["failures"]] == ["exec", "logs", "rm"]
    assert not ops[3].ok and ops[3].answered and not ops[4].answered


def test_held_keeps_the_peak_across_threads():
    held = Held()

    def work():
        for _ in range(200):
            held.add()
            held.remove()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert held.now == 0 and 1 <= held.peak <= 4
    held.add(3)
    held.remove(1)
    assert (held.now, held.peak) == (2, max(3, held.peak))


def test_chain_ids_follow_the_oci_rule():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([]) == []
    assert chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]


def _run(**over) -> dict:
    ops = op_summary([Op(0, "create", 0.0, 0.1, 0)], 1.0)
    facts = {"rss": rss_verdict([1.0, 100.0, 100.0, 100.0]), "fds": fd_verdict([(3.0, 10)], 0.0, 8.0, 10)}
    run = {"ops": ops, "warm_up": ops, "held_at_end": 0, "containers_left": [], "leaks": {}, "peak_held": 4,
           "snapshots": {"unneeded": [], "missing": [], "active": [], "tmp": []},
           "services": {"runtime": facts}}
    run.update(over)
    return run


def test_failures_name_each_broken_check():
    assert failures(_run()) == []
    bad = _run(held_at_end=2, containers_left=["abc"], leaks={"cgroups": ["/sys/fs/cgroup/barque/x"]},
               snapshots={"unneeded": ["sha256:1"], "missing": [], "active": ["k"], "tmp": []},
               services={"runtime": {"rss": rss_verdict([1.0, 100.0, 100.0, 120.0]),
                                     "fds": fd_verdict([(3.0, 10)], 0.0, 8.0, 40)}})
    text = "\n".join(failures(bad))
    for part in ("2 containers the clients made", "containers still listed", "leaked: {'cgroups'",
                 "1 snapshots no image needs", "1 active snapshots", "runtime: last quarter", "runtime: 40 fds"):
        assert part in text
    slow = _run(ops=op_summary([Op(0, "logs", 0.0, 120.0, None, "no answer in 120s")], 1.0))
    assert failures(slow)[0] == "1 of 1 calls were never answered"


def test_report_shows_each_engine_the_ratio_and_the_services():
    peer = {"ops": op_summary([Op(0, "create", 0.0, 0.1, 0)] * 4, 1.0), "peak_held": 2, "peak_listed": 3,
            "loadavg_1m": [1.0, 2.5]}
    result = {"seconds": 60, "clients": 4, "engines": {"barque": _run(ops=op_summary(
        [Op(0, "create", 0.0, 0.1, 0)] * 8, 1.0)), "docker": peer, "podman": {"error": "podman pull failed"}},
        "skipped": {}, "notes": ["a note"]}
    text = format_report(result)
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["barque"] == ["barque", "8", "8.00", "8", "0", "4", "-", "-", "-"]
    assert rows["docker"] == ["docker", "4", "4.00", "4", "0", "2", "3", "2.00x", "2.00x"]
    assert "podman   failed: podman pull failed" in text
    assert "load average (1 min) at each engine's start and end: docker 1.0 -> 2.5" in text
    assert "runtime" in text and "leaks after barque's run: none" in text and "note: a note" in text


def test_bad_arguments_are_refused(capsys):
    for argv in (["--engines", "barque,lxc"], ["--seconds", "0"], ["--clients", "0"], ["--bridge-every", "-1"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "unknown engines ['lxc']" in capsys.readouterr().err
