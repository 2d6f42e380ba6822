"""The CLI's one-line errors: what a service sent reads as Docker's
"Error response from daemon", what arose in the CLI itself does not."""

from __future__ import annotations

import grpc

from cli.main import describe_error
from client.errors import InvalidArgument, NotFound
from client.grpcerrors import from_grpc


class _RpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


def test_a_service_error_is_the_daemons():
    exc = from_grpc(_RpcError(grpc.StatusCode.NOT_FOUND, "No such container: ghost"), "runtime")
    assert isinstance(exc, NotFound) and exc.remote
    assert describe_error(exc) == "Error response from daemon: No such container: ghost"


def test_a_local_error_is_the_clients():
    exc = InvalidArgument("address '127.0.0.1:7000' is tcp: reaching it needs mutual TLS")
    assert not exc.remote
    assert describe_error(exc) == "barque: address '127.0.0.1:7000' is tcp: reaching it needs mutual TLS"
