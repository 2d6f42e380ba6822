"""``barque-oci``: runc's command line over :mod:`services.runtime.oci.container`.

Errors are one line on stderr (and an ``error`` event in ``--log``) with a
non-zero exit: 255 for any error of ``exec`` (runc's code; the message says
whether the command was not found), else 127/126 when the process could not
be found/executed, and 1 for the rest. ``run``
and ``exec`` exit with the container process's code. Help, and unknown
commands (exit 3), are :mod:`clihelp`'s, before argparse.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys

from client.errors import AlreadyExists, BarqueError, InvalidArgument
from client.units import parse_signal

from . import (cgrouppaths, cgroupverbs, clihelp, container, execflags, listing, oplog,
               spec as specmod, versioninfo)
from .process import ExecFailed
from .state import StateStore

__all__ = ["main", "build_parser"]

DEFAULT_ROOT = "/run/barque-oci"


class _VersionAction(argparse.Action):
    """runc's multi-line ``--version`` verbatim (argparse's own would re-wrap it)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(versioninfo.text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="barque-oci", description="OCI runtime (runc-compatible CLI)")
    p.add_argument("--root", default=DEFAULT_ROOT, help="state directory")
    p.add_argument("--log", help="append log events to this file")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true",
                   help="refused by create/run: needs systemd as PID 1 and a systemd driver")
    p.add_argument("--criu", help="accepted for runc compatibility; checkpoint is not supported")
    p.add_argument("--rootless", default="auto", help="accepted for runc compatibility; ignored")
    p.add_argument("--version", "-v", action=_VersionAction, nargs=0, help="print the version")
    sub = p.add_subparsers(dest="command", required=True)

    for name, text in (("create", "create a container, its process waiting for start"),
                       ("run", "create and start a container, wait for it, delete it")):
        c = sub.add_parser(name, help=text)
        c.add_argument("--bundle", "-b", default=".")
        c.add_argument("--pid-file")
        c.add_argument("--console-socket")
        c.add_argument("--preserve-fds", type=int, default=0,
                       help="pass N more file descriptors (3..3+N-1) to the container")
        c.add_argument("--no-pivot", action="store_true",
                       help="accepted; barque-oci always uses pivot_root")
        c.add_argument("--no-new-keyring", action="store_true",
                       help="accepted; barque-oci never creates a session keyring")
        if name == "run":
            c.add_argument("--detach", "-d", action="store_true",
                           help="create and start, then return without waiting")
            c.add_argument("--keep", action="store_true",
                           help="do not delete the container after it exits")
        c.add_argument("id")

    for name, text in (("start", "start a created container"),
                       ("state", "print the state of a container as JSON"),
                       ("pause", "freeze every process of a running container"),
                       ("resume", "thaw a paused container")):
        sub.add_parser(name, help=text).add_argument("id")

    k = sub.add_parser("kill", help="send a signal to the container's init")
    k.add_argument("--all", "-a", action="store_true", help="signal every process of its cgroup")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="SIGTERM")

    d = sub.add_parser("delete", help="delete a stopped container")
    d.add_argument("--force", "-f", action="store_true")
    d.add_argument("id")

    e = sub.add_parser("exec", help="run a process in a container")
    e.add_argument("--process", "-p",
                   help="process.json; when given, the process flags below are ignored (as runc)")
    e.add_argument("--detach", "-d", action="store_true")
    e.add_argument("--pid-file")
    e.add_argument("--console-socket")
    e.add_argument("--preserve-fds", type=int, default=0)
    e.add_argument("--tty", "-t", action="store_true")
    e.add_argument("--cwd")
    e.add_argument("--env", "-e", action="append", default=[])
    e.add_argument("--user", "-u", help="<uid>[:<gid>]")
    e.add_argument("--additional-gids", "-g", action="append", default=[])
    e.add_argument("--cap", "-c", action="append", default=[])
    e.add_argument("--no-new-privs", action="store_true")
    e.add_argument("--process-label", help="accepted; SELinux labels are not applied")
    e.add_argument("--apparmor", help="accepted; AppArmor profiles are not applied")
    e.add_argument("--cgroup", action="append", default=[],
                   help="path | controller[,controller...]:path, a sub-cgroup of the container's")
    e.add_argument("--ignore-paused", action="store_true", help="allow exec in a paused container")
    e.add_argument("id")
    e.add_argument("args", nargs=argparse.REMAINDER, help="command (without --process)")

    sub.add_parser("features", help="print what this runtime supports as JSON")

    s = sub.add_parser("spec", help="write a default config.json")
    s.add_argument("--bundle", "-b", default=".")

    ls = sub.add_parser("list", help="list containers")
    ls.add_argument("--quiet", "-q", action="store_true", help="display only container IDs")
    ls.add_argument("--format", "-f", default="table", help="select one of: table or json")
    cgroupverbs.add_parsers(sub)
    return p


