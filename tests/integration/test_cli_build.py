"""``barque build`` end to end against the real services: the legacy
builder's progress, the image's config and history, RUN in a real container,
COPY from a real context, the build cache (a rebuild hits every step, one
changed file invalidates its step and those after it), multi-stage builds
(only what the target needs, independent stages at the same time),
``-q``/``--iidfile``/``--label``/``--build-arg``, ``builder prune``,
SOURCE_DATE_EPOCH, failures (a RUN's status, nothing left behind) and
hostile contexts (``COPY ../x``, symlinks out of the context)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture
def eng(clean, busybox):
    clean.ok("tag", busybox, "busybox")
    return clean


def _ctx(tmp_path: Path, dockerfile: str, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "ctx"
    root.mkdir(exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _inspect(engine, ref: str) -> dict:
    return json.loads(engine.ok("image", "inspect", ref).stdout)[0]


def _config_history(engine, ref: str) -> list[dict]:
    image_id = _inspect(engine, ref)["Id"]
    with engine.client("images") as images:
        from barque.images.v1 import images_pb2

        image = images.Inspect(images_pb2.InspectRequest(reference=image_id)).image
    return json.loads(image.config_json)["history"]


def _containers(engine) -> list[str]:
    return engine.ok("ps", "-a", "-q").lines


def _run(engine, ref: str, *cmd: str) -> str:
    return engine.ok("run", "--rm", ref, *cmd).stdout


def test_build_metadata_run_copy_and_progress(eng, tmp_path):
    ctx = _ctx(tmp_path, (
        "FROM busybox\n"
        "ENV GREETING=hello\n"
        "RUN echo \"$GREETING from run\" > /greeting && echo step-output\n"
        "COPY app.txt /app/\n"
        "WORKDIR /app\n"
        "LABEL org.example.k=v\n"
        "CMD [\"cat\", \"/greeting\"]\n"), {"app.txt": "app file\n"})
    res = eng.ok("build", "-t", "built:1", str(ctx))
    out = res.stdout
    assert out.startswith("Sending build context to Docker daemon  ")
    assert "Step 1/7 : FROM busybox" in out and "Step 7/7 : CMD [\"cat\", \"/greeting\"]" in out
    assert "step-output" in out and " ---> Running in " in out and "Removing intermediate container" in out
    image_id = _inspect(eng, "built:1")["Id"]
    assert f"Successfully built {image_id[7:19]}" in out and "Successfully tagged built:1" in out
    assert _run(eng, "built:1") == "hello from run\n"
    assert _run(eng, "built:1", "cat", "app.txt") == "app file\n"
    cfg = _inspect(eng, "built:1")["Config"]
    assert "GREETING=hello" in cfg["Env"] and cfg["WorkingDir"] == "/app"
    assert cfg["Labels"]["org.example.k"] == "v" and cfg["Cmd"] == ["cat", "/greeting"]
    history = _config_history(eng, "built:1")[-6:]
    # WORKDIR of a directory COPY made is an empty diff: no layer, as moby's NewChildImage
    assert [h.get("empty_layer", False) for h in history] == [True, False, False, True, True, True]
    assert history[0]["created_by"] == "/bin/sh -c #(nop)  ENV GREETING=hello"
    assert history[1]["created_by"] == "/bin/sh -c echo \"$GREETING from run\" > /greeting && echo step-output"
    assert history[2]["created_by"].startswith("/bin/sh -c #(nop) COPY file:")
    assert history[2]["created_by"].endswith(" in /app/ ")
    assert history[3]["created_by"] == "/bin/sh -c #(nop) WORKDIR /app"
    assert _containers(eng) == [], "build containers must be removed"


def test_rebuild_hits_every_step_and_one_change_invalidates_from_its_step(eng, tmp_path):
    ctx = _ctx(tmp_path, (
        "FROM busybox\nENV A=1\nCOPY one.txt /one.txt\nRUN cat /one.txt > /copy1\n"
        "COPY two.txt /two.txt\nRUN cat /two.txt > /copy2\nCMD [\"sh\"]\n"),
        {"one.txt": "one\n", "two.txt": "two\n"})
    first = eng.ok("build", "-t", "cache:1", str(ctx)).stdout
    assert "Using cache" not in first
    again = eng.ok("build", "-t", "cache:1", str(ctx)).stdout
    assert again.count(" ---> Using cache") == 6
    assert " ---> Running in" not in again
    (ctx / "two.txt").write_text("two changed\n")
    changed = eng.ok("build", "-t", "cache:2", str(ctx)).stdout
    steps = changed.split("Step ")[1:]
    cached = ["Using cache" in s for s in steps]
    assert cached == [False, True, True, True, False, False, False]
    assert _run(eng, "cache:2", "cat", "/copy2") == "two changed\n"
    # mtime alone does not invalidate
    os.utime(ctx / "one.txt", (time.time() + 100, time.time() + 100))
    touched = eng.ok("build", str(ctx)).stdout
    assert touched.count(" ---> Using cache") == 6
    nocache = eng.ok("build", "--no-cache", str(ctx)).stdout
    assert "Using cache" not in nocache


def test_failed_run_exits_with_its_status_and_leaves_nothing(eng, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox\nRUN echo before\nRUN exit 7\nRUN echo never\n")
    before = set(eng.ok("images", "-a", "-q").lines)
    res = eng.cli("build", "-t", "fails", str(ctx))
    assert res.returncode == 7
    assert "The command '/bin/sh -c exit 7' returned a non-zero code: 7" in res.stderr
    assert "never" not in res.stdout
    assert _containers(eng) == []
    assert eng.cli("image", "inspect", "fails").returncode != 0
    after = set(eng.ok("images", "-a", "-q").lines)
    assert len(after - before) <= 1  # the first RUN's step stays as build cache only


def test_multi_stage_target_and_copy_from(eng, tmp_path):
    ctx = _ctx(tmp_path, (
        "FROM busybox AS build\nRUN mkdir /out && echo built > /out/artifact && echo bin > /out/tool\n"
        "FROM busybox AS unused\nRUN exit 3\n"
        "FROM busybox AS final\nCOPY --from=build /out /opt/\nCOPY --from=0 /out/tool /usr/bin/tool.txt\n"
        "CMD [\"cat\", \"/opt/artifact\"]\n"))
    res = eng.ok("build", "--target", "final", "-t", "ms:1", str(ctx))
    assert "exit 3" not in res.stdout, "a stage the target does not need must not be built"
    assert _run(eng, "ms:1") == "built\n"
    assert _run(eng, "ms:1", "cat", "/usr/bin/tool.txt") == "bin\n"
    failing = eng.cli("build", "--target", "unused", str(ctx))
    assert failing.returncode == 3


def test_independent_stages_run_at_the_same_time(eng, tmp_path):
    """Two stages with nothing between them: their RUN containers' lifetimes
    overlap (read from the engine's own events, not from a clock threshold)."""
    ctx = _ctx(tmp_path, (
        "FROM busybox AS a\nRUN sleep 2\n"
        "FROM busybox AS b\nRUN sleep 2\n"
        "FROM busybox\nCOPY --from=a /etc/hostname /a\nCOPY --from=b /etc/hostname /b\n"))
    since = time.time() - 1
    eng.ok("build", "--no-cache", str(ctx))
    events = eng.ok("events", "--since", str(since), "--until", str(time.time() + 1),
                    "--filter", "type=container", "--format", "{{json .}}").lines
    spans: dict[str, dict[str, float]] = {}
    for line in events:
        ev = json.loads(line)
        if ev.get("status") in ("start", "die"):
            spans.setdefault(ev["id"], {})[ev["status"]] = ev["timeNano"]
    # the two `sleep 2` RUNs (COPY --from's source containers are never started)
    runs = sorted((s["start"], s["die"]) for s in spans.values()
                  if "start" in s and "die" in s and s["die"] - s["start"] > 1.5e9)
    assert len(runs) == 2, events
    assert runs[1][0] < runs[0][1], "the second stage's RUN started only after the first one ended"


def test_quiet_iidfile_labels_and_build_args(eng, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox\nARG WHO=nobody\nRUN echo $WHO > /who\n")
    iid = tmp_path / "iid"
    res = eng.ok("build", "-q", "--iidfile", str(iid), "--build-arg", "WHO=me", "--build-arg", "EXTRA=1",
                 "--label", "a=b", "-t", "q:1", str(ctx))
    image_id = res.stdout.strip()
    assert image_id.startswith("sha256:") and len(res.lines) == 1
    assert iid.read_text() == image_id == _inspect(eng, "q:1")["Id"]
    assert _run(eng, "q:1", "cat", "/who") == "me\n"
    assert _inspect(eng, "q:1")["Config"]["Labels"]["a"] == "b"
    loud = eng.ok("build", "--build-arg", "EXTRA=1", str(ctx)).stdout
    assert "[Warning] One or more build-args [EXTRA] were not consumed" in loud


def test_builder_prune_empties_the_cache(eng, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox\nRUN echo x > /x\nENV B=2\n")
    eng.ok("build", str(ctx))
    assert eng.ok("build", str(ctx)).stdout.count("Using cache") == 2
    res = eng.ok("builder", "prune", "-f")
    assert "Total reclaimed space:" in res.stdout
    assert "Using cache" not in eng.ok("build", str(ctx)).stdout


def test_source_date_epoch_makes_builds_reproducible(eng, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox\nCOPY f /f\nENV X=1\n", {"f": "content\n"})
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    one = eng.ok("build", "-q", "--no-cache", str(ctx), env=env).stdout.strip()
    os.utime(ctx / "f", (time.time(), time.time()))
    two = eng.ok("build", "-q", "--no-cache", str(ctx), env=env).stdout.strip()
    assert one == two
    created = _inspect(eng, one)["Created"]
    assert created.startswith("2023-11-14T22:13:20")


def test_scratch_and_heredoc_copy(eng, tmp_path):
    ctx = _ctx(tmp_path, "FROM scratch\nCOPY <<EOF /hello.txt\nhi $NAME\nEOF\nENV NAME=x\n")
    eng.ok("build", "-t", "scratchy", str(ctx))
    inspect = _inspect(eng, "scratchy")
    assert len(inspect["RootFS"]["Layers"]) == 1
    eng.ok("create", "--name", "s1", "scratchy", "/nothing")
    out = eng.ok("cp", "s1:/hello.txt", "-").stdout
    eng.ok("rm", "s1")
    assert "hi \n" in out


def test_hostile_contexts_are_refused_or_contained(eng, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    ctx = _ctx(tmp_path, "FROM busybox\nCOPY ../secret /s\n")
    res = eng.cli("build", str(ctx))
    assert res.returncode == 1 and "outside the build context" in res.stderr
    ctx2 = tmp_path / "ctx2"
    ctx2.mkdir()
    (ctx2 / "Dockerfile").write_text("FROM busybox\nCOPY dir /dir\nCOPY link /link\n")
    (ctx2 / "dir").mkdir()
    os.symlink(str(secret), ctx2 / "dir" / "out")
    os.symlink(str(secret), ctx2 / "link")
    res = eng.cli("build", "-t", "hostile", str(ctx2))
    # a named symlink source resolves inside the context: the host file is never read
    assert res.returncode == 1, res.stdout
    assert "host secret" not in res.stdout + res.stderr
    (ctx2 / "Dockerfile").write_text("FROM busybox\nCOPY dir /dir\n")
    eng.ok("build", "-t", "hostile", str(ctx2))
    out = eng.ok("run", "--rm", "hostile", "readlink", "/dir/out").stdout
    assert out.strip() == str(secret)  # copied as a symlink, not followed
    assert eng.cli("run", "--rm", "hostile", "cat", "/dir/out").returncode != 0
    assert _containers(eng) == []


def test_dockerignore(eng, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . | sort > /listing\n", {
        ".dockerignore": "**/*.log\nsecret/\n!keep.log\nDockerfile\n",
        "a.txt": "a", "b.log": "b", "keep.log": "k", "sub/c.log": "c", "sub/d.txt": "d", "secret/s": "s",
    })
    eng.ok("build", "-t", "ign", str(ctx))
    listing = _run(eng, "ign", "cat", "/listing").split()
    assert "./a.txt" in listing and "./keep.log" in listing and "./sub/d.txt" in listing
    assert "./b.log" not in listing and "./sub/c.log" not in listing and "./secret" not in listing
    assert "./Dockerfile" not in listing and "./.dockerignore" in listing
