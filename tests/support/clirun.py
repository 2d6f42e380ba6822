"""The CLI's commands run in-process over fake stubs: parsed as ``barque``
parses them, with the clients the test hands in, their exit status and
output captured (unit tests of cli/ without services)."""

from __future__ import annotations

import io
import sys

import grpc

__all__ = ["RpcError", "run_command"]


class RpcError(grpc.RpcError):
    """What a stub raises for a service's error status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def run_command(argv: list[str], clients: dict[str, tuple[type, object]], stdin: str = "") -> tuple[int, str, str]:
    """Run ``barque ARGV`` with each named client (``"volumes"``, ``"runtime"``
    ...) made of its class over a fake stub: (exit status, stdout, stderr)."""
    from cli.main import Context, command_parser
    from client.channels import RemoteStub

    ctx = Context(config=None)  # type: ignore[arg-type]
    for name, (cls, fake) in clients.items():
        client = cls.__new__(cls)
        client._stub = RemoteStub(fake, "runtime")
        ctx._clients[name] = client
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        try:
            args = command_parser().parse_args(argv)
            status = 125 if args.func(ctx, args) else 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 125
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    return status, out.getvalue(), err.getvalue()
