"""Unit tests of bench-build's pure parts: argument checks, the contexts and
the changed case's rewrites, cache-hit counting, removal down to the bases,
the case summary, fairness notes, the targets and the report's shape."""

from __future__ import annotations

import json

import pytest

from bench.build import (CASES, DOCKERFILES, TEN_CHANGED, NewCgroups, case_summary, changed_file, context_files,
                         fairness_notes, parse_args, print_report, targets)
from bench.build_steps import step_seconds
from bench.build_engines import ENGINES, cache_hits, remove_all_but
from bench.tools import ToolError
from client.dockerfile.parser import parse

BASES = {"busybox": "127.0.0.1:5000/bench/busybox:latest", "debian": "127.0.0.1:5000/library/debian:bookworm-gcc"}


def test_defaults_and_subsets():
    args = parse_args([])
    assert (args.runs, args.engines, args.dockerfiles) == (3, list(ENGINES), list(DOCKERFILES))
    args = parse_args(["--runs", "5", "--engines", "barque,podman", "--dockerfiles", "ten-step"])
    assert (args.runs, args.engines, args.dockerfiles) == (5, ["barque", "podman"], ["ten-step"])


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--engines", "barque,rkt"], ["--dockerfiles", "huge"],
                                  ["--engines", ","]])
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()[-1]) > 0


def _instructions(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line and not line.startswith(" ")]


def test_ten_step_has_ten_instructions_after_from_and_fifty_files():
    files = context_files("ten-step", BASES)
    steps = _instructions(files["Dockerfile"])
    assert steps[0] == "FROM" and len(steps) == 11 and "FROM" not in steps[1:]
    assert {"ENV", "LABEL", "WORKDIR", "COPY", "RUN", "EXPOSE", "CMD"} <= set(steps)
    assert DOCKERFILES["ten-step"][1] == 10
    assert BASES["busybox"] in files["Dockerfile"]
    assert sum(name.startswith("files/") for name in files) == 50
    assert TEN_CHANGED in files
    parse(files["Dockerfile"])  # barque's own parser takes it


def test_multi_stage_compiles_static_c_into_busybox():
    files = context_files("multi-stage", BASES)
    text = files["Dockerfile"]
    assert f"FROM {BASES['debian']} AS build" in text and f"FROM {BASES['busybox']}" in text
    assert "gcc -static" in text and "COPY --from=build" in text
    assert "hello from C" in files["hello.c"]
    parse(text)


@pytest.mark.parametrize("dockerfile", list(DOCKERFILES))
def test_changed_file_is_a_context_file_with_new_content_each_time(dockerfile):
    files = context_files(dockerfile, BASES)
    seen = set()
    for version in (1, 2, 3):
        name, text = changed_file(dockerfile, version)
        assert name in files and text != files[name]
        seen.add(text)
    assert len(seen) == 3
    with pytest.raises(ValueError, match="starts at 1"):
        changed_file(dockerfile, 0)


def test_cache_hits_per_builder_output():
    legacy = "Step 2/3 : WORKDIR /src\n ---> Using cache\n ---> 1a2b\nStep 3/3 : COPY . .\n ---> Using cache\n"
    assert cache_hits("barque", legacy) == cache_hits("docker-legacy", legacy) == 2
    assert cache_hits("podman", "STEP 2/3: WORKDIR /src\n--> Using cache 1a2b\n") == 1
    assert cache_hits("docker-buildkit", "#5 [2/3] WORKDIR /src\n#5 CACHED\n\n#6 [3/3] COPY . .\n#6 DONE 0.1s\n") == 1
    assert cache_hits("barque", "Step 1/1 : RUN true\n ---> Running in abc\n") == 0


class FakeStore:
    """Images with parents: removing one that has a child is refused, as docker's rmi -f does."""

    def __init__(self, parents: dict[str, str | None]) -> None:
        self.parents = dict(parents)

    def ids(self) -> list[str]:
        return list(self.parents)

    def rmi(self, ids: list[str]) -> str:
        errors = []
        for i in ids:
            if any(p == i for p in self.parents.values()):
                errors.append(f"conflict: unable to delete {i} - image has dependent child images")
            else:
                self.parents.pop(i, None)
        return "\n".join(errors)


