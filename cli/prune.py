"""``barque image prune``, ``container prune`` and ``system prune``, as
docker-cli 20.10 has them (``cli/command/{image,container,system}/prune.go``):
the prompt unless ``-f`` ("... [y/N] ", only "y" goes on), "Deleted
Images:" / "Deleted Containers:" and their lines followed by a blank line
when anything went, then "Total reclaimed space:" in go-units HumanSize --
printed even when the prompt was declined, as docker-cli prints it.

``system prune`` runs, in docker's order, container prune, network prune,
volume prune (``--volumes``: every unused volume, as the 20.10 engine
prunes them), image prune (``-a``: every unused image) and build cache
prune, each without its own prompt, and adds up the space. The filters go
to each step; the build cache applies ``until=`` and ignores labels, as
moby's does.
"""

from __future__ import annotations

import sys

from barque.images.v1 import images_pb2, images_pb2_grpc
from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from cli.format import human_size
from cli.nouns import check_args as _check_args, confirm, docker_status, natural_sorted, parse_filters
from client.channels import RemoteStub, connect
from client.config import Config

__all__ = [
    "PruneClient", "image_prune_output", "container_prune_output", "system_warning", "register",
    "IMAGE_DANGLING_WARNING", "IMAGE_ALL_WARNING", "CONTAINER_WARNING",
]

IMAGE_ALL_WARNING = ("WARNING! This will remove all images without at least one container associated to them.\n"
                     "Are you sure you want to continue?")
IMAGE_DANGLING_WARNING = "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
CONTAINER_WARNING = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"
USAGE = {
    "image": ("prune [OPTIONS]", "Remove unused images"),
    "container": ("prune [OPTIONS]", "Remove all stopped containers"),
    "system": ("prune [OPTIONS]", "Remove unused data"),
}


class PruneClient:
    """The image-store's and the runtime's prunes as the CLI sees them."""

    def __init__(self, config: Config) -> None:
        self._images = RemoteStub(images_pb2_grpc.ImagesStub(connect(config, "images")), "images")
        self._runtime = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(config, "runtime")), "runtime")

    def images(self, all_: bool, filters: list[str]) -> images_pb2.PruneImagesResponse:
        return self._images.PruneImages(images_pb2.PruneImagesRequest(all=all_, filters=filters))

    def containers(self, filters: list[str]) -> runtime_pb2.PruneContainersResponse:
        return self._runtime.PruneContainers(runtime_pb2.PruneContainersRequest(filters=filters))


def _total(reclaimed: int) -> str:
    return f"Total reclaimed space: {human_size(reclaimed, 4)}\n"


def image_prune_output(response: images_pb2.PruneImagesResponse | None) -> tuple[int, str]:
    """image.runPrune's (space, output): "Deleted Images:" and an
    "untagged: "/"deleted: " line per entry; nothing (and 0) when none went."""
    if response is None or not response.deleted:
        return 0, ""
    lines = [f"untagged: {e.untagged}" if e.untagged else f"deleted: {e.deleted}" for e in response.deleted]
    return response.space_reclaimed, "Deleted Images:\n" + "".join(line + "\n" for line in lines)


def container_prune_output(response: runtime_pb2.PruneContainersResponse | None) -> tuple[int, str]:
    """container.runPrune's (space, output)."""
    if response is None or not response.deleted:
        return 0, ""
    return response.space_reclaimed, "Deleted Containers:\n" + "".join(i + "\n" for i in response.deleted)


def _volume_output(response) -> tuple[int, str]:
    if not response.deleted:
        return 0, ""
    return response.space_reclaimed, "Deleted Volumes:\n" + "".join(n + "\n" for n in response.deleted)


def _network_output(deleted: list[str]) -> tuple[int, str]:
    return 0, ("Deleted Networks:\n" + "".join(n + "\n" for n in deleted)) if deleted else ""


def _cache_output(response) -> tuple[int, str]:
    if not response.deleted:
        return response.reclaimed_bytes, ""
    return response.reclaimed_bytes, "Deleted build cache objects:\n" + "".join(i + "\n" for i in response.deleted)


