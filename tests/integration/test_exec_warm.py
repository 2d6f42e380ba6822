"""``barque exec`` on both of the runtime's paths: warm (barque-oci's exec run
by a worker the zygote forks, the stdio handed over with SCM_RIGHTS) and
cold (``BARQUE_RUNTIME_WARM=0``: a ``barque-oci`` subprocess). Each test runs
against an engine of each kind; the process tree shows which path served.
Nothing an exec starts (relay, worker, the process) may outlive it, also when
its client is killed mid-exec."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from services.runtime.engine.warmexec import spawn_warm
from services.runtime.shim.client import Zygote
from tests.support.engine import CLI, REPO, Engine
from tests.support.host import alive, cgroup_pids, cmdline, descendants, parent_pid
from tests.support.runtime import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture(scope="module")
def box(path_engine, test_images) -> str:
    """A running `sleep` container; its full id."""
    cid = path_engine.ok("run", "-d", "--name", "warm-box", "--network", "none", test_images["oci-gzip"].ref,
                 "sleep", "3600").stdout.strip()
    yield cid
    path_engine.ok("rm", "-f", cid)


def _zygote_pid(path_engine: Engine) -> int | None:
    return Zygote(str(path_engine.state("runtime") / "zygote")).pid()


def _service_tree(path_engine: Engine) -> set[int]:
    """The runtime service's descendants: zygote, shims, containers, and every
    relay, worker or barque-oci of an exec."""
    return descendants(path_engine.procs["runtime"].pid)


def _cli(path_engine: Engine, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], env={**os.environ, **path_engine.env}, cwd=REPO,
                            start_new_session=True, **kw)


def _new_process(cid: str, before: set[int], command: str) -> int:
    """The one host pid that joined the container's cgroup since ``before``,
    once it runs ``command``: the exec's first child joins the cgroup before
    it forks the process, and is gone a moment later."""
    found: list[int] = []

    def appeared() -> bool:
        found[:] = sorted(cgroup_pids(f"barque/{cid}") - before)
        return len(found) == 1 and cmdline(found[0]).split(" ")[0] == command

    wait_for(appeared, timeout=30, what="the exec'd process in the container's cgroup")
    return found[0]


def test_stdin_stdout_stderr(path_engine, box):
    res = path_engine.ok("exec", "-i", "warm-box", "sh", "-c", "cat; echo err >&2", input="one\ntwo\n")
    assert res.stdout == "one\ntwo\n"
    assert res.stderr == "err\n"
    big = "x" * 300_000 + "\n"  # more than a pipe holds, both ways
    assert path_engine.ok("exec", "-i", "warm-box", "cat", input=big).stdout == big
    assert path_engine.ok("exec", "warm-box", "cat", input="ignored\n", timeout=30).stdout == ""


@pytest.mark.parametrize("argv, code", [
    (["true"], 0),
    (["sh", "-c", "exit 7"], 7),
    (["/etc/passwd"], 126),
    (["no-such-command"], 127),
])
def test_exit_codes(path_engine, box, argv, code):
    res = path_engine.cli("exec", "warm-box", *argv)
    assert res.returncode == code, res
    if code >= 126:
        assert res.stderr.startswith("OCI runtime exec failed: exec failed:"), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    else:
        assert res.stderr == ""


def test_killed_by_a_signal_is_128_plus(path_engine, box):
    assert path_engine.cli("exec", "warm-box", "sh", "-c", "kill -9 $$").returncode == 137


def test_tty(path_engine, box):
    res = path_engine.cli("exec", "-t", "warm-box", "sh", "-c", "tty; echo err >&2; exit 3", timeout=60)
    assert res.returncode == 3, res
    lines = res.stdout.splitlines()
    assert lines[0].startswith("/dev/pts/"), res.stdout
    assert lines[1] == "err", res.stdout
    res = path_engine.cli("exec", "-it", "warm-box", "sh", input="echo hi-$((1+2))\nexit 4\n", timeout=60)
    assert res.returncode == 4, res
    assert "hi-3" in res.stdout


def test_detach(path_engine, box):
    start = time.monotonic()
    res = path_engine.ok("exec", "-d", "warm-box", "sh", "-c", "sleep 1; echo done > /tmp/detached")
    assert res.stdout == "" and time.monotonic() - start < 10
    assert path_engine.cli("exec", "warm-box", "cat", "/tmp/detached").returncode != 0, "-d waited for the process"
    wait_for(lambda: path_engine.cli("exec", "warm-box", "cat", "/tmp/detached").stdout == "done\n",
             what="the detached process's file")
    assert path_engine.cli("exec", "-d", "warm-box", "no-such-command").returncode == 127


def test_stopped_container_is_refused(path_engine, test_images):
    cid = path_engine.ok("run", "-d", test_images["oci-gzip"].ref, "true").stdout.strip()
    path_engine.ok("wait", cid)
    res = path_engine.cli("exec", cid, "echo", "hi")
    assert res.returncode == 125
    assert res.stderr.strip() == f"Error response from daemon: container {cid} is not running"
    path_engine.ok("rm", cid)


def test_served_by_the_expected_path(path_engine, exec_path, box):
    """warm: the process's parent is a worker whose parent (the relay) is the
    zygote's child; cold: its parent is a barque-oci process of the service."""
    before = cgroup_pids(f"barque/{box}")
    cli = _cli(path_engine, "exec", "warm-box", "sleep", "60", stdout=subprocess.DEVNULL)
    try:
        pid = _new_process(box, before, "sleep")
        worker = parent_pid(pid)
        relay = parent_pid(worker)
        zygote = _zygote_pid(path_engine)
        if exec_path == "warm":
            assert zygote is not None and parent_pid(relay) == zygote
            assert cmdline(worker) == cmdline(zygote)  # forked, not a fresh interpreter
        else:
            assert zygote is None
            assert relay == path_engine.procs["runtime"].pid
            assert "services.runtime.oci" in cmdline(worker) or "barque-oci" in cmdline(worker)
    finally:
        cli.kill()
        cli.wait()
        wait_for(lambda: cgroup_pids(f"barque/{box}") == before, what="the exec to end with its client")