def _configure_logging(args: argparse.Namespace):
    """Log to --log (text or JSON lines); without --log, events are dropped."""
    stream = open(args.log, "a") if args.log else None
    oplog.configure(stream, json_format=args.log_format == "json", debug=args.debug)
    return stream


def _dispatch(args: argparse.Namespace) -> int:
    store = StateStore(args.root)
    cmd = args.command
    if cmd == "spec":
        path = os.path.join(args.bundle, "config.json")
        try:
            with open(path, "x") as f:
                json.dump(specmod.default_spec(), f, indent=2)
        except FileExistsError as exc:
            raise AlreadyExists(f"{path!r} exists, remove it first") from exc
        return 0
    if cmd == "features":
        print(json.dumps(versioninfo.features(), indent=4))
        return 0
    if cmd in ("create", "run"):
        if args.systemd_cgroup:
            cgrouppaths.refuse_systemd("--systemd-cgroup")
        if args.preserve_fds < 0:
            raise InvalidArgument(f"--preserve-fds {args.preserve_fds} is negative")
    if cmd == "create":
        container.create(store, args.id, args.bundle, args.pid_file, args.console_socket,
                         args.preserve_fds)
        return 0
    if cmd == "run" and args.detach:
        container.create(store, args.id, args.bundle, args.pid_file, args.console_socket,
                         args.preserve_fds)
        try:
            container.start(store, args.id)
        except BaseException:
            container.delete(store, args.id, force=True)
            raise
        return 0
    if cmd == "run":
        return container.run(store, args.id, args.bundle, args.pid_file, args.console_socket,
                             args.preserve_fds, keep=args.keep)
    if cmd == "start":
        container.start(store, args.id)
        return 0
    if cmd == "state":
        print(json.dumps(container.state(store, args.id), indent=2))
        return 0
    if cmd == "pause":
        container.pause(store, args.id)
        return 0
    if cmd == "resume":
        container.resume(store, args.id)
        return 0
    if cmd == "kill":
        # 0 (runc takes any number): no signal, the process's existence checked
        sig = 0 if args.signal.strip() == "0" else parse_signal(args.signal or "SIGTERM")
        if args.all:
            container.kill_all(store, args.id, sig)
        else:
            container.kill(store, args.id, sig)
        return 0
    if cmd == "delete":
        container.delete(store, args.id, args.force)
        return 0
    if cmd in cgroupverbs.COMMANDS:
        return cgroupverbs.dispatch(store, args)
    if cmd == "exec":
        if args.process:
            proc = execflags.load_process(args.process)
        else:
            proc = execflags.build_process(store.load(args.id).config.get("process") or {}, args)
        return container.exec_in(store, args.id, proc, args.detach, args.pid_file,
                                 args.console_socket, args.preserve_fds, args.ignore_paused,
                                 sub_cgroups=args.cgroup)
    if cmd == "list":
        states = [{**row, "owner": listing.owner(store.dir(row["id"]))}
                  for row in container.list_states(store)]
        sys.stdout.write(listing.render(states, args.format, args.quiet))
        return 0
    raise AssertionError(cmd)


@functools.cache
def command_parser() -> argparse.ArgumentParser:
    """The parser, built once per process: the zygote builds it before it
    forks, sparing each in-process call the few milliseconds argparse takes."""
    return build_parser()


#: runc's exit code for any error of ``exec`` (the process's own code otherwise)
_EXEC_FAILED = 255


def main(argv: list[str] | None = None) -> int:
    helped = clihelp.handle(command_parser(), sys.argv[1:] if argv is None else list(argv))
    if helped is not None:
        sys.exit(helped)
    args = command_parser().parse_args(argv)
    stream = _configure_logging(args)
    log = oplog.get_logger("barque-oci").bind(command=args.command, id=getattr(args, "id", None))
    try:
        code = _dispatch(args)
        log.debug("command_done", exit_code=code)
    except (BarqueError, OSError) as exc:
        message = " ".join(str(exc).split())
        # msg is the error itself, as runc's: podman and conmon show it to the user
        log.error(message, kind=type(exc).__name__)
        print(f"barque-oci: {args.command}: {message}", file=sys.stderr)
        if args.command == "exec":
            code = _EXEC_FAILED
        elif isinstance(exc, (container.InitFailed, ExecFailed)):
            code = exc.exit_code
        else:
            code = 1
    finally:
        if stream is not None:
            stream.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
