"""The builders ``make bench-build`` times, each with the same shape: ``setup()``
once, ``pull(ref)`` of a base (untimed), ``keep_bases()`` to note what a cold
reset must leave, ``build_command(context, tag)`` (the timed process, its
environment in ``env``), ``empty()`` (untimed: results and build cache go, the
bases stay) and ``close()``, which stops what it started by PID and removes
its state.

* **barque**: the three services of ``tests/support/engine.py`` with an empty
  state dir (logging at info level) and the bench's own warm command server
  (bench/barque.py's :class:`~bench.barque.BarqueRuntime`); ``empty()`` is
  ``builder prune -af`` and ``rmi -f`` of every image but the bases;
* **docker-legacy** and **docker-buildkit**: one private dockerd each
  (tests/support/dockerd.py: Debian's 20.10, no bridge, no iptables), so
  neither builder's images or cache meet the other's; ``DOCKER_BUILDKIT=0``
  and ``=1``. ``empty()`` is ``rmi -f`` of every image but the bases (the
  legacy builder's cache *is* its intermediate images) and ``builder prune
  -af`` (BuildKit's cache records);
* **podman**: private ``--root``/``--runroot`` (bench/tools.py's
  :class:`~bench.tools.Podman`: overlay, cgroupfs, runc), ``build --layers``
  (its default); ``empty()`` is ``rmi -f`` of every image but the bases
  (its cache is its intermediate images, as the legacy builder's) and
  ``container prune`` for build containers a failed build left.

Every build runs with ``--network none``: the private dockerds have no
bridge, and so no engine pays for a network its peers do not set up.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from bench.barque import BarqueRuntime
from bench.tools import Podman, ToolError, hard_nofile
from tests.support.dockerd import PrivateDockerd
from tests.support.engine import Engine

__all__ = ["ENGINES", "CGROUP_PARENTS", "BarqueBuilder", "DockerBuilder", "PodmanBuilder", "cache_hits", "make_builder",
           "remove_all_but"]

#: every engine bench-build knows, in the order rounds run them
ENGINES = ("barque", "docker-legacy", "docker-buildkit", "podman")
#: the cgroup parent of the build containers where a builder takes one (under barque/, removed at the end)
CGROUP_PARENTS = {"docker-legacy": "bench-build-docker", "podman": "bench-build-podman"}

#: how each builder's output says a step was taken from its cache
_CACHE_MARKS = {"barque": r"Using cache", "docker-legacy": r"Using cache", "podman": r"Using cache",
                "docker-buildkit": r"\bCACHED\b"}


def cache_hits(engine: str, output: str) -> int:
    """How many steps ``output`` (stdout and stderr of one build) says came from the cache."""
    return len(re.findall(_CACHE_MARKS[engine], output))


def _minus(ids: list[str], keep: set[str]) -> list[str]:
    """``ids`` not in ``keep``, deduplicated, order kept (an id may be listed once per tag)."""
    return list(dict.fromkeys(i for i in ids if i and i not in keep))


def remove_all_but(keep: set[str], list_ids: Callable[[], list[str]], remove: Callable[[list[str]], str],
                   what: str, passes: int = 20) -> int:
    """Remove every image whose id is not in ``keep``; returns the passes it took.

    An engine's ``rmi -f`` of many ids may refuse a parent while its child
    exists (docker: "image has dependent child images") and carry on with the
    rest, so removal repeats until only ``keep`` is listed. ``remove`` gets the
    ids and returns the engine's complaints; a pass that removes nothing raises
    ToolError with them, as does running out of passes.
    """
    for done in range(passes):
        doomed = _minus(list_ids(), keep)
        if not doomed:
            return done
        complaint = remove(doomed)
        if not set(doomed) - set(list_ids()):
            raise ToolError(f"{what}: rmi removed none of {len(doomed)} images: {complaint.strip()[-800:]}")
    if _minus(list_ids(), keep):
        raise ToolError(f"{what}: images left after {passes} passes of rmi")
    return passes


class BarqueBuilder(BarqueRuntime):
    """barque's ``build`` against its own three services and warm command server."""

    name = "barque"

    def __init__(self) -> None:
        super().__init__()
        self.bases: set[str] = set()

    def setup(self) -> None:
        from bench.barque import CommandServer, install_launcher

        # info level, as a user's services log: debug lines cost the services time the others do not pay
        self.engine = Engine.create(services=("registry", "images", "runtime"), BARQUE_LOG_LEVEL="info")
        self.cli = install_launcher(self.engine.root / "bin")
        self.server = CommandServer(self.engine.root / "cli" / "cli.sock")
        self.server.start(self.cli, self.engine.env)

    def pull(self, ref: str) -> None:
        self.cli_run("pull", ref, timeout=600)

    def _ids(self) -> list[str]:
        return self.cli_run("images", "-aq").split()

    def keep_bases(self) -> None:
        self.bases = set(self._ids())

    def build_command(self, context: Path, tag: str) -> list[str]:
        return self.command("build", "--network", "none", "-t", tag, str(context))

    def empty(self) -> None:
        self.cli_run("builder", "prune", "-af", timeout=300)
        remove_all_but(self.bases, self._ids, self._rmi, self.name)

    def _rmi(self, ids: list[str]) -> str:
        proc = subprocess.run(self.command("rmi", "-f", *ids), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, env={**os.environ, **self.env}, timeout=300)
        return proc.stderr


