"""Container commands (create, start, ps, logs, stop, restart, kill, pause,
unpause, rename, rm, wait, inspect) and the remote adapter over the
runtime's stub."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Iterator

from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from cli.commands import add_command
from cli.format import (
    Template,
    human_size,
    parse_time,
    print_documents,
    render_table,
    short_id,
    time_ago,
)
from cli.port import displayable_ports
from cli.tty import DEFAULT_DETACH_KEYS, parse_detach_keys
from client.channels import RemoteStub, connect
from client.config import Config
from client.errors import BarqueError, InvalidArgument, NotFound
from client.units import parse_duration

__all__ = ["RuntimeClient", "register", "status_text", "size_text"]


class RuntimeClient:
    """The runtime as the CLI sees it."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(config, "runtime")), "runtime")

    def create(self, request: runtime_pb2.CreateRequest) -> str:
        return self._stub.Create(request).id

    def start(self, ref: str) -> int:
        return self._stub.Start(runtime_pb2.StartRequest(id=ref)).pid

    def run(self, requests: Iterator[runtime_pb2.RunRequest]) -> Iterator[runtime_pb2.RunResponse]:
        return self._stub.Run(requests)

    def attach(self, requests: Iterator[runtime_pb2.AttachRequest]) -> Iterator[runtime_pb2.AttachResponse]:
        return self._stub.Attach(requests)

    def wait(self, ref: str, condition: str = "") -> runtime_pb2.Exited:
        return self._stub.Wait(runtime_pb2.WaitRequest(id=ref, condition=condition)).exited

    def kill(self, ref: str, sig: str) -> None:
        self._stub.Kill(runtime_pb2.KillRequest(id=ref, signal=sig))

    def stop(self, ref: str, timeout: int | None) -> None:
        req = runtime_pb2.StopRequest(id=ref)
        if timeout is not None:
            req.timeout = timeout
        self._stub.Stop(req)

    def restart(self, ref: str, timeout: int | None) -> None:
        req = runtime_pb2.RestartRequest(id=ref)
        if timeout is not None:
            req.timeout = timeout
        self._stub.Restart(req)

    def rename(self, ref: str, name: str) -> None:
        self._stub.Rename(runtime_pb2.RenameRequest(id=ref, name=name))

    def pause(self, ref: str) -> None:
        self._stub.Pause(runtime_pb2.PauseRequest(id=ref))

    def unpause(self, ref: str) -> None:
        self._stub.Unpause(runtime_pb2.UnpauseRequest(id=ref))

    def delete(self, ref: str, force: bool, remove_volumes: bool = False) -> str:
        return self._stub.Delete(runtime_pb2.DeleteRequest(id=ref, force=force, remove_volumes=remove_volumes)).id

    def list(self, all_: bool, filters: list[str], size: bool = False) -> list[runtime_pb2.Container]:
        return list(self._stub.List(runtime_pb2.ListRequest(all=all_, filters=filters, size=size)).containers)

    def inspect(self, ref: str) -> runtime_pb2.Container:
        return self._stub.Inspect(runtime_pb2.InspectRequest(id=ref)).container

    def inspect_document(self, ref: str) -> dict:
        """Docker's ContainerJSON, as the runtime builds it."""
        return json.loads(self._stub.Inspect(runtime_pb2.InspectRequest(id=ref)).container_json)

    def logs(self, request: runtime_pb2.LogsRequest) -> Iterator[runtime_pb2.LogsResponse]:
        return self._stub.Logs(request)


# ---- rendering ------------------------------------------------------------------

def status_text(c: runtime_pb2.Container, now: float | None = None) -> str:
    """Docker's STATUS column (moby's State.String): "Up 3 seconds",
    "Up 3 seconds (healthy)", "Up 1 second (health: starting)",
    "Restarting (1) 2 seconds ago", "Exited (0) 2 minutes ago", "Created"."""
    s = c.state
    if s.restarting:
        return f"Restarting ({s.exit_code}) {time_ago(parse_time(s.finished_at), now)}"
    if s.running:
        started = parse_time(s.started_at)
        up = "Up " + time_ago(started, now).removesuffix(" ago") if started else "Up"
        if s.paused:
            return f"{up} (Paused)"
        if s.HasField("health") and s.health.status:
            health = "health: starting" if s.health.status == "starting" else s.health.status
            return f"{up} ({health})"
        return up
    if s.status == "exited" or (s.finished_at and not s.finished_at.startswith("0001")):
        return f"Exited ({s.exit_code}) {time_ago(parse_time(s.finished_at), now)}"
    return s.status.capitalize() if s.status else "Created"


