"""The conformance tier's reading of bats' TAP, its --filter literals (tests/ocisuite/harness.py)
and the list of tests passing for runc and failing for barque-oci (run.py)."""

from __future__ import annotations

import re

from tests.ocisuite.harness import _ere, parse_tap
from tests.ocisuite.run import compare

# bats 1.8.2's own output for passed, skipped (with and without a reason) and failed tests
TAP = """1..5
ok 1 runc run [tty owner] ({u,g}id != 0)
ok 2 runc run [seccomp] (SCMP_ACT_NOTIFY) # skip requires kernel less than 5.6
ok 3 runc exec # skip
not ok 4 runc kill
# (in test file kill.bats, line 20)
#   `[ "$status" -eq 0 ]' failed
# barque-oci kill test_busybox KILL (status=1):
ok 5 runc delete
"""


def test_each_status_and_name_as_bats_prints_them():
    results = parse_tap("x.bats", TAP)
    assert [(r.name, r.status) for r in results] == [
        ("runc run [tty owner] ({u,g}id != 0)", "passed"),
        ("runc run [seccomp] (SCMP_ACT_NOTIFY)", "skipped"),
        ("runc exec", "skipped"),
        ("runc kill", "failed"),
        ("runc delete", "passed"),
    ]
    assert results[1].detail == "requires kernel less than 5.6"
    assert results[3].key == "x.bats: runc kill"
    assert results[3].detail.splitlines() == ["(in test file kill.bats, line 20)",
                                              "`[ \"$status\" -eq 0 ]' failed",
                                              "barque-oci kill test_busybox KILL (status=1):"]


def test_a_pty_line_end_and_no_plan_still_parse():
    assert [r.status for r in parse_tap("x.bats", "ok 1 a\r\nnot ok 2 b\r\n")] == ["passed", "failed"]
    assert parse_tap("x.bats", "") == []


def test_filter_literals_match_only_their_own_name():
    names = ["runc run [tty owner] ({u,g}id != 0)", "a.b*c+d?e|f^g$h\\i"]
    pattern = re.compile("^(" + "|".join(_ere(n) for n in names) + ")$")
    assert all(pattern.match(n) for n in names)
    assert not pattern.match("runc run [tty owner]")
    assert not pattern.match("aXb*c+d?e|f^g$h\\i")


def test_compare_lists_what_passes_for_runc_and_fails_for_barque_oci_in_run_order():
    runc = {"tests": {"a.bats: x": {"status": "passed"}, "a.bats: y": {"status": "passed"},
                      "b.bats: z": {"status": "failed"}, "b.bats: w": {"status": "passed"}}}
    barque = {"tests": {"a.bats: x": {"status": "failed"}, "a.bats: y": {"status": "passed"},
                        "b.bats: z": {"status": "failed"}, "b.bats: w": {"status": "failed"}}}
    assert compare(runc, barque) == ["a.bats: x", "b.bats: w"]
