"""Wiring of the registry-proxy service."""

from __future__ import annotations

from barque.registry.v1 import registry_pb2, registry_pb2_grpc
from client.config import load_config
from services.common.server import listener, prepare_state_dir, serve
from services.registry.core import RegistryProxy
from services.registry.rpc import RegistryServicer

__all__ = ["run"]


def run() -> None:
    config = load_config()
    listen = listener(config, "registry")
    proxy = RegistryProxy(prepare_state_dir(config, "registry"), config)

    def register(server):
        registry_pb2_grpc.add_RegistryProxyServicer_to_server(RegistryServicer(proxy), server)
        return [registry_pb2.DESCRIPTOR.services_by_name["RegistryProxy"].full_name]

    serve("registry", listen, register)
