"""gRPC metadata keys barque passes between hops (kept free of imports: the
CLI loads it on every command)."""

__all__ = ["REQUEST_ID_KEY"]

#: carries the request id from the CLI through every hop
REQUEST_ID_KEY = "x-request-id"
