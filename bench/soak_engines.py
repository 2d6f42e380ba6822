"""The engines the soak drives, each through its own CLI, as users do:

* :class:`BarqueSoak`: barque's three services with an empty temp state dir
  (``tests/support/engine.py``), this tree's launcher and a warm command server
  of the soak's own (bench/barque.py's :class:`~bench.barque.BarqueRuntime`),
  logging at info level; its containers alternate between the engine's default
  bridge (a veth pair each; every other one of those publishes a loopback port,
  firewall rules of its own) and ``--network none``;
* :class:`DockerSoak`: a private dockerd (tests/support/dockerd.py: Debian's
  20.10, overlay2, no bridge, no iptables), the legacy builder;
* :class:`PodmanSoak`: podman with ``--root``/``--runroot``/``--tmpdir`` under a
  temp dir, cgroupfs, runc (bench/tools.py's :class:`~bench.tools.Podman`).

docker's and podman's containers run with ``--network none``: their bridges
would be host devices and firewall rules outside barque's naming, which this
host's tests may not make. docker's and podman's containers go under
``/barque/soak-<engine>`` (podman's builds under ``/barque/soak-podman-build``;
barque's own are ``barque/<id>``).

An engine offers what bench/soak_loop.py calls: ``name``, ``env``,
``cli(*args)`` (a full command line), ``create_flags(seq)``, ``pull_flags``,
``build_flags``, ``prunes()`` (the prune commands, each ``(kind, args)``),
``container_count()`` (the containers the engine's own state holds, read from
its files, or None), ``container_prune`` (``container prune -f``, to which a client adds a filter
on its own label so it prunes only the container it made for it; None where
the engine has no ``container prune --filter``), ``service_pids()`` and
``close()``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bench.barque import BarqueRuntime, install_launcher
from bench.barque import CommandServer
from bench.tools import Docker, Podman, ToolError, hard_nofile, remove_cgroups
from tests.support.engine import Engine
from tests.support.runtime import RUNTIME_SERVICES

__all__ = ["BarqueSoak", "DockerSoak", "PodmanSoak", "PRUNE_LABEL"]

#: the label of the containers a prune round makes for ``container prune --filter`` to remove
PRUNE_LABEL = "soak.prune"


def _entries(path: Path) -> int | None:
    try:
        return len(os.listdir(path))
    except FileNotFoundError:
        return 0
    except OSError:
        return None


def _help_works(cli: list[str], env: dict[str, str], *args: str) -> str | None:
    """The help text of ``cli args --help``, or None when the command does not exist."""
    proc = subprocess.run([*cli, *args, "--help"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **env}, timeout=60)
    return proc.stdout if proc.returncode == 0 else None


class BarqueSoak(BarqueRuntime):
    """barque for the soak: :class:`BarqueRuntime` at info level (the soak makes
    thousands of calls; debug logs would grow the disk, not the services)."""

    name = "barque"

    def __init__(self, bridge_every: int = 2) -> None:
        super().__init__()
        self.bridge_every = bridge_every
        self.prune_kinds: list[tuple[str, list[str]]] = []
        self.container_prune: list[str] | None = None

    def setup(self) -> None:
        self.engine = Engine.create(services=RUNTIME_SERVICES, BARQUE_LOG_LEVEL="info")
        self.cli = install_launcher(self.engine.root / "bin")
        self.server = CommandServer(self.engine.root / "cli" / "cli.sock")
        self.server.start(self.cli, self.engine.env)
        self._detect_prunes()

    def _detect_prunes(self) -> None:
        """``image prune`` and ``container prune`` where this tree has them (issue 17
        adds them); ``builder``, ``volume`` and ``network prune`` always."""
        kinds = [("builder prune", ["builder", "prune", "-f"]), ("volume prune", ["volume", "prune", "-f"]),
                 ("network prune", ["network", "prune", "-f"])]
        if _help_works([self.cli], self.env, "image", "prune") is not None:
            kinds.append(("image prune", ["image", "prune", "-f"]))
        text = _help_works([self.cli], self.env, "container", "prune")
        if text is not None and "--filter" in text:
            self.container_prune = ["container", "prune", "-f"]
        self.prune_kinds = kinds

    def cli_argv(self, *args: str) -> list[str]:
        return self.command(*args)

    def create_flags(self, seq: int) -> list[str]:
        """Every ``bridge_every``-th container on the bridge (a veth pair), every
        other one of those with a published loopback port (DNAT rules of its own)."""
        if not self.bridge_every or seq % self.bridge_every:
            return ["--network", "none"]
        publish = ["-p", "127.0.0.1::8080"] if (seq // self.bridge_every) % 2 == 0 else []
        return ["--network", "bridge", *publish]

    @property
    def pull_flags(self) -> list[str]:
        return []

    @property
    def build_flags(self) -> list[str]:
        return ["--network", "none"]

    def prunes(self) -> list[tuple[str, list[str]]]:
        return self.prune_kinds

    def container_count(self) -> int | None:
        return _entries(self._engine().state("runtime") / "containers")

    def service_pids(self) -> dict[str, int]:
        pids = super().service_pids()
        return {"registry-proxy" if k == "registry" else "image-store" if k == "images" else k: v
                for k, v in pids.items()}


class DockerSoak:
    """A private dockerd, the soak's containers under ``/barque/soak-docker``."""

    name = "docker"
    cgroup = "soak-docker"

    def __init__(self, root: Path) -> None:
        self.daemon = Docker(root)
        self.container_prune = ["container", "prune", "-f"]

    @staticmethod
    def available() -> str | None:
        return Docker.available()

    def setup(self) -> None:
        self.daemon.setup()

    @property
    def env(self) -> dict[str, str]:
        return self.daemon.env

    def cli_argv(self, *args: str) -> list[str]:
        return self.daemon.command(*args)

    def cli_run(self, *args: str, timeout: float = 300) -> str:
        return self.daemon.cli(*args, timeout=timeout)

    def create_flags(self, seq: int) -> list[str]:
        return ["--network", "none", "--cgroup-parent", f"/barque/{self.cgroup}"]

    pull_flags: list[str] = []

    @property
    def build_flags(self) -> list[str]:
        return ["--network", "none", "--cgroup-parent", f"/barque/{self.cgroup}"]

    def prunes(self) -> list[tuple[str, list[str]]]:
        return [("builder prune", ["builder", "prune", "-f"]), ("volume prune", ["volume", "prune", "-f"]),
                ("network prune", ["network", "prune", "-f"]), ("image prune", ["image", "prune", "-f"])]

    def container_count(self) -> int | None:
        return _entries(self.daemon.data_root / "containers")

    def service_pids(self) -> dict[str, int]:
        return {"dockerd": self.daemon.proc.pid} if self.daemon.proc is not None else {}

    def version(self) -> str:
        return self.daemon.version()

    def close(self) -> None:
        try:
            if self.daemon.proc is not None and self.daemon.proc.poll() is None:
                ids = self.daemon.cli_result("ps", "-aq").stdout.split()
                if ids:
                    self.daemon.cli_result("rm", "-f", *ids)
        finally:
            self.daemon.close()
            remove_cgroups(self.cgroup)


