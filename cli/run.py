"""``barque run`` and ``barque create``: Docker's flags turned into a runtime
request; run streams the container's output and exits with its code."""

from __future__ import annotations

import argparse
import os
import sys

from barque.runtime.v1 import runtime_pb2
from cli.commands import add_command
from cli.tty import DEFAULT_DETACH_KEYS, DETACHED, parse_detach_keys, stream_session
from client.errors import InvalidArgument, NotFound
from client.imagespec import Platform
from client.units import parse_cpus, parse_env_file, parse_memory_swap, ram_in_bytes

__all__ = ["register", "attach_and_wait"]


def _add_bool_flag(p: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A pflag bool flag that is only sent when given: ``--init`` or
    ``--init=BOOL`` (strconv.ParseBool's spellings), never taking the next
    argument; None when absent."""
    dest = flag.lstrip("-").replace("-", "_")
    p.add_argument(flag, dest=dest, action="store_const", const=True, default=None, help=help)
    for value, spellings in ((True, ("1", "t", "T", "TRUE", "true", "True")),
                             (False, ("0", "f", "F", "FALSE", "false", "False"))):
        for spelling in spellings:
            p.add_argument(f"{flag}={spelling}", dest=dest, action="store_const", const=value,
                           help=argparse.SUPPRESS)


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
    p.add_argument("--oom-score-adj", type=int, default=0)
    p.add_argument("--network", "--net", default="default")
    p.add_argument("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--network-alias", "--net-alias", dest="network_alias", action="append", default=[],
                   help="Add network-scoped alias for the container")
    p.add_argument("-p", "--publish", action="append", default=[],
                   help="Publish a container's port(s) to the host")
    p.add_argument("-P", "--publish-all", action="store_true",
                   help="Publish all exposed ports to random ports")
    p.add_argument("--expose", action="append", default=[], help="Expose a port or a range of ports")
    p.add_argument("--dns", action="append", default=[], help="Set custom DNS servers")
    p.add_argument("--dns-search", action="append", default=[], help="Set custom DNS search domains")
    p.add_argument("--dns-option", "--dns-opt", dest="dns_option", action="append", default=[],
                   help="Set DNS options")
    p.add_argument("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("-v", "--volume", action="append", default=[], help="Bind mount a volume")
    p.add_argument("--mount", action="append", default=[], help="Attach a filesystem mount to the container")
    p.add_argument("--tmpfs", action="append", default=[], help="Mount a tmpfs directory")
    p.add_argument("--volumes-from", action="append", default=[],
                   help="Mount volumes from the specified container(s)")
    p.add_argument("--volume-driver", default="", help="Optional volume driver for the container")
    p.add_argument("--restart", help="Restart policy to apply when a container exits (default \"no\")")
    _add_bool_flag(p, "--init", "Run an init inside the container that forwards signals and reaps processes")
    p.add_argument("--health-cmd", help="Command to run to check health")
    p.add_argument("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)")
    p.add_argument("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
    p.add_argument("--health-start-period",
                   help="Start period for the container to initialize before starting health-retries "
                        "countdown (ms|s|m|h) (default 0s)")
    p.add_argument("--health-retries", help="Consecutive failures needed to report unhealthy")
    p.add_argument("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--userns", default="", help="User namespace to use")
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


def _network_flags(args) -> tuple[list[str], dict[str, list[tuple[str, str]]], dict[str, list[str]]]:
    """-p, --expose, --dns*, --add-host checked as docker-cli checks them,
    before anything is sent: the exposed ports, the port bindings, and the
    DNS and hosts values as Docker stores them."""
    from client import ports

    values: dict[str, list[str]] = {"dns": [], "dns_search": [], "extra_hosts": []}
    for flag, dest, source, validate in (
            ("--dns", "dns", args.dns, ports.validate_ip_address),
            ("--dns-search", "dns_search", args.dns_search, ports.validate_dns_search),
            ("--add-host", "extra_hosts", args.add_host, ports.validate_extra_host)):
        for value in source:
            try:
                values[dest].append(validate(value))
            except InvalidArgument as exc:
                raise ports.flag_error(flag, value, exc) from exc
    exposed, bindings = ports.publish_and_expose(args.publish, args.expose)
    return exposed, bindings, values


def _networking_config(args) -> runtime_pb2.NetworkingConfig:
    """docker-cli 20.10 parseNetworkOpts for one --network: --ip and
    --network-alias become that network's endpoint settings, none when
    neither is given. Aliases need a user-defined network (a client-side
    check in docker-cli); the address is sent as typed, unchecked, as
    docker-cli sends it, for the engine to accept or refuse."""
    from cli.network import is_user_defined

    networking = runtime_pb2.NetworkingConfig()
    if args.network_alias and not is_user_defined(args.network):
        raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
    if args.ip or args.network_alias:
        endpoint = networking.endpoints_config[args.network]
        endpoint.aliases.extend(args.network_alias)
        if args.ip:
            endpoint.ipam_config.ipv4_address = args.ip
    return networking


def _storage_flags(args, config: runtime_pb2.ContainerConfig, host: runtime_pb2.HostConfig) -> None:
    """-v, --mount, --tmpfs, --volumes-from and --volume-driver as docker-cli
    sends them (:mod:`client.mounts`)."""
    from client import mounts
    from client.ports import flag_error

    binds, volumes = mounts.split_volumes(args.volume)
    host.binds.extend(binds)
    config.volumes.extend(volumes)
    for value in args.mount:
        try:
            host.mounts.append(runtime_pb2.Mount(**mounts.parse_mount(value)))
        except InvalidArgument as exc:
            raise flag_error("--mount", value, exc) from exc
    for path, options in mounts.parse_tmpfs(args.tmpfs).items():
        host.tmpfs[path] = options
    host.volumes_from.extend(args.volumes_from)
    host.volume_driver = args.volume_driver


def _lifecycle_flags(args, config: runtime_pb2.ContainerConfig, host: runtime_pb2.HostConfig) -> None:
    """--restart, --init and the health flags as docker-cli sends them
    (:mod:`client.lifecycle`): each only when given, so a container without
    them asks nothing of the engine's restart, init or health machinery."""
    from client import lifecycle

    if args.restart is not None:
        policy = lifecycle.parse_restart_policy(args.restart)
        lifecycle.check_restart_with_rm(policy, args.rm)
        if policy["name"] not in ("", "no"):  # the same as none
            host.restart_policy.CopyFrom(runtime_pb2.RestartPolicy(**policy))
    if args.init is not None:
        host.init = args.init
    health = lifecycle.health_config(args.health_cmd, args.health_interval, args.health_timeout,
                                     args.health_start_period, args.health_retries, args.no_healthcheck)
    if health is not None:
        config.healthcheck.CopyFrom(runtime_pb2.HealthConfig(**health))


def create_request(args) -> runtime_pb2.CreateRequest:
    exposed, bindings, network = _network_flags(args)
    env = []
    for path in args.env_file:
        env += parse_env_file(path)
    for item in args.env:
        if "=" not in item:  # "-e KEY" takes KEY from the CLI's environment, as docker's
            if item in os.environ:
                env.append(f"{item}={os.environ[item]}")
            continue
        env.append(item)
    memory = ram_in_bytes(args.memory) if args.memory else 0
    swap = parse_memory_swap(args.memory_swap) if args.memory_swap else 0
    log_opts = {}
    for opt in args.log_opt:
        key, _, value = opt.partition("=")
        log_opts[key] = value
    labels = dict(lab.partition("=")[::2] for lab in args.label)
    config = runtime_pb2.ContainerConfig(
        image=args.image, cmd=args.command, env=env, working_dir=args.workdir, user=args.user,
        hostname=args.hostname, tty=args.tty, open_stdin=args.interactive, labels=labels,
        stop_signal=args.stop_signal, exposed_ports=exposed,
    )
    if args.entrypoint is not None:  # --entrypoint "" clears the image's, as docker's [""]
        config.entrypoint.values[:] = [args.entrypoint]
    if args.stop_timeout is not None:
        config.stop_timeout = args.stop_timeout
    host = runtime_pb2.HostConfig(
        memory=memory, memory_swap=swap, nano_cpus=parse_cpus(args.cpus) if args.cpus else 0,
        cpu_shares=args.cpu_shares, network_mode=args.network, readonly_rootfs=args.read_only,
        cap_add=args.cap_add, cap_drop=args.cap_drop,
        privileged=args.privileged, security_opt=args.security_opt, oom_score_adj=args.oom_score_adj,
        log_config=runtime_pb2.LogConfig(type=args.log_driver, config=log_opts), auto_remove=args.rm,
        publish_all_ports=args.publish_all, dns=network["dns"], dns_search=network["dns_search"],
        dns_options=args.dns_option, extra_hosts=network["extra_hosts"],
    )
    for port, host_sides in bindings.items():
        host.port_bindings[port].bindings.extend(
            runtime_pb2.PortBinding(host_ip=ip, host_port=hport) for ip, hport in host_sides)
    if args.pids_limit:
        host.pids_limit = args.pids_limit
    if args.userns not in ("", "host"):  # docker-cli's check (container.UsernsMode.Valid)
        raise InvalidArgument("--userns: invalid USER mode")
    host.userns_mode = args.userns
    _storage_flags(args, config, host)
    _lifecycle_flags(args, config, host)
    networking = _networking_config(args)
    return runtime_pb2.CreateRequest(name=args.name, config=config, host_config=host,
                                     networking_config=networking if networking.endpoints_config else None)


def pull_missing(ctx, reference: str, platform: str) -> None:
    from cli.images import pull_with_progress

    print(f"Unable to find image '{reference}' locally", file=sys.stderr)
    pull_with_progress(ctx.images(), reference, Platform.parse(platform) if platform else None, out=sys.stderr)


def image_missing(exc: BaseException) -> bool:
    """The engine refused to create for want of the image: Docker's CLI
    creates first and pulls only then, saving a lookup in the common case."""
    return isinstance(exc, NotFound) and str(exc).lower().startswith("no such image")


def cmd_create(ctx, args) -> int:
    request = create_request(args)
    try:
        print(ctx.runtime().create(request))
    except NotFound as exc:
        if not image_missing(exc):
            raise
        pull_missing(ctx, args.image, args.platform)
        print(ctx.runtime().create(request))
    return 0


def _write_output(frame) -> None:
    stream = sys.stderr.buffer if frame.stream == runtime_pb2.STREAM_KIND_STDERR else sys.stdout.buffer
    stream.write(frame.data)
    stream.flush()


def _exit_code(exited) -> int:
    if exited.error:
        print(f"barque: Error response from daemon: {exited.error}", file=sys.stderr)
    return exited.exit_code


def _handle(resp, created: list[str] | None = None) -> int | None:
    """One Run/Attach response: output is written, the exit status returned."""
    which = resp.WhichOneof("msg")
    if which == "created" and created is not None:
        created.append(resp.created.id)
    elif which == "output":
        _write_output(resp.output)
    elif which == "exited":
        return _exit_code(resp.exited)
    return None


def _stdin_frame(data: bytes, eof: bool) -> runtime_pb2.Frame:
    return runtime_pb2.Frame(stream=runtime_pb2.STREAM_KIND_STDIN, data=data, eof=eof)


def _no_tty_input(args) -> bool:
    """``-it`` with stdin not a terminal: Docker's refusal."""
    if args.tty and args.interactive and not os.isatty(sys.stdin.fileno()):
        print("the input device is not a TTY", file=sys.stderr)
        return True
    return False


def cmd_run(ctx, args) -> int:
    request = create_request(args)
    if not args.detach:
        parse_detach_keys(args.detach_keys)  # a bad sequence is refused before anything is created
        if _no_tty_input(args):
            sys.exit(1)
    attach = not args.detach
    first = runtime_pb2.RunRequest(spec=runtime_pb2.RunSpec(
        create=request, attach=attach, attach_stdin=attach and args.interactive))
    try:
        return _run(ctx, args, first)
    except NotFound as exc:
        if not image_missing(exc):
            raise
    pull_missing(ctx, args.image, args.platform)
    return _run(ctx, args, first)


def _run(ctx, args, first) -> int:
    """One Run stream; NotFound (no such image) comes before anything runs."""
    rt = ctx.runtime()
    if args.detach:
        for resp in rt.run(iter([first])):
            if resp.WhichOneof("msg") == "created":
                print(resp.created.id)
        return 0
    created: list[str] = []
    try:
        status = stream_session(
            rt.run, first, wrap_stdin=lambda d, e: runtime_pb2.RunRequest(stdin=_stdin_frame(d, e)),
            wrap_resize=lambda h, w: runtime_pb2.RunRequest(resize=runtime_pb2.Resize(height=h, width=w)),
            on_response=lambda r: _handle(r, created), stdin=args.interactive, tty_mode=args.tty,
            detach_keys=args.detach_keys, stdin_after_first=True)
    except KeyboardInterrupt:
        if created:
            rt.kill(created[0], "SIGINT")
        raise
    sys.exit(0 if status == DETACHED else status)


def attach_and_wait(rt, ref: str, stdin: bool = False, tty_mode: bool = False,
                    detach_keys: str = DEFAULT_DETACH_KEYS) -> int:
    """Attach to a running container until it exits (its status) or the user
    detaches (0)."""
    first = runtime_pb2.AttachRequest(open=runtime_pb2.AttachOpen(id=ref, stdin=stdin, stdout=True, stderr=True))
    status = stream_session(
        rt.attach, first, wrap_stdin=lambda d, e: runtime_pb2.AttachRequest(stdin=_stdin_frame(d, e)),
        wrap_resize=lambda h, w: runtime_pb2.AttachRequest(resize=runtime_pb2.Resize(height=h, width=w)),
        on_response=_handle, stdin=stdin, tty_mode=tty_mode, detach_keys=detach_keys)
    sys.exit(0 if status == DETACHED else status)


def register(sub, container_group) -> None:
    for p in add_command([(sub, "run"), (container_group, "run")], cmd_run,
                         help="Create and run a new container from an image", add_help=False):
        p.add_argument("-d", "--detach", action="store_true")
        p.add_argument("--detach-keys", default=DEFAULT_DETACH_KEYS)
        _add_create_flags(p)
    for p in add_command([(sub, "create"), (container_group, "create")], cmd_create,
                         help="Create a new container", add_help=False):
        _add_create_flags(p)


