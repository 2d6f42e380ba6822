"""``barque exec``: run another process in a running container, streaming its
output and exiting with its code (126/127 when it cannot run, 125 when the
container is missing or stopped), as ``docker exec``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Iterator

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from cli.commands import add_command
from cli.tty import DEFAULT_DETACH_KEYS, DETACHED, stream_session
from client.channels import RemoteStub, connect

__all__ = ["register", "ExecClient"]


class ExecClient:
    """The runtime's Exec as the CLI sees it."""

    def __init__(self, config) -> None:
        self._stub = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(config, "runtime")), "runtime")

    def exec(self, requests: Iterator[runtime_pb2.ExecRequest]) -> Iterator[runtime_pb2.ExecResponse]:
        return self._stub.Exec(requests)


def _env(items: list[str]) -> list[str]:
    env = []
    for item in items:
        if "=" not in item:  # "-e KEY" takes KEY from the CLI's environment, as docker's
            if item in os.environ:
                env.append(f"{item}={os.environ[item]}")
            continue
        env.append(item)
    return env


def _output(resp: runtime_pb2.ExecResponse) -> int | None:
    """Write an output frame; the exit status once the process ended."""
    which = resp.WhichOneof("msg")
    if which == "output":
        out = sys.stderr.buffer if resp.output.stream == runtime_pb2.STREAM_KIND_STDERR else sys.stdout.buffer
        out.write(resp.output.data)
        out.flush()
    elif which == "exited":
        if resp.exited.error:
            print(resp.exited.error, file=sys.stderr, flush=True)
        return resp.exited.exit_code
    return None


def cmd_exec(ctx, args) -> int:
    if not args.command:
        print("barque: \"exec\" requires at least 2 arguments.", file=sys.stderr)
        sys.exit(125)
    spec = runtime_pb2.ExecSpec(
        id=args.container, args=args.command, env=_env(args.env), working_dir=args.workdir,
        user=args.user, tty=args.tty, attach_stdin=args.interactive and not args.detach,
        detach=args.detach, privileged=args.privileged)
    client = ExecClient(ctx.config)
    if args.detach:
        status: int | None = None
        for resp in client.exec(iter([runtime_pb2.ExecRequest(spec=spec)])):
            status = _output(resp) if status is None else status
        sys.exit(status or 0)
    status = stream_session(
        client.exec, runtime_pb2.ExecRequest(spec=spec),
        wrap_stdin=lambda data, eof: runtime_pb2.ExecRequest(stdin=runtime_pb2.Frame(
            stream=runtime_pb2.STREAM_KIND_STDIN, data=data, eof=eof)),
        wrap_resize=lambda rows, cols: runtime_pb2.ExecRequest(resize=runtime_pb2.Resize(
            height=rows, width=cols)),
        on_response=_output, stdin=spec.attach_stdin, tty_mode=args.tty, detach_keys=args.detach_keys)
    sys.exit(0 if status == DETACHED else status)


def register(sub, container_group) -> None:
    for p in add_command([(sub, "exec"), (container_group, "exec")], cmd_exec,
                         help="Execute a command in a running container"):
        p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
        p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
        p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
        p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
        p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
        p.add_argument("-u", "--user", default="", help="username or UID (format: <name|uid>[:<group|gid>])")
        p.add_argument("--privileged", action="store_true", help="give extended privileges to the command")
        p.add_argument("--detach-keys", default=DEFAULT_DETACH_KEYS, help="key sequence for detaching")
        p.add_argument("container")
        p.add_argument("command", nargs=argparse.REMAINDER)
