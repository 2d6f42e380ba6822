"""barque as a benchmarked puller: fresh registry-proxy and image-store per
cold run (new temp state dir for both, as tests/support/engine.py does),
the real ``barque`` CLI, and the pull's timeline read from the services' logs.

:class:`BarqueRuntime` is barque as a benchmarked container engine: all three
services started once, the image kept, containers run by the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.tools import ToolError, mounts_under, pids_matching, run, umount_under
from tests.support.engine import Engine

__all__ = ["Barque", "BarqueRuntime", "TimelineEvent", "barque_cli"]

#: what every shim's command line contains (``python -I -S .../services/runtime/shim/__main__.py``)
SHIM_MARK = "services/runtime/shim"


def barque_cli() -> str:
    """The installed ``barque`` (``make install`` links it), else the venv's script."""
    found = shutil.which("barque")
    if found:
        return found
    beside = Path(sys.executable).with_name("barque")
    return str(beside) if beside.exists() else "barque"


@dataclass(frozen=True)
class TimelineEvent:
    """One log event of a pull, at ``t`` seconds after the CLI was launched."""

    t: float
    service: str
    event: str
    detail: str


class Barque:
    """``barque pull`` against services started fresh by :meth:`reset`."""

    name = "barque"

    def __init__(self) -> None:
        self.cli = barque_cli()
        self.engine: Engine | None = None
        self.started_at = 0.0  # wall clock of the last pull's launch, for the timeline

    @staticmethod
    def available() -> str | None:
        return None if os.path.exists(barque_cli()) else "barque is not installed (make install)"

    def setup(self) -> None:
        """Nothing shared between runs: each reset builds its own engine."""

    def reset(self) -> None:
        """Stop the previous engine (removing its state) and start one with empty state."""
        self._close_engine()
        self.engine = Engine.create()

    def pull(self, ref: str) -> None:
        if self.engine is None:
            raise ToolError("barque pull before reset(): no engine is running")
        self.started_at = time.time()
        run([self.cli, "pull", ref], what="barque pull", env=self.engine.env)

    def version(self) -> str:
        """The installed distribution's version plus the commit of the tree it runs from."""
        from importlib.metadata import version

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parents[1]).stdout.strip()
        return f"barque {version('barque')}" + (f" ({commit})" if commit else "")

    def pids(self) -> dict[str, int]:
        """PIDs of the running services, for the profiler."""
        if self.engine is None:
            return {}
        return {name: proc.pid for name, proc in self.engine.procs.items()}

    def snapshot_count(self) -> int:
        if self.engine is None:
            return 0
        root = self.engine.state("images") / "snapshots" / "snapshots"
        return sum(1 for p in root.iterdir() if (p / "fs").is_dir()) if root.is_dir() else 0

    def timeline(self) -> list[TimelineEvent]:
        """The first (cold) pull's events from both services' logs, relative to its launch."""
        if self.engine is None:
            return []
        lines: list[tuple[str, dict]] = []
        for service in ("registry", "images"):
            path = self.engine.log(service)
            if not path.exists():
                continue
            for raw in path.read_text().splitlines():
                try:
                    lines.append((service, json.loads(raw)))
                except ValueError:
                    continue
        cold = next((rec.get("request_id") for _, rec in lines
                     if rec.get("event") == "image.pulled" and rec.get("downloaded")), None)
        events = []
        for service, rec in lines:
            if cold is None or rec.get("request_id") != cold:
                continue
            t = datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).timestamp() - self.started_at
            detail = {
                "registry.request": lambda r: f"{r.get('method')} {str(r.get('path', ''))[-80:]}",
                "registry.blob_cached": lambda r: f"{str(r.get('digest'))[7:19]} {r.get('size')} bytes",
                "snapshot_unpacked": lambda r: f"{str(r.get('chain_id'))[7:19]} {r.get('files')} files "
                                               f"{r.get('bytes')} bytes",
            }.get(rec.get("event", ""), lambda r: "")(rec)
            events.append(TimelineEvent(round(t, 3), service, rec.get("event", ""), detail))
        return sorted(events, key=lambda e: e.t)

    def _close_engine(self) -> None:
        if self.engine is not None:
            engine, self.engine = self.engine, None
            engine.close()

    def close(self) -> None:
        self._close_engine()


class BarqueRuntime:
    """registry-proxy, image-store and runtime started once with an empty state
    dir; :meth:`command` is the real CLI against them."""

    name = "barque"

    def __init__(self) -> None:
        self.cli = barque_cli()
        self.engine: Engine | None = None

    @staticmethod
    def available() -> str | None:
        return Barque.available()

    def setup(self) -> None:
        self.engine = Engine.create(services=("registry", "images", "runtime"))

    def _engine(self) -> Engine:
        if self.engine is None:
            raise ToolError("barque: setup() has not started the services")
        return self.engine

    @property
    def env(self) -> dict[str, str]:
        return self._engine().env

    def command(self, *args: str) -> list[str]:
        return [self.cli, *args]

    def cli_run(self, *args: str, timeout: float = 120) -> str:
        return run(self.command(*args), what=f"barque {args[0]}", env=self.env, timeout=timeout)

    def version(self) -> str:
        return Barque().version()

    def service_pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._engine().procs.items()}

    def shim_pids(self) -> list[int]:
        """Every shim of this engine, and its warm zygote when the runtime keeps
        one (by the marker and this engine's root in the command line)."""
        return pids_matching(SHIM_MARK, str(self._engine().root))

    def runtime_log(self) -> Path:
        return self._engine().log("runtime")

    def leftovers(self) -> list[str]:
        """What a removed container must not leave: its record and bundle in the
        runtime's state, its barque-oci state, its rootfs mount. Empty after
        ``run --rm`` returned."""
        engine = self._engine()
        left = []
        for kind, path in (("container", engine.state("runtime") / "containers"),
                           ("oci state", engine.state("runtime") / "oci")):
            left += [f"{kind} {p.name[:12]}" for p in path.iterdir()] if path.is_dir() else []
        return left + [f"mount {m}" for m in mounts_under(engine.root)]

    def remove_all(self) -> None:
        """``barque rm -f`` every container the engine still knows."""
        ids = self.cli_run("ps", "-aq").split()
        if ids:
            self.cli_run("rm", "-f", *ids)

    def close(self) -> None:
        if self.engine is None:
            return
        engine, self.engine = self.engine, None
        try:
            if "runtime" in engine.procs:
                self.engine = engine
                try:
                    self.remove_all()
                except ToolError:
                    pass  # the service may be the thing that failed; unmounting below still runs
                self.engine = None
            for service in list(reversed(list(engine.procs))):
                engine.stop_service(service)
        finally:
            umount_under(engine.root)
            engine.close()
