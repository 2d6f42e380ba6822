"""barque as a benchmarked puller: fresh registry-proxy and image-store per
cold run (new temp state dir for both, as tests/support/engine.py does),
the real ``barque`` CLI, and the pull's timeline read from the services' logs.

:class:`BarqueRuntime` is barque as a benchmarked container engine: all three
services started once, the image kept, containers run by the real CLI.

The installed ``barque`` is a launcher that hands each command to a warm
per-uid command server (cli/cmdserver.py). Both classes run this tree's
launcher, written as ``make install`` writes it (:func:`install_launcher`)
into a directory of the bench's, so that a ``make install`` of another
checkout meanwhile cannot change what is measured; and both give it a server
of its own (:class:`CommandServer`, via ``$BARQUE_CLI_SOCKET``): started by
one untimed call, as a user's first call starts theirs, so that every timed
call is served warm as a user's is; stopped by PID at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.tools import ToolError, mounts_under, pids_matching, run, umount_under
from tests.support import host
from tests.support.engine import Engine

__all__ = ["Barque", "BarqueRuntime", "CommandServer", "TimelineEvent", "install_launcher"]

#: what every shim's command line contains (``python -I -S .../services/runtime/shim/__main__.py``)
SHIM_MARK = "services/runtime/shim"
#: the source of the installed ``barque`` (the Makefile's install target)
LAUNCHER_SOURCE = Path(__file__).resolve().parents[1] / "cli" / "launcher.py"
#: cli.cmdserver.server_pid(path), asked of a separate interpreter: bench/ imports nothing of cli/
_SERVER_PID = "import sys\nfrom cli.cmdserver import server_pid\nprint(server_pid(sys.argv[1]))"


def install_launcher(directory: Path) -> str:
    """``directory``/barque: this tree's launcher under this venv's ``python -IS``,
    byte for byte what ``make install`` writes to /usr/local/bin/barque."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "barque"
    path.write_text(f"#!{sys.executable} -IS\n" + LAUNCHER_SOURCE.read_text())
    path.chmod(0o755)
    return str(path)


class CommandServer:
    """The bench's own warm command server: ``$BARQUE_CLI_SOCKET`` points the
    launcher at ``socket``; :meth:`start` makes the one untimed call that finds
    no server there (so the launcher starts one in the background and runs that
    call in-process) and waits until the server holds its lock and socket and
    has answered; :meth:`close` stops every server seen on the socket by PID.

    A server exits on its own when a source file it loaded changes on disk
    (someone edits the tree during the bench); the launcher then runs that one
    call in-process and starts a successor. :meth:`check` notices the change of
    PID, so the report can say that some timed calls were not served warm.
    """

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.pid = 0
        self.seen: list[int] = []     # every server PID on this socket, the first one first
        self.running: set[int] = set()  # the ones :meth:`close` has yet to stop

    @property
    def env(self) -> dict[str, str]:
        return {"BARQUE_CLI_SOCKET": str(self.socket)}

    def server_pid(self) -> int:
        """The live server's PID on the socket (0 when none), as cli.cmdserver.server_pid says."""
        proc = subprocess.run([sys.executable, "-c", _SERVER_PID, str(self.socket)], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=60)
        try:
            return int(proc.stdout.strip() or 0)
        except ValueError:
            return 0

    def start(self, cli: str, env: dict[str, str], timeout: float = 30.0) -> int:
        """Start the server through the launcher (``barque --help``, untimed) and wait until it serves."""
        if self.pid and host.alive(self.pid):
            return self.pid
        env = {**env, **self.env}
        run([cli, "--help"], what="barque --help (starts the command server)", env=env)
        deadline = time.monotonic() + timeout
        while True:
            pid = self.server_pid() if self.socket.exists() else 0
            if pid:
                break
            if time.monotonic() > deadline:
                raise ToolError(f"the command server on {self.socket} did not start in {timeout}s")
            time.sleep(0.1)
        # the socket is bound before the server imports the CLI and grpc: two served calls wait that out
        for _ in range(2):
            run([cli, "--help"], what="barque --help (served)", env=env)
        if self.server_pid() != pid:
            raise ToolError(f"the command server on {self.socket} did not stay up (pid {pid})")
        self.pid = pid
        self.seen.append(pid)
        self.running.add(pid)
        return pid

    def check(self) -> bool:
        """True when the server first started still serves; else record its successor, if any."""
        if self.pid and host.alive(self.pid):
            return True
        pid = self.server_pid() if self.socket.exists() else 0
        if pid and pid not in self.seen:
            self.seen.append(pid)
            self.running.add(pid)
        self.pid = pid
        return False

    @property
    def restarts(self) -> int:
        return max(len(self.seen) - 1, 0)

    def close(self, timeout: float = 15.0) -> list[int]:
        """SIGTERM every server seen on the socket, wait until each is gone (reaping
        it when it is our child: the bench is a subreaper); SIGKILL after ``timeout``.
        Returns the PIDs that would not go."""
        latest = self.server_pid() if self.socket.exists() else 0
        if latest and latest not in self.seen:
            self.seen.append(latest)
            self.running.add(latest)
        stuck = [pid for pid in sorted(self.running) if not _stop_and_reap(pid, timeout)]
        self.running.clear()  # never signal a PID twice: it may belong to someone else by then
        self.pid = 0
        return stuck