def _command(c: runtime_pb2.Container, trunc: bool) -> str:
    text = " ".join(c.args)
    if trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


def _mounts(c: runtime_pb2.Container, trunc: bool) -> str:
    """ContainerContext.Mounts: each mount's volume name, else its source,
    cut to 15 columns with Ellipsis."""
    names = []
    for m in c.mounts:
        name = m.name or m.source
        if trunc and len(name) > 15:
            name = name[:14] + "…"
        names.append(name)
    return ",".join(names)


def _state(c: runtime_pb2.Container) -> str:
    """moby's State.StateString."""
    if c.state.restarting:
        return "restarting"
    if c.state.paused:
        return "paused"
    return "running" if c.state.running else c.state.status


def size_text(c: runtime_pb2.Container) -> str:
    """docker-cli's ContainerContext.Size: "12B (virtual 4.86MB)", the
    virtual part only when SizeRootFs is known."""
    rw = human_size(c.size_rw)
    return f"{rw} (virtual {human_size(c.size_root_fs)})" if c.size_root_fs > 0 else rw


def ps_row(c: runtime_pb2.Container, trunc: bool = True) -> dict:
    return {
        "ID": short_id(c.id) if trunc else c.id,
        "Image": c.config.image,
        "Command": _command(c, trunc),
        "CreatedAt": c.created,
        "RunningFor": time_ago(parse_time(c.created)),
        "Status": status_text(c),
        "State": _state(c),
        "Ports": displayable_ports(c.ports),
        "Names": c.name,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(c.config.labels.items())),
        "Mounts": _mounts(c, trunc),
        "Networks": ",".join(sorted(c.networks)) or c.host_config.network_mode or "default",
        "Size": size_text(c),
    }


# ---- commands ------------------------------------------------------------------

def _each(ctx, refs, action) -> int:
    """Docker's multi-target commands: print each name done, report each failure."""
    failed = 0
    for ref in refs:
        try:
            action(ref)
        except BarqueError as exc:
            ctx.error(exc)
            failed = 1
            continue
        print(ref)
    return failed


def cmd_start(ctx, args) -> int:
    if args.attach or args.interactive:
        from cli.run import attach_and_wait

        parse_detach_keys(args.detach_keys)
        rt = ctx.runtime()
        ref = args.containers[0]
        config = rt.inspect(ref).config
        stdin = args.interactive and config.open_stdin
        if config.tty and stdin and not os.isatty(sys.stdin.fileno()):
            print("the input device is not a TTY", file=sys.stderr)
            return 1
        rt.start(ref)
        return attach_and_wait(rt, ref, stdin=stdin, tty_mode=config.tty, detach_keys=args.detach_keys)
    return _each(ctx, args.containers, ctx.runtime().start)


def cmd_attach(ctx, args) -> int:
    """``docker attach``: the container's streams (and stdin unless --no-stdin)
    until it exits (its status) or the detach keys are typed (0)."""
    from cli.run import attach_and_wait

    parse_detach_keys(args.detach_keys)
    rt = ctx.runtime()
    c = rt.inspect(args.container)
    if not c.state.running:
        print("You cannot attach to a stopped container, start it first", file=sys.stderr)
        return 1
    stdin = c.config.open_stdin and not args.no_stdin
    if c.config.tty and stdin and not os.isatty(sys.stdin.fileno()):
        print("the input device is not a TTY", file=sys.stderr)
        return 1
    return attach_and_wait(rt, c.id, stdin=stdin, tty_mode=c.config.tty, detach_keys=args.detach_keys)


def cmd_stop(ctx, args) -> int:
    return _each(ctx, args.containers, lambda r: ctx.runtime().stop(r, args.time))


def cmd_kill(ctx, args) -> int:
    return _each(ctx, args.containers, lambda r: ctx.runtime().kill(r, args.signal))


def cmd_pause(ctx, args) -> int:
    return _each(ctx, args.containers, ctx.runtime().pause)


def cmd_unpause(ctx, args) -> int:
    return _each(ctx, args.containers, ctx.runtime().unpause)


