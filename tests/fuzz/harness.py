"""The fuzz tier's harness: every RPC of barque's three services, a fuzzed
call of any kind (unary, client-, server- or bidirectional streaming) over raw
gRPC, and the contract its answer is checked against.

The contract of every call, whatever the request: it ends with a gRPC
status; the code is not INTERNAL or UNKNOWN; an error's details are one
non-empty line without a traceback; and the service is still SERVING after
it; RESOURCE_EXHAUSTED is gRPC's answer to an oversized message only, and
these requests are under the limit. UNIMPLEMENTED passes only for an RPC in :data:`PENDING`; DEADLINE_EXCEEDED
only for an RPC in :data:`BLOCKING` (one that follows or waits by design).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc

from barque.images.v1 import images_pb2
from barque.registry.v1 import registry_pb2
from barque.runtime.v1 import runtime_pb2

__all__ = [
    "Rpc", "RPCS", "PENDING", "BLOCKING", "EXPENSIVE", "NETWORK_BOUND", "Answer", "call", "check", "serving",
    "Steer", "examples_for", "IMAGE", "CONTAINER", "NETWORK", "VOLUME",
]

#: the seeded objects of the fuzz engine (tests/fuzz/conftest.py), by name
IMAGE = "fuzz/seed:latest"
CONTAINER = "fuzz-seed"
NETWORK = "fuzz-net"
VOLUME = "fuzz-vol"

#: service name in the engine -> the proto module holding its one service
_MODULES = {"registry": registry_pb2, "images": images_pb2, "runtime": runtime_pb2}

#: RPCs being implemented while this tier is written: UNIMPLEMENTED is their
#: answer until then (DiskUsage, PruneImages and PruneContainers are served now)
PENDING: frozenset[str] = frozenset()

#: RPCs that follow or wait by design: the fuzzer's own deadline ends them
BLOCKING = frozenset({
    "images.Events", "runtime.Events", "runtime.Logs", "runtime.Stats", "runtime.Attach",
    "runtime.Run", "runtime.Exec", "runtime.Wait",
})

#: RPCs that make containers, bridges, layers or registry calls: fewer examples
EXPENSIVE = frozenset({
    "images.Pull", "images.Push", "images.Commit", "images.Load", "images.Import", "images.Save",
    "images.PrepareSnapshot", "runtime.Create", "runtime.Run", "runtime.Start", "runtime.Restart",
    "runtime.CreateNetwork", "runtime.ConnectNetwork", "runtime.CopyTo", "runtime.Export",
    "runtime.CopyFrom", "registry.PushBlob",
})

#: RPCs whose valid references reach a registry: the proxy, whose network
#: namespace has no interface, retries each with 0.2/0.4/0.8 s of backoff
NETWORK_BOUND = frozenset({
    "registry.Resolve", "registry.GetManifest", "registry.FetchBlob", "registry.Login",
    "registry.BlobExists", "registry.PushBlob", "registry.PutManifest", "registry.TagDigest",
    "images.Pull", "images.Push",
})

UNARY_TIMEOUT = 30.0
BLOCKING_TIMEOUT = 0.5
STREAM_READ = 3


@dataclass(frozen=True)
class Rpc:
    service: str          # "images"
    method: MethodDescriptor

    @property
    def name(self) -> str:
        return f"{self.service}.{self.method.name}"

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def request(self) -> type[Message]:
        return GetMessageClass(self.method.input_type)

    @property
    def response(self) -> type[Message]:
        return GetMessageClass(self.method.output_type)


RPCS: tuple[Rpc, ...] = tuple(
    Rpc(service, method)
    for service, module in _MODULES.items()
    for svc in module.DESCRIPTOR.services_by_name.values()
    for method in svc.methods
)


def examples_for(rpc: Rpc) -> int:
    """Examples per RPC: ``BARQUE_FUZZ_EXAMPLES`` (default 20), a quarter of it
    (at least 4) for :data:`EXPENSIVE` and :data:`BLOCKING` ones, a tenth (at
    least 5) for :data:`NETWORK_BOUND` ones."""
    base = int(os.environ.get("BARQUE_FUZZ_EXAMPLES", "20"))
    if rpc.name in NETWORK_BOUND:
        return max(5, base // 10)
    return max(4, base // 4) if rpc.name in EXPENSIVE | BLOCKING else base


@dataclass
class Answer:
    code: grpc.StatusCode
    details: str
    responses: int


def call(channel: grpc.Channel, rpc: Rpc, requests: list[Message]) -> Answer:
    """One call of ``rpc``: the first request for a unary request side, all of
    them (then half-close) for a client stream; up to :data:`STREAM_READ`
    responses of a server stream, then cancelled."""
    timeout = BLOCKING_TIMEOUT if rpc.name in BLOCKING else UNARY_TIMEOUT
    ser, de = rpc.request.SerializeToString, rpc.response.FromString
    m = rpc.method
    if m.client_streaming and m.server_streaming:
        fn: Any = channel.stream_stream(rpc.path, request_serializer=ser, response_deserializer=de)
    elif m.client_streaming:
        fn = channel.stream_unary(rpc.path, request_serializer=ser, response_deserializer=de)
    elif m.server_streaming:
        fn = channel.unary_stream(rpc.path, request_serializer=ser, response_deserializer=de)
    else:
        fn = channel.unary_unary(rpc.path, request_serializer=ser, response_deserializer=de)
    arg: Any = iter(requests) if m.client_streaming else requests[0]
    try:
        if not m.server_streaming:
            fn(arg, timeout=timeout)
            return Answer(grpc.StatusCode.OK, "", 1)
        stream = fn(arg, timeout=timeout)
        got = 0
        try:
            for _ in stream:
                got += 1
                if got >= STREAM_READ:
                    stream.cancel()
                    return Answer(grpc.StatusCode.OK, "", got)
        except grpc.RpcError as err:
            return Answer(err.code(), err.details() or "", got)
        return Answer(grpc.StatusCode.OK, "", got)
    except grpc.RpcError as err:
        return Answer(err.code(), err.details() or "", 0)


def check(rpc: Rpc, answer: Answer) -> None:
    """The contract of one answer (module docstring)."""
    code, details = answer.code, answer.details
    if code == grpc.StatusCode.OK:
        return
    where = f"{rpc.name} answered {code.name}: {details!r}"
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), where
    # requests stay under the limit: RESOURCE_EXHAUSTED here is an answer too big for its trailer
    assert code != grpc.StatusCode.RESOURCE_EXHAUSTED, where
    if code == grpc.StatusCode.UNIMPLEMENTED:
        assert rpc.name in PENDING, f"{where} (the RPC is in the proto: it must be served)"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        assert rpc.name in BLOCKING, f"{where} (a hang: the call did not end in {UNARY_TIMEOUT}s)"
    assert details.strip(), f"{where} (no message)"
    assert "\n" not in details and "\r" not in details, f"{where} (not one line)"
    assert "Traceback" not in details, where


def serving(channel: grpc.Channel) -> bool:
    """The service's health check answers SERVING."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    except grpc.RpcError:
        return False
    return resp.status == health_pb2.HealthCheckResponse.SERVING


