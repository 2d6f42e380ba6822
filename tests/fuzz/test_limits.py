"""What bounds the fuzzer: gRPC's message size limit, and the registry-proxy's
network namespace that keeps fuzzed references on this machine."""

from __future__ import annotations

import os
import socket

import grpc
import pytest

from barque.images.v1 import images_pb2
from barque.registry.v1 import registry_pb2
from barque.runtime.v1 import runtime_pb2
from tests.fuzz.harness import RPCS, serving
from tests.support.protofuzz import MAX_REQUEST_BYTES

pytestmark = pytest.mark.root

#: the services' receive limit (services.common.server.serve's grpc.max_receive_message_length)
SERVER_LIMIT = 64 << 20

_OVERSIZED = {
    "registry": ("/barque.registry.v1.RegistryProxy/Resolve", registry_pb2.ResolveRequest, "reference"),
    "images": ("/barque.images.v1.Images/Inspect", images_pb2.InspectRequest, "reference"),
    "runtime": ("/barque.runtime.v1.Runtime/Inspect", runtime_pb2.InspectRequest, "id"),
}


@pytest.mark.parametrize("service", sorted(_OVERSIZED))
def test_an_oversized_request_is_grpcs_resource_exhausted(service: str, fuzz) -> None:
    path, request, name = _OVERSIZED[service]
    req = request(**{name: "a" * (SERVER_LIMIT + 1)})
    assert req.ByteSize() > SERVER_LIMIT
    with grpc.insecure_channel(fuzz.engine.address(service),
                               options=[("grpc.max_send_message_length", -1)]) as channel:
        call = channel.unary_unary(path, request_serializer=request.SerializeToString,
                                   response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as info:
            call(req, timeout=60)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value.details()
        assert info.value.details(), "no message"
        assert serving(channel), f"{service} not SERVING after an oversized request"
    assert fuzz.alive(service)


def test_fuzzed_requests_stay_under_the_default_limit() -> None:
    # the fuzzer's own bound: gRPC's default 4 MiB, far under the services' 64 MiB
    assert MAX_REQUEST_BYTES == 4 << 20 < SERVER_LIMIT


def test_the_fuzz_covers_every_rpc_of_the_three_services() -> None:
    names = {r.name for r in RPCS}
    assert len(names) == len(RPCS)
    for service, module in (("registry", registry_pb2), ("images", images_pb2), ("runtime", runtime_pb2)):
        for svc in module.DESCRIPTOR.services_by_name.values():
            assert {f"{service}.{m.name}" for m in svc.methods} <= names
    assert {"images.DiskUsage", "images.PruneImages", "runtime.PruneContainers", "runtime.DiskUsage"} <= names


def test_the_registry_proxy_reaches_no_network(fuzz) -> None:
    """A reference naming a listening port of this host's loopback is not
    reached: the proxy's network namespace is not ours and has no interface up."""
    pid = fuzz.engine.procs["registry"].pid
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        with grpc.insecure_channel(fuzz.engine.address("registry")) as channel:
            call = channel.unary_unary("/barque.registry.v1.RegistryProxy/Resolve",
                                       request_serializer=registry_pb2.ResolveRequest.SerializeToString,
                                       response_deserializer=registry_pb2.ResolveResponse.FromString)
            with pytest.raises(grpc.RpcError) as info:
                call(registry_pb2.ResolveRequest(reference=f"127.0.0.1:{port}/fuzz/probe:1"), timeout=60)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value.details()
        assert "cannot reach" in info.value.details()
        with pytest.raises(BlockingIOError):
            listener.accept()
