"""barque-oci's own terminal for a foreground ``run``/``exec`` with
``process.terminal`` and no ``--console-socket`` (runc 1.1's tty.go), driven
under a pty of the test's own, as a shell would run it.

The runtime's stdin is the test's pty slave (its controlling terminal, as
runc's suite runs under ``script``), stdout and stderr pipes: what the
container writes comes back on stdout unchanged (ONLCR cleared on the
master), its size is the test pty's at start and after a resize, what is
written to the test pty reaches the process, the exit code is the
process's, and the test pty's modes are restored afterwards. Without any
terminal the run is refused, as runc refuses it; create, ``run -d`` and
``exec -d`` with a terminal need a console socket (runc's words). Every
test leaves no process, cgroup, mount or state dir.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ocibundle import OCI, REPO, Bundle, delete_and_assert_clean, temp_busybox_rootfs

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    with temp_busybox_rootfs("barque-tty-rootfs-") as root:
        yield root


@pytest.fixture
def bundle(tmp_path: Path, rootfs: Path) -> Iterator[Bundle]:
    b = Bundle(tmp_path, rootfs)
    b.config["process"]["terminal"] = True
    yield b
    delete_and_assert_clean(b)


class Pty:
    """The test's terminal: master kept here, slave given to the runtime."""

    def __init__(self, rows: int = 33, cols: int = 99):
        self.master, self.slave = os.openpty()
        self.resize(rows, cols)
        self.modes = termios.tcgetattr(self.slave)

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def _controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _start(b: Bundle, *args: str, stdin=None, ctty: bool = True) -> subprocess.Popen:
    """``barque-oci ARGS`` in a session of its own with ``stdin`` (the pty's
    slave, its controlling terminal when ``ctty``), stdout/stderr piped."""
    return subprocess.Popen([*OCI, "--root", str(b.state_root), *args], cwd=REPO, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True,
                            preexec_fn=_controlling_terminal if ctty else None)


def _run(b: Bundle, script: str, pty: Pty, timeout: float = 60) -> tuple[int, str, str]:
    b.args("sh", "-c", script)
    b.write()
    proc = _start(b, "run", "--bundle", str(b.dir), b.id, stdin=pty.slave)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


def test_run_relays_the_terminal_and_exit_code(bundle: Bundle):
    pty = Pty(33, 99)
    try:
        code, out, err = _run(bundle, "tty; stty size; printf 'a\\nb\\n'; exit 7", pty)
        assert code == 7, err
        # the container's bytes unchanged: "\n" stays "\n" (ONLCR cleared on the master)
        assert out == "/dev/pts/0\n33 99\na\nb\n", out
        assert termios.tcgetattr(pty.slave) == pty.modes, "the caller's terminal was left raw"
    finally:
        pty.close()


def test_run_terminal_is_raw_while_it_runs(bundle: Bundle):
    """Our terminal is raw (no echo, no canonical mode) while the container
    runs: its own pty does the line editing."""
    pty = Pty()
    try:
        bundle.args("sh", "-c", "echo ready; read line; echo got:$line")
        bundle.write()
        proc = _start(bundle, "run", "--bundle", str(bundle.dir), bundle.id, stdin=pty.slave)
        assert proc.stdout.readline() == b"ready\n"
        modes = termios.tcgetattr(pty.slave)
        assert not modes[3] & (termios.ECHO | termios.ICANON | termios.ISIG)
        os.write(pty.master, b"hello\r")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        # the container's pty echoes the line (\r\n: its own ONLCR), then the answer
        assert out.decode().splitlines()[-1] == "got:hello", out
        assert termios.tcgetattr(pty.slave) == pty.modes
    finally:
        pty.close()


def test_run_follows_a_resize(bundle: Bundle):
    pty = Pty(24, 80)
    try:
        bundle.args("sh", "-c", "stty size; i=0; while [ \"$(stty size)\" != '40 120' ]; do "
                                "i=$((i+1)); [ $i -gt 300 ] && exit 9; sleep 0.1; done; echo resized")
        bundle.write()
        proc = _start(bundle, "run", "--bundle", str(bundle.dir), bundle.id, stdin=pty.slave)
        assert proc.stdout.readline() == b"24 80\n"
        pty.resize(40, 120)  # the kernel signals the runtime (SIGWINCH): it is the foreground
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out) == (0, b"resized\n"), err
    finally:
        pty.close()