class PodmanSoak:
    """podman in private roots, the soak's containers under ``/barque/soak-podman``.

    podman asks runc for nofile 1048576 and nproc 32768; where CAP_SYS_RESOURCE
    is dropped runc cannot raise them, so both are the soak's own hard nofile
    limit (as bench-run and bench-build do). No ``network prune``: podman's
    network configs are the host's, not the private root's."""

    name = "podman"
    cgroup = "soak-podman"

    def __init__(self, root: Path) -> None:
        self.podman = Podman(root)
        limit = hard_nofile()
        self.limits = ["--ulimit", f"nofile={limit}:{limit}", "--ulimit", f"nproc={limit}:{limit}"]
        self.container_prune = ["container", "prune", "-f"]

    @staticmethod
    def available() -> str | None:
        return Podman.available()

    def setup(self) -> None:
        self.podman.setup()

    @property
    def env(self) -> dict[str, str]:
        return self.podman.env

    def cli_argv(self, *args: str) -> list[str]:
        return self.podman.command(*args)

    def cli_run(self, *args: str, timeout: float = 300) -> str:
        from bench.tools import run

        return run(self.cli_argv(*args), what=f"podman {args[0]}", env=self.env, timeout=timeout)

    def create_flags(self, seq: int) -> list[str]:
        return ["--network", "none", "--cgroup-parent", f"/barque/{self.cgroup}", *self.limits]

    pull_flags = ["--tls-verify=false"]

    @property
    def build_flags(self) -> list[str]:
        # a build's RUN container takes the cgroup parent itself as its cgroup
        # (buildah); on cgroup v1 its device rules cannot be set on a group that
        # has children, the containers', so builds get a parent of their own
        return ["--network", "none", "--cgroup-parent", f"/barque/{self.cgroup}-build", *self.limits]

    def prunes(self) -> list[tuple[str, list[str]]]:
        return [("volume prune", ["volume", "prune", "-f"]), ("image prune", ["image", "prune", "-f"])]

    def container_count(self) -> int | None:
        """The records of containers/storage's containers.json (podman's and its builds')."""
        path = self.podman.root / "storage" / "overlay-containers" / "containers.json"
        try:
            return len(json.loads(path.read_text()))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            return None

    def service_pids(self) -> dict[str, int]:
        return {}

    def version(self) -> str:
        return self.podman.version()

    def close(self) -> None:
        try:
            subprocess.run(self.cli_argv("rm", "-af", "-t", "0"), capture_output=True, stdin=subprocess.DEVNULL,
                           env={**os.environ, **self.env}, timeout=300)
        except subprocess.TimeoutExpired as exc:
            raise ToolError(f"podman rm -af did not finish: {exc}") from exc
        finally:
            self.podman.close()
            remove_cgroups(self.cgroup)
            remove_cgroups(f"{self.cgroup}-build")
