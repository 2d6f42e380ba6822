"""``barque diff`` and ``barque image history`` end to end: a fresh container
shows no changes (its mountpoints live in the init layer), a known sequence
of changes prints docker's exact lines, and history reads a pulled image's
and a committed image's entries in docker-cli's columns and flags."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _exited(engine, cid: str) -> None:
    wait_for(lambda: engine.ok("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "exited",
             what=f"container {cid[:12]} to exit")


def test_fresh_containers_show_no_changes(clean, busybox):
    cid = clean.ok("run", "-d", busybox, "true").stdout.strip()
    _exited(clean, cid)
    res = clean.ok("diff", cid)
    assert res.stdout == "" and res.stderr == ""
    running = clean.ok("run", "-d", busybox, "sleep", "300").stdout.strip()
    assert clean.ok("container", "diff", running).stdout == ""
    for ref in (cid, running):  # nothing at all in the writable layers: the stubs are in the init layer
        data = json.loads(clean.ok("inspect", ref).stdout)[0]["GraphDriver"]["Data"]
        assert os.listdir(data["UpperDir"]) == [] and data["LowerDir"].split(":")[0].endswith("/init")
    assert clean.ok("exec", running, "cat", "/etc/hostname").stdout.strip() == running[:12]


def test_known_changes_print_dockers_lines(clean, busybox):
    script = ("mkdir /tmp/a && echo x > /tmp/a/x && rm /etc/group && echo more >> /etc/passwd"
              " && rm -rf /home && mkdir /home && touch /home/new")
    cid = clean.ok("run", "-d", busybox, "sh", "-c", script).stdout.strip()
    _exited(clean, cid)
    assert clean.ok("diff", cid).lines == [
        "C /etc",
        "D /etc/group",
        "C /etc/passwd",
        "D /home",
        "A /home/new",
        "C /tmp",
        "A /tmp/a",
        "A /tmp/a/x",
    ]


def test_diff_of_unknown_container(clean):
    res = clean.cli("diff", "nosuch")
    assert res.returncode == 1 and res.stderr == "Error response from daemon: No such container: nosuch\n"


def test_history_of_pulled_image(rt_engine, busybox):
    image = json.loads(rt_engine.ok("image", "inspect", busybox).stdout)[0]
    config = json.loads(rt_engine.ok("image", "inspect", "-f", "{{json .}}", busybox).stdout)
    assert config["Id"] == image["Id"]
    res = rt_engine.ok("image", "history", busybox)
    assert res.lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    rows = res.lines[1:]
    assert rows[0].startswith(image["Id"][7:19] + " ")
    assert all(r.startswith("<missing> ") for r in rows[1:])
    # the one layer's unpacked file bytes go to the entry that made it; umoci's config entry is empty
    assert rows[-1].split()[-1].endswith("MB") and rows[0].split()[-1] == "0B"
    raw = rt_engine.ok("history", "-H=false", "--format", "{{.ID}}|{{.Size}}|{{.CreatedAt}}", busybox).lines
    assert raw[0].split("|")[0] == image["Id"][7:19]
    assert int(raw[-1].split("|")[1]) > 1_000_000 and raw[-1].split("|")[2].endswith("Z")
    assert rt_engine.ok("history", "-q", busybox).lines == [image["Id"][7:19]] + ["<missing>"] * (len(rows) - 1)
    missing = rt_engine.cli("history", "nosuch:1")
    assert missing.returncode == 1 and missing.stderr == "Error response from daemon: No such image: nosuch:1\n"


def test_history_of_committed_image(clean, busybox):
    long_cmd = "echo 0123456789 > /file && echo abcdefghijklmnopqrstuvwxyz > /other"
    cid = clean.ok("run", "-d", busybox, "sh", "-c", long_cmd).stdout.strip()
    _exited(clean, cid)
    image_id = clean.ok("commit", "-m", "saved by test", cid, "hist:1").stdout.strip()
    try:
        lines = clean.ok("history", "hist:1").lines
        top = lines[1]
        assert top.startswith(image_id[7:19] + "   ")
        created_by = ("sh -c " + long_cmd)[:44] + "…"
        assert created_by in top and top.endswith("saved by test")
        assert "38B" in top  # "0123456789\n" + the alphabet and newline
        full = clean.ok("history", "--no-trunc", "--format", "{{.ID}}\t{{.CreatedBy}}\t{{.Comment}}", "hist:1")
        assert full.lines[0] == f"{image_id}\tsh -c {long_cmd}\tsaved by test"
        table = clean.ok("history", "--format", "table {{.ID}}\t{{.Comment}}", "hist:1").lines
        assert table[0].split() == ["IMAGE", "COMMENT"] and table[1].split() == [image_id[7:19], "saved", "by", "test"]
    finally:
        clean.cli("rmi", "hist:1")
