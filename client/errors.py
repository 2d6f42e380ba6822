"""One error taxonomy for barque.

Every domain error subclasses one of the categories below. Each category knows
its gRPC status code by name only (this module imports no grpc); the mapping to
and from gRPC lives in :mod:`client.grpcerrors`, and nothing else
inspects exception types.
"""

from __future__ import annotations

__all__ = [
    "BarqueError",
    "NotFound",
    "AlreadyExists",
    "InvalidArgument",
    "FailedPrecondition",
    "Unauthenticated",
    "PermissionDenied",
    "Unavailable",
    "DataLoss",
    "Internal",
    "DigestMismatch",
]


class BarqueError(Exception):
    """Base of every error barque raises on purpose."""

    #: name of the grpc.StatusCode member this category maps to
    code_name = "UNKNOWN"
    #: True when a service sent it (set by ``grpcerrors.from_grpc``), False
    #: when it arose in this process (a client-side config error, say)
    remote = False


class NotFound(BarqueError):
    code_name = "NOT_FOUND"


class AlreadyExists(BarqueError):
    code_name = "ALREADY_EXISTS"


class InvalidArgument(BarqueError):
    code_name = "INVALID_ARGUMENT"


class FailedPrecondition(BarqueError):
    code_name = "FAILED_PRECONDITION"


class Unauthenticated(BarqueError):
    code_name = "UNAUTHENTICATED"


class PermissionDenied(BarqueError):
    code_name = "PERMISSION_DENIED"


class Unavailable(BarqueError):
    code_name = "UNAVAILABLE"


class DataLoss(BarqueError):
    code_name = "DATA_LOSS"


class Internal(BarqueError):
    code_name = "INTERNAL"


class DigestMismatch(DataLoss):
    """Content did not hash to the digest it was fetched or stored under."""


CATEGORIES: tuple[type[BarqueError], ...] = (
    NotFound,
    AlreadyExists,
    InvalidArgument,
    FailedPrecondition,
    Unauthenticated,
    PermissionDenied,
    Unavailable,
    DataLoss,
    Internal,
)
