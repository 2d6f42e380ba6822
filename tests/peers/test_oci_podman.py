"""podman 4.3 (with Debian's conmon) driving barque-oci as its OCI runtime.

podman and conmon call the runtime exactly as they call runc: ``create
--bundle --pid-file [--console-socket]``, ``start``, ``state``, ``kill``,
``delete --force``, ``pause``/``resume``, ``exec --process --detach
--pid-file [--tty --console-socket]``, with ``--log-format=json --log <file>`` (the module's
containers.conf lists barque-oci in ``runtime_supports_json`` so that path is
taken too). Every test starts real containers from the session registry's
busybox image and checks what a user sees: output, exit codes, ps, logs.

Storage is private (``--root``/``--runroot``/``--tmpdir`` under one temp dir
named ``bqtest-podman-*``), cgroups stay under ``/barque/podman-<hex>``
(``--cgroup-parent``; conmon's own cgroup lands there too), and the network
is ``none`` so podman never touches the host's bridges or firewall. Teardown
removes the containers, kills whatever is still in that cgroup subtree by
PID, unmounts what podman left under the temp dir and asserts nothing is left.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host import cgroup_dirs, cgroup_pids, mounts_under, pids_matching
from tests.support.images import PushedImage

REPO = Path(__file__).resolve().parents[2]
OCI_STATE_ROOT = Path("/run/barque-oci")  # barque-oci's default --root; podman passes none

pytestmark = [
    pytest.mark.root,
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("podman") is None or shutil.which("conmon") is None,
                       reason="podman and conmon are not installed (apt-get install podman conmon)"),
]


def _barque_oci() -> str:
    venv = REPO / ".venv" / "bin" / "barque-oci"
    found = str(venv) if venv.exists() else shutil.which("barque-oci")
    if found is None:
        pytest.fail("barque-oci is not installed (make deps installs it into .venv)")
    return found


class Podman:
    """podman with private storage and barque-oci as its runtime."""

    def __init__(self, tmp: Path, runtime: str, cgroup_parent: str) -> None:
        self.tmp = tmp
        self.runtime = runtime
        self.cgroup_parent = cgroup_parent
        conf = tmp / "containers.conf"
        conf.write_text('[engine]\nruntime_supports_json = ["barque-oci"]\n')
        (tmp / "tmp").mkdir()
        self.env = {**os.environ, "TMPDIR": str(tmp / "tmp"), "CONTAINERS_CONF": str(conf)}
        self.flags = ["--root", str(tmp / "root"), "--runroot", str(tmp / "runroot"),
                      "--tmpdir", str(tmp / "libpod"), "--storage-driver", "overlay",
                      "--cgroup-manager=cgroupfs", "--runtime", runtime,
                      "--events-backend", "none"]
        # podman raises the container's rlimits to the host's maximum by
        # default; without CAP_SYS_RESOURCE that fails, so ask for values
        # below the current hard limits (as bench/tools.py does).
        self.run_flags = ["--cgroup-parent", cgroup_parent, "--network", "none",
                          "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=20000:20000"]

    def argv(self, *args: str) -> list[str]:
        return ["podman", *self.flags, *args]

    def __call__(self, *args: str, timeout: float = 60, check: bool = False,
                 input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env,
                              timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr.strip()}")
        return proc

    def run_detached(self, image: str, script: str) -> str:
        cid = self("run", "-d", *self.run_flags, image, "sh", "-c", script,
                   check=True).stdout.strip()
        assert len(cid) == 64, cid
        return cid

    def wait_for(self, predicate, what: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def logs(self, cid: str) -> str:
        proc = self("logs", cid, check=True)
        return proc.stdout + proc.stderr

    def inspect(self, cid: str) -> dict:
        return json.loads(self("inspect", cid, check=True).stdout)[0]


def _teardown(pm: Podman, cgroup_rel: str, run_dirs_before: set[str]) -> list[str]:
    problems: list[str] = []
    pm("rm", "-af", "-t", "0", timeout=120)
    for pid in cgroup_pids(cgroup_rel) | set(pids_matching(str(pm.tmp))):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while (cgroup_pids(cgroup_rel) or set(pids_matching(str(pm.tmp)))) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    for point in sorted(mounts_under(pm.tmp), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    for d in cgroup_dirs(cgroup_rel):
        try:
            d.rmdir()
        except OSError as exc:
            problems.append(f"cgroup {d}: {exc}")
    for name in ("containers/networks", "containers", "netns"):
        path = Path("/run") / name
        if name not in run_dirs_before and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    shutil.rmtree(pm.tmp, ignore_errors=True)
    if pids := cgroup_pids(cgroup_rel) | set(pids_matching(str(pm.tmp))):
        problems.append(f"processes left: {sorted(pids)}")
    if left := mounts_under(pm.tmp):
        problems.append(f"mounts left: {left}")
    if left_cg := cgroup_dirs(cgroup_rel):
        problems.append(f"cgroups left: {left_cg}")
    if pm.tmp.exists():
        problems.append(f"{pm.tmp} left")
    return problems


@pytest.fixture(scope="module")
def podman(test_images: dict[str, PushedImage]) -> Iterator[tuple[Podman, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="bqtest-podman-"))
    cgroup_rel = f"barque/podman-{uuid.uuid4().hex[:8]}"
    run_dirs_before = {n for n in ("containers/networks", "containers", "netns")
                       if (Path("/run") / n).exists()}
    pm = Podman(tmp, _barque_oci(), "/" + cgroup_rel)
    try:
        ref = test_images["oci-gzip"].ref
        pm("pull", "--quiet", "--tls-verify=false", ref, timeout=180, check=True)
        yield pm, ref
    finally:
        problems = _teardown(pm, cgroup_rel, run_dirs_before)
    assert not problems, problems


def _pty_session(argv: list[str], env: dict, typed: bytes, timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` with a pty as its stdio, type ``typed``, read until it exits."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    out = bytearray()
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every slave fd is closed
                    chunk = b""
                if not chunk and proc.poll() is not None:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
            if not sent and (b"#" in out or time.monotonic() > deadline - timeout + 3):
                os.write(master, typed)
                sent = True
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, out.decode("utf-8", "replace")


def test_run_rm_prints_output_and_propagates_exit_code(podman):
    pm, image = podman
    proc = pm("run", "--rm", *pm.run_flags, image, "sh", "-c",
              "echo hello-from-$((40+2)); echo to-stderr >&2; exit 3")
    assert proc.returncode == 3, proc.stderr
    assert "hello-from-42" in proc.stdout
    assert "to-stderr" in proc.stderr
    assert pm("ps", "-aq", check=True).stdout.strip() == ""


def test_runtime_is_barque_oci(podman):
    pm, _ = podman
    info = json.loads(pm("info", "--format", "json", check=True).stdout)
    assert info["host"]["ociRuntime"]["path"] == pm.runtime
    # podman parses `--version`: the first line is "<name> version <x>", as runc's
    assert info["host"]["ociRuntime"]["version"].startswith("barque-oci version ")


def test_detached_ps_logs_stop_rm(podman):
    pm, image = podman
    cid = pm.run_detached(image, 'echo started; trap "echo stopping; exit 7" TERM; '
                                 "while :; do sleep 0.1; done")
    # barque-oci, not another runtime, holds the container's state
    assert (OCI_STATE_ROOT / cid / "state.json").exists()
    listed = pm("ps", "--format", "{{.ID}} {{.Status}}", check=True).stdout
    assert f"{cid[:12]} Up" in listed
    state = json.loads(subprocess.run([pm.runtime, "state", cid], capture_output=True,
                                      text=True, check=True).stdout)
    assert state["status"] == "running" and state["pid"] > 0
    pm.wait_for(lambda: "started" in pm.logs(cid), "the container's first line")

    assert pm("stop", "-t", "20", cid, check=True).returncode == 0
    assert pm.inspect(cid)["State"]["ExitCode"] == 7
    assert "stopping" in pm.logs(cid)
    assert "Exited (7)" in pm("ps", "-a", "--format", "{{.Status}}", check=True).stdout
    assert not (OCI_STATE_ROOT / cid).exists()  # podman's cleanup ran `delete`
    pm("rm", cid, check=True)
    assert pm("ps", "-aq", check=True).stdout.strip() == ""


def test_interactive_run_through_conmon_console(podman):
    pm, image = podman
    code, out = _pty_session(pm.argv("run", "-it", "--rm", *pm.run_flags, image, "sh"),
                             pm.env, b"echo hi-$((3*7)); tty; exit 5\r")
    assert code == 5, out
    assert "hi-21" in out
    assert "/dev/pts/" in out


def test_exec_with_and_without_tty(podman):
    pm, image = podman
    cid = pm.run_detached(image, 'trap "exit 0" TERM; while :; do sleep 0.1; done')
    proc = pm("exec", cid, "sh", "-c", "echo exec-$((6*7)); cat /proc/1/cmdline; exit 4")
    assert proc.returncode == 4, proc.stderr
    assert "exec-42" in proc.stdout
    assert "while" in proc.stdout  # pid 1 is the container's own shell: same pid namespace

    code, out = _pty_session(pm.argv("exec", "-it", cid, "sh", "-c", "tty; exit 6"), pm.env, b"")
    assert code == 6, out
    assert "/dev/pts/" in out

    code, out = _pty_session(pm.argv("exec", "-it", cid, "sh"), pm.env,
                             b"echo typed-$((5+5)); exit 9\r")
    assert code == 9, out
    assert "typed-10" in out

    proc = pm("exec", cid, "no-such-program")
    assert proc.returncode == 127
    assert "no-such-program" in proc.stderr
    pm("rm", "-f", "-t", "5", cid, check=True)


def test_kill_delivers_signals(podman):
    pm, image = podman
    cid = pm.run_detached(image, 'trap "echo got-usr1" USR1; echo ready; '
                                 "while :; do sleep 0.1; done")
    pm.wait_for(lambda: "ready" in pm.logs(cid), "the trap to be set")
    pm("kill", "--signal", "USR1", cid, check=True)
    pm.wait_for(lambda: "got-usr1" in pm.logs(cid), "SIGUSR1 to reach the container")
    assert pm.inspect(cid)["State"]["Running"] is True

    pm("kill", cid, check=True)  # SIGKILL by default
    pm.wait_for(lambda: not pm.inspect(cid)["State"]["Running"], "the container to die")
    assert pm.inspect(cid)["State"]["ExitCode"] == 137
    pm("rm", cid, check=True)


def test_runtime_error_reaches_the_user(podman):
    pm, image = podman
    proc = pm("run", "--rm", *pm.run_flags, image, "no-such-program")
    assert proc.returncode == 127
    # read by podman from barque-oci's --log-format=json --log file
    assert 'exec: "no-such-program": executable file not found in $PATH' in proc.stderr
    assert pm("ps", "-aq", check=True).stdout.strip() == ""


def test_preserve_fds_reach_the_container(podman):
    pm, image = podman
    out = pm.tmp / "fd3.txt"
    argv = pm.argv("run", "--rm", "--preserve-fds", "1", *pm.run_flags, image,
                   "sh", "-c", "echo through-fd3 >&3; ls /proc/self/fd")
    # fd 3 of podman (and so of conmon and barque-oci) is the file
    proc = subprocess.run(["sh", "-c", 'exec "$@" 3>"$OUT"', "sh", *argv], env={
        **pm.env, "OUT": str(out)}, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "through-fd3\n"
    assert proc.stdout.split() == ["0", "1", "2", "3", "4"]  # 4: ls's own dir fd


def test_exec_flags_without_process_file(podman):
    """runc's exec flags (no --process) build on the container's own process."""
    pm, image = podman
    cid = pm.run_detached(image, 'trap "exit 0" TERM; while :; do sleep 0.1; done')
    proc = subprocess.run([pm.runtime, "exec", "--env", "EXTRA=yes", "--cwd", "/tmp",
                           "--user", "1234:5678", cid, "sh", "-c",
                           'echo "$EXTRA $PATH $(pwd) $(id -u):$(id -g)"; exit 3'],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    extra, path, cwd, ids = proc.stdout.split()
    assert (extra, cwd, ids) == ("yes", "/tmp", "1234:5678")
    assert "/bin" in path.split(":")  # the image's PATH, from the container's process
    pm("rm", "-f", "-t", "5", cid, check=True)


def test_runc_global_flags(tmp_path):
    """--version as runc lays it out, features, --systemd-cgroup refused
    clearly, delete --force of a missing container is not an error."""
    runtime = _barque_oci()
    lines = subprocess.run([runtime, "--version"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines[0].startswith("barque-oci version ") and "runc version 1.1.5" in lines[0]
    assert lines[1].startswith("commit: ") and lines[2].startswith("spec: 1.0")
    features = json.loads(subprocess.run([runtime, "features"], capture_output=True, text=True,
                                         check=True).stdout)
    assert features["linux"]["cgroup"]["systemd"] is False
    assert "pid" in features["linux"]["namespaces"] and "rbind" in features["mountOptions"]

    root, log = tmp_path / "state", tmp_path / "log.json"
    proc = subprocess.run([runtime, "--root", str(root), "--log-format=json", "--log", str(log),
                           "--systemd-cgroup", "create", "--bundle", str(tmp_path), "bqtest-x"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "--systemd-cgroup needs the systemd cgroup driver" in proc.stderr
    record = json.loads(log.read_text().splitlines()[-1])
    assert record["level"] == "error" and "needs systemd as PID 1" in record["msg"]
    assert not (root / "bqtest-x").exists()

    gone = subprocess.run([runtime, "--root", str(root), "delete", "--force", "bqtest-x"],
                          capture_output=True, text=True, timeout=30)
    assert gone.returncode == 0, gone.stderr
    missing = subprocess.run([runtime, "--root", str(root), "delete", "bqtest-x"],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_default_cgroup_layout_without_cgroup_parent(podman):
    """podman's own cgroupfs layout, no --cgroup-parent: podman asks for
    ``/libpod_parent/libpod-<id>`` and barque-oci puts the container there
    (outside any ``barque`` directory, as runc would). Nothing of the
    container's cgroup remains after ``--rm``; what podman and conmon leave
    under ``libpod_parent`` that was not there before is removed here."""
    pm, image = podman
    before = {str(d) for d in cgroup_dirs("libpod_parent")}
    flags = [f for i, f in enumerate(pm.run_flags)
             if f != "--cgroup-parent" and pm.run_flags[i - 1] != "--cgroup-parent"]
    try:
        proc = pm("run", "--rm", *flags, image, "cat", "/proc/self/cgroup", check=True)
        paths = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in proc.stdout.split()}
        leaf = paths["memory"]
        assert leaf.startswith("/libpod_parent/libpod-"), proc.stdout
        assert all(p == leaf for p in paths.values()), proc.stdout  # every hierarchy, one path
        assert not cgroup_dirs(leaf.lstrip("/")), "the container's cgroup outlived podman run --rm"
    finally:
        for d in cgroup_dirs("libpod_parent"):  # deepest first
            if str(d) not in before:
                try:
                    d.rmdir()
                except OSError as exc:
                    raise AssertionError(f"podman's cgroup {d}: {exc}") from exc


def test_pause_freezes_and_unpause_thaws(podman):
    pm, image = podman
    cid = pm.run_detached(image, "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done")
    counter = Path(pm.inspect(cid)["GraphDriver"]["Data"]["MergedDir"]) / "tmp" / "n"

    def count() -> int:
        text = counter.read_text().strip() if counter.exists() else ""
        return int(text) if text.isdigit() else 0

    pm.wait_for(lambda: count() > 2, "the counter to run")
    pm("pause", cid, check=True)
    state = pm.inspect(cid)["State"]
    assert state["Status"] == "paused" and state["Paused"] is True
    frozen_at = count()
    time.sleep(0.5)
    assert count() == frozen_at  # frozen: no tick for 10 periods
    runtime_state = json.loads(subprocess.run([pm.runtime, "state", cid], capture_output=True,
                                              text=True, check=True).stdout)
    assert runtime_state["status"] == "paused"
    refused = subprocess.run([pm.runtime, "exec", cid, "true"], capture_output=True, text=True,
                             timeout=30)
    # runc: any exec error exits 255
    assert refused.returncode == 255 and "--ignore-paused" in refused.stderr

    pm("unpause", cid, check=True)
    pm.wait_for(lambda: count() > frozen_at, "the counter to run again")
    assert pm.inspect(cid)["State"]["Status"] == "running"

    pm("pause", cid, check=True)  # a paused container is still removed by force
    pm("rm", "-f", "-t", "1", cid, check=True)
    assert pm("ps", "-aq", check=True).stdout.strip() == ""


def test_read_only_root_and_tmpfs_copyup(podman):
    """--read-only gets podman's tmpcopyup tmpfs on /tmp, /run, /var/tmp;
    --tmpfs /bin starts as a copy of the image's /bin (the shell runs from it)."""
    pm, image = podman
    proc = pm("run", "--rm", *pm.run_flags, "--read-only", "--tmpfs", "/bin", image,
              "sh", "-c", "touch /rootfile 2>&1; touch /tmp/ok && echo tmp-writable; "
                          "touch /bin/new && echo bin-writable; "
                          "grep ' /bin ' /proc/self/mountinfo | cut -d' ' -f9")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "Read-only file system" in lines[0]
    assert lines[1:] == ["tmp-writable", "bin-writable", "tmpfs"]


def test_detached_exec_and_restart_reuse_the_id(podman):
    """exec -d leaves its process running; start/restart create the same id
    again in barque-oci (the previous run was deleted from its state)."""
    pm, image = podman
    cid = pm.run_detached(image, 'echo "run $(cat /proc/uptime)"; trap "exit 0" TERM; '
                                 "while :; do sleep 0.1; done")
    pm("exec", "-d", cid, "sh", "-c", "sleep 0.3; echo from-detached > /tmp/mark",
       check=True)
    pm.wait_for(lambda: pm("exec", cid, "cat", "/tmp/mark").stdout == "from-detached\n",
                "the detached exec to finish")
    pm("restart", "-t", "10", cid, check=True)
    pm.wait_for(lambda: pm.logs(cid).count("run ") == 2, "the second run's first line")
    assert (OCI_STATE_ROOT / cid / "state.json").exists()
    pm("stop", "-t", "10", cid, check=True)
    assert pm.inspect(cid)["State"]["ExitCode"] == 0  # its TERM trap, not a SIGKILL
    pm("start", cid, check=True)
    pm.wait_for(lambda: pm.logs(cid).count("run ") == 3, "the third run's first line")
    pm("rm", "-f", "-t", "5", cid, check=True)