def test_remove_all_but_repeats_until_only_the_bases_are_left():
    store = FakeStore({"base": None, "a": "base", "b": "a", "c": "b", "other": None})
    passes = remove_all_but({"base", "other"}, store.ids, store.rmi, "fake")
    assert store.ids() == ["base", "other"]
    assert passes == 3
    assert remove_all_but({"base", "other"}, store.ids, store.rmi, "fake") == 0


def test_remove_all_but_raises_when_a_pass_removes_nothing():
    with pytest.raises(ToolError, match="removed none of 1 images: in use"):
        remove_all_but(set(), lambda: ["stuck"], lambda ids: "in use", "fake")


def _times(**rows):
    return {name: list(values) for name, values in rows.items()}


def test_case_summary_has_paired_ratios_and_cache_hits():
    times = _times(barque=[1.0, 2.0, 3.0], **{"docker-legacy": [2.0, 2.0, 2.0], "docker-buildkit": [1.0, 4.0, 3.0]})
    hits = {"barque": [0, 0, 0, 0], "docker-legacy": [0, 0, 0, 0], "docker-buildkit": [0, 0, 0, 0]}
    out = case_summary(times, hits, [], warmup=1)
    assert out["engines"]["barque"]["median_s"] == 2.0
    assert out["engines"]["barque"]["cache_hits"] == [0, 0, 0, 0]
    assert out["paired_ratios"] == {"barque/docker-legacy": 1.0, "barque/docker-buildkit": 1.0}
    assert out["ratios"] == {"barque/docker-legacy": 1.0, "barque/docker-buildkit": 0.67}
    assert out["warmup"] == 1 and out["failed_calls"] == []


def test_fairness_notes_skip_warmups():
    cases = {
        "ten-step cold": {"warmup": 1, "engines": {"barque": {"cache_hits": [3, 0, 0]},
                                                   "podman": {"cache_hits": [0, 1, 0]}}},
        "ten-step cached": {"warmup": 1, "engines": {"barque": {"cache_hits": [0, 10, 10]},
                                                     "podman": {"cache_hits": [10, 10, 0]}}},
        "ten-step changed": {"warmup": 1, "engines": {"barque": {"cache_hits": [4, 4, 4]}}},
        "multi-stage cold": {"error": "boom"},
    }
    assert fairness_notes(cases) == [
        "ten-step cold: podman reported cache hits in a cold build: [1, 0]",
        "ten-step cached: podman reported no cache hit in a cached rebuild: [10, 0]",
    ]


def _case(median_barque: float, paired: dict[str, float]) -> dict:
    return {"engines": {"barque": {"median_s": median_barque}}, "paired_ratios": paired}


def test_targets_on_paired_ratios_and_the_one_second_rebuild():
    cases = {
        "multi-stage cold": _case(1.5, {"barque/docker-legacy": 0.9, "barque/docker-buildkit": 1.4}),
        "multi-stage cached": _case(0.2, {"barque/docker-buildkit": 0.8}),
        "ten-step cold": _case(0.8, {"barque/docker-legacy": 0.4, "barque/docker-buildkit": 1.0}),
        "ten-step cached": _case(1.2, {"barque/docker-buildkit": 1.1}),
    }
    got = {t["target"]: t["status"] for t in targets(cases)}
    assert got == {
        "multi-stage cached rebuild: barque/docker-buildkit <= 1": "met",
        "multi-stage cold build: barque/docker-legacy <= 1": "met",
        "multi-stage cold build: barque/docker-buildkit <= 1": "missed",
        "ten-step cached rebuild: barque/docker-buildkit <= 1": "missed",
        "ten-step cold build: barque/docker-legacy <= 1": "met",
        "ten-step cold build: barque/docker-buildkit <= 1": "met",
        "ten-step cached rebuild: barque under 1 s": "missed",
    }
    assert {t["status"] for t in targets({})} == {"n/a"}


