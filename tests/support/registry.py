"""A real distribution registry (Debian's ``docker-registry``) on a free loopback port.

Started as a process with its own config and storage under a temp dir, waited
for with a deadline, stopped by PID.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Registry", "start_registry", "free_port"]

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    host: str  # "127.0.0.1:PORT"
    root: Path
    proc: subprocess.Popen
    username: str | None = None
    password: str | None = None
    log_path: Path = field(default=Path("/dev/null"))

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def auth_header(self) -> dict[str, str]:
        if not self.username:
            return {}
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_registry(workdir: Path, *, username: str | None = None, password: str | None = None,
                   port: int | None = None, timeout: float = 20.0, schema1: bool = False,
                   extra_config: str = "") -> Registry:
    """Start ``docker-registry serve`` on 127.0.0.1; basic auth when a username is given.

    ``schema1`` lets the registry accept (signed) Docker schema1 manifest pushes,
    which distribution 2.8 refuses by default ("manifest schema v1 unsupported").
    ``extra_config``: more top-level YAML of the registry's config (e.g. a
    ``validation:`` section).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    auth = ""
    if username:
        htpasswd = subprocess.run(["htpasswd", "-Bbn", username, password or ""],
                                  check=True, capture_output=True, text=True).stdout
        (workdir / "htpasswd").write_text(htpasswd)
        auth = f"auth:\n  htpasswd:\n    realm: barque-test\n    path: {workdir / 'htpasswd'}\n"
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        + auth
        + ("compatibility:\n  schema1:\n    enabled: true\n" if schema1 else "")
        + extra_config
    )
    log_path = workdir / "registry.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
    reg = Registry(f"127.0.0.1:{port}", workdir, proc, username, password, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{reg.url}/v2/", timeout=1).close()
            return reg
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return reg
        except OSError:
            pass
        if time.monotonic() > deadline:
            reg.stop()
            raise RuntimeError(f"docker-registry on {reg.host} not ready after {timeout}s")
        time.sleep(0.05)
