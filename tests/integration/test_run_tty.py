"""Interactive terminals: ``barque run -it``, ``start -a -i`` and ``attach``
driven through a real pseudo-terminal, as a user at a terminal would.

The CLI runs with a pty slave as its stdin, stdout and stderr; the test reads
and types on the master. The window size is set on the pty before start, and
changed later with a SIGWINCH sent to the CLI (the CLI is not in the pty's
session, so the kernel does not signal it)."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from cli.tty import DetachScanner, parse_detach_keys
from tests.support.engine import CLI, Engine

pytestmark = [
    pytest.mark.root,
]

REPO = Path(__file__).resolve().parents[2]
DETACH = b"\x10\x11"  # Ctrl-P Ctrl-Q


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    """The CLI on a fresh pty; ``read_until`` and ``type`` on its master."""

    def __init__(self, engine: Engine, *args: str, rows: int = 24, cols: int = 80):
        self.master, self.slave = os.openpty()
        _set_size(self.slave, rows, cols)
        self.attrs_before = termios.tcgetattr(self.slave)
        self.output = b""
        self.proc = subprocess.Popen(
            [*CLI, *args], stdin=self.slave, stdout=self.slave, stderr=self.slave,
            env={**os.environ, **engine.env}, cwd=REPO, close_fds=True, start_new_session=True)

    def read_until(self, marker: bytes, timeout: float = 30.0) -> bytes:
        """Read until ``marker`` appears after what earlier calls consumed."""
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in terminal output {self.output!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:
                    break
        assert marker in self.output, f"no {marker!r} in terminal output {self.output!r}"
        head, _, self.output = self.output.partition(marker)
        return head + marker

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def resize(self, rows: int, cols: int) -> None:
        _set_size(self.slave, rows, cols)
        self.proc.send_signal(signal.SIGWINCH)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def attrs_now(self) -> list:
        return termios.tcgetattr(self.slave)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def terminals(rt_engine):  # noqa: F811
    """Opens Terminals; every pty fd and CLI process is gone afterwards."""
    fds_before = set(os.listdir("/proc/self/fd"))
    opened: list[Terminal] = []

    def open_terminal(*args: str, **size) -> Terminal:
        term = Terminal(rt_engine, *args, **size)
        opened.append(term)
        return term

    yield open_terminal
    for term in opened:
        term.close()
    assert set(os.listdir("/proc/self/fd")) <= fds_before, "pty fds leaked"


def _stty_size(term: Terminal, expected: bytes, timeout: float = 20.0) -> None:
    """Run ``stty size`` until it prints ``expected`` (a resize travels
    through the CLI's signal handler, so it may lag a keystroke)."""
    deadline = time.monotonic() + timeout
    while True:
        term.type(b"stty size; echo size-done\r")
        text = term.read_until(b"\r\nsize-done\r\n")
        if b"\r\n" + expected + b"\r\n" in text:
            return
        assert time.monotonic() < deadline, f"stty size never showed {expected!r}: {text!r}"
        time.sleep(0.2)


def test_run_it_shell_resize_detach_and_attach(rt_engine, busybox, terminals):  # noqa: F811
    name = "tty-shell"
    term = terminals("run", "-it", "--name", name, busybox, "sh", rows=31, cols=97)
    term.read_until(b"# ")
    term.type(b"echo $((6*7))\r")
    assert b"\r\n42\r\n" in term.read_until(b"\r\n42\r\n")
    _stty_size(term, b"31 97")
    term.resize(40, 132)
    _stty_size(term, b"40 132")

    term.type(DETACH)
    assert term.wait() == 0, term.output
    assert term.attrs_now() == term.attrs_before, "terminal settings not restored after detach"
    status = rt_engine.ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}").stdout
    assert status.startswith("Up"), status

    again = terminals("attach", name, rows=25, cols=70)
    again.type(b"echo again-$((1+1))\r")
    again.read_until(b"\r\nagain-2\r\n")
    _stty_size(again, b"25 70")
    again.type(b"exit 3\r")
    assert again.wait() == 3
    assert again.attrs_now() == again.attrs_before, "terminal settings not restored after exit"
    assert rt_engine.ok("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "3"
    rt_engine.ok("rm", name)


def test_custom_detach_keys_and_ctrl_c_reaches_the_container(rt_engine, busybox, terminals):  # noqa: F811
    name = "tty-keys"
    term = terminals("run", "-it", "--detach-keys", "ctrl-a,x", "--name", name, busybox, "sh")
    term.read_until(b"# ")
    term.type(b"\x10\x11echo still-here\r")  # the default keys are plain input now
    term.read_until(b"\r\nstill-here\r\n")
    term.type(b"sleep 30\r")
    time.sleep(0.5)
    term.type(b"\x03")  # raw mode: Ctrl-C is a byte for the container's terminal
    term.type(b"echo after-int\r")
    term.read_until(b"\r\nafter-int\r\n")
    term.type(b"\x01x")
    assert term.wait() == 0
    assert term.attrs_now() == term.attrs_before
    assert rt_engine.ok("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"
    rt_engine.ok("rm", "-f", name)


def test_start_attach_interactive(rt_engine, busybox, terminals):  # noqa: F811
    name = "tty-start"
    rt_engine.ok("create", "-it", "--name", name, busybox, "sh")
    term = terminals("start", "-a", "-i", name, rows=27, cols=88)
    term.type(b"echo $((2+3))-ok\r")
    term.read_until(b"\r\n5-ok\r\n")
    _stty_size(term, b"27 88")
    term.type(b"exit 7\r")
    assert term.wait() == 7
    assert term.attrs_now() == term.attrs_before
    rt_engine.ok("rm", name)


def test_tty_output_is_not_split(rt_engine, busybox):  # noqa: F811
    res = rt_engine.cli("run", "--rm", "-t", busybox, "sh", "-c", "tty; echo err >&2; exit 2")
    assert res.returncode == 2
    assert res.stderr == ""
    assert res.stdout.replace("\r\n", "\n") == "/dev/pts/0\nerr\n"


def test_interactive_tty_needs_a_terminal(rt_engine, busybox):  # noqa: F811
    res = rt_engine.cli("run", "--rm", "-it", busybox, "true", input="")
    assert res.returncode == 1
    assert "the input device is not a TTY" in res.stderr
    assert rt_engine.ok("ps", "-aq").lines == []


def test_piped_stdin_without_tty_still_works(rt_engine, busybox):  # noqa: F811
    res = rt_engine.cli("run", "--rm", "-i", busybox, "cat", input="x\n")
    assert (res.returncode, res.stdout, res.stderr) == (0, "x\n", "")


def test_bad_detach_keys_are_refused_before_create(rt_engine, busybox):  # noqa: F811
    res = rt_engine.cli("run", "--rm", "-t", "--detach-keys", "ctrl-1", busybox, "true")
    assert res.returncode == 125 and "invalid detach keys" in res.stderr, res.stderr
    assert rt_engine.ok("ps", "-aq").lines == []


@pytest.mark.parametrize(("text", "keys"), [
    ("ctrl-p,ctrl-q", b"\x10\x11"), ("ctrl-a,x", b"\x01x"), ("ctrl-@,ctrl-[,ctrl-_", b"\x00\x1b\x1f"),
    ("a", b"a"),
])
def test_detach_key_syntax(text, keys):
    assert parse_detach_keys(text) == keys


def test_detach_scanner_holds_a_prefix_and_releases_it_when_broken():
    scanner = DetachScanner(b"\x10\x11")
    assert scanner.feed(b"ab\x10") == (b"ab", False)
    assert scanner.feed(b"c") == (b"\x10c", False)
    assert scanner.feed(b"\x10\x10") == (b"\x10", False)
    assert scanner.feed(b"\x11rest") == (b"", True)


def test_terminal_restored_when_the_service_goes_away_or_the_cli_is_terminated(
        rt_engine, busybox, terminals):  # noqa: F811
    name = "tty-errors"
    term = terminals("run", "-it", "--name", name, busybox, "sh")
    term.read_until(b"# ")
    rt_engine.stop_service("runtime")
    try:
        assert term.wait() == 125
        assert term.attrs_now() == term.attrs_before, "terminal left raw after an engine error"
    finally:
        rt_engine.start("runtime")
    killed = terminals("attach", name)
    killed.type(b"echo attached\r")
    killed.read_until(b"\r\nattached\r\n")
    killed.proc.terminate()
    assert killed.wait() == 128 + signal.SIGTERM
    assert killed.attrs_now() == killed.attrs_before, "terminal left raw after SIGTERM"
    assert rt_engine.ok("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"
    rt_engine.ok("rm", "-f", name)


def test_run_it_of_a_short_command(rt_engine, busybox, terminals):  # noqa: F811
    term = terminals("run", "--rm", "-it", busybox, "sh", "-c", "stty size; exit 4", rows=12, cols=34)
    assert term.wait() == 4
    assert term.read_until(b"12 34\r\n")
    assert term.attrs_now() == term.attrs_before
