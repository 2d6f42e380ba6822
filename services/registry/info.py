"""The registry-proxy's part of ``docker info``: the registry settings it
pulls with, from its own config. The proxy may serve image-stores on other
hosts with a config of its own, so this is what the proxy uses, not what a
client's config says. No grpc here: the servicer converts
:class:`RegistryInfo`."""

from __future__ import annotations

from dataclasses import dataclass

from client.config import Config
from client.reference import DEFAULT_DOMAIN
from client.version import BuildInfo, build_info

__all__ = ["RegistryInfo", "IndexInfo", "registry_info", "INDEX_SERVER", "LOOPBACK_CIDRS"]

#: Docker Hub's index address, where unqualified names go (Docker's IndexServer)
INDEX_SERVER = "https://index.docker.io/v1/"

#: registries reached over plain HTTP without configuration
#: (services/registry/transport.py ``is_loopback``; Docker's defaults too)
LOOPBACK_CIDRS = ("::1/128", "127.0.0.0/8")


@dataclass(frozen=True)
class IndexInfo:
    """One registry as Docker's ``IndexInfo`` shows it: its mirrors, whether
    it must be reached over TLS (``secure``: not configured ``insecure``), and
    whether it is Docker Hub (``official``)."""

    name: str
    mirrors: tuple[str, ...]
    secure: bool
    official: bool


@dataclass(frozen=True)
class RegistryInfo:
    """The registry-proxy's part of Docker's ``Info``, in proto field names."""

    build: BuildInfo
    index_server_address: str
    insecure_registry_cidrs: tuple[str, ...]
    index_configs: tuple[IndexInfo, ...]
    mirrors: tuple[str, ...]


def registry_info(config: Config) -> RegistryInfo:
    """Docker Hub first, then every registry ``[registries]`` names, by host."""
    hub = config.registry_host(DEFAULT_DOMAIN)
    indexes = [IndexInfo(DEFAULT_DOMAIN, hub.mirrors, not hub.insecure, True)]
    for host in sorted(h for h in config.registries if h != DEFAULT_DOMAIN):
        settings = config.registries[host]
        indexes.append(IndexInfo(host, settings.mirrors, not settings.insecure, False))
    return RegistryInfo(build_info(), INDEX_SERVER, LOOPBACK_CIDRS, tuple(indexes), hub.mirrors)
