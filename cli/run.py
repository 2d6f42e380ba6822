"""``barque run`` and ``barque create``: Docker's flags turned into a runtime
request; run streams the container's output and exits with its code."""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading

from barque.runtime.v1 import runtime_pb2
from services.common.errors import NotFound
from services.common.oci import Platform
from services.runtime.flags import parse_bytes, parse_cpus, parse_env_file

__all__ = ["register", "attach_and_wait"]


def _add_create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--help", action="help", help="show this help message and exit")
    p.add_argument("--name", default="")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-u", "--user", default="")
    p.add_argument("--entrypoint")
    p.add_argument("-h", "--hostname", default="")
    p.add_argument("-m", "--memory", default="")
    p.add_argument("--memory-swap", default="")
    p.add_argument("--cpus", default="")
    p.add_argument("-c", "--cpu-shares", type=int, default=0)
    p.add_argument("--pids-limit", type=int, default=0)
    p.add_argument("--network", "--net", default="none")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("-v", "--volume", action="append", default=[])
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--security-opt", action="append", default=[])
    p.add_argument("--log-driver", default="json-file")
    p.add_argument("--log-opt", action="append", default=[])
    p.add_argument("--platform", default="")
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--stop-signal", default="")
    p.add_argument("--stop-timeout", type=int)
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("--rm", action="store_true")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


def create_request(args) -> runtime_pb2.CreateRequest:
    env = []
    for path in args.env_file:
        env += parse_env_file(path)
    for item in args.env:
        if "=" not in item:  # "-e KEY" takes KEY from the CLI's environment, as docker's
            if item in os.environ:
                env.append(f"{item}={os.environ[item]}")
            continue
        env.append(item)
    memory = parse_bytes(args.memory) if args.memory else 0
    swap = -1 if args.memory_swap == "-1" else (parse_bytes(args.memory_swap) if args.memory_swap else 0)
    log_opts = {}
    for opt in args.log_opt:
        key, _, value = opt.partition("=")
        log_opts[key] = value
    labels = dict(lab.partition("=")[::2] for lab in args.label)
    config = runtime_pb2.ContainerConfig(
        image=args.image, cmd=args.command, env=env, working_dir=args.workdir, user=args.user,
        hostname=args.hostname, tty=args.tty, open_stdin=args.interactive, labels=labels,
        stop_signal=args.stop_signal,
    )
    if args.entrypoint is not None:
        config.entrypoint_set = True
        config.entrypoint.extend([args.entrypoint] if args.entrypoint else [])
    if args.stop_timeout is not None:
        config.stop_timeout = args.stop_timeout
    host = runtime_pb2.HostConfig(
        memory=memory, memory_swap=swap, nano_cpus=parse_cpus(args.cpus) if args.cpus else 0,
        cpu_shares=args.cpu_shares, pids_limit=args.pids_limit, network_mode=args.network,
        read_only=args.read_only, binds=args.volume, cap_add=args.cap_add, cap_drop=args.cap_drop,
        privileged=args.privileged, security_opt=args.security_opt,
        log_config=runtime_pb2.LogConfig(type=args.log_driver, config=log_opts), auto_remove=args.rm,
    )
    return runtime_pb2.CreateRequest(name=args.name, config=config, host_config=host)


def ensure_image(ctx, reference: str, platform: str) -> None:
    """Pull a missing image first, as docker run does (progress on stderr)."""
    from cli.images import pull_with_progress

    images = ctx.images()
    try:
        images.inspect(reference)
        return
    except NotFound:
        pass
    print(f"Unable to find image '{reference}' locally", file=sys.stderr)
    pull_with_progress(images, reference, Platform.parse(platform) if platform else None, out=sys.stderr)


def cmd_create(ctx, args) -> int:
    request = create_request(args)
    ensure_image(ctx, args.image, args.platform)
    print(ctx.runtime().create(request))
    return 0


def _stdin_frames(frames: queue.Queue) -> None:
    fd = sys.stdin.fileno()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        frames.put(data)
        if not data:
            return


def _requests(first, frames: queue.Queue | None, wrap):
    yield first
    if frames is None:
        return
    while True:
        data = frames.get()
        if data is None:
            return
        yield wrap(runtime_pb2.Frame(stream=runtime_pb2.STREAM_KIND_STDIN, data=data, eof=not data))
        if not data:
            return


def _write_output(frame) -> None:
    stream = sys.stderr.buffer if frame.stream == runtime_pb2.STREAM_KIND_STDERR else sys.stdout.buffer
    stream.write(frame.data)
    stream.flush()


def _exit_code(exited, ctx) -> int:
    if exited.error:
        print(f"barque: Error response from daemon: {exited.error}", file=sys.stderr)
    return exited.exit_code


def cmd_run(ctx, args) -> int:
    request = create_request(args)
    ensure_image(ctx, args.image, args.platform)
    attach = not args.detach
    frames: queue.Queue | None = queue.Queue() if (attach and args.interactive) else None
    first = runtime_pb2.RunRequest(spec=runtime_pb2.RunSpec(
        create=request, attach=attach, attach_stdin=frames is not None))
    if frames is not None:
        threading.Thread(target=_stdin_frames, args=(frames,), daemon=True).start()
    responses = ctx.runtime().run(_requests(first, frames, lambda f: runtime_pb2.RunRequest(stdin=f)))
    container_id = ""
    status = 0
    try:
        for resp in responses:
            which = resp.WhichOneof("msg")
            if which == "created":
                container_id = resp.created.id
                if args.detach:
                    print(container_id)
            elif which == "output":
                _write_output(resp.output)
            elif which == "exited":
                status = _exit_code(resp.exited, ctx)
    except KeyboardInterrupt:
        if container_id:
            ctx.runtime().kill(container_id, "SIGINT")
        raise
    finally:
        if frames is not None:
            frames.put(None)
    sys.exit(status)


def attach_and_wait(rt, ref: str, stdin: bool = False) -> int:
    frames: queue.Queue | None = queue.Queue() if stdin else None
    first = runtime_pb2.AttachRequest(open=runtime_pb2.AttachOpen(id=ref, stdin=stdin, stdout=True, stderr=True))
    if frames is not None:
        threading.Thread(target=_stdin_frames, args=(frames,), daemon=True).start()
    status = 0
    for resp in rt.attach(_requests(first, frames, lambda f: runtime_pb2.AttachRequest(stdin=f))):
        if resp.WhichOneof("msg") == "output":
            _write_output(resp.output)
        elif resp.WhichOneof("msg") == "exited":
            status = resp.exited.exit_code
    sys.exit(status)


def register(sub, container_group) -> None:
    for parsers, name in ((sub, "run"), (container_group, "run")):
        p = parsers.add_parser(name, help="Create and run a new container from an image", add_help=False)
        p.add_argument("-d", "--detach", action="store_true")
        _add_create_flags(p)
        p.set_defaults(func=cmd_run)
    for parsers, name in ((sub, "create"), (container_group, "create")):
        p = parsers.add_parser(name, help="Create a new container", add_help=False)
        _add_create_flags(p)
        p.set_defaults(func=cmd_create)


