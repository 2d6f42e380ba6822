"""``barque exec`` through the real CLI and services: the process joins the
container (namespaces, cgroup), gets its environment, user and working
directory with the flags' overrides, and its exit code; refusals are 125,
commands that cannot run 126/127, as ``docker exec``."""

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

from tests.support.engine import CLI
from tests.support.host import cgroup_pids, host_status_field, status_field
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture(scope="module")
def box(rt_engine, busybox) -> str:
    """A running `sleep` container with its own env and hostname; its full id."""
    cid = rt_engine.ok("run", "-d", "--name", "exec-box", "-e", "FROM_RUN=run", "-e", "OVERRIDE=run",
                       "-h", "boxhost", busybox, "sleep", "3600").stdout.strip()
    yield cid
    rt_engine.ok("rm", "-f", cid)


def _env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _pids_of(cid: str) -> set[int]:
    """Host pids in the container's cgroups."""
    return cgroup_pids(f"barque/{cid}")


def test_exec_echo(rt_engine, box):
    res = rt_engine.ok("exec", "exec-box", "echo", "hello", "world")
    assert res.stdout == "hello world\n"
    assert rt_engine.ok("container", "exec", box[:12], "echo", "again").stdout == "again\n"


def test_exec_stderr_is_stderr(rt_engine, box):
    res = rt_engine.ok("exec", "exec-box", "sh", "-c", "echo out; echo err >&2")
    assert res.stdout == "out\n"
    assert res.stderr == "err\n"


def test_exec_env_is_the_containers_plus_flags(rt_engine, box):
    env = _env(rt_engine.ok("exec", "-e", "OVERRIDE=exec", "-e", "EXTRA=1", "exec-box", "env").stdout)
    assert env["FROM_RUN"] == "run"
    assert env["OVERRIDE"] == "exec"
    assert env["EXTRA"] == "1"
    assert env["HOSTNAME"] == "boxhost"
    assert "PATH" in env


def test_exec_workdir(rt_engine, box):
    assert rt_engine.ok("exec", "exec-box", "pwd").stdout == "/\n"
    assert rt_engine.ok("exec", "-w", "/etc", "exec-box", "pwd").stdout == "/etc\n"


def test_exec_user(rt_engine, box):
    assert rt_engine.ok("exec", "exec-box", "id", "-u").stdout == "0\n"
    out = rt_engine.ok("exec", "-u", "app", "exec-box", "id").stdout
    assert out.startswith("uid=1000(app) gid=1000(app)"), out
    assert rt_engine.ok("exec", "-u", "1234:99", "exec-box", "id", "-u").stdout == "1234\n"
    # as docker exec (moby getUser): the primary gid is among the groups
    assert rt_engine.ok("exec", "-u", "1234:5678", "exec-box", "id").stdout == "uid=1234 gid=5678 groups=5678\n"
    cap_eff = status_field(rt_engine.ok("exec", "-u", "app", "exec-box", "cat", "/proc/self/status").stdout,
                           "CapEff")
    assert int(cap_eff, 16) == 0


def test_exec_privileged_gets_every_capability(rt_engine, box):
    plain = status_field(rt_engine.ok("exec", "exec-box", "cat", "/proc/self/status").stdout, "CapEff")
    full = status_field(rt_engine.ok("exec", "--privileged", "exec-box", "cat", "/proc/self/status").stdout,
                        "CapEff")
    assert int(full, 16) == int(host_status_field("CapBnd"), 16)
    assert int(plain, 16) != int(full, 16)
    assert int(plain, 16) & ~int(full, 16) == 0


def test_exec_interactive_stdin(rt_engine, box):
    res = rt_engine.ok("exec", "-i", "exec-box", "cat", input="line one\nline two\n")
    assert res.stdout == "line one\nline two\n"
    # without -i the process gets no stdin: cat ends at once
    assert rt_engine.ok("exec", "exec-box", "cat", input="ignored\n", timeout=30).stdout == ""


def test_exec_detach_returns_at_once(rt_engine, box):
    # the detached process cannot end before the test lets it: -d returning at all shows it did not wait
    res = rt_engine.ok("exec", "-d", "exec-box", "sh", "-c",
                       "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo done > /tmp/detached", timeout=30)
    assert res.stdout == ""
    assert rt_engine.cli("exec", "exec-box", "cat", "/tmp/detached").returncode != 0
    rt_engine.ok("exec", "exec-box", "touch", "/tmp/go")
    wait_for(lambda: rt_engine.cli("exec", "exec-box", "cat", "/tmp/detached").stdout == "done\n",
             what="the detached process's file")


def test_exec_exit_code(rt_engine, box):
    assert rt_engine.cli("exec", "exec-box", "sh", "-c", "exit 4").returncode == 4
    assert rt_engine.cli("exec", "exec-box", "false").returncode == 1


def test_exec_missing_command_is_127(rt_engine, box):
    res = rt_engine.cli("exec", "exec-box", "no-such-command")
    assert res.returncode == 127
    assert "executable file not found in $PATH" in res.stderr
    assert res.stderr.startswith("OCI runtime exec failed: exec failed:")
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    detached = rt_engine.cli("exec", "-d", "exec-box", "no-such-command")
    assert detached.returncode == 127
    assert "executable file not found in $PATH" in detached.stderr


