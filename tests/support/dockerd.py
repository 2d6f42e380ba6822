"""A private Docker daemon (Debian's docker.io 20.10) for tests and benchmarks.

``PrivateDockerd`` runs ``/usr/sbin/dockerd`` (where Debian installs it) with
overlay2, no bridge and no iptables, its data root, exec root, pidfile, config
and socket all under the ``root`` it is given, and drives it with
``/usr/bin/docker`` -- named explicitly: ``/usr/local/bin/docker`` may be another
version. ``close()`` stops it by PID (its own containerd goes with it),
unmounts what it left under ``root``, removes ``root`` and the empty host dirs
it created (``/run/docker/plugins``), so nothing of it outlives a run.

Networking, as found on docker 20.10.24 with ``--bridge=none``: no ``bridge``
network exists, so a legacy-builder (``DOCKER_BUILDKIT=0``) ``RUN`` container
given no ``--network`` joins ``default`` = ``bridge`` with no bridge behind it
and gets only a loopback device; :meth:`PrivateDockerd.build` still passes
``--network none`` so that a ``RUN`` can never reach an outside address
whatever the daemon's defaults. Pulls go from the daemon itself: a registry on
``127.0.0.1:<port>`` is insecure-allowed by default (127.0.0.0/8).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support import host
from tests.support.host import mounts_under

__all__ = ["ToolError", "PrivateDockerd", "DOCKER_CLIENT", "DOCKERD", "run", "umount_under", "stop_pid", "EmptyDirs"]

#: Debian's docker.io client and daemon (20.10): never whatever ``docker`` is first on PATH
DOCKER_CLIENT = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"


class ToolError(RuntimeError):
    """A tool driven by the tests or benchmarks failed or could not be set up."""


def run(cmd: list[str], *, what: str, timeout: float = 600, env: dict[str, str] | None = None,
        input: str | None = None) -> str:
    """Run ``cmd``; raise ToolError naming ``what`` and the tool's stderr when it fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                              stdin=subprocess.DEVNULL if input is None else None,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{what}: timed out after {timeout}s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise ToolError(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{(proc.stderr or proc.stdout)[-2000:]}")
    return proc.stdout


def umount_under(root: Path) -> list[str]:
    """Unmount everything below ``root``, latest mount first (lazily if busy);
    returns what was unmounted."""
    done = []
    for point in reversed(mounts_under(root)):
        proc = subprocess.run(["umount", point], capture_output=True)
        if proc.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
        done.append(point)
    return done


