"""Client side of every hop: channels to services (a unix socket plain, a tcp
address only over mutual TLS), request-id propagation and translation of gRPC
failures into barque errors."""

from __future__ import annotations

import sys
import uuid
from typing import Any, Callable

import grpc

from client.config import Config, TlsConfig
from client.errors import InvalidArgument
from client.grpcerrors import from_grpc
from client.metadata import REQUEST_ID_KEY

__all__ = ["connect", "open_channel", "is_unix", "read_pem", "RemoteStub", "new_request_id"]

_CLI_REQUEST_ID = ""


def new_request_id() -> str:
    """Start a request id for this process's outgoing calls (the CLI does this once)."""
    global _CLI_REQUEST_ID
    _CLI_REQUEST_ID = uuid.uuid4().hex[:16]
    return _CLI_REQUEST_ID


def _current_request_id() -> str:
    # inside a service the RPC being served set it; the CLI never imports the server
    server = sys.modules.get("services.common.server")
    served = server.request_id.get() if server is not None else ""
    return served or _CLI_REQUEST_ID


class _RequestIdInterceptor(
    grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor,
):
    """Adds the request id to the metadata of every call, whatever its kind:
    Run, Attach, Exec and blob uploads stream from the client too."""

    def _details(self, details):
        rid = _current_request_id()
        if not rid:
            return details
        metadata = list(details.metadata or []) + [(REQUEST_ID_KEY, rid)]
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)


class _Details(grpc.ClientCallDetails):
    def __init__(self, base, metadata):
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


class RemoteStub:
    """Wraps a generated stub so every call raises barque errors, never grpc.RpcError."""

    def __init__(self, stub: Any, service: str) -> None:
        self._stub = stub
        self._service = service

    def __getattr__(self, name: str):
        method = getattr(self._stub, name)
        service = self._service

        def call(request, **kwargs):
            try:
                result = method(request, **kwargs)
            except grpc.RpcError as err:
                raise from_grpc(err, service) from err
            if isinstance(result, grpc.Call) and hasattr(result, "__iter__") and not hasattr(result, "SerializeToString"):
                return _translate_stream(result, service)
            return result

        return call

    def begin(self, name: str, request: Any, **kwargs: Any) -> Callable[[], Any]:
        """Starts the unary call ``name`` without waiting for it, so calls to
        several services overlap (each new channel's first call pays a
        connection set-up); the returned function waits for the answer and
        raises barque errors as a plain call does."""
        future = getattr(self._stub, name).future(request, **kwargs)
        service = self._service

        def result() -> Any:
            try:
                return future.result()
            except grpc.RpcError as err:
                raise from_grpc(err, service) from err

        return result


def _translate_stream(stream, service: str):
    try:
        yield from stream
    except grpc.RpcError as err:
        raise from_grpc(err, service) from err
    finally:
        stream.cancel()


def is_unix(address: str) -> bool:
    """A unix socket path (guarded by its file mode); anything else is network."""
    return address.startswith("unix:")


def read_pem(what: str, path: str) -> bytes:
    """A TLS file's bytes; a missing or unreadable one is a config error."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InvalidArgument(f"tls {what} {path!r}: {exc.strerror or exc}") from exc


#: a service restarted (or killed and started again) is reached again within a
#: second: gRPC's reconnect backoff otherwise grows to two minutes while it is
#: down, and the services' channels to each other would fail that long after
_OPTIONS = [("grpc.max_receive_message_length", 64 << 20), ("grpc.enable_http_proxy", 0),
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000)]


def open_channel(target: str, tls: TlsConfig) -> grpc.Channel:
    """A plain channel to a unix socket, a mutual-TLS one to a tcp address.

    The client presents ``tls.client_cert`` and accepts only a server whose
    certificate ``tls.ca`` signed for the host in ``target``; without them a
    tcp target is refused here rather than tried in the clear.
    """
    if is_unix(target):
        return grpc.insecure_channel(target, options=_OPTIONS)
    if not tls.client:
        raise InvalidArgument(
            f"address {target!r} is tcp: reaching it needs mutual TLS, set [tls] ca, client_cert "
            "and client_key (BARQUE_TLS_CA, BARQUE_TLS_CLIENT_CERT, BARQUE_TLS_CLIENT_KEY)"
        )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read_pem("ca", tls.ca),
        private_key=read_pem("client_key", tls.client_key),
        certificate_chain=read_pem("client_cert", tls.client_cert),
    )
    return grpc.secure_channel(target, credentials, options=_OPTIONS)


def connect(config: Config, service: str) -> grpc.Channel:
    """An intercepted channel to ``service`` at the address the config names."""
    channel = open_channel(config.address(service), config.tls)
    return grpc.intercept_channel(channel, _RequestIdInterceptor())
