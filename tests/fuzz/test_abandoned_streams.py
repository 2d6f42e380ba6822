"""Streams a client abandons free the worker that served them.

The fuzzer found it: Attach calls ended by the client's deadline each kept a
worker of the runtime blocked in its read of the container's output until
the container exited; after the pool's 64 the runtime answered nothing, its
health check included. A gone client now hangs up the shim connection and
its final exit is not waited for."""

from __future__ import annotations

import time

import grpc
import pytest

from barque.runtime.v1 import runtime_pb2
from tests.fuzz.harness import CONTAINER, serving

pytestmark = pytest.mark.root

#: more than the runtime's worker pool (services/runtime/server.py: 64)
ABANDONED = 80


def test_attaches_past_their_deadline_leave_the_runtime_serving(fuzz) -> None:
    fuzz.reseed()
    channel = fuzz.channel("runtime")
    attach = channel.stream_stream("/barque.runtime.v1.Runtime/Attach",
                                   request_serializer=runtime_pb2.AttachRequest.SerializeToString,
                                   response_deserializer=runtime_pb2.AttachResponse.FromString)
    opening = runtime_pb2.AttachRequest(open=runtime_pb2.AttachOpen(id=CONTAINER, stdout=True, stderr=True))
    calls = [attach(iter([opening]), timeout=1.0) for _ in range(ABANDONED)]
    for call in calls:
        with pytest.raises(grpc.RpcError) as info:
            for _ in call:
                pass
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 20
    while not serving(channel):
        assert time.monotonic() < deadline, "the runtime stopped serving after abandoned attaches"
    inspect = runtime_pb2.InspectRequest(id=CONTAINER)
    seed = fuzz.runtime().Inspect(inspect, timeout=10).container
    assert seed.state.running, "the attached container should still run"
    # and a second round, which would find no worker free if the first still held them
    more = [attach(iter([opening]), timeout=0.5) for _ in range(ABANDONED)]
    for call in more:
        with pytest.raises(grpc.RpcError):
            for _ in call:
                pass
    assert fuzz.runtime().Inspect(inspect, timeout=10).container.state.running
