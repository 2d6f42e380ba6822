"""The client library puts the request id in the metadata of every kind of
call (unary and streaming both ways), against a real in-process gRPC server
on a unix socket that records what it received."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from client import channels
from client.errors import NotFound
from client.config import load_config
from client.metadata import REQUEST_ID_KEY

KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


@pytest.fixture
def recording_server(tmp_path):
    seen: dict[str, str] = {}

    def record(context, kind):
        seen[kind] = dict(context.invocation_metadata()).get(REQUEST_ID_KEY, "")

    def uu(request, context):
        record(context, "unary_unary")
        return b"ok"

    def us(request, context):
        record(context, "unary_stream")
        yield b"ok"

    def su(requests, context):
        list(requests)
        record(context, "stream_unary")
        return b"ok"

    def missing(request, context):
        record(context, "missing")
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing: x")

    def ss(requests, context):
        list(requests)
        record(context, "stream_stream")
        yield b"ok"

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "UU": grpc.unary_unary_rpc_method_handler(uu),
        "US": grpc.unary_stream_rpc_method_handler(us),
        "SU": grpc.stream_unary_rpc_method_handler(su),
        "SS": grpc.stream_stream_rpc_method_handler(ss),
        "Missing": grpc.unary_unary_rpc_method_handler(missing),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    address = f"unix://{tmp_path}/echo.sock"
    server.add_insecure_port(address)
    server.start()
    try:
        yield address, seen
    finally:
        server.stop(None)


def test_every_call_kind_carries_the_request_id(recording_server, tmp_path):
    address, seen = recording_server
    config = load_config(str(tmp_path / "none.toml"), {"BARQUE_RUNTIME_ADDRESS": address})
    rid = channels.new_request_id()
    with channels.connect(config, "runtime") as ch:
        assert ch.unary_unary("/test.Echo/UU")(b"x", timeout=5) == b"ok"
        assert list(ch.unary_stream("/test.Echo/US")(b"x", timeout=5)) == [b"ok"]
        assert ch.stream_unary("/test.Echo/SU")(iter([b"x", b"y"]), timeout=5) == b"ok"
        assert list(ch.stream_stream("/test.Echo/SS")(iter([b"x"]), timeout=5)) == [b"ok"]
    assert seen == {kind: rid for kind in KINDS}


class _EchoStub:
    """What a generated stub is: one multicallable per method."""

    def __init__(self, channel):
        self.UU = channel.unary_unary("/test.Echo/UU")
        self.Missing = channel.unary_unary("/test.Echo/Missing")


def test_begun_calls_overlap_carry_the_id_and_raise_barque_errors(recording_server, tmp_path):
    address, seen = recording_server
    config = load_config(str(tmp_path / "none.toml"), {"BARQUE_RUNTIME_ADDRESS": address})
    rid = channels.new_request_id()
    with channels.connect(config, "runtime") as ch:
        stub = channels.RemoteStub(_EchoStub(ch), "runtime")
        ok = stub.begin("UU", b"x", timeout=5)
        failed = stub.begin("Missing", b"x", timeout=5)
        with pytest.raises(NotFound, match="no such thing: x"):
            failed()
        assert ok() == b"ok"
    assert seen == {"unary_unary": rid, "missing": rid}