class DockerBuilder(PrivateDockerd):
    """A private dockerd of its own, its legacy builder or its embedded BuildKit."""

    def __init__(self, root: Path, buildkit: bool) -> None:
        super().__init__(root)
        self.buildkit = buildkit
        self.name = "docker-buildkit" if buildkit else "docker-legacy"
        self.bases: set[str] = set()

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "DOCKER_BUILDKIT": "1" if self.buildkit else "0"}

    def pull(self, ref: str) -> None:
        self.cli("pull", "-q", ref)

    def _ids(self) -> list[str]:
        return self.cli("images", "-aq", "--no-trunc").split()

    def keep_bases(self) -> None:
        self.bases = set(self._ids())

    def build_command(self, context: Path, tag: str) -> list[str]:
        flags = ["--network", "none", "-t", tag]
        if self.buildkit:
            flags += ["--progress", "plain"]  # one line per step, the cache hits countable
        else:
            flags += ["--cgroup-parent", f"/barque/{CGROUP_PARENTS[self.name]}"]
        return self.command("build", *flags, str(context))

    def empty(self) -> None:
        """Every image but the bases (parents go after their children), then BuildKit's cache."""
        remove_all_but(self.bases, self._ids, lambda ids: self.cli_result("rmi", "-f", *ids).stderr, self.name)
        self.cli("builder", "prune", "-af")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            ids = subprocess.run(self.command("ps", "-aq"), capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(self.command("rm", "-f", *ids), capture_output=True)
        super().close()


class PodmanBuilder(Podman):
    """``podman build`` (``--layers``, its default) in a private storage root."""

    name = "podman"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.bases: set[str] = set()

    @staticmethod
    def available() -> str | None:
        return Podman.available()

    def pull(self, ref: str) -> None:
        self._podman("pull", "--quiet", "--tls-verify=false", ref, what="podman pull")

    def _ids(self) -> list[str]:
        return self._podman("images", "-aq", "--no-trunc", what="podman images").split()

    def keep_bases(self) -> None:
        self.bases = set(self._ids())

    def build_command(self, context: Path, tag: str) -> list[str]:
        # podman asks runc for nofile 1048576 and nproc 32768, which fails where
        # CAP_SYS_RESOURCE is dropped: both set to our hard limit, as bench-run does
        limit = hard_nofile()
        return self.command("build", "--network", "none", "--cgroup-parent",
                            f"/barque/{CGROUP_PARENTS['podman']}", "--ulimit", f"nofile={limit}:{limit}",
                            "--ulimit", f"nproc={limit}:{limit}", "-t", tag, str(context))

    def empty(self) -> None:
        self._podman("container", "prune", "-f", what="podman container prune")
        remove_all_but(self.bases, self._ids, self._rmi, self.name)

    def _rmi(self, ids: list[str]) -> str:
        proc = subprocess.run(self.command("rmi", "-f", *ids), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, env={**os.environ, **self.env}, timeout=300)
        return proc.stderr

    def close(self) -> None:
        subprocess.run(self.command("rm", "-af", "-t", "0"), capture_output=True, env={**os.environ, **self.env})
        super().close()


def make_builder(name: str, root: Path):
    """The builder ``name`` with its state under ``root / name`` (not set up yet);
    ToolError when its tools are not installed."""
    if name == "barque":
        builder: object = BarqueBuilder()
    elif name in ("docker-legacy", "docker-buildkit"):
        builder = DockerBuilder(root / name, buildkit=name == "docker-buildkit")
    elif name == "podman":
        builder = PodmanBuilder(root / name)
    else:
        raise ToolError(f"unknown engine {name!r}: want one of {', '.join(ENGINES)}")
    missing = builder.available()  # type: ignore[attr-defined]
    if missing:
        raise ToolError(missing)
    return builder
