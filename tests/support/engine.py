"""barque's services started as real processes on unix sockets under a temp
dir, the real ``barque`` CLI run against them, and the client library's stubs
for tests and benchmarks that call a service themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from barque.images.v1 import images_pb2_grpc
from barque.registry.v1 import registry_pb2_grpc
from barque.runtime.v1 import runtime_pb2_grpc
from client.channels import RemoteStub, connect
from client.config import Config, load_config
from deploy.services import start, stop, wait_serving

__all__ = ["Engine", "CliResult"]

CLI = [sys.executable, "-m", "cli"]
REPO = Path(__file__).resolve().parents[2]

_STUBS: dict[str, Any] = {
    "registry": registry_pb2_grpc.RegistryProxyStub,
    "images": images_pb2_grpc.ImagesStub,
    "runtime": runtime_pb2_grpc.RuntimeStub,
}


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


@dataclass
class Engine:
    root: Path
    services: tuple[str, ...] = ("registry", "images")
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, services: tuple[str, ...] = ("registry", "images"), **env: str) -> "Engine":
        root = Path(tempfile.mkdtemp(prefix=f"barque-engine-{os.getpid()}-"))
        os.chmod(root, 0o755)
        env.setdefault("BARQUE_BRIDGE", _bridge_name())
        engine = cls(root, services, extra_env=dict(env))
        (root / "barque.toml").write_text("# test engine: everything comes from the environment\n")
        try:
            for service in services:
                engine.start(service)
        except BaseException:
            engine.close()
            raise
        return engine

    @property
    def env(self) -> dict[str, str]:
        return {
            "BARQUE_CONFIG": str(self.root / "barque.toml"),
            "BARQUE_STATE_DIR": str(self.root / "state"),
            "BARQUE_RUN_DIR": str(self.root / "run"),
            "BARQUE_LOG_LEVEL": "info",
            **self.extra_env,
        }

    def address(self, service: str) -> str:
        return self.extra_env.get(f"BARQUE_{service.upper()}_ADDRESS") or f"unix://{self.root / 'run' / service}.sock"

    def state(self, service: str) -> Path:
        return self.root / "state" / service

    def log(self, service: str) -> Path:
        return self.root / "logs" / f"{service}.log"

    def config(self) -> Config:
        """The config every part of this engine reads (the CLI's and the services')."""
        return load_config(environ={**os.environ, **self.env})

    @contextmanager
    def client(self, service: str) -> Iterator[RemoteStub]:
        """The client library's stub of ``service``: request ids on every call,
        errors raised as barque's taxonomy; the channel closes on exit."""
        channel = connect(self.config(), service)
        try:
            yield RemoteStub(_STUBS[service](channel), service)
        finally:
            channel.close()

    def start(self, service: str) -> None:
        proc = start(service, self.log(service), self.env)
        self.procs[service] = proc
        wait_serving(self.address(service), proc, timeout=30, log_path=self.log(service))

    def stop_service(self, service: str, kill: bool = False) -> None:
        proc = self.procs.pop(service)
        if kill:
            proc.kill()
        else:
            stop(proc.pid)
        proc.wait(15)

    def restart(self, service: str) -> None:
        self.stop_service(service)
        self.start(service)

    def cli(self, *args: str, input: str | None = None, timeout: float = 300, env: dict | None = None) -> CliResult:
        proc = subprocess.run(
            [*CLI, *args], input=input, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **self.env, **(env or {})}, cwd=REPO,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, **kw) -> CliResult:
        res = self.cli(*args, **kw)
        assert res.returncode == 0, f"barque {' '.join(args)} failed ({res.returncode}): {res.stderr}{res.stdout}"
        return res

    @property
    def bridge(self) -> str:
        """This engine's default bridge (each test engine has its own, beside the host's barque0)."""
        return self.extra_env["BARQUE_BRIDGE"]

    def close(self) -> None:
        for service in list(reversed(list(self.procs))):
            self.stop_service(service)
        if "runtime" in self.services:
            remove_engine_network(self.bridge, self.state("runtime") / "network" / "state.json")
        shutil.rmtree(self.root, ignore_errors=True)


_bridges = iter(range(1, 1 << 30))


def _bridge_name() -> str:
    """A bridge name of the tests' own: bqt<pid><n>, at most 15 characters."""
    return f"bqt{os.getpid() % 100000}x{next(_bridges)}"[:15]


def remove_engine_network(bridge: str, state: Path | None = None) -> None:
    """What an engine's runtime keeps across its restarts, as a host keeps
    docker0: its bridges (the default one, and user networks' a test left)
    and its firewall chains. Tests remove them."""
    import json

    from services.runtime.network import firewall
    from services.runtime.network.manager import chain_prefix

    bridges = {bridge}
    if state is not None and state.exists():
        bridges |= {net["bridge"] for net in json.loads(state.read_text()).get("networks", {}).values()}
    for name in sorted(bridges):
        subprocess.run(["ip", "link", "del", name], capture_output=True)
    firewall.remove(prefix=chain_prefix(bridge))
