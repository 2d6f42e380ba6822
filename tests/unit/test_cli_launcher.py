"""The launcher's wire format and socket choice (pure logic), and that the
launcher stays lean: it imports only built-in modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cli.cmdserver import parse_request
from cli.launcher import encode_request, socket_path

LAUNCHER = Path(__file__).resolve().parents[2] / "cli" / "launcher.py"


def test_request_round_trips_bytes_exactly():
    argv = [b"run", b"--rm", b"-e", b"A=b=c", b"img", b"\xff\xfe not utf-8", b""]
    env = {b"PATH": b"/usr/bin", b"EMPTY": b"", b"WITH_EQ": b"x=y", b"BARQUE_CONFIG": b"/tmp/b.toml"}
    wire = encode_request(b"/some/dir", 0o027, argv, env)
    assert int.from_bytes(wire[:4], "big") == len(wire) - 4
    req = parse_request(wire[4:])
    assert (req.argv, req.cwd, req.umask, req.env) == (argv, b"/some/dir", 0o027, env)


def test_no_arguments_round_trip():
    req = parse_request(encode_request(b"/", 0o22, [], {})[4:])
    assert (req.argv, req.env) == ([], {})


@pytest.mark.parametrize("fields", [
    [b""],                                              # empty
    [b"barque-cli/2", b"/", b"22", b"0"],               # another protocol
    [b"barque-cli/1", b"/", b"22"],                     # no argc
    [b"barque-cli/1", b"/", b"22", b"5", b"only-one"],  # argc beyond the fields
    [b"barque-cli/1", b"/", b"zz", b"0"],               # umask not octal
    [b"barque-cli/1", b"/", b"22", b"-1"],              # negative argc
])
def test_malformed_requests_are_refused(fields):
    with pytest.raises(ValueError):
        parse_request(b"\0".join(fields))


def test_socket_path_per_uid():
    assert socket_path({}, 0) == b"/run/barque/cli.sock"
    assert socket_path({b"BARQUE_CLI_SOCKET": b"/x/s.sock"}, 0) == b"/x/s.sock"
    assert socket_path({b"XDG_RUNTIME_DIR": b"/run/user/1000"}, 1000) == b"/run/user/1000/barque-cli-1000/cli.sock"
    assert socket_path({}, 1000) == b"/tmp/barque-cli-1000/cli.sock"


def test_launcher_imports_only_builtin_modules():
    """It runs under ``python -IS``: no site-packages, and no module that costs start-up."""
    tree = ast.parse(LAUNCHER.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"_signal", "_socket", "posix", "sys"}


def test_answer_lines_split_when_they_arrive_in_one_read():
    import socket

    from cli.launcher import _Lines

    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"P123\nX7\n")
        theirs.shutdown(socket.SHUT_WR)
        lines = _Lines(ours)
        assert [lines.next(), lines.next(), lines.next()] == [b"P123\n", b"X7\n", b""]
