"""The other pullers barque is measured against: skopeo (fetch only), docker
(a private dockerd) and podman (a private storage root).

Every runner has the same shape: ``setup()`` once, then per run ``reset()``
(untimed, makes the next pull cold) and ``pull(ref)`` (timed by the caller),
and ``close()`` which stops what it started (by PID) and unmounts and removes
its directories. Each keeps all its state under the ``root`` it is given.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import subprocess
from pathlib import Path

from tests.support import host
from tests.support.dockerd import DOCKERD, EmptyDirs, PrivateDockerd, ToolError, run, umount_under
from tests.support.host import mounts_under, pids_matching

__all__ = ["ToolError", "Skopeo", "Docker", "Podman", "RuncFloor", "mounts_under", "umount_under", "run",
           "remove_cgroups", "become_subreaper", "reap_orphans", "pids_matching", "hard_nofile", "BridgedDocker",
           "SYSTEM_DOCKER_SOCKET", "dockerd_pids"]

DOCKER_SOCKET = "/run/barque-bench-docker.sock"


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


class Docker(PrivateDockerd):
    """bench's private dockerd (tests/support/dockerd.py) on bench's fixed socket."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, socket=DOCKER_SOCKET)


SYSTEM_DOCKER_SOCKET = "/var/run/docker.sock"


