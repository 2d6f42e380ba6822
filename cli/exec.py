"""``barque exec``: run another process in a running container, streaming its
output and exiting with its code (126/127 when it cannot run, 125 when the
container is missing or stopped), as ``docker exec``."""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import sys
import termios
import threading
import tty as ttymod
from typing import Iterator

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from services.common.client import RemoteStub, connect

__all__ = ["register", "ExecClient"]


class ExecClient:
    """The runtime's Exec as the CLI sees it."""

    def __init__(self, config) -> None:
        self._stub = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(config, "runtime")), "runtime")

    def exec(self, requests: Iterator[runtime_pb2.ExecRequest]) -> Iterator[runtime_pb2.ExecResponse]:
        return self._stub.Exec(requests)


def _read_stdin(requests: queue.Queue) -> None:
    fd = sys.stdin.fileno()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        requests.put(runtime_pb2.ExecRequest(stdin=runtime_pb2.Frame(
            stream=runtime_pb2.STREAM_KIND_STDIN, data=data, eof=not data)))
        if not data:
            return


def _requests(first: runtime_pb2.ExecRequest, more: queue.Queue | None) -> Iterator[runtime_pb2.ExecRequest]:
    """The spec, then stdin frames and resizes until None is queued."""
    yield first
    if more is None:
        return
    while True:
        req = more.get()
        if req is None:
            return
        yield req


def _env(items: list[str]) -> list[str]:
    env = []
    for item in items:
        if "=" not in item:  # "-e KEY" takes KEY from the CLI's environment, as docker's
            if item in os.environ:
                env.append(f"{item}={os.environ[item]}")
            continue
        env.append(item)
    return env


def _resize() -> runtime_pb2.ExecRequest:
    size = shutil.get_terminal_size()
    return runtime_pb2.ExecRequest(resize=runtime_pb2.Resize(height=size.lines, width=size.columns))


def cmd_exec(ctx, args) -> int:
    if not args.command:
        print("barque: exec requires at least 2 arguments", file=sys.stderr)
        sys.exit(125)
    spec = runtime_pb2.ExecSpec(
        id=args.container, args=args.command, env=_env(args.env), working_dir=args.workdir,
        user=args.user, tty=args.tty, attach_stdin=args.interactive and not args.detach,
        detach=args.detach, privileged=args.privileged)
    frames: queue.Queue | None = queue.Queue() if (spec.attach_stdin or args.tty) and not args.detach else None
    raw = args.tty and spec.attach_stdin and os.isatty(sys.stdin.fileno())
    saved = termios.tcgetattr(sys.stdin.fileno()) if raw else None
    client = ExecClient(ctx.config)
    status = 0
    try:
        if saved is not None:
            ttymod.setraw(sys.stdin.fileno())
            signal.signal(signal.SIGWINCH, lambda _sig, _frame: frames.put(_resize()) if frames else None)
        if frames is not None and args.tty:  # right after the spec: the process starts at this size
            frames.put(_resize())
        responses = client.exec(_requests(runtime_pb2.ExecRequest(spec=spec), frames))
        started = False
        for resp in responses:
            which = resp.WhichOneof("msg")
            if which == "pid" and not started:
                started = True
                if frames is not None and spec.attach_stdin:
                    threading.Thread(target=_read_stdin, args=(frames,), daemon=True).start()
            elif which == "output":
                out = sys.stderr.buffer if resp.output.stream == runtime_pb2.STREAM_KIND_STDERR \
                    else sys.stdout.buffer
                out.write(resp.output.data)
                out.flush()
            elif which == "exited":
                if resp.exited.error:
                    print(resp.exited.error, file=sys.stderr)
                status = resp.exited.exit_code
    finally:
        if frames is not None:
            frames.put(None)
        if saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
    sys.exit(status)


def register(sub, container_group) -> None:
    for parsers in (sub, container_group):
        p = parsers.add_parser("exec", help="Execute a command in a running container")
        p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
        p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
        p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
        p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
        p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
        p.add_argument("-u", "--user", default="", help="username or UID (format: <name|uid>[:<group|gid>])")
        p.add_argument("--privileged", action="store_true", help="give extended privileges to the command")
        p.add_argument("container")
        p.add_argument("command", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_exec)
