"""The image-store's view of the registry-proxy: a RegistrySource over gRPC."""

from __future__ import annotations

from typing import Iterator

from barque.registry.v1 import registry_pb2, registry_pb2_grpc
from client.channels import RemoteStub
from client.imagespec import Descriptor, Platform
from client.protoconv import descriptor_from_pb, platform_to_pb
from services.images.core import Resolution

__all__ = ["RemoteRegistry"]


class RemoteRegistry:
    def __init__(self, channel) -> None:
        self._stub = RemoteStub(registry_pb2_grpc.RegistryProxyStub(channel), "registry")

    def resolve(self, reference: str, platform: Platform | None) -> Resolution:
        resp = self._stub.Resolve(
            registry_pb2.ResolveRequest(reference=reference, platform=platform_to_pb(platform))
        )
        return Resolution(
            resp.name, resp.repository, descriptor_from_pb(resp.target), descriptor_from_pb(resp.manifest)
        )

    def get_manifest(self, repository: str, digest: str) -> bytes:
        resp = self._stub.GetManifest(registry_pb2.GetManifestRequest(repository=repository, digest=digest))
        return resp.content

    def fetch_blob(self, repository: str, digest: str, offset: int = 0,
                   size: int | None = None) -> Iterator[bytes]:
        request = registry_pb2.FetchBlobRequest(repository=repository, digest=digest, offset=offset)
        if size is not None:
            request.size = size
        stream = self._stub.FetchBlob(request)
        try:
            for chunk in stream:
                yield chunk.data
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # cancels the call when the consumer stops early