def test_run_without_a_terminal_on_stdio_uses_the_controlling_one(bundle: Bundle):
    """stdin /dev/null, stdout and stderr pipes: /dev/tty is the terminal set
    raw and sized from (runc's 'stdin not a tty'); stdin just ends."""
    pty = Pty(11, 55)
    try:
        bundle.args("sh", "-c", "stty size")
        bundle.write()
        null = os.open("/dev/null", os.O_RDONLY)

        def ctty_then_null() -> None:
            os.dup2(pty.slave, 0)
            _controlling_terminal()
            os.dup2(null, 0)

        proc = subprocess.Popen([*OCI, "--root", str(bundle.state_root), "run", "--bundle",
                                 str(bundle.dir), bundle.id], cwd=REPO, stdin=null,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=ctty_then_null)
        os.close(null)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out) == (0, b"11 55\n"), err
        assert termios.tcgetattr(pty.slave) == pty.modes
    finally:
        pty.close()


def test_run_without_any_terminal_is_refused(bundle: Bundle):
    bundle.args("true")
    bundle.write()
    proc = _start(bundle, "run", "--bundle", str(bundle.dir), bundle.id,
                  stdin=subprocess.DEVNULL, ctty=False)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and b"/dev/tty" in err, err


@pytest.mark.parametrize("verb", [("create",), ("run", "-d")])
def test_detached_terminal_needs_a_console_socket(bundle: Bundle, verb: tuple[str, ...]):
    bundle.args("true")
    bundle.write()
    done = bundle.cli(*verb, "--bundle", str(bundle.dir), bundle.id)
    assert done.returncode == 1
    assert "cannot allocate tty if runc will detach without setting console socket" in done.stderr


def test_exec_t_relays_the_terminal(bundle: Bundle):
    bundle.config["process"]["terminal"] = False  # a detached container without one
    bundle.args("sleep", "1000")
    bundle.write()
    done = bundle.cli("run", "-d", "--bundle", str(bundle.dir), bundle.id, capture_output=False,
                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)  # the container holds its stdio open
    assert done.returncode == 0
    pty = Pty(17, 71)
    try:
        proc = _start(bundle, "exec", "-t", bundle.id, "sh", "-c", "tty; stty size; exit 5",
                      stdin=pty.slave)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 5, err
        lines = out.decode().splitlines()
        assert lines[0].startswith("/dev/pts/") and lines[1] == "17 71", out
        assert termios.tcgetattr(pty.slave) == pty.modes
        # exec -d with a terminal and no console socket: refused before anything runs
        done = bundle.cli("exec", "-d", "-t", bundle.id, "true")
        assert done.returncode == 255 and "cannot allocate tty" in done.stderr
    finally:
        pty.close()  # the fixture's delete --force ends the container


def test_run_outlives_a_closed_stdout(bundle: Bundle):
    """Our stdout's reader gone (EPIPE): the output is dropped, the process
    runs to its end and its exit code is still ours."""
    pty = Pty()
    try:
        bundle.args("sh", "-c", "echo ready; sleep 0.5; i=0; while [ $i -lt 2000 ]; do "
                                "echo line-$i; i=$((i+1)); done; exit 4")
        bundle.write()
        proc = _start(bundle, "run", "--bundle", str(bundle.dir), bundle.id, stdin=pty.slave)
        assert proc.stdout.readline() == b"ready\n"
        proc.stdout.close()
        with proc.stderr:
            err = proc.stderr.read()  # EOF once the runtime exits
        assert proc.wait(timeout=60) == 4, err
        assert termios.tcgetattr(pty.slave) == pty.modes
    finally:
        pty.close()


def test_foreground_exec_forwards_signals(bundle: Bundle):
    """As runc's exec: a signal sent to barque-oci reaches the process."""
    bundle.config["process"]["terminal"] = False
    bundle.args("sleep", "1000")
    bundle.write()
    done = bundle.cli("run", "-d", "--bundle", str(bundle.dir), bundle.id, capture_output=False,
                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
    assert done.returncode == 0
    proc = _start(bundle, "exec", bundle.id, "sh", "-c",
                  "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done",
                  stdin=subprocess.DEVNULL, ctty=False)
    assert proc.stdout.readline() == b"ready\n"
    proc.terminate()
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (3, b"got-term\n"), err