def test_exec_not_executable_is_126(rt_engine, box):
    res = rt_engine.cli("exec", "exec-box", "/etc/passwd")
    assert res.returncode == 126, res.stderr
    assert "permission denied" in res.stderr


def test_exec_refused_for_stopped_and_unknown(rt_engine, busybox):
    cid = rt_engine.ok("run", "-d", busybox, "true").stdout.strip()
    rt_engine.ok("wait", cid)
    res = rt_engine.cli("exec", cid, "echo", "hi")
    assert res.returncode == 125
    assert res.stdout == ""
    assert res.stderr.strip() == f"Error response from daemon: container {cid} is not running"
    rt_engine.ok("rm", cid)
    res = rt_engine.cli("exec", "no-such-container", "echo", "hi")
    assert res.returncode == 125
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "no-such-container" in res.stderr


def test_exec_joins_the_containers_namespaces(rt_engine, box):
    assert rt_engine.ok("exec", "exec-box", "hostname").stdout == "boxhost\n"
    init_pid = int(rt_engine.ok("inspect", "-f", "{{.State.Pid}}", box).stdout)
    for ns in ("pid", "mnt", "uts", "ipc", "net"):
        inside = rt_engine.ok("exec", "exec-box", "readlink", f"/proc/self/ns/{ns}").stdout.strip()
        assert inside == os.readlink(f"/proc/{init_pid}/ns/{ns}"), ns
        assert inside != os.readlink(f"/proc/self/ns/{ns}"), ns
    # pid 1 of the exec's pid namespace is the container's sleep
    assert rt_engine.ok("exec", "exec-box", "cat", "/proc/1/cmdline").stdout.split("\0")[0] == "sleep"


def test_exec_joins_the_containers_cgroup(rt_engine, box):
    res = rt_engine.ok("exec", "exec-box", "sh", "-c", "cat /proc/self/cgroup")
    lines = [line for line in res.stdout.splitlines() if ":memory:" in line or line.startswith("0::")]
    assert lines and all(box in line for line in lines), res.stdout


def test_exec_leaves_no_process(rt_engine, box):
    before = _pids_of(box)
    assert before
    rt_engine.ok("exec", "exec-box", "sh", "-c", "echo hi")
    rt_engine.ok("exec", "-i", "exec-box", "cat", input="x")
    rt_engine.cli("exec", "exec-box", "no-such-command")
    wait_for(lambda: _pids_of(box) == before, timeout=10, what="exec processes to leave the cgroup")
    leftovers = [p for p in Path("/proc").iterdir()
                 if p.name.isdigit() and _cmdline(p).startswith("barque-oci")]
    assert not [p for p in leftovers if box in _cmdline(p)], "a barque-oci exec outlived its command"


def _cmdline(p: Path) -> str:
    try:
        raw = (p / "cmdline").read_bytes()
    except OSError:
        return ""
    parts = [os.path.basename(a) for a in raw.decode(errors="replace").split("\0") if a]
    return " ".join(parts[1:] if parts and parts[0].startswith("python") else parts)


def test_exec_tty(rt_engine, box):
    res = rt_engine.ok("exec", "-t", "exec-box", "sh", "-c", "tty; echo err >&2", timeout=60)
    lines = res.stdout.splitlines()  # the CLI result is text: the terminal's \r\n read as \n
    assert lines[0].startswith("/dev/pts/"), res.stdout
    assert lines[1] == "err", res.stdout  # a terminal merges stderr into stdout
    assert res.stderr == ""
    assert rt_engine.cli("exec", "-t", "exec-box", "sh", "-c", "exit 5").returncode == 5


def test_exec_it_on_a_real_terminal(rt_engine, box):
    """The CLI on a pty of 30x100: the process starts at that size, sees a
    resize, reads what is typed, and the client's terminal is restored."""
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        before = termios.tcgetattr(slave)
        proc = subprocess.Popen(
            [*CLI, "exec", "-it", "exec-box", "sh", "-c",
             "stty size; read line; echo got-$line; stty size; exit 6"],
            stdin=slave, stdout=slave, stderr=slave, env={**os.environ, **rt_engine.env},
            cwd=Path(__file__).resolve().parents[2], close_fds=True, start_new_session=True)
        try:
            seen = _read_until(master, b"30 100")
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            proc.send_signal(signal.SIGWINCH)
            time.sleep(0.5)
            os.write(master, b"hello\r")
            seen += _read_until(master, b"40 120")
            assert proc.wait(30) == 6
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert b"got-hello" in seen, seen
        assert termios.tcgetattr(slave) == before, "the client's terminal was left raw"
    finally:
        os.close(master)
        os.close(slave)


def _read_until(fd: int, marker: bytes, timeout: float = 30.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in terminal output {out!r}"
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready:
            out += os.read(fd, 65536)
    return out


def test_exec_interactive_tty(rt_engine, box):
    res = rt_engine.cli("exec", "-it", "exec-box", "sh", input="echo hi-$((1+2))\nexit 3\n", timeout=60)
    assert res.returncode == 3, res
    assert "\nhi-3\n" in res.stdout


def test_exec_tty_missing_command_is_127(rt_engine, box):
    res = rt_engine.cli("exec", "-t", "exec-box", "no-such-command", timeout=60)
    assert res.returncode == 127
    assert "executable file not found in $PATH" in res.stderr