class Steer:
    """Keeps fuzzed requests on this machine and inside the test's own dirs.

    * a bind's or bind mount's absolute host path, and a volume's ``device``,
      move under ``safe`` (a temp dir of the test), '..' parts dropped: ``-v``
      creates a missing host directory, as Docker does;
    * a host port that is a number becomes '' (one the engine picks), so no
      rule redirects a well-known port of the host;
    * a network's subnet that parses becomes '' (the engine picks a free one),
      so no bridge route covers the host's own networks.

    The registry-proxy runs in a network namespace of its own with only
    loopback, so no reference, mirror or login reaches another host.
    """

    def __init__(self, safe: Path) -> None:
        self.safe = str(safe)

    def _host_path(self, path: str) -> str:
        if not path.startswith("/"):
            return path
        parts = [p for p in path.split("/") if p not in ("", ".", "..")]
        return "/".join([self.safe, *parts]) if parts else self.safe

    def __call__(self, msg: Message, field: FieldDescriptor, value: str, key: str | None) -> str | None:
        name = field.name
        if name == "binds":
            src, sep, rest = value.partition(":")
            return self._host_path(src) + sep + rest
        if name == "source" and isinstance(msg, runtime_pb2.Mount):
            return self._host_path(value)
        if name == "driver_opts" and key == "device":
            return self._host_path(value)
        if name == "host_port" and _is_port_number(value):
            return ""
        if name == "subnet" and _parses_as_network(value):
            return ""
        return None


def _is_port_number(value: str) -> bool:
    """Any piece of ``value`` (a port or a range) that int() takes, as a lenient parser would."""
    for piece in value.split("-"):
        try:
            int(piece)
        except ValueError:
            continue
        return True
    return False


def _parses_as_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True
