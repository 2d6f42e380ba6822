"""``barque events`` against a real engine: a container's whole life in
order with moby's actions and attributes, --since/--until cutting it at
exact event times, the image-store's events merged by time, filters,
--format, and an --until in the future ending the command.

Every container a test makes is removed after it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from tests.support.engine import CLI, REPO
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]

#: a process that ends at once with status 0 on SIGTERM (sleep as pid 1 would ignore it)
TRAPPER = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (\w+) (.+?) (\S+)(?: \((.*)\))?$")


def _stamp(ns: int) -> str:
    """Unix seconds with nanoseconds, the exact form --since/--until take."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def _messages(engine, *args: str) -> list[dict]:
    out = engine.ok("events", *args, "--format", "{{json .}}", timeout=60).stdout
    return [json.loads(line) for line in out.splitlines()]


def _life(engine, busybox) -> tuple[str, int, int]:
    """A container through create .. destroy; (its id, a time before, a time after)."""
    before = time.time_ns()
    cid = engine.ok("create", "--name", "life", "--label", "team=blue", busybox, "sh", "-c", TRAPPER).stdout.strip()
    engine.ok("start", "life")
    engine.ok("pause", "life")
    engine.ok("unpause", "life")
    engine.ok("rename", "life", "life2")
    assert engine.cli("exec", "life2", "sh", "-c", "exit 3").returncode == 3
    engine.ok("stop", "life2")
    engine.ok("start", "life2")
    engine.ok("kill", "life2")
    engine.ok("wait", "life2")
    engine.ok("rm", "life2")
    return cid, before, time.time_ns()


