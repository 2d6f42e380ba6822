"""Every service answers health checks and server reflection (what grpcurl
uses), keeps its socket private, and stops gracefully on SIGTERM."""

from __future__ import annotations

import os
import stat

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from barque.images.v1 import images_pb2, images_pb2_grpc

pytestmark = pytest.mark.integration

EXPECTED = {
    "registry": "barque.registry.v1.RegistryProxy",
    "images": "barque.images.v1.Images",
}


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_health_and_reflection(engine, service):
    with grpc.insecure_channel(engine.address(service)) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("", EXPECTED[service]):
            resp = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        reqs = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        names = {s.name for r in stub.ServerReflectionInfo(reqs, timeout=5)
                 for s in r.list_services_response.service}
        assert {EXPECTED[service], "grpc.health.v1.Health"} <= names
        reqs = iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=EXPECTED[service])])
        files = [r.file_descriptor_response for r in stub.ServerReflectionInfo(reqs, timeout=5)]
        assert files and files[0].file_descriptor_proto


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_socket_is_private(engine, service):
    path = engine.address(service).removeprefix("unix://")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_domain_errors_map_to_status_codes(engine):
    with grpc.insecure_channel(engine.address("images")) as ch:
        stub = images_pb2_grpc.ImagesStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            stub.Inspect(images_pb2.InspectRequest(reference="no/such:image"), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Pull(images_pb2.PullRequest(reference="Bad Ref"), timeout=5))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Bad Ref" in err.value.details()


def test_request_id_reaches_every_hop(fresh_engine, test_images):
    fresh_engine.ok("pull", test_images["oci-gzip"].ref)
    import json

    def ids(service):
        out = set()
        for line in fresh_engine.log(service).read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("request_id"):
                out.add(rec["request_id"])
        return out

    assert ids("images") & ids("registry"), "no request id logged by both the image-store and the proxy"


def test_sigterm_stops_gracefully(fresh_engine):
    proc = fresh_engine.procs["images"]
    path = fresh_engine.address("images").removeprefix("unix://")
    fresh_engine.stop_service("images")
    assert proc.returncode == 0
    assert "service.stopped" in fresh_engine.log("images").read_text()
    fresh_engine.start("images")
    assert os.path.exists(path)
