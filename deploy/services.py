"""Start, stop and check barque's services in the background (``make up``/``make down``).

The embedded default: one machine, unix sockets under the run dir, state
under the state dir, logs in ``/var/log/barque``. ``up`` is idempotent and
returns only once every service answers SERVING on its health check.
Tests use the same functions with their own config.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from client.channels import open_channel
from client.config import Config, TlsConfig, load_config
from client.errors import BarqueError

__all__ = ["ORDER", "is_serving", "start", "wait_serving", "stop", "up", "down"]

#: start order: the image-store calls the registry-proxy, the runtime the image-store
ORDER = ("registry", "images", "runtime")


def is_serving(address: str, timeout: float = 0.5, tls: TlsConfig | None = None) -> bool:
    """Health check of ``address``; a tcp one over mutual TLS with ``tls``'s client cert."""
    with open_channel(address, tls or TlsConfig()) as channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
        return resp.status == health_pb2.HealthCheckResponse.SERVING


def start(service: str, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Launch ``python -m services.<service>`` detached in its own session."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )


def wait_serving(address: str, proc: subprocess.Popen | None = None, timeout: float = 30.0,
                 log_path: Path | None = None, tls: TlsConfig | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not is_serving(address, tls=tls):
        if proc is not None and proc.poll() is not None:
            tail = log_path.read_text()[-1500:] if log_path and log_path.exists() else ""
            raise RuntimeError(f"service at {address} exited with {proc.returncode}: {tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"service at {address} not SERVING after {timeout}s")
        time.sleep(0.05)


def stop(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; only the given PID."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                return
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _services(config: Config) -> list[str]:
    return [s for s in ORDER if s != "runtime" or _runtime_available()]


def _runtime_available() -> bool:
    try:
        import services.runtime.server  # noqa: F401
    except ImportError:
        return False
    return True


def _pidfile(config: Config, service: str) -> Path:
    return config.run_dir / f"{service}.pid"


def up(config: Config, log_dir: Path = Path("/var/log/barque")) -> None:
    # the run dir is barque's own (sockets, pid files): private, as the services keep it
    config.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for service in _services(config):
        address = config.address(service)
        if is_serving(address, tls=config.tls):
            print(f"{service}: already serving on {address}")
            continue
        log_path = log_dir / f"{service}.log"
        proc = start(service, log_path)
        _pidfile(config, service).write_text(f"{proc.pid}\n")
        wait_serving(address, proc, log_path=log_path, tls=config.tls)
        print(f"{service}: serving on {address} (pid {proc.pid}, log {log_path})")


def down(config: Config) -> None:
    for service in reversed(_services(config)):
        pidfile = _pidfile(config, service)
        try:
            pid = int(pidfile.read_text())
        except (FileNotFoundError, ValueError):
            print(f"{service}: not started by make up")
            continue
        stop(pid)
        pidfile.unlink(missing_ok=True)
        print(f"{service}: stopped (pid {pid})")
    from cli.cmdserver import default_socket, server_pid

    pid = server_pid(default_socket())
    if pid:
        stop(pid)
        print(f"command server: stopped (pid {pid})")


def status(config: Config) -> int:
    bad = 0
    for service in _services(config):
        ok = is_serving(config.address(service), tls=config.tls)
        bad |= not ok
        print(f"{service}: {'SERVING' if ok else 'NOT SERVING'} ({config.address(service)})")
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.services")
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args()
    try:
        config = load_config()
        if args.action == "up":
            up(config)
        elif args.action == "down":
            down(config)
        else:
            sys.exit(status(config))
    except BarqueError as exc:  # a config error (a tcp address without [tls], ...): one line
        sys.exit(f"{parser.prog}: {exc}")


if __name__ == "__main__":
    main()