@pytest.mark.parametrize("argv", [["sleep", "300"], ["yes"]], ids=["silent", "talking"])
def test_killed_client_leaves_nothing(path_engine, box, argv):
    """The client killed mid-exec: the process is killed, and the relay and the
    worker (or the barque-oci subprocess) end with it, whether the process was
    writing (the stream notices) or silent (the RPC's end does)."""
    tree = _service_tree(path_engine)
    in_box = cgroup_pids(f"barque/{box}")
    cli = _cli(path_engine, "exec", "warm-box", *argv, stdout=subprocess.DEVNULL)
    try:
        pid = _new_process(box, in_box, argv[0])
        extra: set[int] = set()

        def in_tree() -> bool:  # the process and who waits for it
            extra.update(_service_tree(path_engine) - tree)
            return pid in extra and len(extra) >= 2

        wait_for(in_tree, timeout=10, what="the exec'd process under the runtime service")
        time.sleep(0.3)
    finally:
        cli.kill()
        cli.wait()
    wait_for(lambda: _service_tree(path_engine) <= tree, timeout=15, what="the exec's processes to end")
    assert cgroup_pids(f"barque/{box}") == in_box
    assert not any(alive(p) for p in extra)


def test_the_helper_serves_on_while_an_exec_runs(path_engine, box, test_images):
    """A long exec holds nothing up: other execs and a run go on meanwhile."""
    before = cgroup_pids(f"barque/{box}")
    long = _cli(path_engine, "exec", "warm-box", "sleep", "30", stdout=subprocess.DEVNULL)
    try:
        _new_process(box, before, "sleep")
        assert path_engine.ok("exec", "warm-box", "echo", "meanwhile", timeout=20).stdout == "meanwhile\n"
        res = path_engine.ok("run", "--rm", "--network", "none", test_images["oci-gzip"].ref, "echo", "ran", timeout=20)
        assert res.stdout == "ran\n"
        assert long.poll() is None
    finally:
        long.kill()
        long.wait()
        wait_for(lambda: cgroup_pids(f"barque/{box}") == before, what="the exec to end with its client")


def test_warm_process_pid_signal_status(path_engine, exec_path, box, tmp_path):
    """The runtime's handle of a warm exec, without the session around it: the
    pid is the worker's, a signal reaches it through the relay, the status is
    Popen's (-SIG when killed), and the worker's stdout is the pipe handed over."""
    if exec_path != "warm":
        pytest.skip("the cold path is subprocess.Popen")
    zygote = Zygote(str(path_engine.state("runtime") / "zygote"))
    version = spawn_warm(zygote, ["--version"], stdin=False, stdout=True, stderr=True)
    assert version.stdout is not None and version.stderr is not None
    with version.stdout, version.stderr:
        assert version.stdout.read().startswith(b"barque-oci version")
        assert version.stderr.read() == b""
    assert version.wait(10) == 0 and version.poll() == 0
    version.kill()  # after the end: nothing to signal, no error

    spec = json.loads((path_engine.state("runtime") / "containers" / box / "config.json").read_text())
    process = tmp_path / "process.json"
    process.write_text(json.dumps({**spec["process"], "args": ["sleep", "100"], "terminal": False}))
    before = cgroup_pids(f"barque/{box}")
    oci_root = path_engine.state("runtime") / "oci"
    proc = spawn_warm(zygote, ["--root", str(oci_root), "exec", "--process", str(process), box],
                      stdin=False, stdout=False, stderr=False)
    sleeper = _new_process(box, before, "sleep")
    try:
        assert parent_pid(sleeper) == proc.pid
        assert parent_pid(parent_pid(proc.pid)) == zygote.pid()
        assert proc.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(0.1)
        # SIGKILL: barque-oci exec forwards the signals it can catch (SIGTERM ends the
        # sleep, as runc's exec), this one kills the worker itself
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        os.kill(sleeper, signal.SIGKILL)  # orphaned by its barque-oci, as under runc
    wait_for(lambda: cgroup_pids(f"barque/{box}") == before, what="the orphaned sleep to go")
