"""Where every barque component finds the others, and where it keeps state.

One file, ``/etc/barque/barque.toml`` (or ``$BARQUE_CONFIG``), overridable by
environment variables so tests point everything at their own sockets and
state directories::

    state_dir = "/var/lib/barque"      # BARQUE_STATE_DIR
    run_dir = "/run/barque"            # BARQUE_RUN_DIR

    [registry]
    address = "unix:///run/barque/registry.sock"   # BARQUE_REGISTRY_ADDRESS
    [images]
    address = "unix:///run/barque/images.sock"     # BARQUE_IMAGES_ADDRESS
    [runtime]
    address = "unix:///run/barque/runtime.sock"    # BARQUE_RUNTIME_ADDRESS

    [registries."docker.io"]
    mirrors = ["https://mirror.example"]
    [registries."myhost:5000"]
    insecure = true

    [cgroups]
    version = "auto"               # BARQUE_CGROUP_VERSION: auto, 1 or 2
    v2_root = "/sys/fs/cgroup"     # BARQUE_CGROUP2_ROOT: the cgroup2 mount used for version 2

A service's state lives under ``<state_dir>/<service>/``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import InvalidArgument

__all__ = ["Config", "CgroupConfig", "RegistryHostConfig", "load_config", "SERVICES"]

SERVICES = ("registry", "images", "runtime")
DEFAULT_CONFIG = "/etc/barque/barque.toml"


@dataclass(frozen=True)
class RegistryHostConfig:
    """Per-registry settings: mirrors tried first, and plain-HTTP permission."""

    mirrors: tuple[str, ...] = ()
    insecure: bool = False


@dataclass(frozen=True)
class CgroupConfig:
    """Which cgroup hierarchy containers go in.

    ``auto`` picks v2 when ``/sys/fs/cgroup`` is the unified hierarchy and v1
    otherwise; ``2`` with ``v2_root`` names a cgroup2 mount elsewhere (a hybrid
    host's ``/sys/fs/cgroup/unified``), so the v2 path runs on a v1 host too.
    """

    version: str = "auto"
    v2_root: str = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Config:
    state_dir: Path = Path("/var/lib/barque")
    run_dir: Path = Path("/run/barque")
    addresses: dict[str, str] = field(default_factory=dict)
    registries: dict[str, RegistryHostConfig] = field(default_factory=dict)
    source: str = ""
    cgroups: CgroupConfig = CgroupConfig()

    def address(self, service: str) -> str:
        """gRPC target of ``service`` (``unix:///…`` or ``host:port``)."""
        return self.addresses.get(service) or f"unix://{self.run_dir / service}.sock"

    def state(self, service: str) -> Path:
        return self.state_dir / service

    def registry_host(self, host: str) -> RegistryHostConfig:
        return self.registries.get(host, RegistryHostConfig())


def load_config(path: str | None = None, environ: dict[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    path = path or env.get("BARQUE_CONFIG") or DEFAULT_CONFIG
    data: dict = {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if path != DEFAULT_CONFIG and (path == env.get("BARQUE_CONFIG")):
            raise InvalidArgument(f"config file {path!r} does not exist") from None
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise InvalidArgument(f"config file {path!r}: {exc}") from exc

    state_dir = Path(env.get("BARQUE_STATE_DIR") or data.get("state_dir") or "/var/lib/barque")
    run_dir = Path(env.get("BARQUE_RUN_DIR") or data.get("run_dir") or "/run/barque")
    addresses = {}
    for svc in SERVICES:
        section = data.get(svc) or {}
        addr = env.get(f"BARQUE_{svc.upper()}_ADDRESS") or section.get("address")
        if addr:
            addresses[svc] = str(addr)
    registries = {}
    for host, section in (data.get("registries") or {}).items():
        if not isinstance(section, dict):
            raise InvalidArgument(f"config file {path!r}: [registries.{host!r}] must be a table")
        registries[host] = RegistryHostConfig(
            mirrors=tuple(str(m).rstrip("/") for m in section.get("mirrors", ())),
            insecure=bool(section.get("insecure", False)),
        )
    for host in filter(None, (env.get("BARQUE_INSECURE_REGISTRIES") or "").split(",")):
        prev = registries.get(host, RegistryHostConfig())
        registries[host] = RegistryHostConfig(mirrors=prev.mirrors, insecure=True)
    section = data.get("cgroups") or {}
    version = str(env.get("BARQUE_CGROUP_VERSION") or section.get("version") or "auto")
    if version not in ("auto", "1", "2"):
        raise InvalidArgument(f"cgroup version {version!r}: expected auto, 1 or 2")
    v2_root = str(env.get("BARQUE_CGROUP2_ROOT") or section.get("v2_root") or "/sys/fs/cgroup")
    if not v2_root.startswith("/"):
        raise InvalidArgument(f"cgroup v2_root {v2_root!r} must be an absolute path")
    return Config(state_dir, run_dir, addresses, registries, path, CgroupConfig(version, v2_root))
