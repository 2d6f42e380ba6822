"""Unit tests of the pull benchmark's pure logic: py-spy output parsing, the
warm-proxy pull's per-layer phases, the report's ratios and its argument checks."""

from __future__ import annotations

import pytest

from bench.profile import pull_phases, summarise
from bench.pull import _median, _ratios

RAW = "\n".join([
    "thread (11): pull-apply;Thread.run (threading.py:982);Snapshotter.unpack (services/images/snapshots.py:191);"
    "apply_layer (services/images/extract.py:329);_Applier._file.<locals>.<lambda> (services/images/extract.py:185) 6",
    "thread (11): pull-apply;Thread.run (threading.py:982);Snapshotter.unpack (services/images/snapshots.py:191);"
    "apply_layer (services/images/extract.py:329);_Applier._dir (services/images/extract.py:201) 2",
    "thread (12): pull_0;_worker (concurrent/futures/thread.py:83);ImageStore._download "
    "(services/images/core.py:290);Writer.write (services/common/content.py:60) 1",
    "thread (13): images_0;Condition.wait (threading.py:320) 1",
    "garbage line without a count",
])


def test_summarise_phases_and_own_time():
    prof = summarise("images", RAW)
    assert prof.samples == 10
    assert prof.phases == {"unpack: tar apply (extract.py)": 80.0, "download: fetch, stream, write blob": 10.0,
                           "other (grpc, threads, idle loops)": 10.0}
    assert prof.self_time[0] == ("images/extract.py:_Applier._file.<locals>.<lambda>", 60.0)
    assert ("common/content.py:Writer.write", 10.0) in prof.self_time
    inclusive = dict(prof.inclusive)
    assert inclusive["images/extract.py:apply_layer"] == 80.0
    assert inclusive["images/snapshots.py:Snapshotter.unpack"] == 80.0


def test_summarise_of_nothing_is_empty():
    prof = summarise("registry", "")
    assert prof.samples == 0 and prof.phases == {} and prof.self_time == []


def test_pull_phases_keep_the_first_time_of_each_status_per_layer():
    events = [(0.01, "sha256:a", "waiting"), (0.2, "sha256:a", "downloading"), (0.5, "sha256:a", "downloading"),
              (0.61234, "sha256:a", "extracting"), (0.3, "sha256:b", "already_exists"), (1.9, "sha256:a", "done")]
    assert pull_phases(events) == {
        "sha256:a": {"waiting": 0.01, "downloading": 0.2, "extracting": 0.612, "done": 1.9},
        "sha256:b": {"already_exists": 0.3},
    }
    assert pull_phases([]) == {}


def test_ratios_and_median():
    tools = {"barque": {"median_s": 3.0}, "docker": {"median_s": 6.0}, "podman": {"median_s": None}}
    assert _ratios(tools) == {"barque/docker": 0.5}
    assert _median([5.0, 1.0, 3.0]) == 3.0
    assert _median([]) is None


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--tools", "barque,rkt"]])
def test_bad_arguments_are_refused(argv):
    from bench.pull import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
