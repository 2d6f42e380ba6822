"""A handler that reads the request stream of a client that has gone
(cancelled, past its deadline) gets grpc's RpcError from the iterator; the
error mapping treats it as the end of the call, not as an internal error
with a traceback in the log (found by the RPC fuzzer: HoldLease cancelled
after its first responses)."""

from __future__ import annotations

import grpc
import pytest

from client.errors import NotFound
from services.common import server


class _Context:
    def __init__(self, active: bool) -> None:
        self.active = active
        self.aborted: tuple | None = None

    def is_active(self) -> bool:
        return self.active

    def abort(self, code, details):
        self.aborted = (code, details)
        raise RuntimeError("aborted")


def test_a_gone_client_ends_the_call_quietly(monkeypatch):
    logged = []
    monkeypatch.setattr(server.log, "error", lambda *a, **kw: logged.append((a, kw)))
    ctx = _Context(active=False)
    server._abort(ctx, grpc.RpcError())
    assert ctx.aborted is None and logged == []


def test_an_rpc_error_of_a_live_call_is_still_internal(monkeypatch):
    logged = []
    monkeypatch.setattr(server.log, "error", lambda *a, **kw: logged.append((a, kw)))
    ctx = _Context(active=True)
    with pytest.raises(RuntimeError):
        server._abort(ctx, grpc.RpcError())
    assert ctx.aborted[0] == grpc.StatusCode.INTERNAL and logged


def test_domain_errors_map_as_before():
    ctx = _Context(active=True)
    with pytest.raises(RuntimeError):
        server._abort(ctx, NotFound("No such image: x"))
    assert ctx.aborted == (grpc.StatusCode.NOT_FOUND, "No such image: x")
