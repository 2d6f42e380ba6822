"""``barque builder prune``: empty the build cache as docker-cli's
``builder prune`` (``cli/command/builder/prune.go``): the prompt unless
``-f``, "Deleted build cache objects:" and the ids when any (with a blank
line), then "Total reclaimed space:" in go-units HumanSize, printed even when
the prompt was declined; and the remote adapter over the image-store's
build cache RPCs.

barque's build cache is its index of step images, all of it "unused" between
builds: ``-a`` changes only the prompt's wording. ``--filter`` takes
``until=`` and ``unused-for=`` (entries older go); ``label=`` is ignored, as
moby's build cache ignores it; BuildKit's other keys are refused by the
image-store.
"""

from __future__ import annotations

import sys

from barque.images.v1 import images_pb2, images_pb2_grpc
from cli.nouns import (
    add_noun,
    check_args as _check_args,
    confirm,
    docker_status,
    parse_filters,
)
from client.channels import RemoteStub, connect
from client.config import Config

__all__ = ["BuildCacheClient", "prune_output", "register"]

DANGLING_WARNING = "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
ALL_WARNING = "WARNING! This will remove all build cache. Are you sure you want to continue?"

USAGE = {"prune": ("prune", "Remove build cache")}


class BuildCacheClient:
    """The image-store's build cache as the CLI sees it."""

    def __init__(self, config: Config) -> None:
        self._stub = RemoteStub(images_pb2_grpc.ImagesStub(connect(config, "images")), "images")

    def lookup(self, key: str) -> images_pb2.Image | None:
        resp = self._stub.LookupBuildCache(images_pb2.LookupBuildCacheRequest(key=key))
        return resp.image if resp.found else None

    def prune(self, filters: list[str] | None = None) -> images_pb2.PruneBuildCacheResponse:
        return self._stub.PruneBuildCache(images_pb2.PruneBuildCacheRequest(filters=filters or []))


def prune_output(response: images_pb2.PruneBuildCacheResponse | None) -> str:
    """What docker-cli prints after the prompt (``None``: declined)."""
    from cli.format import human_size

    out = ""
    reclaimed = 0
    if response is not None:
        reclaimed = response.reclaimed_bytes
        if response.deleted:
            out = "Deleted build cache objects:\n" + "".join(i + "\n" for i in response.deleted) + "\n"
    return out + f"Total reclaimed space: {human_size(reclaimed, 4)}\n"


@docker_status
def cmd_prune(ctx, args) -> int:
    filters = parse_filters("barque builder prune", "--filter", args.filter)
    _check_args("barque builder prune", *USAGE["prune"], args.args, exactly=0)
    response = None
    if args.force or confirm(ALL_WARNING if args.all else DANGLING_WARNING):
        response = ctx.build_cache().prune(filters)
    sys.stdout.write(prune_output(response))
    return 0


def register(sub) -> None:
    command = add_noun(sub, "builder", "Manage builds", USAGE)
    p = command("prune", cmd_prune, "")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "until=24h")')
