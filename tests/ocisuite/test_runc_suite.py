"""The conformance tier's share of ``make test``: a named subset of runc 1.1.5's
own integration suite (bats), run against Debian's runc and against
barque-oci, each of them passing every named test and leaving nothing behind
(``make test-oci`` runs the whole suite: tests/ocisuite/run.py); and the
suite's ``recvtty`` helper relaying a real pty.

The subset is tests that pass for both runtimes today; a test leaves it only
with a reason in the commit that takes it out.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ocisuite.harness import clean, leftovers, run_file, snapshot
from tests.ocisuite.run import default_runtimes
from tests.support import host
from tests.support.ocisuite import RECVTTY, Suite, container_ids, stage

pytestmark = pytest.mark.root

#: file -> exact test names, passing for runc and barque-oci alike
SUBSET: dict[str, list[str]] = {
    "create.bats": ["runc create", "runc create exec", "runc create --pid-file", "runc create --pid-file with new CWD"],
    "start_detached.bats": ["runc run detached", "runc run detached ({u,g}id != 0)", "runc run detached --pid-file",
                            "runc run detached --pid-file with new CWD"],
    "state.bats": ["state (kill + delete)", "state (pause + resume)"],
    "pause.bats": ["runc pause and resume", "runc pause and resume with nonexist container"],
    "exec.bats": ["runc exec", "runc exec --env", "runc exec --user", "runc exec --preserve-fds"],
    "tty.bats": ["runc create [terminal=false]", "runc run [terminal=false]", "runc run -d [terminal=false]",
                 "runc run [tty ptsname]", "runc exec [tty consolesize]"],
    "umask.bats": ["umask"],
    # issue 18: the terminal relay, cgroupsPath outside barque's, the cgroup verbs, hooks' seccomp, rro, userns
    "run.bats": ["runc run --keep"],
    "cgroups.bats": ["runc create (limits + cgrouppath + permission on the cgroup dir) succeeds"],
    "update.bats": ["update cgroup v1/v2 common limits"],
    "ps.bats": ["ps -f json"],
    "events.bats": ["events --stats"],
    "help.bats": ["runc -h"],
    "seccomp.bats": ["runc run [seccomp] (SCMP_ACT_ERRNO default)"],
    "mounts_recursive.bats": ["runc run [rbind,rro mount is recursively read-only]"],
    "userns.bats": ["userns with simple mount"],
}


@pytest.fixture(scope="module")
def staged() -> Iterator[tuple[Suite, Path]]:
    work = Path(tempfile.mkdtemp(prefix="barque-ocisuite-"))
    try:
        yield stage(work, debian=False), work  # no file of the subset uses the Debian image
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("runtime", ["runc", "barque-oci"])
def test_named_subset_of_runcs_suite_passes(staged, runtime):
    suite, work = staged
    path = default_runtimes()[runtime]
    ids = container_ids(suite)
    before = snapshot(ids)
    results = [r for file, names in SUBSET.items() for r in run_file(suite, path, file, work, only=names)]
    found = leftovers(work, path, ids, before)
    clean(found)
    assert sorted(r.key for r in results) == sorted(f"{f}: {n}" for f, names in SUBSET.items() for n in names)
    failed = {r.key: r.detail for r in results if r.status != "passed"}
    assert not failed, f"{runtime} failed runc's own tests: {failed}"
    if runtime == "runc":  # on a hybrid host runc leaves the suite's parent in `unified` (README: leftovers)
        found["cgroups"] = [d for d in found["cgroups"]
                            if not d.startswith("/sys/fs/cgroup/unified/runc-cgroups-integration-test")]
    assert not any(found.values()), f"{runtime} left behind: {found}"


def _send_pty(sock_path: Path, deadline: float) -> tuple[int, int]:
    """Connects as a runtime does and sends a new pty's master; returns (master, slave)."""
    master, slave = os.openpty()
    with socket.socket(socket.AF_UNIX) as conn:
        while True:
            try:
                conn.connect(str(sock_path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                assert time.monotonic() < deadline, "recvtty never listened"
                time.sleep(0.01)
        socket.send_fds(conn, [b"/dev/pts/test"], [master])
    os.close(master)
    return master, slave


def _wait_gone(pid: int, deadline: float) -> None:
    while host.alive(pid):
        assert time.monotonic() < deadline, f"recvtty {pid} still running"
        time.sleep(0.02)


def test_recvtty_single_relays_the_pty_and_exits_with_it(tmp_path):
    out = tmp_path / "out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([str(RECVTTY), "--no-stdin", "--pid-file", str(tmp_path / "pid"), "--mode",
                                 "single", str(tmp_path / "sock")], stdout=sink, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        _, slave = _send_pty(tmp_path / "sock", deadline)
        assert int((tmp_path / "pid").read_text()) == proc.pid  # the pid the suite's teardown kills
        time.sleep(0.2)  # ONLCR is cleared once the master arrives, as runc's recvtty does
        os.write(slave, b"hello\nworld\n")
        os.close(slave)
        assert proc.wait(10) == 0, proc.stderr.read() if proc.stderr else ""
        assert out.read_bytes() == b"hello\nworld\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_recvtty_null_discards_any_number_and_holds_no_inherited_fd(tmp_path):
    r, w = os.pipe()  # stands for bats' TAP stream, inherited as fd 3
    proc = subprocess.Popen([str(RECVTTY), "--pid-file", str(tmp_path / "pid"), "--mode", "null",
                             str(tmp_path / "sock")], pass_fds=(w,), stdout=w, stderr=w)
    os.close(w)
    try:
        deadline = time.monotonic() + 10
        for _ in range(3):
            _, slave = _send_pty(tmp_path / "sock", deadline)
            os.write(slave, b"discarded\n")
            os.close(slave)
        assert proc.poll() is None  # null mode serves until killed
        assert int((tmp_path / "pid").read_text()) == proc.pid
        os.set_blocking(r, False)
        while True:  # the writer end is closed in recvtty: the pipe reads EOF, not EAGAIN
            try:
                assert os.read(r, 100) == b""
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "recvtty still holds an inherited fd"
                time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        _wait_gone(proc.pid, deadline)
    finally:
        os.close(r)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