def _finish(space: int, output: str) -> str:
    """The standalone command's tail: the output and a blank line (Fprintln), then the total."""
    return (output + "\n" if output else "") + _total(space)


def system_warning(all_: bool, volumes: bool, filters: list[str], build_cache: bool = True) -> str:
    """system.confirmationMessage: the list, the filters when any (label,
    label!, until; natural order), then the question."""
    warnings = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        warnings.append("all volumes not used by at least one container")
    warnings.append("all images without at least one container associated to them" if all_
                    else "all dangling images")
    if build_cache:
        warnings.append("all build cache" if all_ else "all dangling build cache")
    text = "WARNING! This will remove:" + "".join(f"\n  - {w}" for w in warnings) + "\n"
    shown = [f for name in ("label", "label!", "until") for f in filters if f.partition("=")[0] == name]
    if shown:
        shown = natural_sorted(shown, lambda f: f)
        text += "\n  Items to be pruned will be filtered with:" + "".join(f"\n  - {f}" for f in shown) + "\n"
    return text + "\nAre you sure you want to continue?"


@docker_status
def cmd_image_prune(ctx, args) -> int:
    filters = parse_filters("barque image prune", "--filter", args.filter)
    _check_args("barque image prune", *USAGE["image"], args.args, exactly=0)
    response = None
    if args.force or confirm(IMAGE_ALL_WARNING if args.all else IMAGE_DANGLING_WARNING):
        response = PruneClient(ctx.config).images(args.all, filters)
    sys.stdout.write(_finish(*image_prune_output(response)))
    return 0


@docker_status
def cmd_container_prune(ctx, args) -> int:
    filters = parse_filters("barque container prune", "--filter", args.filter)
    _check_args("barque container prune", *USAGE["container"], args.args, exactly=0)
    response = None
    if args.force or confirm(CONTAINER_WARNING):
        response = PruneClient(ctx.config).containers(filters)
    sys.stdout.write(_finish(*container_prune_output(response)))
    return 0


@docker_status
def cmd_system_prune(ctx, args) -> int:
    from cli.nouns import CommandError

    filters = parse_filters("barque system prune", "--filter", args.filter)
    _check_args("barque system prune", *USAGE["system"], args.args, exactly=0)
    if args.volumes and any(f.partition("=")[0] == "until" for f in filters):
        raise CommandError('ERROR: The "until" filter is not supported with "--volumes"')
    if not args.force and not confirm(system_warning(args.all, args.volumes, filters)):
        return 0
    client = PruneClient(ctx.config)
    steps = [lambda: container_prune_output(client.containers(filters)),
             lambda: _network_output(ctx.networks().prune(filters))]
    if args.volumes:
        steps.append(lambda: _volume_output(ctx.volumes().prune(
            runtime_pb2.PruneVolumesRequest(filters=filters, all=True))))
    steps.append(lambda: image_prune_output(client.images(args.all, filters)))
    steps.append(lambda: _cache_output(ctx.build_cache().prune(filters)))
    total = 0
    for step in steps:
        space, output = step()
        total += space
        if output:
            sys.stdout.write(output + "\n")
            sys.stdout.flush()
    sys.stdout.write(_total(total))
    return 0


def register(sub, image_group, container_group) -> None:
    """``image prune``, ``container prune`` and ``system prune``."""
    import argparse

    from cli.df import system_group

    for group, noun, func, all_help in (
            (image_group, "image", cmd_image_prune, "Remove all unused images, not just dangling ones"),
            (container_group, "container", cmd_container_prune, ""),
            (system_group(sub), "system", cmd_system_prune, "Remove all unused images not just dangling ones")):
        use, short = USAGE[noun]
        p = group.add_parser("prune", help=short, usage=f"barque {noun} {use}", description=short)
        p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
        if all_help:
            p.add_argument("-a", "--all", action="store_true", help=all_help)
        p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
        p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'until=<timestamp>')")
        if noun == "system":
            p.add_argument("--volumes", action="store_true", help="Prune volumes")
        p.set_defaults(func=func)
