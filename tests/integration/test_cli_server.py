"""The installed ``barque`` (cli/launcher.py) against the real services: the
same output and exit codes through the warm command server as in-process,
stdin, a terminal, relayed signals, the server started by the first call,
refusing nothing it should serve, and gone (socket, lock, process) when
stopped."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from cli.cmdserver import server_pid
from tests.support.engine import REPO, Engine
from tests.support.host import alive, children, interruptible

pytestmark = [pytest.mark.integration, pytest.mark.root]

LAUNCHER = [sys.executable, "-IS", str(REPO / "cli" / "launcher.py")]


class Launcher:
    """The launcher with its own server socket under the engine's temp dir."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.socket = engine.root / "cli" / "cli.sock"
        self.env = {**os.environ, **engine.env, "BARQUE_CLI_SOCKET": str(self.socket)}
        self.env.pop("BARQUE_CLI_SERVER", None)

    def run(self, *args: str, input: str | None = None, server: bool = True, timeout: float = 120):
        env = dict(self.env) if server else {**self.env, "BARQUE_CLI_SERVER": "0"}
        return subprocess.run([*LAUNCHER, *args], input=input, capture_output=True, text=True,
                              env=env, timeout=timeout)

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([*LAUNCHER, *args], env=self.env, **kw)

    def server_pid(self) -> int:
        return server_pid(self.socket)

    def wait_server(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.server_pid()
            if pid and self.socket.exists() and alive(pid):
                return pid
            time.sleep(0.05)
        raise AssertionError("the command server did not come up")

    def stop(self) -> None:
        pid = self.server_pid()
        if pid and alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not alive(pid), "the command server outlived SIGTERM"
        assert not self.socket.exists(), "the command server left its socket"


@pytest.fixture(scope="module")
def launcher(rt_engine):
    lau = Launcher(rt_engine)
    first = lau.run("ps")  # starts the server, runs in-process meanwhile
    assert first.returncode == 0, first.stderr
    lau.wait_server()
    try:
        yield lau
    finally:
        lau.stop()


CASES = [
    ("ps", ("ps", "-a", "--format", "{{.Names}}")),
    ("version", ("version", "--format", "{{.Client.APIVersion}}")),
    ("unknown command", ("nosuch",)),
    ("bad flag", ("ps", "--nosuch")),
    ("no such container", ("inspect", "nosuch-container")),
]


@pytest.mark.parametrize("name,args", CASES, ids=[c[0] for c in CASES])
def test_same_output_and_status_as_in_process(launcher, name, args):
    warm, cold = launcher.run(*args), launcher.run(*args, server=False)
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_container_exit_codes(launcher, busybox):
    assert launcher.run("run", "--rm", busybox, "sh", "-c", "exit 7").returncode == 7
    missing = launcher.run("run", "--rm", busybox, "nosuchcmd")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr


def test_stdin_reaches_the_container(launcher, busybox):
    res = launcher.run("run", "--rm", "-i", busybox, "sh", "-c", "tr a-z A-Z", input="hello\n")
    assert (res.returncode, res.stdout) == (0, "HELLO\n")


def test_runs_in_a_worker_of_the_server(launcher, busybox):
    server = launcher.wait_server()
    proc = launcher.popen("run", "--rm", busybox, "sleep", "2", stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    workers: list[int] = []
    while time.monotonic() < deadline and not workers:
        workers = children(server)
        time.sleep(0.02)
    assert proc.wait(30) == 0
    assert workers, "the command ran without a worker of the server"


def test_terminal_is_the_callers(launcher, busybox):
    master, slave = pty.openpty()
    try:
        proc = launcher.popen("run", "--rm", "-t", busybox, "sh", "-c", "test -t 0 && test -t 1 && echo IS-A-TTY",
                              stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        out = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(30) == 0
        assert b"IS-A-TTY" in out
    finally:
        os.close(master)


def test_sigint_is_relayed_as_in_process(launcher, busybox):
    """Ctrl-C at a terminal reaches the launcher; the command sees it exactly
    as the in-process CLI does (130)."""
    statuses = []
    for server in (True, False):
        env = launcher.env if server else {**launcher.env, "BARQUE_CLI_SERVER": "0"}
        proc = subprocess.Popen(interruptible([*LAUNCHER, "run", "--name", f"sigint-{int(server)}", busybox,
                                                  "sleep", "60"]),
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ps = launcher.run("ps", "--filter", f"name=sigint-{int(server)}", "-q")
                if ps.stdout.strip():
                    break
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            statuses.append(proc.wait(30))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            launcher.run("rm", "-f", f"sigint-{int(server)}")
    assert statuses == [130, 130]


def test_a_stale_server_hands_over(launcher, busybox):
    """A changed source file makes the server answer no more: that command
    runs in-process, and a new server takes the socket."""
    old = launcher.wait_server()
    source = REPO / "cli" / "format.py"
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    try:
        res = launcher.run("ps", "-q")
        assert res.returncode == 0, res.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (launcher.server_pid() in (0, old) or not launcher.socket.exists()):
            time.sleep(0.05)
        new = launcher.wait_server()
        assert new != old
        deadline = time.monotonic() + 15
        while alive(old) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(old), "the stale server did not exit"
    finally:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
