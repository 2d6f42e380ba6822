"""BlobExists, PushBlob, PutManifest and TagDigest over gRPC: the registry-proxy as a
process (``Engine``), called through the client library's stub, pushing to the
real ``docker-registry``; status codes as the image-store will see them."""

from __future__ import annotations

import json
import os
import shutil
import uuid

import pytest
import urllib3

from barque.registry.v1 import registry_pb2 as pb
from client.errors import DataLoss, InvalidArgument, NotFound, Unauthenticated
from client.imagespec import MediaType, sha256_digest
from tests.conftest import AUTH_PASSWORD, AUTH_USER
from tests.support.engine import Engine

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("docker-registry") is None, reason="docker-registry not installed"),
]


@pytest.fixture(scope="module")
def engine():
    eng = Engine.create(services=("registry",))
    yield eng
    eng.close()


def header_then(repository: str, data: bytes, *, chunk: int = 100_000, **kw) -> list[pb.PushBlobRequest]:
    header = pb.PushBlobHeader(repository=repository, digest=kw.pop("digest", sha256_digest(data)),
                               size=kw.pop("size", len(data)), **kw)
    return [pb.PushBlobRequest(header=header)] + [pb.PushBlobRequest(data=data[i:i + chunk])
                                                  for i in range(0, len(data), chunk)]


def stored(engine: Engine) -> tuple[list[str], list[str]]:
    root = engine.state("registry")
    return (sorted(p.name for p in (root / "blobs" / "sha256").iterdir()),
            sorted(p.name for p in (root / "ingest").iterdir()))


def test_push_blob_exists_and_manifest_over_grpc(engine, registry):
    name = f"{registry.host}/rpc/{uuid.uuid4().hex[:12]}"
    layer = os.urandom(700_000)
    digest = sha256_digest(layer)
    with engine.client("registry") as stub:
        assert not stub.BlobExists(pb.BlobExistsRequest(repository=name, digest=digest, for_push=True)).exists
        answers = list(stub.PushBlob(iter(header_then(name, layer, chunk_size=250_000))))
        assert [a.uploaded for a in answers] == [250_000, 500_000, 700_000, 700_000]
        assert all(a.total == len(layer) for a in answers)
        assert [a.outcome for a in answers] == [pb.PUSH_BLOB_OUTCOME_UNSPECIFIED] * 3 + [
            pb.PUSH_BLOB_OUTCOME_UPLOADED]
        exists = stub.BlobExists(pb.BlobExistsRequest(repository=name, digest=digest))
        assert (exists.exists, exists.size) == (True, len(layer))

        # the proxy keeps what it pushed: a second push sends no bytes
        again = list(stub.PushBlob(iter([pb.PushBlobRequest(header=pb.PushBlobHeader(
            repository=name, digest=digest, size=len(layer), cached=True))])))
        assert [a.outcome for a in again] == [pb.PUSH_BLOB_OUTCOME_EXISTS]

        other = f"{registry.host}/rpc/{uuid.uuid4().hex[:12]}"
        mounted = list(stub.PushBlob(iter([pb.PushBlobRequest(header=pb.PushBlobHeader(
            repository=other, digest=digest, size=len(layer), cached=True, mount_from=[name]))])))
        assert [(a.outcome, a.mounted_from) for a in mounted] == [(pb.PUSH_BLOB_OUTCOME_MOUNTED, name)]

        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        list(stub.PushBlob(iter(header_then(name, config))))
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MediaType.DOCKER_MANIFEST,
            "config": {"mediaType": MediaType.DOCKER_CONFIG, "digest": sha256_digest(config),
                       "size": len(config)},
            "layers": [{"mediaType": MediaType.DOCKER_LAYER_GZIP, "digest": digest, "size": len(layer)}],
        }).encode()
        assert stub.TagDigest(pb.TagDigestRequest(repository=name, tag="v2")).digest == ""
        put = stub.PutManifest(pb.PutManifestRequest(repository=name, tag="v2",
                                                     media_type=MediaType.DOCKER_MANIFEST, content=manifest))
        assert put.digest == sha256_digest(manifest)
        # TagDigest: where the tag points now, from the registry itself
        assert stub.TagDigest(pb.TagDigestRequest(repository=name, tag="v2")).digest == put.digest
    resp = urllib3.request("GET", f"http://{registry.host}/v2/{name.split('/', 1)[1]}/manifests/v2",
                           headers={"Accept": MediaType.DOCKER_MANIFEST})
    assert (resp.status, resp.headers["Content-Type"], resp.data) == (200, MediaType.DOCKER_MANIFEST, manifest)


def test_refusals_over_grpc_keep_nothing(engine, registry):
    name = f"{registry.host}/rpc/{uuid.uuid4().hex[:12]}"
    data = os.urandom(300_000)
    digest = sha256_digest(data)
    before = stored(engine)
    with engine.client("registry") as stub:
        with pytest.raises(DataLoss) as info:
            list(stub.PushBlob(iter(header_then(name, data[:-1] + b"?", digest=digest))))
        assert str(info.value).startswith(f"push to {name}: blob {digest}: got sha256:")
        with pytest.raises(DataLoss):
            list(stub.PushBlob(iter(header_then(name, data + b"more", digest=digest, size=len(data)))))
        with pytest.raises(NotFound) as info:
            list(stub.PushBlob(iter([pb.PushBlobRequest(header=pb.PushBlobHeader(
                repository=name, digest=digest, size=len(data), cached=True))])))
        assert "not in the registry-proxy's cache" in str(info.value)
        with pytest.raises(InvalidArgument) as info:
            list(stub.PushBlob(iter([pb.PushBlobRequest(data=b"no header")])))
        assert "must start with a header" in str(info.value)
        with pytest.raises(InvalidArgument):
            list(stub.PushBlob(iter(header_then("UPPER/case", data))))
        with pytest.raises(InvalidArgument):
            stub.PutManifest(pb.PutManifestRequest(repository=name, tag="bad tag!",
                                                   media_type=MediaType.OCI_MANIFEST, content=b"{}"))
        assert not stub.BlobExists(pb.BlobExistsRequest(repository=name, digest=digest)).exists
    assert stored(engine) == before
    assert stored(engine)[1] == []


def test_auth_registry_over_grpc(engine, auth_registry):
    name = f"{auth_registry.host}/rpc/{uuid.uuid4().hex[:12]}"
    data = os.urandom(10_000)
    with engine.client("registry") as stub:
        with pytest.raises(Unauthenticated) as info:
            list(stub.PushBlob(iter(header_then(name, data))))
        assert auth_registry.host in str(info.value)
        stub.Login(pb.LoginRequest(registry=auth_registry.host, username=AUTH_USER, password=AUTH_PASSWORD))
        try:
            answers = list(stub.PushBlob(iter([pb.PushBlobRequest(header=pb.PushBlobHeader(
                repository=name, digest=sha256_digest(data), size=len(data), cached=True))])))
            assert answers[-1].outcome == pb.PUSH_BLOB_OUTCOME_UPLOADED
        finally:
            stub.Logout(pb.LogoutRequest(registry=auth_registry.host))