def cmd_rename(ctx, args) -> int:
    """``docker rename OLD NEW``: nothing printed on success."""
    if not args.container.strip() or not args.new_name.strip():
        raise InvalidArgument("Neither old nor new names may be empty")
    ctx.runtime().rename(args.container, args.new_name)
    return 0


def cmd_restart(ctx, args) -> int:
    return _each(ctx, args.containers, lambda r: ctx.runtime().restart(r, args.time))


def cmd_rm(ctx, args) -> int:
    return _each(ctx, args.containers, lambda r: ctx.runtime().delete(r, args.force, args.volumes))


def cmd_wait(ctx, args) -> int:
    failed = 0
    for ref in args.containers:
        try:
            print(ctx.runtime().wait(ref).exit_code)
        except BarqueError as exc:
            ctx.error(exc)
            failed = 1
    return failed


def cmd_ps(ctx, args) -> int:
    """``docker ps``: the engine applies every --filter (moby's list.go); -n
    lists stopped containers too, as moby's Limit; --size, or a --format
    that uses .Size, asks the engine for the sizes."""
    size = args.size or bool(args.format and ".Size" in args.format and not args.quiet)
    rt, all_ = ctx.runtime(), args.all or args.last is not None
    containers = rt.list(all_, args.filter or [], size=True) if size else rt.list(all_, args.filter or [])
    if args.last is not None:
        containers = containers[: args.last]
    rows = [ps_row(c, trunc=not args.no_trunc) for c in containers]
    if args.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    if args.format:
        text = Template(args.format).render_all(rows) if args.format != "json" else "\n".join(
            json.dumps(r, separators=(",", ":")) for r in rows)
        if text:
            print(text)
        return 0
    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    table = [[r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"], r["Ports"], r["Names"]]
             for r in rows]
    if size:
        headers.append("SIZE")
        for line, r in zip(table, rows):
            line.append(r["Size"])
    print(render_table(headers, table))
    return 0


def parse_since(text: str, now: float | None = None) -> int:
    """Docker's --since/--until (timetypes.GetTimestamp) in nanoseconds: a Go
    duration back from now ("10s", "1h30m"), RFC 3339 (local dates without a
    zone read as UTC), or Unix seconds with an optional fraction ("0" is the
    epoch, as Docker reads it). Times are exact to the nanosecond, so an
    event's own time selects it."""
    if not text:
        return 0
    now = time.time() if now is None else now
    if text != "0":
        try:
            return int(now * 1e9) - parse_duration(text)
        except InvalidArgument:
            pass  # not a duration: a time
    import re

    unix = re.fullmatch(r"(\d+)(?:\.(\d{1,9}))?", text)
    if unix:
        return int(unix.group(1)) * 1_000_000_000 + int((unix.group(2) or "0").ljust(9, "0"))
    rfc = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?", text.strip())
    ts = parse_time(rfc.group(1) + (rfc.group(3) or "Z")) if rfc else None
    if rfc is None or ts is None:
        raise InvalidArgument(f"invalid value for since/until: {text!r}")
    return int(ts) * 1_000_000_000 + int((rfc.group(2) or "0").ljust(9, "0"))


def format_ts(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def cmd_logs(ctx, args) -> int:
    tail = -1
    if args.tail not in (None, "all"):
        try:
            tail = int(args.tail)
        except ValueError:
            raise InvalidArgument(f"invalid --tail {args.tail!r}") from None
    req = runtime_pb2.LogsRequest(
        id=args.container, follow=args.follow, since_nanos=parse_since(args.since),
        until_nanos=parse_since(args.until), tail=tail, stdout=True, stderr=True,
    )
    out, err = sys.stdout.buffer, sys.stderr.buffer
    for rec in ctx.runtime().logs(req):
        stream = err if rec.stream == runtime_pb2.STREAM_KIND_STDERR else out
        if args.timestamps:
            stream.write(format_ts(rec.time_nanos).encode() + b" ")
        stream.write(rec.data)
        stream.flush()
    return 0


def cmd_inspect(ctx, args) -> int:
    """``docker inspect``: the first of container, image, network and volume
    (docker-cli's inspectAll order) by that name, or only --type's, each as
    the engine's document of it."""
    fetchers = {"container": lambda: ctx.runtime().inspect_document, "image": lambda: ctx.images().inspect_document,
                "network": lambda: ctx.networks().inspect_document, "volume": lambda: ctx.volumes().inspect_document}
    kinds = [args.type] if args.type else list(fetchers)
    out, failed = [], 0
    for ref in args.objects:
        obj = None
        for kind in kinds:
            try:
                obj = fetchers[kind]()(ref)
                break
            except NotFound:
                continue
        if obj is None:
            print(f"Error: No such object: {ref}", file=sys.stderr)
            failed = 1
            continue
        out.append(obj)
    print_documents(out, args.format)
    return failed


def register(sub, container_group) -> None:
    for p in add_command([(sub, "start"), (container_group, "start")], cmd_start,
                         help="Start one or more stopped containers"):
        p.add_argument("-a", "--attach", action="store_true")
        p.add_argument("-i", "--interactive", action="store_true")
        p.add_argument("--detach-keys", default=DEFAULT_DETACH_KEYS)
        p.add_argument("containers", nargs="+")
    for p in add_command([(sub, "attach"), (container_group, "attach")], cmd_attach,
                         help="Attach local standard input, output, and error streams "
                              "to a running container"):
        p.add_argument("--detach-keys", default=DEFAULT_DETACH_KEYS)
        p.add_argument("--no-stdin", action="store_true")
        p.add_argument("--sig-proxy", nargs="?", const="true", default="true",
                       help="accepted for compatibility; ignored")
        p.add_argument("container")
    for p in add_command([(sub, "stop"), (container_group, "stop")], cmd_stop,
                         help="Stop one or more running containers"):
        p.add_argument("-t", "--time", type=int, default=None, help="seconds to wait before killing")
        p.add_argument("containers", nargs="+")
    for p in add_command([(sub, "restart"), (container_group, "restart")], cmd_restart,
                         help="Restart one or more containers"):
        p.add_argument("-t", "--time", type=int, default=None,
                       help="Seconds to wait for stop before killing the container")
        p.add_argument("containers", nargs="+")
    for p in add_command([(sub, "kill"), (container_group, "kill")], cmd_kill,
                         help="Kill one or more running containers"):
        p.add_argument("-s", "--signal", default="KILL")
        p.add_argument("containers", nargs="+")
    for p in add_command([(sub, "pause"), (container_group, "pause")], cmd_pause,
                         help="Pause all processes within one or more containers"):
        p.add_argument("containers", nargs="+")
    for p in add_command([(sub, "unpause"), (container_group, "unpause")], cmd_unpause,
                         help="Unpause all processes within one or more containers"):
        p.add_argument("containers", nargs="+")
    for p in add_command([(sub, "rename"), (container_group, "rename")], cmd_rename,
                         help="Rename a container"):
        p.add_argument("container")
        p.add_argument("new_name")
    for p in add_command([(sub, "rm"), (container_group, "rm")], cmd_rm,
                         help="Remove one or more containers"):
        p.add_argument("-f", "--force", action="store_true")
        p.add_argument("-v", "--volumes", action="store_true",
                       help="Remove anonymous volumes associated with the container")
        p.add_argument("containers", nargs="+")
    for p in add_command([(sub, "wait"), (container_group, "wait")], cmd_wait,
                         help="Block until containers stop, then print their exit codes"):
        p.add_argument("containers", nargs="+")
    for p in add_command([(sub, "ps"), (container_group, "ls")], cmd_ps, help="List containers"):
        p.add_argument("-a", "--all", action="store_true")
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("-f", "--filter", action="append")
        p.add_argument("-n", "--last", type=int)
        p.add_argument("--no-trunc", action="store_true")
        p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
        p.add_argument("--format")
    for p in add_command([(sub, "logs"), (container_group, "logs")], cmd_logs,
                         help="Fetch the logs of a container"):
        p.add_argument("-f", "--follow", action="store_true")
        p.add_argument("-n", "--tail")
        p.add_argument("--since", default="")
        p.add_argument("--until", default="")
        p.add_argument("-t", "--timestamps", action="store_true")
        p.add_argument("container")
    p = sub.add_parser("inspect", help="Return low-level information on containers, images, networks or volumes")
    p.add_argument("-f", "--format")
    p.add_argument("--type", choices=["container", "image", "network", "volume"])
    p.add_argument("objects", nargs="+")
    p.set_defaults(func=cmd_inspect)
    p = container_group.add_parser("inspect", help="Display detailed information on containers")
    p.add_argument("-f", "--format")
    p.add_argument("objects", nargs="+")
    p.set_defaults(func=cmd_inspect, type="container")