def stop_pid(pid: int, timeout: float) -> None:
    """SIGTERM one process we started, SIGKILL after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not host.alive(pid):  # gone, or a zombie its parent has yet to reap
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class EmptyDirs:
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


class PrivateDockerd:
    """A private dockerd (overlay2, no bridge, no iptables) on its own socket and data root.

    ``socket`` defaults to ``<root>/docker.sock``; a fixed path (bench's) is
    refused when a daemon not started by this object already answers on it.
    """

    name = "docker"

    def __init__(self, root: Path, socket: str | None = None) -> None:
        self.root = root
        self.socket = socket or str(root / "docker.sock")
        self.data_root = root / "data"
        self.exec_root = root / "exec"
        self.pidfile = root / "dockerd.pid"
        self.log = root / "dockerd.log"
        self.proc: subprocess.Popen | None = None
        self.host_dirs = EmptyDirs("/run/docker", "/run/docker/plugins")
        self.client = DOCKER_CLIENT

    @staticmethod
    def available() -> str | None:
        """None when Debian's docker.io is installed, else why not."""
        missing = [p for p in (DOCKERD, DOCKER_CLIENT) if not os.access(p, os.X_OK)]
        if missing:
            return f"{' and '.join(missing)} not installed (apt-get install -y docker.io)"
        return None

    def command(self, *args: str) -> list[str]:
        """The client command line for ``args`` against this daemon."""
        return [self.client, "-H", f"unix://{self.socket}", *args]

    @property
    def env(self) -> dict[str, str]:
        """The environment of every client call: the legacy builder, no user config."""
        return {"DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(self.root / "client")}

    def cli(self, *args: str, input: str | None = None, timeout: float = 600) -> str:
        """``docker args...``; its stdout, or ToolError with its stderr."""
        return run(self.command(*args), what=f"docker {args[0] if args else ''}".strip(), timeout=timeout,
                   env=self.env, input=input)

    def cli_result(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """``docker args...`` whatever its exit status (text output captured)."""
        return subprocess.run(self.command(*args), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout, env={**os.environ, **self.env})

    def build(self, context_dir: Path | str, tag: str, dockerfile: str | None = None,
              build_args: dict[str, str] | None = None, target: str | None = None, no_cache: bool = False,
              timeout: float = 900) -> subprocess.CompletedProcess:
        """``DOCKER_BUILDKIT=0 docker build --network none`` of ``context_dir`` as ``tag``.

        ``dockerfile`` is a path as ``docker build -f`` takes it (relative to
        the working directory, i.e. give an absolute one or a name inside the
        context). Returns the CompletedProcess whatever the outcome, so a test
        can assert on a failing build's message too.
        """
        args = ["build", "--network", "none", "--tag", tag]
        if dockerfile is not None:
            args += ["--file", str(dockerfile)]
        for key, value in (build_args or {}).items():
            args += ["--build-arg", f"{key}={value}"]
        if target is not None:
            args += ["--target", target]
        if no_cache:
            args.append("--no-cache")
        return self.cli_result(*args, str(context_dir), timeout=timeout)

    def image_config(self, ref: str) -> dict:
        """The image config blob docker stores for ``ref``, exactly (history with
        ``empty_layer``, which neither ``image inspect`` nor ``history`` shows):
        the file its image store keeps under the image id, checked against that id."""
        image_id = self.cli("image", "inspect", "--format", "{{.Id}}", ref).strip()
        algo, _, hex_id = image_id.partition(":")
        blob = (self.data_root / "image" / "overlay2" / "imagedb" / "content" / algo / hex_id).read_bytes()
        if hashlib.sha256(blob).hexdigest() != hex_id:
            raise ToolError(f"docker's stored config of {ref} does not hash to its id {image_id}")
        return json.loads(blob)

    def daemon_pids(self) -> list[int]:
        """dockerd and what it spawned directly (its own containerd)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid, *host.children(self.proc.pid)]

    def _docker(self, *args: str, what: str, timeout: float = 600) -> str:
        return run(self.command(*args), what=what, timeout=timeout, env=self.env)

    def _answers(self) -> bool:
        if not os.path.exists(self.socket):
            return False
        try:
            proc = subprocess.run(self.command("version", "--format", "{{.Server.Version}}"), capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    def daemon_command(self, config: Path) -> list[str]:
        return [DOCKERD, "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "--host", f"unix://{self.socket}", "--pidfile", str(self.pidfile), "--config-file", str(config),
                "--storage-driver", "overlay2", "--bridge=none", "--iptables=false", "--ip6tables=false",
                "--log-level", "warn"]

    def write_config(self) -> Path:
        """daemon.json: the libtrust key under ``root`` (``deprecated-key-path``, a
        config-file key only), else dockerd 20.10 writes /etc/docker/key.json."""
        config = self.root / "daemon.json"
        config.write_text(json.dumps({"deprecated-key-path": str(self.root / "key.json")}) + "\n")
        return config

    def setup(self) -> None:
        if os.path.exists(self.socket):
            if self._answers():
                raise ToolError(f"a docker daemon not started by this run already serves {self.socket}")
            os.unlink(self.socket)
        for d in (self.data_root, self.exec_root, self.root / "client"):
            d.mkdir(parents=True, exist_ok=True)
        self.host_dirs.note()
        self._start(self.daemon_command(self.write_config()))

    def _start(self, cmd: list[str]) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.proc.poll() is not None:
                raise ToolError(f"dockerd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise ToolError(f"dockerd not answering on {self.socket} after 60s: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def reset(self) -> None:
        """Remove every image (the next pull is cold)."""
        images = self._docker("images", "-aq", what="docker images").split()
        if images:
            self._docker("rmi", "-f", *sorted(set(images)), what="docker rmi")
        self._docker("image", "prune", "-af", what="docker image prune")

    def reset(self) -> None:
        """Back to empty: the session's daemon is shared by the peer modules, so a
        test that counts what docker holds starts from nothing (every container
        removed, then every image, volume, network and cache entry pruned)."""
        ids = self.cli("ps", "-aq").split()
        if ids:
            self.cli("rm", "-f", "-v", *ids)
        self.cli("system", "prune", "-a", "-f", "--volumes")
        self.cli("builder", "prune", "-a", "-f")

    def pull(self, ref: str) -> None:
        self._docker("pull", ref, what="docker pull")

    def version(self) -> str:
        return "docker " + self._docker("version", "--format", "{{.Server.Version}}", what="docker version").strip()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kids = host.children(self.proc.pid)
            stop_pid(self.proc.pid, timeout=30)
            self.proc.wait(10)
            for kid in kids:  # dockerd's own containerd stops with it; this is the fallback
                stop_pid(kid, timeout=10)
        umount_under(self.root)
        if self.proc is not None and os.path.exists(self.socket):
            os.unlink(self.socket)  # ours: setup() refused to start over a live socket
        self.proc = None
        self.host_dirs.remove()
        shutil.rmtree(self.root, ignore_errors=True)
