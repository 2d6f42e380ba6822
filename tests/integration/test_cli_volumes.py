"""``barque volume`` and run's storage flags through the real CLI and a real
engine: create/ls/inspect/rm/prune with Docker's output and exit codes, a
named volume filled from the image on first use (``:nocopy`` left empty)
and keeping its data after its container is removed, ``--mount`` of each
type, ``--tmpfs`` with a size, ``--volumes-from``, ``rm -v``, a volume in
use refused, and client-side refusals that create nothing.

Every container and volume a test makes is removed after it.
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _volume(engine, name: str) -> dict:
    return json.loads(engine.ok("volume", "inspect", name).stdout)[0]


def _container(engine, ref: str) -> dict:
    return json.loads(engine.ok("inspect", "--type", "container", ref).stdout)[0]


def test_create_ls_inspect_rm(clean):
    engine = clean
    res = engine.ok("volume", "create", "--label", "env=test", "--label", "tier", "data")
    assert (res.stdout, res.stderr) == ("data\n", "")
    anonymous = engine.ok("volume", "create").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", anonymous)
    first, second = sorted([anonymous, "data"])  # docker-cli lists by name (natural order: the same here)
    assert engine.ok("volume", "ls").stdout == (
        "DRIVER    VOLUME NAME\n"
        f"local     {first}\n"
        f"local     {second}\n")
    assert engine.ok("volume", "ls", "-q", "--filter", "label=env=test").lines == ["data"]
    assert engine.ok("volume", "ls", "--format", "{{.Name}}:{{.Driver}}:{{.Scope}}:{{.Labels}}",
                     "-f", "name=dat").lines == ["data:local:local:env=test,tier="]
    doc = _volume(engine, "data")
    assert (doc["Name"], doc["Driver"], doc["Scope"], doc["Labels"]) == ("data", "local", "local",
                                                                         {"env": "test", "tier": ""})
    assert doc["Mountpoint"].startswith(str(engine.root)) and doc["Mountpoint"].endswith("/data/_data")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", doc["CreatedAt"])
    assert engine.ok("volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "data").stdout == "data local\n"

    res = engine.cli("volume", "inspect", "data", "ghost")
    assert res.returncode == 1 and json.loads(res.stdout)[0]["Name"] == "data"
    assert res.stderr == "Error: No such volume: ghost\n"
    res = engine.cli("volume", "rm", "data", "ghost", anonymous)
    assert (res.returncode, res.stdout, res.stderr) == (1, f"data\n{anonymous}\n", "Error: No such volume: ghost\n")
    assert engine.ok("volume", "rm", "-f", "ghost").stdout == "ghost\n"
    assert engine.ok("volume", "ls", "-q").lines == []


def test_create_again_keeps_the_volume(clean):
    engine = clean
    engine.ok("volume", "create", "twice")
    assert engine.ok("volume", "create", "twice").stdout == "twice\n"
    assert engine.ok("volume", "ls", "-q").lines == ["twice"]


def test_client_side_refusals_create_nothing(clean, busybox):
    engine = clean
    for argv, status, message in [
        (["volume", "create", "--label", "=x", "v"], 125,
         "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name\n"
         "See 'barque volume create --help'.\n"),
        (["volume", "create", "a", "b"], 1, '"barque volume create" requires at most 1 argument.'),
        (["run", "--rm", "--mount", "type=foo", busybox], 125,
         'barque: invalid argument "type=foo" for "--mount" flag: target is required\n'),
        (["run", "--rm", "--mount", "src=v,dst=/v,volume-driver=nfs", busybox], 125,
         "barque: invalid argument \"src=v,dst=/v,volume-driver=nfs\" for \"--mount\" flag: "
         "volume driver 'nfs' is not supported: barque has only the local driver\n"),
        (["run", "--rm", "-v", "vol::/x", busybox], 125,
         "barque: invalid spec: vol::/x: empty section between colons\n"),
        (["create", "--restart", "always", "--rm", "-v", "v:/v", busybox], 125,
         "barque: Conflicting options: --restart and --rm\n"),
    ]:
        res = engine.cli(*argv)
        assert res.returncode == status and res.stdout == "", argv
        assert res.stderr.startswith(message), (argv, res.stderr)
    assert engine.ok("ps", "-aq").lines == [] and engine.ok("volume", "ls", "-q").lines == []


def test_a_named_volume_is_filled_from_the_image_and_keeps_its_data(clean, busybox):
    engine = clean
    passwd = engine.ok("run", "--rm", busybox, "cat", "/etc/passwd").stdout
    res = engine.ok("run", "--rm", "-v", "etcvol:/etc", busybox, "sh", "-c",
                    "cat /etc/passwd; echo kept > /etc/added; stat -c '%u:%g %a' /etc/passwd")
    assert res.stdout.startswith(passwd) and res.stdout.endswith("0:0 644\n")
    assert "etcvol" in engine.ok("volume", "ls", "-q").lines
    # another container, at another path: the copy and the write are the volume's
    assert engine.ok("run", "--rm", "-v", "etcvol:/data:ro", busybox, "cat", "/data/added", "/data/passwd"
                     ).stdout == "kept\n" + passwd
    res = engine.cli("run", "--rm", "-v", "etcvol:/data:ro", busybox, "touch", "/data/nope")
    assert res.returncode != 0 and "Read-only file system" in res.stderr


def test_nocopy_leaves_a_new_volume_empty(clean, busybox):
    """Only the files the engine mounts over /etc (as Docker does) are there."""
    engine = clean
    engine_files = "hostname\nhosts\nresolv.conf\n"
    assert engine.ok("run", "--rm", "-v", "bare:/etc:nocopy", busybox, "ls", "-A", "/etc").stdout == engine_files
    assert engine.ok("run", "--rm", "--mount", "src=bare2,dst=/etc,volume-nocopy", busybox, "ls", "-A", "/etc"
                     ).stdout == engine_files


def test_a_volume_in_use_is_not_removed(clean, busybox):
    engine = clean
    engine.ok("create", "--name", "user", "-v", "busy:/data", busybox, "true")
    for flags in ([], ["-f"]):
        res = engine.cli("volume", "rm", *flags, "busy")
        assert res.returncode == 1 and res.stdout == ""
        assert res.stderr.startswith("Error response from daemon: ") and "in use" in res.stderr
    mount = _container(engine, "user")["Mounts"][0]
    assert (mount["Type"], mount["Name"], mount["Destination"], mount["Driver"]) == ("volume", "busy", "/data",
                                                                                     "local")
    assert engine.ok("ps", "-aq", "--filter", "volume=busy").lines == engine.ok("ps", "-aq", "--filter",
                                                                                "volume=/data").lines != []
    assert engine.ok("ps", "-aq", "--filter", "volume=other").lines == []
    engine.ok("rm", "user")
    assert engine.ok("volume", "rm", "busy").stdout == "busy\n"


def test_anonymous_volumes_go_with_rm_v_and_run_rm(clean, busybox):
    engine = clean
    engine.ok("create", "--name", "anon", "-v", "/scratch", busybox, "true")
    mount = _container(engine, "anon")["Mounts"][0]
    assert mount["Type"] == "volume" and re.fullmatch(r"[0-9a-f]{64}", mount["Name"])
    assert mount["Destination"] == "/scratch"
    assert engine.ok("volume", "ls", "-q").lines == [mount["Name"]]
    assert engine.ok("rm", "-v", "anon").stdout == "anon\n"
    assert engine.ok("volume", "ls", "-q").lines == []

    engine.ok("run", "--rm", "-v", "/scratch", "-v", "named:/n", busybox, "true")
    assert engine.ok("volume", "ls", "-q").lines == ["named"]  # --rm takes the anonymous one only


def test_volumes_from(clean, busybox):
    engine = clean
    engine.ok("run", "--name", "source", "-v", "/shared", "-v", "vf:/named", busybox, "sh", "-c",
              "echo one > /shared/f; echo two > /named/g")
    assert engine.ok("run", "--rm", "--volumes-from", "source", busybox, "cat", "/shared/f", "/named/g"
                     ).stdout == "one\ntwo\n"
    res = engine.cli("run", "--rm", "--volumes-from", "source:ro", busybox, "touch", "/shared/x")
    assert res.returncode != 0 and "Read-only file system" in res.stderr


def test_mount_types_and_tmpfs_sizes(clean, busybox, tmp_path):
    engine = clean
    (tmp_path / "in").write_text("from the host\n")
    res = engine.ok("run", "--rm", "--mount", f"type=bind,source={tmp_path},target=/host,readonly",
                    "--mount", "type=volume,src=mounted,dst=/vol,volume-label=made=by-mount",
                    "--mount", "type=tmpfs,dst=/fast,tmpfs-size=2m,tmpfs-mode=1770",
                    "--tmpfs", "/small:size=1m", busybox, "sh", "-c",
                    "cat /host/in; df -k /fast /small | tail -n 2 | awk '{print $2}'; stat -c %a /fast; "
                    "touch /host/x 2>&1 || true")
    lines = res.stdout.splitlines()
    assert lines[:4] == ["from the host", "2048", "1024", "1770"]
    assert "Read-only file system" in lines[4]
    assert _volume(engine, "mounted")["Labels"] == {"made": "by-mount"}


ANONYMOUS_PROMPT = ("WARNING! This will remove anonymous local volumes not used by at least one container.\n"
                    "Are you sure you want to continue? [y/N] ")


def test_prune_removes_unused_anonymous_volumes_and_with_a_the_named_too(clean, busybox):
    engine = clean
    engine.ok("volume", "create", "--label", "keep=no", "named-unused")
    engine.ok("create", "--name", "holder", "-v", "/held", "-v", "named-used:/u", busybox, "true")
    engine.ok("run", "--name", "writer", "-v", "/left", busybox, "sh", "-c", "head -c 1500 /dev/zero > /left/f")
    left = _container(engine, "writer")["Mounts"][0]["Name"]
    engine.ok("rm", "writer")  # without -v: its anonymous volume stays, unused
    before = set(engine.ok("volume", "ls", "-q").lines)
    assert len(before) == 4 and left in before

    res = engine.ok("volume", "prune", input="n\n")
    assert res.stdout == ANONYMOUS_PROMPT + "Total reclaimed space: 0B\n"
    assert set(engine.ok("volume", "ls", "-q").lines) == before

    res = engine.ok("volume", "prune", input="y\n")
    assert res.stdout.startswith(ANONYMOUS_PROMPT + f"Deleted Volumes:\n{left}\n\nTotal reclaimed space: ")
    assert re.fullmatch(r"Total reclaimed space: [1-9][0-9.]*kB", res.stdout.splitlines()[-1])
    assert set(engine.ok("volume", "ls", "-q").lines) == before - {left}

    assert engine.ok("volume", "prune", "-f", "--filter", "label=keep=yes", "-a").stdout == (
        "Total reclaimed space: 0B\n")
    assert engine.ok("volume", "prune", "-a", "-f").stdout == (
        "Deleted Volumes:\nnamed-unused\n\nTotal reclaimed space: 0B\n")
    assert len(engine.ok("volume", "ls", "-q").lines) == 2  # holder's two, in use
