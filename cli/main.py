"""``barque``: Docker's commands, flags, output and exit codes, over barque's services."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from client.channels import new_request_id
from client.config import Config, load_config
from client.errors import BarqueError, Unavailable

__all__ = ["main", "exit_now", "command_parser"]

#: exit status of an engine error, as docker's
ENGINE_ERROR = 125


class Context:
    """What every command gets: the config and lazily built clients."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._clients: dict[str, object] = {}

    def _client(self, name: str, factory):
        if name not in self._clients:
            self._clients[name] = factory(self.config)
        return self._clients[name]

    def images(self):
        from cli.images import ImagesClient

        return self._client("images", ImagesClient)

    def runtime(self):
        from cli.containers import RuntimeClient

        return self._client("runtime", RuntimeClient)

    def registry(self):
        from cli.images import RegistryClient

        return self._client("registry", RegistryClient)

    def networks(self):
        from cli.network import NetworksClient

        return self._client("networks", NetworksClient)

    def volumes(self):
        from cli.volume import VolumesClient

        return self._client("volumes", VolumesClient)

    def build_cache(self):
        from cli.builder import BuildCacheClient

        return self._client("build_cache", BuildCacheClient)

    def error(self, exc: BaseException) -> None:
        print(describe_error(exc, self.config), file=sys.stderr)


def describe_error(exc: BaseException, config: Config | None = None) -> str:
    """One line for stderr."""
    text = str(exc)
    if isinstance(exc, Unavailable) and text.startswith("cannot reach the "):
        service = text.split()[3]
        address = config.address(service) if config else ""
        return (
            f"barque: cannot connect to the barque {service} service at {address}: is it running? "
            f"Start it with `make up` or `systemctl start barque-{service}d`."
        )
    if isinstance(exc, BarqueError) and exc.remote:
        return f"Error response from daemon: {text}"
    return f"barque: {text}"


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 125, as docker's flag errors do (argparse would exit 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(ENGINE_ERROR)


def build_parser() -> argparse.ArgumentParser:
    from cli import (build, builder, commit, containers, cp, df, events, exec as exec_cmd, images, importcmd, network,
                     port, prune, push, run, saveload, stats, system, volume)

    parser = _Parser(prog="barque", description="A container engine over gRPC services")
    parser.add_argument("--config", help="config file (default /etc/barque/barque.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    image = sub.add_parser("image", help="Manage images").add_subparsers(dest="image_command", metavar="COMMAND")
    images.register(sub, image)
    push.register(sub, image)
    build.register(sub, image)
    importcmd.register(sub, image)
    saveload.register(sub, image)
    container = sub.add_parser("container", help="Manage containers").add_subparsers(
        dest="container_command", metavar="COMMAND")
    run.register(sub, container)
    containers.register(sub, container)
    port.register(sub, container)
    exec_cmd.register(sub, container)
    stats.register(sub, container)
    commit.register(sub, container, image)
    cp.register(sub, container)
    system.register(sub)
    events.register(sub)  # after system: it adds ``system events`` too
    network.register(sub)
    volume.register(sub)
    builder.register(sub)
    df.register(sub)  # after system: ``system df`` and ``system prune`` join its group
    prune.register(sub, image, container)
    return parser


@functools.cache
def command_parser() -> argparse.ArgumentParser:
    """The command line's parser, built once per process: the warm command
    server (:mod:`cli.cmdserver`) builds it before forking its workers, which
    saves each command the ~20 ms it takes."""
    return build_parser()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = command_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        sys.exit(0 if not argv else ENGINE_ERROR)
    try:
        config = load_config(args.config)
    except BarqueError as exc:
        print(f"barque: {exc}", file=sys.stderr)
        sys.exit(ENGINE_ERROR)
    new_request_id()
    ctx = Context(config)
    try:
        status = ENGINE_ERROR if args.func(ctx, args) else 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else ENGINE_ERROR
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        status = 0
    except (BarqueError, ValueError, KeyError, OSError) as exc:
        ctx.error(exc)
        status = ENGINE_ERROR
    exit_now(status)


def exit_now(status: int) -> None:
    """Flush and leave without interpreter teardown: the work is done on the
    services' side, and grpc's shutdown would only add latency to every command."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


if __name__ == "__main__":
    main()
