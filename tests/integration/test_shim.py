"""The shim against real runtimes: Debian's runc (and barque-oci where noted)
on a busybox bundle, with real pipes, cgroups, signals and OOM kills.

Every container gets its own id (``bqshim-<hex>``) and cgroupsPath
``/barque/<id>``; the ``ctr`` fixture deletes it with ``delete --force`` and
asserts that no container process, cgroup dir, shim process or attach socket
remains.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from services.runtime.engine.logs import read_logs
from services.runtime.shim import client as shimclient
from services.runtime.shim.client import KIND_EXIT, KIND_STDERR, KIND_STDOUT, ShimConfig
from tests.support.host import alive, cgroup_pids, container_cgroups, parent_pid, process_status
from tests.support.ocibundle import BUSYBOX, busybox_rootfs

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not shutil.which("runc"), reason="runc is not installed"),
]

REPO = Path(__file__).resolve().parents[2]
BARQUE_OCI = (sys.executable, "-m", "services.runtime.oci")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    path = tmp_path_factory.mktemp("shim") / "rootfs"
    busybox_rootfs(path)
    return path


class Container:
    """A bundle, the runtime to run it with, and the shim's paths."""

    def __init__(self, tmp: Path, rootfs: Path, runtime: tuple[str, ...]):
        self.id = f"bqshim-{uuid.uuid4().hex[:10]}"
        self.runtime = runtime
        self.bundle = tmp / "bundle"
        self.bundle.mkdir()
        self.state_dir = tmp / "state"
        self.runtime_root = tmp / "runtime-root"
        self.log_path = tmp / "ctr.log"
        subprocess.run(["runc", "spec"], cwd=self.bundle, check=True)
        self.config = json.loads((self.bundle / "config.json").read_text())
        self.config["root"] = {"path": str(rootfs), "readonly": True}
        self.config["process"]["terminal"] = False
        self.config["linux"]["cgroupsPath"] = f"/barque/{self.id}"
        self.config["linux"]["resources"] = {
            "devices": [{"allow": False, "access": "rwm"}],
            "pids": {"limit": 64},
        }
        self.shim_pid = 0

    def oom_cgroup(self) -> str:
        return f"/sys/fs/cgroup/memory/barque/{self.id}"

    def spawn(self, *args: str, **cfg) -> int:
        self.config["process"]["args"] = list(args)
        (self.bundle / "config.json").write_text(json.dumps(self.config))
        cfg.setdefault("oom_cgroup", self.oom_cgroup())
        self.shim_pid = shimclient.spawn_shim(self.shim_config(**cfg))
        return self.shim_pid

    def shim_config(self, **cfg) -> ShimConfig:
        return ShimConfig(container_id=self.id, bundle=str(self.bundle),
                          state_dir=str(self.state_dir), runtime=self.runtime[0],
                          runtime_args=self.runtime[1:], runtime_root=str(self.runtime_root),
                          log_path=str(self.log_path), **cfg)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.runtime, "--root", str(self.runtime_root), *args],
                              capture_output=True, text=True, timeout=60, cwd=REPO)

    def wait(self, states=("exited",), timeout: float = 30.0) -> shimclient.ShimStatus:
        return shimclient.wait_status(str(self.state_dir), states, timeout=timeout)

    def logs(self, driver: str = "json-file") -> list[tuple[str, bytes]]:
        return [(r.stream, r.data) for r in read_logs(str(self.log_path), driver, follow=False)]

    def wait_shim_gone(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.shim_pid and alive(self.shim_pid):
            assert time.monotonic() < deadline, f"shim {self.shim_pid} still runs"
            time.sleep(0.02)


def _make(tmp_path, rootfs, runtime):
    ctr = Container(tmp_path, rootfs, runtime)
    yield ctr
    done = ctr.cli("delete", "--force", ctr.id)
    assert done.returncode == 0 or "does not exist" in done.stderr or "not exist" in done.stderr, \
        done.stderr
    ctr.wait_shim_gone()
    assert not cgroup_pids(f"barque/{ctr.id}"), "container process left behind"
    assert container_cgroups(ctr.id) == [], "container cgroup left behind"
    assert not (ctr.state_dir / "attach.sock").exists(), "attach socket left behind"
    assert not shimclient.shim_alive(str(ctr.state_dir)), "shim outlived its container"


@pytest.fixture
def ctr(tmp_path, rootfs):
    yield from _make(tmp_path, rootfs, ("runc",))


@pytest.fixture(params=["runc", "barque-oci"])
def any_ctr(request, tmp_path, rootfs):
    runtime = ("runc",) if request.param == "runc" else BARQUE_OCI
    yield from _make(tmp_path, rootfs, runtime)


def _collect(conn) -> tuple[bytes, bytes, dict]:
    out, err, exit_doc = b"", b"", None
    for kind, payload in conn:
        if kind == KIND_STDOUT:
            out += payload
        elif kind == KIND_STDERR:
            err += payload
        elif kind == KIND_EXIT:
            exit_doc = json.loads(payload)
    return out, err, exit_doc


@pytest.mark.parametrize("driver", ["json-file", "k8s-file"])
def test_exit_code_and_logs(any_ctr, driver):
    any_ctr.spawn("sh", "-c", "echo out; echo err >&2; exit 3", log_driver=driver)
    status = any_ctr.wait()
    assert (status.exit_code, status.signal, status.oom_killed, status.error) == (3, None, False, "")
    assert status.started_at and status.finished_at >= status.started_at
    assert sorted(any_ctr.logs(driver)) == [("stderr", b"err\n"), ("stdout", b"out\n")]
    if driver == "k8s-file":
        lines = any_ctr.log_path.read_text().splitlines()
        assert {line.split(" ", 1)[1] for line in lines} == {"stdout F out", "stderr F err"}


def test_attach_gets_both_streams_then_exit(ctr):
    ctr.spawn("sh", "-c", "echo out; echo err >&2; exit 3", wait_attach=True)
    assert ctr.wait(("created",)).state == "created"
    time.sleep(0.3)
    assert shimclient.read_status(str(ctr.state_dir)).state == "created", \
        "--wait-attach started the container before a client attached"
    with shimclient.attach(str(ctr.state_dir), timeout=30) as conn:
        out, err, exit_doc = _collect(conn)
    assert (out, err) == (b"out\n", b"err\n")
    assert exit_doc["exit_code"] == 3 and exit_doc["state"] == "exited"
    assert exit_doc == json.loads((ctr.state_dir / "status.json").read_text())


def test_slow_client_loses_nothing(ctr):
    """A client that does not read pauses the container's output (backpressure)
    instead of losing it or growing the shim without bound."""
    ctr.spawn("sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; echo", wait_attach=True)
    ctr.wait(("created",))
    with shimclient.attach(str(ctr.state_dir), stderr=False, timeout=30) as conn:
        ctr.wait(("running",))
        time.sleep(1.0)
        assert shimclient.read_status(str(ctr.state_dir)).state == "running"
        rss = int(process_status(ctr.shim_pid)["VmRSS"].split()[0])
        assert rss < 20 * 1024, f"shim buffered output without bound: {rss} kB"
        out, _, exit_doc = _collect(conn)
    assert out == b"a" * 3000000 + b"\n" and exit_doc["exit_code"] == 0
    assert b"".join(data for _, data in ctr.logs()) == out


def test_attach_after_exit_gets_exit_frame(ctr):
    ctr.spawn("sh", "-c", "exit 5")
    ctr.wait()
    ctr.wait_shim_gone()
    with shimclient.attach(str(ctr.state_dir)) as conn:
        frames = list(conn)
    assert [kind for kind, _ in frames] == [KIND_EXIT]
    assert json.loads(frames[0][1])["exit_code"] == 5


def test_sigkill_gives_137(any_ctr):
    any_ctr.spawn("sleep", "1000")
    running = any_ctr.wait(("running",))
    assert alive(running.pid)
    with shimclient.attach(str(any_ctr.state_dir), timeout=30) as conn:
        done = any_ctr.cli("kill", any_ctr.id, "KILL")
        assert done.returncode == 0, done.stderr
        _, _, exit_doc = _collect(conn)
    assert (exit_doc["exit_code"], exit_doc["signal"]) == (137, "SIGKILL")
    assert any_ctr.wait().exit_code == 137


def test_stdin_is_forwarded(ctr):
    ctr.spawn("cat", stdin=True, wait_attach=True)
    ctr.wait(("created",))
    with shimclient.attach(str(ctr.state_dir), stdin=True, timeout=30) as conn:
        conn.send_stdin(b"hello\n")
        conn.send_stdin(b"world")
        conn.close_stdin()
        out, err, exit_doc = _collect(conn)
    assert (out, err, exit_doc["exit_code"]) == (b"hello\nworld", b"", 0)
    assert ctr.logs() == [("stdout", b"hello\n"), ("stdout", b"world")]


def test_no_stdin_reads_dev_null(ctr):
    ctr.spawn("sh", "-c", "cat; echo rc=$?")
    assert ctr.wait().exit_code == 0
    assert ctr.logs() == [("stdout", b"rc=0\n")]


def test_oom_kill_is_reported(ctr):
    ctr.config["linux"]["resources"]["memory"] = {"limit": 8 << 20, "swap": 8 << 20}
    ctr.spawn("tail", "/dev/zero")
    status = ctr.wait(timeout=60)
    assert (status.exit_code, status.signal, status.oom_killed) == (137, "SIGKILL", True)


def test_exec_failure_is_127_with_the_runtime_error(any_ctr):
    any_ctr.spawn("no-such-command")
    status = any_ctr.wait()
    assert status.exit_code == 127, status
    assert "no-such-command" in status.error
    assert status.started_at == ""


def test_bad_bundle_is_125(ctr):
    ctr.config["root"]["path"] = str(ctr.bundle / "missing-rootfs")
    ctr.spawn("true")
    status = ctr.wait()
    assert status.exit_code == 125 and status.error, status


def test_shim_ignores_session_signals_and_children_do_not(ctr):
    ctr.spawn("sleep", "1000")
    running = ctr.wait(("running",))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        os.killpg(os.getpgid(ctr.shim_pid), sig)
    time.sleep(0.3)
    assert alive(ctr.shim_pid) and alive(running.pid)
    ignored = int(process_status(running.pid)["SigIgn"], 16)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        assert not ignored & (1 << (sig - 1)), f"container inherited an ignored {sig.name}"
    assert ctr.cli("kill", ctr.id, "KILL").returncode == 0
    assert ctr.wait().exit_code == 137


def test_container_init_is_the_shims_child_and_shim_is_lean(ctr):
    ctr.spawn("sleep", "1000")
    running = ctr.wait(("running",))
    assert parent_pid(running.pid) == ctr.shim_pid
    maps = Path(f"/proc/{ctr.shim_pid}/maps").read_text()
    assert "_ctypes" not in maps, "the long-lived shim loaded ctypes"
    cmdline = Path(f"/proc/{ctr.shim_pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-I", b"-S"]
    assert ctr.cli("kill", ctr.id, "KILL").returncode == 0
    assert ctr.wait().exit_code == 137


def test_survives_sigkill_of_its_spawner(ctr, tmp_path):
    """The spawner stands in for the runtime service: SIGKILL it, and the shim
    and the container keep running, and the container's exit is recorded."""
    ctr.config["process"]["args"] = ["sleep", "1000"]
    (ctr.bundle / "config.json").write_text(json.dumps(ctr.config))
    cfg = ctr.shim_config(oom_cgroup=ctr.oom_cgroup())
    script = textwrap.dedent(f"""
        import time
        from services.runtime.shim import client as shimclient
        cfg = shimclient.ShimConfig(**{cfg.__dict__!r})
        shimclient.spawn_shim(cfg)
        shimclient.wait_status(cfg.state_dir, ("running",))
        print("ready", flush=True)
        time.sleep(1000)
    """)
    spawner = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert spawner.stdout.readline() == b"ready\n"
        ctr.shim_pid = shimclient.shim_pid(str(ctr.state_dir))
        init_pid = shimclient.read_status(str(ctr.state_dir)).pid
    finally:
        spawner.kill()
        spawner.wait()
        spawner.stdout.close()
    time.sleep(0.3)
    assert alive(ctr.shim_pid) and alive(init_pid)
    assert shimclient.shim_alive(str(ctr.state_dir))
    assert ctr.cli("kill", ctr.id, "KILL").returncode == 0
    assert ctr.wait().exit_code == 137


def test_output_split_and_rotated(ctr):
    long_line = "x" * 40000
    ctr.spawn("sh", "-c", f"echo {long_line}; i=0; while [ $i -lt 200 ]; do echo line$i; "
              "i=$((i+1)); done", log_max_size=4096, log_max_file=3)
    assert ctr.wait().exit_code == 0
    files = sorted(p.name for p in ctr.log_path.parent.glob("ctr.log*"))
    assert files == ["ctr.log", "ctr.log.1", "ctr.log.2"]
    assert all(p.stat().st_size <= 4096 for p in ctr.log_path.parent.glob("ctr.log*"))
    records = ctr.logs()
    assert records[-1] == ("stdout", b"line199\n")
    numbers = [int(data[4:-1]) for _, data in records if data.startswith(b"line")]
    assert numbers == list(range(numbers[0], 200))


def test_long_state_dir_path(tmp_path, rootfs):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    gen = _make(deep, rootfs, ("runc",))
    ctr = next(gen)
    try:
        assert len(str(ctr.state_dir / "attach.sock")) > 108
        ctr.spawn("sh", "-c", "read x; echo got-$x", stdin=True, wait_attach=True)
        ctr.wait(("created",))
        with shimclient.attach(str(ctr.state_dir), stdin=True, timeout=30) as conn:
            conn.send_stdin(b"it\n")
            out, _, exit_doc = _collect(conn)
        assert (out, exit_doc["exit_code"]) == (b"got-it\n", 0)
    finally:
        with pytest.raises(StopIteration):
            next(gen)


def test_tty_output_is_one_stream_sized_by_the_handshake(any_ctr):
    """--tty: the runtime hands the pty master over the console socket; the
    container's stdout and stderr are the terminal, logged and sent as stdout;
    the handshake's size is set before the container starts."""
    any_ctr.config["process"]["terminal"] = True
    any_ctr.spawn("sh", "-c", "stty size; tty; echo err >&2; exit 4", tty=True, wait_attach=True)
    any_ctr.wait(("created",))
    assert not (any_ctr.state_dir / "console.sock").exists(), "console socket left after create"
    with shimclient.attach(str(any_ctr.state_dir), timeout=30, height=33, width=101) as conn:
        out, err, exit_doc = _collect(conn)
    assert err == b""
    assert out.replace(b"\r\n", b"\n") == b"33 101\n/dev/pts/0\nerr\n"
    assert exit_doc["exit_code"] == 4
    logged = any_ctr.logs()
    assert {stream for stream, _ in logged} == {"stdout"}
    assert b"".join(data for _, data in logged) == out


def test_tty_stdin_and_resize_frames(ctr):
    ctr.config["process"]["terminal"] = True
    ctr.spawn("sh", stdin=True, tty=True, wait_attach=True)
    ctr.wait(("created",))
    with shimclient.attach(str(ctr.state_dir), stdin=True, timeout=30, height=10, width=20) as conn:
        conn.send_stdin(b"stty size\n")
        seen = b""
        while b"\n10 20\r\n" not in seen:
            kind, payload = conn.read_frame()
            assert kind == KIND_STDOUT, (kind, payload, seen)
            seen += payload
        conn.resize(44, 120)
        conn.send_stdin(b"stty size; exit 6\n")
        out, err, exit_doc = _collect(conn)
    assert b"\n44 120\r\n" in out and err == b"", out
    assert exit_doc["exit_code"] == 6


@pytest.mark.parametrize("runtime", ["runc", "barque-oci"])
def test_tty_with_a_long_state_dir_path(tmp_path, rootfs, runtime):
    """The console socket's path in the state dir is too long for sun_path:
    it is bound in a short private dir, which is gone afterwards."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    gen = _make(deep, rootfs, ("runc",) if runtime == "runc" else BARQUE_OCI)
    ctr = next(gen)
    try:
        assert len(str(ctr.state_dir / "console.sock")) > 108
        ctr.config["process"]["terminal"] = True
        ctr.spawn("sh", "-c", "tty", tty=True, wait_attach=True)
        ctr.wait(("created",))
        with shimclient.attach(str(ctr.state_dir), timeout=30) as conn:
            out, _, exit_doc = _collect(conn)
        assert (out, exit_doc["exit_code"]) == (b"/dev/pts/0\r\n", 0), exit_doc
        assert glob.glob(f"/tmp/barque-console-{ctr.shim_pid}-*") == []
    finally:
        with pytest.raises(StopIteration):
            next(gen)