def test_a_lifecycle_in_order_and_since_until_cut_it(clean, busybox):
    engine = clean
    cid, before, after = _life(engine, busybox)
    got = _messages(engine, "--since", _stamp(before), "--until", _stamp(after), "--filter", f"container={cid}")
    assert [m["Action"] for m in got] == [
        "create", "start", "pause", "unpause", "rename",
        "exec_create: sh -c exit 3", "exec_start: sh -c exit 3", "exec_die",
        "kill", "die", "stop", "start", "kill", "die", "destroy"]
    assert [m["timeNano"] for m in got] == sorted(m["timeNano"] for m in got)
    by: dict[str, dict] = {}
    for m in got:
        by.setdefault(m["Action"], m)  # the first of each
    assert by["create"]["Actor"]["Attributes"] == {"image": busybox, "name": "life", "team": "blue"}
    assert by["create"] | {"Actor": None} == {
        "status": "create", "id": cid, "from": busybox, "Type": "container", "Action": "create", "Actor": None,
        "scope": "local", "time": by["create"]["timeNano"] // 10**9, "timeNano": by["create"]["timeNano"]}
    assert by["rename"]["Actor"]["Attributes"]["oldName"] == "/life"
    assert by["rename"]["Actor"]["Attributes"]["name"] == "life2"
    assert by["exec_die"]["Actor"]["Attributes"]["exitCode"] == "3"
    kills = [m["Actor"]["Attributes"]["signal"] for m in got if m["Action"] == "kill"]
    assert kills == ["15", "9"]
    assert [m["Actor"]["Attributes"]["exitCode"] for m in got if m["Action"] == "die"] == ["0", "137"]
    assert by["destroy"]["Actor"]["Attributes"] == {"image": busybox, "name": "life2", "team": "blue"}

    # --since/--until at exact event times keep both ends (moby's window)
    pause, rename = by["pause"]["timeNano"], by["rename"]["timeNano"]
    cut = _messages(engine, "--since", _stamp(pause), "--until", _stamp(rename), "--filter", f"container={cid}")
    assert [m["Action"] for m in cut] == ["pause", "unpause", "rename"]
    # --until alone: everything kept up to it; an --until in the past ends at once
    upto = _messages(engine, "--until", _stamp(by["start"]["timeNano"]), "--filter", f"container={cid}")
    assert upto == got[:2]
    assert [m["Action"] for m in upto] == ["create", "start"]


def test_default_lines_filters_and_the_image_store_merged(clean, busybox):
    engine = clean
    before = time.time_ns()
    cid = engine.ok("run", "-d", "--name", "tagger", "--label", "x=1", "-v", "evvol:/v", busybox,
                    "true").stdout.strip()
    engine.ok("wait", "tagger")
    engine.ok("tag", busybox, "events-test:one")
    engine.ok("rm", "tagger")
    engine.ok("volume", "rm", "evvol")
    engine.ok("rmi", "events-test:one")
    window = ["--since", _stamp(before), "--until", _stamp(time.time_ns())]
    lines = engine.ok("events", *window).stdout.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    stamps = [m.group(1) for m in parsed]
    assert stamps == sorted(stamps), "the merged streams are not in time order"
    kinds = [(m.group(2), m.group(3)) for m in parsed]
    assert ("container", "create") in kinds and ("image", "tag") in kinds and ("image", "untag") in kinds
    assert kinds.index(("container", "die")) < kinds.index(("image", "tag")) < kinds.index(("container", "destroy"))
    create = next(m for m in parsed if (m.group(2), m.group(3)) == ("container", "create"))
    assert create.group(4) == cid and create.group(5) == f"image={busybox}, name=tagger, x=1"

    def actions(*filters: str) -> list[str]:
        out = engine.ok("events", *window, *[a for f in filters for a in ("--filter", f)],
                        "--format", "{{.Type}} {{.Action}}").stdout
        return out.splitlines()

    assert actions("type=image") == ["image tag", "image untag"]
    assert actions("container=tagger", "event=die", "event=start") == ["container start", "container die"]
    assert actions("label=x=1", "event=destroy") == ["container destroy"]
    assert actions("label=x=2") == []
    assert actions("image=events-test:one") == ["image tag"]  # moby's untag names the image by its id
    assert set(actions("type=network")) == {"network connect", "network disconnect"}
    assert actions("volume=evvol") == ["volume create", "volume mount", "volume unmount", "volume destroy"]
    res = engine.cli("events", "--filter", "colour=red")
    assert res.returncode == 125 and "invalid filter 'colour'" in res.stderr


def test_a_future_until_streams_then_ends(clean, busybox):
    engine = clean
    since, until = time.time(), time.time() + 4  # with --until alone the kept past would come too (moby's)
    proc = subprocess.Popen([*CLI, "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
                             "--filter", "event=create",
                             "--format", "{{.Actor.Attributes.name}}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **engine.env}, cwd=REPO)
    try:
        time.sleep(1)
        engine.ok("create", "--name", "live", busybox, "true")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out, err) == (0, "live\n", "")
    assert time.time() >= until - 0.1


#: docker kill -s spellings -> the number moby's SignalMap gives (Linux)
SIGNALS = {"HUP": 1, "SIGUSR1": 10, "usr2": 12, "sigwinch": 28, "SIGRTMIN": 34, "RTMIN+3": 37,
           "SIGRTMAX-2": 62, "RTMAX": 64, "40": 40, "poll": 29, "SIGPWR": 30, "IOT": 6}


def test_kill_takes_every_signal_spelling_docker_does(clean, busybox):
    engine = clean
    traps = "; ".join(f"trap 'echo got-{n}' {n}" for n in sorted(set(SIGNALS.values())))
    before = time.time_ns()
    cid = engine.ok("run", "-d", "--name", "sigs", busybox, "sh", "-c",
                    f"{traps}; echo ready; while :; do sleep 0.1; done").stdout.strip()
    wait_for(lambda: "ready" in engine.ok("logs", "sigs").stdout, what="the traps to be set")
    for name in SIGNALS:
        assert engine.ok("kill", "-s", name, "sigs").stdout == "sigs\n"
    expected = {f"got-{n}" for n in SIGNALS.values()}
    wait_for(lambda: expected <= set(engine.ok("logs", "sigs").stdout.split()), what="every trap to run")
    got = _messages(engine, "--since", _stamp(before), "--until", _stamp(time.time_ns()),
                    "--filter", f"container={cid}", "--filter", "event=kill")
    assert [m["Actor"]["Attributes"]["signal"] for m in got] == [str(n) for n in SIGNALS.values()]
    for bad in ("FOO", "0", "65", "SIGRTMIN+16"):
        res = engine.cli("kill", "-s", bad, "sigs")
        assert res.returncode == 125 and "invalid signal" in res.stderr.lower(), bad
    assert engine.ok("inspect", "--format", "{{.State.Running}}", "sigs").stdout == "true\n"
