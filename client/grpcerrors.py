"""The one place barque errors are mapped to gRPC status codes and back."""

from __future__ import annotations

import grpc

from client import errors

__all__ = ["to_status", "from_grpc", "one_line", "MAX_DETAILS"]

_BY_CODE: dict[grpc.StatusCode, type[errors.BarqueError]] = {
    getattr(grpc.StatusCode, cls.code_name): cls for cls in errors.CATEGORIES
}
# Codes the server never sends on purpose but transports produce.
_BY_CODE[grpc.StatusCode.DEADLINE_EXCEEDED] = errors.Unavailable
_BY_CODE[grpc.StatusCode.RESOURCE_EXHAUSTED] = errors.Unavailable
_BY_CODE[grpc.StatusCode.CANCELLED] = errors.Unavailable


#: bytes of a status's details at most: they travel in a trailer, whose
#: values gRPC limits (16 KiB, and percent-encoding triples a non-ASCII byte);
#: a longer one, a huge name a request carried into it, would lose the
#: message and the code to the client's RESOURCE_EXHAUSTED
MAX_DETAILS = 2048


def one_line(message: str) -> str:
    """``message`` as one bounded line: control characters a request carried
    into it (a new line, an escape sequence, NUL) written as Python escapes,
    so a status's details never span lines nor drive the reader's terminal;
    past :data:`MAX_DETAILS` bytes it is cut, with "..." at the end."""
    if not message.isprintable():
        message = "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in message)
    if len(message.encode()) > MAX_DETAILS:
        message = message.encode()[:MAX_DETAILS - 3].decode(errors="ignore") + "..."
    return message


def to_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """gRPC code and message for an exception raised by domain code: one
    line, never empty. ``NotImplementedError`` (what a generated servicer's
    RPC without an implementation raises) is UNIMPLEMENTED."""
    if isinstance(exc, errors.BarqueError):
        code = getattr(grpc.StatusCode, exc.code_name, grpc.StatusCode.UNKNOWN)
        return code, one_line(str(exc)) or code.name.lower().replace("_", " ")
    if isinstance(exc, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED, one_line(str(exc)) or "method not implemented"
    return grpc.StatusCode.INTERNAL, one_line(f"internal error: {type(exc).__name__}: {exc}")


def from_grpc(err: grpc.RpcError, service: str = "") -> errors.BarqueError:
    """The barque error a failed call stands for (use ``raise from_grpc(e) from e``)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else None) or str(code)
    # the channel's own failure to reach the service, not an UNAVAILABLE the service sent
    if code == grpc.StatusCode.UNAVAILABLE and service and "failed to connect to all addresses" in details:
        return errors.Unavailable(f"cannot reach the {service} service: {details}")
    cls = _BY_CODE.get(code, errors.Internal)
    exc = cls(details)
    exc.remote = True
    return exc
