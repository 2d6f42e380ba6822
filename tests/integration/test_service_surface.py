"""Every service answers health checks and server reflection (what grpcurl
uses), keeps its socket private, and stops gracefully on SIGTERM."""

from __future__ import annotations

import json
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


def _logged(engine, service: str) -> list[dict]:
    out = []
    for line in engine.log(service).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_request_id_reaches_every_hop(fresh_engine, test_images):
    fresh_engine.ok("pull", test_images["oci-gzip"].ref)

    def ids(service):
        return {rec["request_id"] for rec in _logged(fresh_engine, service) if rec.get("request_id")}

    assert ids("images") & ids("registry"), "no request id logged by both the image-store and the proxy"


@pytest.mark.root
def test_run_request_id_reaches_the_image_store(rt_engine, busybox):
    """Run, a bidirectional stream, is logged with a request id, and the
    runtime's calls to the image-store on its behalf carry the same one (that
    the CLI's id rides every kind of call is tests/unit/test_client_request_id.py)."""
    rt_engine.ok("run", "--rm", busybox, "true")
    run_ids = {rec.get("request_id", "") for rec in _logged(rt_engine, "runtime") if rec.get("rpc") == "Run"}
    assert run_ids and "" not in run_ids, f"Run records without a request id: {run_ids}"
    image_ids = {rec.get("request_id") for rec in _logged(rt_engine, "images")}
    assert run_ids & image_ids, "the image-store saw no call with the Run's request id"


def test_sigterm_stops_gracefully(fresh_engine):
    proc = fresh_engine.procs["images"]
    path = fresh_engine.address("images").removeprefix("unix://")
    fresh_engine.stop_service("images")
    assert proc.returncode == 0
    assert "service.stopped" in fresh_engine.log("images").read_text()
    fresh_engine.start("images")
    assert os.path.exists(path)
