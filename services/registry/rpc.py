"""Thin gRPC servicer of the registry-proxy."""

from __future__ import annotations

from typing import Iterator

from barque.registry.v1 import registry_pb2, registry_pb2_grpc
from barque.types.v1 import types_pb2
from client.protoconv import descriptor_to_pb, platform_from_pb
from client.errors import InvalidArgument
from client.reference import parse_reference, registry_host
from services.registry.core import RegistryProxy
from services.registry.push import BlobUpload, PushOutcome
from services.registry.info import registry_info

__all__ = ["RegistryServicer"]

_OUTCOMES = {
    PushOutcome.UPLOADED: registry_pb2.PUSH_BLOB_OUTCOME_UPLOADED,
    PushOutcome.EXISTS: registry_pb2.PUSH_BLOB_OUTCOME_EXISTS,
    PushOutcome.MOUNTED: registry_pb2.PUSH_BLOB_OUTCOME_MOUNTED,
}


def _blob_data(requests: Iterator[registry_pb2.PushBlobRequest]) -> Iterator[bytes]:
    for request in requests:
        if request.WhichOneof("msg") != "data":
            raise InvalidArgument("push blob: a second header in the stream")
        yield request.data


class RegistryServicer(registry_pb2_grpc.RegistryProxyServicer):
    def __init__(self, proxy: RegistryProxy) -> None:
        self._proxy = proxy

    def Resolve(self, request, context):
        platform = platform_from_pb(request.platform) if request.HasField("platform") else None
        resolved = self._proxy.resolve(request.reference, platform)
        return registry_pb2.ResolveResponse(
            name=resolved.name,
            repository=parse_reference(resolved.name).name,
            target=descriptor_to_pb(resolved.top),
            manifest=descriptor_to_pb(resolved.manifest),
        )

    def GetManifest(self, request, context):
        desc, content = self._proxy.get_manifest(request.repository, request.digest)
        return registry_pb2.GetManifestResponse(descriptor=descriptor_to_pb(desc), content=content)

    def FetchBlob(self, request, context):
        size = request.size if request.HasField("size") else None
        offset = request.offset
        first = True
        for chunk in self._proxy.fetch_blob(request.repository, request.digest, request.offset, size):
            total = 0
            if first:
                total = size if size is not None else self._proxy.blob_size(request.repository,
                                                                            request.digest)
            yield registry_pb2.FetchBlobResponse(offset=offset, data=chunk, total=total)
            offset += len(chunk)
            first = False

    def Login(self, request, context):
        host = self._proxy.login(request.registry, request.username, request.password)
        return registry_pb2.LoginResponse(registry=host)

    def Logout(self, request, context):
        host = registry_host(request.registry)
        return registry_pb2.LogoutResponse(removed=self._proxy.logout(request.registry), registry=host)

    def Info(self, request, context):
        info = registry_info(self._proxy.transport.config)
        return registry_pb2.InfoResponse(
            build=types_pb2.BuildInfo(**vars(info.build)), index_server_address=info.index_server_address,
            insecure_registry_cidrs=info.insecure_registry_cidrs, mirrors=info.mirrors,
            index_configs=[registry_pb2.IndexInfo(**vars(i)) for i in info.index_configs])

    def TagDigest(self, request, context):
        return registry_pb2.TagDigestResponse(
            digest=self._proxy.pusher.tag_digest(request.repository, request.tag))

    def BlobExists(self, request, context):
        exists, size = self._proxy.pusher.blob_exists(request.repository, request.digest,
                                                      request.for_push)
        return registry_pb2.BlobExistsResponse(exists=exists, size=size)

    def PushBlob(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "header":
            raise InvalidArgument("push blob: the stream must start with a header")
        h = first.header
        upload = BlobUpload(h.repository, h.digest, h.size, tuple(h.mount_from), h.chunk_size)
        if h.cached:
            self._proxy.pusher.require_cached(upload)
        else:
            self._proxy.pusher.receive(upload, _blob_data(request_iterator))
        for p in self._proxy.pusher.push(upload):
            yield registry_pb2.PushBlobResponse(
                uploaded=p.uploaded, total=p.total, mounted_from=p.mounted_from, resumed=p.resumed,
                outcome=_OUTCOMES[p.outcome] if p.outcome else registry_pb2.PUSH_BLOB_OUTCOME_UNSPECIFIED)

    def PutManifest(self, request, context):
        digest = self._proxy.pusher.put_manifest(request.repository, request.tag, request.media_type,
                                                 request.content)
        return registry_pb2.PutManifestResponse(digest=digest)
