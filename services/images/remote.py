"""The image-store's view of the registry-proxy over gRPC: the RegistrySource
pulls read from and the RegistryTarget pushes write to."""

from __future__ import annotations

from typing import Iterator

from barque.registry.v1 import registry_pb2, registry_pb2_grpc
from client.channels import RemoteStub
from client.imagespec import Descriptor, Platform
from client.protoconv import descriptor_from_pb, platform_to_pb
from services.images.core import Resolution
from services.images.push import BlobUpload

__all__ = ["RemoteRegistry"]

_OUTCOME = {
    registry_pb2.PUSH_BLOB_OUTCOME_UPLOADED: "uploaded",
    registry_pb2.PUSH_BLOB_OUTCOME_EXISTS: "exists",
    registry_pb2.PUSH_BLOB_OUTCOME_MOUNTED: "mounted",
}


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

    def blob_exists(self, repository: str, digest: str) -> bool:
        return self._stub.BlobExists(
            registry_pb2.BlobExistsRequest(repository=repository, digest=digest, for_push=True)).exists

    def push_blob(self, repository: str, desc: Descriptor, chunks: Iterator[bytes] | None,
                  mount_from: list[str]) -> Iterator[BlobUpload]:
        header = registry_pb2.PushBlobHeader(repository=repository, digest=desc.digest, size=desc.size,
                                             mount_from=mount_from, cached=chunks is None)

        def requests() -> Iterator[registry_pb2.PushBlobRequest]:
            yield registry_pb2.PushBlobRequest(header=header)
            for chunk in chunks or ():
                yield registry_pb2.PushBlobRequest(data=chunk)

        for resp in self._stub.PushBlob(requests()):
            yield BlobUpload(resp.uploaded, resp.total, _OUTCOME.get(resp.outcome, ""), resp.mounted_from)

    def tag_digest(self, repository: str, tag: str) -> str:
        return self._stub.TagDigest(registry_pb2.TagDigestRequest(repository=repository, tag=tag)).digest

    def put_manifest(self, repository: str, tag: str, media_type: str, content: bytes) -> str:
        return self._stub.PutManifest(registry_pb2.PutManifestRequest(
            repository=repository, tag=tag, media_type=media_type, content=content)).digest
