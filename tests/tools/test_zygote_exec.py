"""The zygote's ``exec_oci`` request against a real zygote (a process of its
own, as the runtime starts it): barque-oci runs on the descriptors handed
over, the relay names the worker, forwards signals and reports the status,
and neither outlives the worker, also when the caller hangs up first. A
request with the wrong descriptors is refused and its descriptors closed.

barque-oci is kept waiting without a container: its ``--log`` is a FIFO,
whose open blocks until someone reads it."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from services.runtime.engine.warmexec import spawn_warm
from services.runtime.shim.client import Zygote
from services.runtime.shim.unixsock import recv_line
from tests.support.host import alive, descendants, parent_pid


@pytest.fixture(scope="module")
def zygote(tmp_path_factory) -> Zygote:
    z = Zygote(str(tmp_path_factory.mktemp("zygote")))
    z.ensure()
    yield z
    pid = z.pid()
    assert pid is not None
    deadline = time.monotonic() + 10  # a child that just replied may still be exiting
    while (left := descendants(pid)) and time.monotonic() < deadline:
        time.sleep(0.01)
    z.stop()
    assert not left, f"the zygote's children outlived their tests: {left}"


def _fds(pid: int) -> set[str]:
    return set(os.listdir(f"/proc/{pid}/fd"))


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} is still there"
        time.sleep(0.01)


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "log.fifo"
    os.mkfifo(path)
    return path


def test_stdout_and_status_of_a_quick_command(zygote):
    proc = spawn_warm(zygote, ["--version"], stdin=False, stdout=True, stderr=True)
    assert proc.stdout is not None and proc.stderr is not None
    with proc.stdout, proc.stderr:
        assert proc.stdout.read().startswith(b"barque-oci version")
        assert proc.stderr.read() == b""
    assert proc.wait(10) == 0


def test_error_exit_and_stderr(zygote, tmp_path):
    proc = spawn_warm(zygote, ["--root", str(tmp_path), "state", "no-such"], stdin=False, stdout=True,
                      stderr=True)
    assert proc.stdout is not None and proc.stderr is not None
    with proc.stdout, proc.stderr:
        assert proc.stdout.read() == b""
        assert proc.stderr.read().startswith(b"barque-oci: state:")
    assert proc.wait(10) == 1


def test_signal_reaches_the_worker_and_both_end(zygote, tmp_path):
    fifo = _fifo(tmp_path)
    proc = spawn_warm(zygote, ["--root", str(tmp_path), "--log", str(fifo), "state", "x"],
                      stdin=False, stdout=False, stderr=False)
    relay = parent_pid(proc.pid)
    assert parent_pid(relay) == zygote.pid()
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.2)  # blocked opening the FIFO
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == -signal.SIGTERM
    _wait_gone(proc.pid)
    _wait_gone(relay)
    proc.kill()  # ended: nothing is sent, nothing fails


def test_a_caller_that_hangs_up_leaves_the_worker_to_finish(zygote, tmp_path):
    """The runtime gone: the worker runs on (as a subprocess would); the relay
    waits for it and exits with it."""
    fifo = _fifo(tmp_path)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        sock = zygote.exec_oci(["--root", str(tmp_path), "--log", str(fifo), "state", "x"],
                               (null, null, null))
    finally:
        os.close(null)
    with sock:
        pid = int(json.loads(recv_line(sock))["pid"])
    relay = parent_pid(pid)
    time.sleep(0.2)
    assert alive(pid) and alive(relay)
    with open(fifo, "rb") as reader:  # the worker's open of its log returns
        _wait_gone(pid)
        _wait_gone(relay)
        assert b"level=error" in reader.read()  # it ran to its end: no such container


@pytest.mark.parametrize("op, count", [("exec_oci", 2), ("exec_oci", 4), ("oci", 1), ("shim", 3)])
def test_wrong_descriptors_are_refused_and_closed(zygote, op, count):
    """Copies of a pipe's write end sent with a request the zygote refuses: it
    answers nothing, and the pipe reads end of file once our end is closed."""
    pid = zygote.pid()
    assert pid is not None
    before = _fds(pid)
    r, w = os.pipe()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(zygote.socket_path)
            socket.send_fds(sock, [json.dumps({"op": op, "args": ["--version"]}).encode() + b"\n"],
                            [w] * count)
            assert sock.recv(100) == b""  # dropped unanswered
        os.close(w)
        w = -1
        assert select.select([r], [], [], 10)[0], "a copy of the write end is still open"
        assert os.read(r, 1) == b""
        assert _fds(pid) == before
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    assert zygote.run_oci(["--version"])[0] == 0  # it serves on