def dockerd_pids() -> list[int]:
    """Every running dockerd on the host (by its /proc comm), whoever started it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "dockerd" and host.alive(int(entry)):
            found.append(int(entry))
    return sorted(found)


class BridgedDocker(Docker):
    """docker *with* its default bridge (docker0), iptables and userland proxy,
    for bench-net only (bench-pull and bench-run use :class:`Docker`, no network).

    A dockerd that manages firewall rules must never run beside another one:

    * a daemon already answering on /var/run/docker.sock is used as it is
      (``reused``), never stopped; only the containers this bench starts are
      removed, by id;
    * otherwise, if any dockerd process exists, :meth:`setup` refuses;
    * otherwise exactly one dockerd is started with its defaults for networking
      (bridge docker0, ``--iptables``, userland proxy) and a private data root,
      exec root and socket, and :meth:`close` stops it by PID.

    What a docker host keeps stays behind after :meth:`close`, as on any host
    that has run docker: the docker0 bridge, the DOCKER* chains, FORWARD's
    policy DROP and the br_netfilter sysctls dockerd sets.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reused = False

    def _answers_on(self, socket_path: str) -> bool:
        if not os.path.exists(socket_path):
            return False
        try:
            proc = subprocess.run([self.client, "-H", f"unix://{socket_path}", "version", "--format",
                                   "{{.Server.Version}}"], capture_output=True, stdin=subprocess.DEVNULL, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    def _answers(self) -> bool:
        return self._answers_on(self.socket)

    def setup(self) -> None:
        if self._answers_on(SYSTEM_DOCKER_SOCKET):
            self.socket, self.reused = SYSTEM_DOCKER_SOCKET, True
            return
        others = dockerd_pids()
        if others:
            raise ToolError(f"a dockerd runs (pids {others}) but does not answer on {SYSTEM_DOCKER_SOCKET}: "
                            "refusing to start a second dockerd that manages firewall rules")
        if os.path.exists(DOCKER_SOCKET):
            if self._answers():
                raise ToolError(f"a docker daemon not started by this run already serves {DOCKER_SOCKET}")
            os.unlink(DOCKER_SOCKET)
        for d in (self.data_root, self.exec_root, self.root / "client"):
            d.mkdir(parents=True, exist_ok=True)
        self.host_dirs.note()
        self._start([DOCKERD, "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                     "--host", f"unix://{DOCKER_SOCKET}", "--pidfile", str(self.pidfile),
                     "--config-file", str(self.write_config()),
                     "--storage-driver", "overlay2", "--log-level", "warn"])

    def close(self) -> None:
        if self.reused:
            shutil.rmtree(self.root, ignore_errors=True)  # nothing of the host's daemon is ours to stop
            return
        super().close()


class Podman:
    """``podman pull`` into a private ``--root``/``--runroot`` (overlay, cgroupfs, runc)."""

    name = "podman"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.flags = ["--root", str(root / "storage"), "--runroot", str(root / "run"), "--tmpdir", str(root / "libpod"),
                      "--storage-driver", "overlay", "--cgroup-manager=cgroupfs", "--runtime=runc",
                      "--events-backend", "file"]
        self.host_dirs = EmptyDirs("/run/containers", "/run/containers/networks")

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("podman") else "podman is not installed (apt-get install -y podman)"

    def command(self, *args: str) -> list[str]:
        return ["podman", *self.flags, *args]

    @property
    def env(self) -> dict[str, str]:
        """Extra environment of every podman call. TMPDIR: containers/image stages
        downloaded blobs there (default /var/tmp)."""
        return {"TMPDIR": str(self.tmp)}

    def _podman(self, *args: str, what: str) -> str:
        return run(self.command(*args), what=what, env=self.env)

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


class RuncFloor:
    """``runc run`` of a ready bundle (the busybox image unpacked by umoci): the
    floor of a container start, with no engine, image lookup or snapshot.

    The bundle's process becomes ``args``, without a terminal; its cgroup is
    ``/barque/<cgroup>`` (created and removed by runc on every run). umoci's
    spec already asks for new pid, net, ipc, uts and mount namespaces, so the
    network is as empty as ``--network none``.
    """

    name = "runc"

    def __init__(self, root: Path, cgroup: str = "bench-runc") -> None:
        self.root = root
        self.bundle = root / "bundle"
        self.state = root / "state"
        self.cgroup = cgroup

    @staticmethod
    def available() -> str | None:
        missing = [t for t in ("runc", "umoci") if not shutil.which(t)]
        return f"{', '.join(missing)} not installed (apt-get install -y runc umoci)" if missing else None

    def setup(self, layout: Path, tag: str, args: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        run(["umoci", "unpack", "--image", f"{layout}:{tag}", str(self.bundle)], what="umoci unpack")
        config_path = self.bundle / "config.json"
        spec = json.loads(config_path.read_text())
        spec["process"]["args"] = list(args)
        spec["process"]["terminal"] = False
        spec["linux"]["cgroupsPath"] = f"/barque/{self.cgroup}"
        config_path.write_text(json.dumps(spec))

    def command(self, container_id: str) -> list[str]:
        """``runc run`` in the foreground: it waits for the process and deletes the container."""
        return ["runc", "--root", str(self.state), "run", "--bundle", str(self.bundle), container_id]

    def version(self) -> str:
        return run(["runc", "--version"], what="runc --version").splitlines()[0]

    def close(self) -> None:
        if self.state.is_dir():
            for container_id in os.listdir(self.state):  # only ones a failed run left behind
                subprocess.run(["runc", "--root", str(self.state), "delete", "--force", container_id],
                               capture_output=True)
        umount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def remove_cgroups(name: str, base: Path = host.CGROUP_ROOT) -> list[str]:
    """Remove ``barque/<name>`` (children first) in every cgroup hierarchy mounted
    under ``base``; only empty groups can go, the rest are returned."""
    left = []
    for d in host.cgroup_dirs(f"barque/{name}", base=base):
        try:
            d.rmdir()
        except OSError:
            left.append(str(d))
    return left


def become_subreaper() -> None:
    """Make this process the reaper of its orphaned descendants (daemonised shims,
    conmon), so they do not pile up as zombies under a PID 1 that never reaps."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise ToolError(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")


def reap_orphans(keep: set[int]) -> int:
    """Reap this process's zombie children except ``keep`` (the PIDs a Popen owns
    and will wait for itself); returns how many were reaped."""
    reaped = 0
    for pid in host.children(os.getpid()):
        if pid in keep or host.alive(pid):
            continue
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                reaped += 1
        except ChildProcessError:
            pass
    return reaped


def hard_nofile() -> int:
    """This process's hard open-files limit, which no child can exceed without
    CAP_SYS_RESOURCE."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]