def _stop_and_reap(pid: int, timeout: float) -> bool:
    """SIGTERM ``pid`` (SIGKILL after ``timeout``); True once it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    for sig in (None, signal.SIGKILL):
        if sig is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return True
        deadline = time.monotonic() + timeout
        while host.alive(pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass  # not ours to reap: its parent is still there
            return True
    return not host.alive(pid)


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
        self.cli = ""  # this tree's launcher, written by the first reset()
        self.engine: Engine | None = None
        self.started_at = 0.0  # wall clock of the last pull's launch, for the timeline
        self.server: CommandServer | None = None  # started by the first reset(), kept across engines

    @staticmethod
    def available() -> str | None:
        return None if LAUNCHER_SOURCE.exists() else f"{LAUNCHER_SOURCE} is missing"

    def setup(self) -> None:
        """Nothing shared between runs: each reset builds its own engine."""

    def reset(self) -> None:
        """Stop the previous engine (removing its state) and start one with empty
        state; the command server, once started, serves every engine."""
        self._close_engine()
        self.engine = Engine.create()
        if self.server is None:
            directory = Path(tempfile.mkdtemp(prefix="barque-bench-cli-"))
            self.cli = install_launcher(directory)
            self.server = CommandServer(directory / "cli.sock")
        self.server.start(self.cli, self.engine.env)

    def pull(self, ref: str) -> None:
        if self.engine is None:
            raise ToolError("barque pull before reset(): no engine is running")
        self.started_at = time.time()
        server = self.server.env if self.server is not None else {}
        run([self.cli, "pull", ref], what="barque pull", env={**self.engine.env, **server})

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
        try:
            self._close_engine()
        finally:
            if self.server is not None:
                server, self.server = self.server, None
                stuck = server.close()
                shutil.rmtree(server.socket.parent, ignore_errors=True)
                if stuck:
                    raise ToolError(f"barque's command server would not stop: pids {stuck}")


class BarqueRuntime:
    """registry-proxy, image-store and runtime started once with an empty state
    dir, logging at debug level (the runtime's ``container.phase`` events); the
    bench's own command server on ``<engine root>/cli/cli.sock``; :meth:`command`
    is the real CLI against them."""

    name = "barque"

    def __init__(self) -> None:
        self.cli = ""  # this tree's launcher, written by setup() under the engine's root
        self.engine: Engine | None = None
        self.server: CommandServer | None = None

    @staticmethod
    def available() -> str | None:
        return Barque.available()

    def setup(self) -> None:
        self.engine = Engine.create(services=("registry", "images", "runtime"), BARQUE_LOG_LEVEL="debug")
        self.cli = install_launcher(self.engine.root / "bin")
        self.server = CommandServer(self.engine.root / "cli" / "cli.sock")
        self.server.start(self.cli, self.engine.env)

    def _engine(self) -> Engine:
        if self.engine is None:
            raise ToolError("barque: setup() has not started the services")
        return self.engine

    @property
    def env(self) -> dict[str, str]:
        """The environment of every timed call: the engine's, and the bench's command server."""
        return {**self._engine().env, **(self.server.env if self.server is not None else {})}

    @property
    def in_process_env(self) -> dict[str, str]:
        """The same with the command server bypassed: the whole CLI starts in the launcher's place."""
        return {**self.env, "BARQUE_CLI_SERVER": "0"}

    def server_pids(self) -> list[int]:
        """The command server's PID while it serves (a fixed cost, counted with the services)."""
        return [self.server.pid] if self.server is not None and self.server.pid else []

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
        stuck: list[int] = []
        try:
            if "runtime" in engine.procs:
                self.engine = engine
                try:
                    self.remove_all()
                except ToolError:
                    pass  # the service may be the thing that failed; unmounting below still runs
                self.engine = None
            if self.server is not None:
                server, self.server = self.server, None
                stuck = server.close()
            for service in list(reversed(list(engine.procs))):
                engine.stop_service(service)
        finally:
            umount_under(engine.root)
            engine.close()
        if stuck:
            raise ToolError(f"barque's command server would not stop: pids {stuck}")