def test_report_prints_every_case_and_is_json(capsys):
    engines = {"barque": [0.5, 0.6], "docker-legacy": [1.0, 1.0], "docker-buildkit": [0.5, 0.5], "podman": [2.0, 2.0]}
    hits = {name: [0, 0, 0] for name in engines}
    cases = {f"{d} {c}": case_summary(_times(**engines), hits, [], 1) for d in DOCKERFILES for c in CASES}
    cases["multi-stage changed"] = {"error": "podman build failed", "failed_calls": []}
    result = {"runs": 2, "engines": {n: {"version": f"{n} 1"} for n in engines}, "cases": cases,
              "targets": targets(cases), "fairness": fairness_notes(cases), "skipped": {},
              "host": {"loadavg_start": [0.5, 0, 0], "loadavg_end": [1.0, 0, 0]},
              "tree": {"commit": "abc", "uncommitted": [" M cli/build.py"]},
              "command_server": {"pid": 1, "restarted_during": ["ten-step cold"]}}
    json.dumps(result)
    print_report(result)
    out = capsys.readouterr().out
    for key in cases:
        assert key in out
    assert "failed: podman build failed" in out
    assert "barque/docker-buildkit" in out and "1.10x" in out
    assert "barque's cached rebuild of the ten-step Dockerfile: 0.550s" in out
    assert "restarted (a source file changed) during: ten-step cold" in out
    assert "uncommitted changes measured:  M cli/build.py" in out


def test_new_cgroups_removes_only_what_was_absent(tmp_path):
    for hierarchy in ("memory", "pids"):
        (tmp_path / hierarchy / "docker").mkdir(parents=True)
    cgroups = NewCgroups("docker/buildkit", "docker", base=tmp_path)
    cgroups.note()
    assert cgroups.absent == ["docker/buildkit"]
    (tmp_path / "memory" / "docker" / "buildkit").mkdir()
    (tmp_path / "pids" / "docker" / "buildkit" / "busy").mkdir(parents=True)
    assert cgroups.remove() == [str(tmp_path / "pids" / "docker" / "buildkit")]
    assert not (tmp_path / "memory" / "docker" / "buildkit").exists()
    assert (tmp_path / "memory" / "docker").is_dir()


def test_step_seconds_of_legacy_output():
    lines = [(0.1, "Sending build context to Docker daemon  3kB"), (0.2, "Step 1/3 : FROM busybox"),
             (0.25, " ---> 1a2b"), (0.3, "Step 2/3 : RUN true"), (0.9, " ---> Running in abc"),
             (1.0, "Step 3/3 : CMD x"), (1.1, "Successfully built 1a2b")]
    assert step_seconds(lines, 1.3) == [("launch", 0.2), ("FROM busybox", 0.1), ("RUN true", 0.7), ("CMD x", 0.3)]
    assert step_seconds([(0.5, "STEP 1/2: FROM busybox"), (0.7, "STEP 2/2: RUN true")], 1.0) == [
        ("launch", 0.5), ("FROM busybox", 0.2), ("RUN true", 0.3)]
    # podman's multi-stage output names the stage first
    assert step_seconds([(0.1, "[1/2] STEP 1/2: FROM debian AS build"), (0.4, "[2/2] STEP 1/1: FROM busybox")],
                        0.5) == [("launch", 0.1), ("FROM debian AS build", 0.3), ("FROM busybox", 0.1)]


def test_step_seconds_of_buildkit_plain_progress():
    lines = [(0.1, "#1 [internal] load build definition from Dockerfile"), (0.1, "#1 DONE 0.0s"),
             (0.2, "#5 [1/3] FROM 127.0.0.1:5000/bench/busybox:latest"), (0.2, "#5 CACHED"),
             (0.3, "#6 [2/3] RUN true"), (0.6, "#6 DONE 0.3s"), (0.7, "#7 exporting to image"), (0.8, "#7 DONE 0.1s")]
    assert step_seconds(lines, 1.0) == [("FROM 127.0.0.1:5000/bench/busybox:latest", 0.0), ("RUN true", 0.3),
                                        ("other", 0.7)]
