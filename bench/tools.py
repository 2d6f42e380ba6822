"""The other pullers barque is measured against: skopeo (fetch only), docker
(a private dockerd) and podman (a private storage root).

Every runner has the same shape: ``setup()`` once, then per run ``reset()``
(untimed, makes the next pull cold) and ``pull(ref)`` (timed by the caller),
and ``close()`` which stops what it started (by PID) and unmounts and removes
its directories. Each keeps all its state under the ``root`` it is given.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["ToolError", "Skopeo", "Docker", "Podman", "mounts_under", "umount_under", "run"]

DOCKER_SOCKET = "/run/barque-bench-docker.sock"


class ToolError(RuntimeError):
    """A benchmarked tool failed or could not be set up."""


def run(cmd: list[str], *, what: str, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    """Run ``cmd``; raise ToolError naming ``what`` and the tool's stderr when it fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{what}: timed out after {timeout}s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise ToolError(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{(proc.stderr or proc.stdout)[-2000:]}")
    return proc.stdout


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return field.encode().decode("unicode_escape")


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest (latest) first."""
    prefix = str(root).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = _unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return list(reversed(found))


def umount_under(root: Path) -> list[str]:
    """Unmount everything below ``root`` (lazily if busy); returns what was unmounted."""
    done = []
    for point in mounts_under(root):
        proc = subprocess.run(["umount", point], capture_output=True)
        if proc.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
        done.append(point)
    return done


def _stop_pid(pid: int, timeout: float) -> None:
    """SIGTERM one process we started, SIGKILL after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc), to stop what a daemon we started spawned."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids


class _EmptyDirs:
    """Host directories a daemon creates outside its roots (``/run/docker/plugins``):
    the ones absent before :meth:`note` are removed at :meth:`remove` if still empty."""

    def __init__(self, *paths: str) -> None:
        self.paths = paths
        self.absent: list[str] = []

    def note(self) -> None:
        self.absent = [p for p in self.paths if not os.path.exists(p)]

    def remove(self) -> None:
        for path in sorted(self.absent, key=len, reverse=True):  # children before parents
            try:
                os.rmdir(path)
            except OSError:
                pass  # not empty or gone: someone else uses it now
        self.absent = []


class Skopeo:
    """``skopeo copy docker://… dir:…``: fetch and verify only, no unpack."""

    name = "skopeo"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dest = root / "skopeo-dir"

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("skopeo") else "skopeo is not installed (apt-get install -y skopeo)"

    def setup(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def reset(self) -> None:
        shutil.rmtree(self.dest, ignore_errors=True)

    def pull(self, ref: str) -> None:
        run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"dir:{self.dest}"],
            what="skopeo copy")

    def version(self) -> str:
        return run(["skopeo", "--version"], what="skopeo --version").strip()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Docker:
    """A private dockerd (overlay2, no bridge, no iptables) on its own socket and data root."""

    name = "docker"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_root = root / "data"
        self.exec_root = root / "exec"
        self.pidfile = root / "dockerd.pid"
        self.log = root / "dockerd.log"
        self.proc: subprocess.Popen | None = None
        self.host_dirs = _EmptyDirs("/run/docker", "/run/docker/plugins")
        self.client = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else (shutil.which("docker") or "docker")

    @staticmethod
    def available() -> str | None:
        if not shutil.which("dockerd"):
            return "dockerd is not installed (apt-get install -y docker.io)"
        return None

    def _docker(self, *args: str, what: str, timeout: float = 600) -> str:
        return run([self.client, "-H", f"unix://{DOCKER_SOCKET}", *args], what=what, timeout=timeout)

    def _answers(self) -> bool:
        proc = subprocess.run([self.client, "-H", f"unix://{DOCKER_SOCKET}", "version", "--format",
                               "{{.Server.Version}}"], capture_output=True, stdin=subprocess.DEVNULL, timeout=10)
        return proc.returncode == 0

    def setup(self) -> None:
        if os.path.exists(DOCKER_SOCKET):
            if self._answers():
                raise ToolError(f"a docker daemon not started by this run already serves {DOCKER_SOCKET}")
            os.unlink(DOCKER_SOCKET)
        for d in (self.data_root, self.exec_root):
            d.mkdir(parents=True, exist_ok=True)
        self.host_dirs.note()
        config = self.root / "daemon.json"
        config.write_text("{}\n")
        cmd = ["dockerd", "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
               "--host", f"unix://{DOCKER_SOCKET}", "--pidfile", str(self.pidfile), "--config-file", str(config),
               "--storage-driver", "overlay2", "--bridge=none", "--iptables=false", "--ip6tables=false",
               "--log-level", "warn"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.proc.poll() is not None:
                raise ToolError(f"dockerd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise ToolError(f"dockerd not answering on {DOCKER_SOCKET} after 60s: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def reset(self) -> None:
        images = self._docker("images", "-aq", what="docker images").split()
        if images:
            self._docker("rmi", "-f", *sorted(set(images)), what="docker rmi")
        self._docker("image", "prune", "-af", what="docker image prune")

    def pull(self, ref: str) -> None:
        self._docker("pull", ref, what="docker pull")

    def version(self) -> str:
        return "docker " + self._docker("version", "--format", "{{.Server.Version}}", what="docker version").strip()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kids = _children(self.proc.pid)
            _stop_pid(self.proc.pid, timeout=30)
            self.proc.wait(10)
            for kid in kids:  # dockerd's own containerd stops with it; this is the fallback
                _stop_pid(kid, timeout=10)
        umount_under(self.root)
        if self.proc is not None and os.path.exists(DOCKER_SOCKET):
            os.unlink(DOCKER_SOCKET)  # ours: setup() refused to start over a live socket
        self.proc = None
        self.host_dirs.remove()
        shutil.rmtree(self.root, ignore_errors=True)


class Podman:
    """``podman pull`` into a private ``--root``/``--runroot`` (overlay, cgroupfs, runc)."""

    name = "podman"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.flags = ["--root", str(root / "storage"), "--runroot", str(root / "run"), "--tmpdir", str(root / "libpod"),
                      "--storage-driver", "overlay", "--cgroup-manager=cgroupfs", "--runtime=runc",
                      "--events-backend", "file"]
        self.host_dirs = _EmptyDirs("/run/containers", "/run/containers/networks")

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("podman") else "podman is not installed (apt-get install -y podman)"

    def _podman(self, *args: str, what: str) -> str:
        # TMPDIR: containers/image stages downloaded blobs there (default /var/tmp)
        return run(["podman", *self.flags, *args], what=what, env={"TMPDIR": str(self.tmp)})

    def setup(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.host_dirs.note()

    def reset(self) -> None:
        self._podman("rmi", "-af", what="podman rmi")

    def pull(self, ref: str) -> None:
        self._podman("pull", "--quiet", "--tls-verify=false", ref, what="podman pull")

    def version(self) -> str:
        info = json.loads(self._podman("version", "--format", "json", what="podman version"))
        return f"podman {info['Client']['Version']}"

    def close(self) -> None:
        umount_under(self.root)
        self.host_dirs.remove()
        shutil.rmtree(self.root, ignore_errors=True)
