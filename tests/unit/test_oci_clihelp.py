"""barque-oci's command-line surface as runc 1.1's: help and unknown commands
(:mod:`clihelp`), ``list``'s table and JSON (:mod:`listing`), ``--version``'s
lines, the terminal check of detached processes (:mod:`ptyrelay`)."""

from __future__ import annotations

import argparse
import json

import pytest

from client.errors import InvalidArgument
from services.runtime.oci import clihelp, listing, ptyrelay, versioninfo
from services.runtime.oci.cli import build_parser


@pytest.fixture(scope="module")
def parser():
    return build_parser()


@pytest.mark.parametrize("argv", [["-h"], ["--help"], [], ["help"], ["h"], ["--root", "/x", "-h"]])
def test_app_help(parser, argv, capsys):
    assert clihelp.handle(parser, argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert lines[0] == "NAME:"
    assert "runc - Open Container Initiative runtime" in lines[1] and "barque-oci" in lines[1]
    assert any(line.split()[:1] == ["exec"] for line in lines)


@pytest.mark.parametrize("argv", [["delete", "-h"], ["help", "delete"], ["--root", "/x", "delete", "--help"],
                                  ["checkpoint", "-h"], ["restore", "--help"]])
def test_command_help(parser, argv, capsys):
    assert clihelp.handle(parser, argv) == 0
    out = capsys.readouterr().out
    name = [a for a in argv if not a.startswith("-") and a not in ("help", "/x")][0]
    assert out.splitlines()[1].startswith(f"   runc {name} - ")
    assert f"barque-oci {name}" in out


def test_command_help_lists_the_real_options(parser, capsys):
    assert clihelp.handle(parser, ["kill", "-h"]) == 0
    out = capsys.readouterr().out
    assert "--all, -a" in out and "OPTIONS:" in out


def test_help_flag_after_the_first_argument_is_the_commands(parser):
    """``exec ctr ls -h``: -h is ls's, argparse goes on."""
    assert clihelp.handle(parser, ["exec", "ctr", "ls", "-h"]) is None
    assert clihelp.handle(parser, ["exec", "-t", "ctr", "sh"]) is None
    assert clihelp.handle(parser, ["--root", "/x", "--log", "-h", "state", "ctr"]) is None  # -h is --log's value


def test_unknown_and_unimplemented_commands(parser, capsys):
    assert clihelp.handle(parser, ["foo"]) == 3
    assert clihelp.handle(parser, ["foo", "-h"]) == 3
    assert clihelp.handle(parser, ["help", "foo"]) == 3
    assert capsys.readouterr().err.count("No help topic for 'foo'") == 3
    # one of runc's commands a parser lacks: its help says so, running it is refused
    small = argparse.ArgumentParser(prog="barque-oci")
    small.add_subparsers(dest="command").add_parser("run")
    assert clihelp.handle(small, ["checkpoint", "-h"]) == 0
    assert "does not implement" in capsys.readouterr().out
    assert clihelp.handle(small, ["checkpoint", "ctr"]) == 1
    assert "not implemented" in capsys.readouterr().err


def test_version_passes_to_argparse(parser):
    assert clihelp.handle(parser, ["-v"]) is None
    assert clihelp.handle(parser, ["--version"]) is None


def test_version_lines():
    lines = versioninfo.text().splitlines()
    assert lines[0].startswith(f"barque-oci version {versioninfo.VERSION} ")
    assert "runc version 1.1.5" in lines[0]
    assert lines[1].startswith("commit: ") and lines[2].startswith("spec: ")


def test_tabwriter_as_go():
    # Go: tabwriter.NewWriter(w, 12, 1, 3, ' ', 0): at least 12, else widest + 3; last cell unpadded
    assert listing.tabwrite([["ID", "PID", "OWNER"], ["a-very-long-container", "7", "root"]]) == (
        "ID                      PID         OWNER\n"
        "a-very-long-container   7           root\n")


def _state(cid: str) -> dict:
    return {"ociVersion": "1.0.2", "id": cid, "pid": 42, "status": "running", "bundle": "/b",
            "rootfs": "/b/rootfs", "created": "2026-12-03T06:28:23.782629Z", "annotations": {},
            "owner": "root"}


def test_list_formats():
    states = [_state("one"), _state("two")]
    table = listing.render(states, "table", False).splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split() == ["one", "42", "running", "/b", "2026-12-03T06:28:23.782629Z", "root"]
    doc = listing.render(states, "json", False)
    assert doc.count("\n") == 1 and doc.startswith('[{"ociVersion":"1.0.2","id":"one","pid":42,')
    assert [s["id"] for s in json.loads(doc)] == ["one", "two"]
    assert "annotations" not in json.loads(doc)[0]  # omitempty, as runc
    assert listing.render([], "json", False) == "null\n"
    assert listing.render(states, "table", True) == "one\ntwo\n"
    with pytest.raises(InvalidArgument, match="invalid format option"):
        listing.render(states, "xml", False)


def test_detached_terminal_needs_a_console_socket():
    ptyrelay.check_terminal(True, False, None)  # foreground: barque-oci relays it
    ptyrelay.check_terminal(True, True, "/run/sock")
    ptyrelay.check_terminal(False, True, None)
    with pytest.raises(InvalidArgument, match="cannot allocate tty if runc will detach"):
        ptyrelay.check_terminal(True, True, None)


def test_features_name_what_is_implemented():
    """``barque-oci features`` lists the six hook stages, the recursive mount
    options and the seccomp actions it runs, and not the notify action it refuses."""
    from services.runtime.oci import hooks, mountopts, versioninfo

    doc = versioninfo.features()
    assert doc["hooks"] == list(hooks.STAGES) and len(doc["hooks"]) == 6
    assert {"rro", "rnosuid", "rnoexec"} <= set(doc["mountOptions"]) and set(mountopts.RECURSIVE) <= set(doc["mountOptions"])
    seccomp = doc["linux"]["seccomp"]
    assert "SCMP_ACT_NOTIFY" not in seccomp["actions"] and "SCMP_ACT_KILL_PROCESS" in seccomp["actions"]
    assert "SCMP_CMP_MASKED_EQ" in seccomp["operators"]
