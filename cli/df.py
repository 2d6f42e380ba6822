"""``barque system df [-v] [--format]``: docker-cli 20.10's disk usage
(``cli/command/system/df.go``, ``cli/command/formatter/disk_usage.go``)
over the image-store's and the runtime's DiskUsage RPCs.

The summary has a row per kind (Images, Containers, Local Volumes, Build
Cache): TOTAL, ACTIVE, SIZE and RECLAIMABLE (with its percentage of SIZE
when SIZE is not 0), in go-units HumanSize (decimal, four digits). ``-v``
prints the four tables docker does instead ("Images space usage:" ...
"Build cache usage: N B"), their sizes to three digits as docker-cli's
tables have them. ``--format`` is a template over the summary's rows
(``table`` prefix for a header); with ``-v`` only the default layout is
supported.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from cli.format import human_size, parse_time, short_id, time_ago
from cli.nouns import FLAG_ERROR, CommandError, check_args as _check_args, docker_status, format_rows
from client.config import Config

__all__ = ["DiskUsageClient", "Usage", "summary_rows", "summary_output", "verbose_output", "register",
           "system_group"]

USE = ("df [OPTIONS]", "Show barque disk usage")
SUMMARY_FORMAT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
SUMMARY_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
                   "Reclaimable": "RECLAIMABLE"}
RAW_SUMMARY = "type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\nreclaimable: {{.Reclaimable}}\n"

IMAGES_FORMAT = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.VirtualSize}}\t{{.SharedSize}}"
                 "\t{{.UniqueSize}}\t{{.Containers}}")
IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                  "VirtualSize": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
                  "Containers": "CONTAINERS"}
CONTAINERS_FORMAT = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}"
                     "\t{{.Status}}\t{{.Names}}")
CONTAINERS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES",
                      "Size": "SIZE", "RunningFor": "CREATED", "Status": "STATUS", "Names": "NAMES"}
VOLUMES_FORMAT = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
VOLUMES_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
CACHE_FORMAT = ("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}"
                "\t{{.Shared}}")
CACHE_HEADERS = {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
                 "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}


@dataclass(frozen=True)
class Usage:
    """Both services' DiskUsageResponses."""

    images: Any    # images_pb2.DiskUsageResponse
    runtime: Any   # runtime_pb2.DiskUsageResponse


class DiskUsageClient:
    """The services' disk usage as the CLI sees it."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def usage(self) -> Usage:
        from barque.images.v1 import images_pb2, images_pb2_grpc
        from barque.runtime.v1 import runtime_pb2, runtime_pb2_grpc
        from client.channels import RemoteStub, connect

        images = RemoteStub(images_pb2_grpc.ImagesStub(connect(self._config, "images")), "images")
        runtime = RemoteStub(runtime_pb2_grpc.RuntimeStub(connect(self._config, "runtime")), "runtime")
        pending_rt = runtime.begin("DiskUsage", runtime_pb2.DiskUsageRequest())
        pending_im = images.begin("DiskUsage", images_pb2.DiskUsageRequest())
        return Usage(pending_im(), pending_rt())


def _share(part: int, total: int) -> str:
    """"1.2MB (50%)": the percentage only when there is a total (Go's integer division)."""
    return f"{human_size(part, 4)} ({part * 100 // total}%)" if total > 0 else human_size(part, 4)


def _active_container(c) -> bool:
    """diskUsageContainersContext.isActive: running, paused or restarting."""
    return c.state.running or c.state.paused or c.state.restarting


def builder_size(usage: Usage) -> int:
    """df.go's bsz: the records' sizes, shared ones not counted."""
    return sum(bc.size for bc in usage.images.build_cache if not bc.shared)


def summary_rows(usage: Usage) -> list[dict[str, str]]:
    """The four rows of the summary, as disk_usage.go computes them."""
    images = usage.images.images
    total = usage.images.layers_size
    used = sum(i.image.size - i.shared_size for i in images if i.containers > 0)
    containers = [c.container for c in usage.runtime.containers]
    rw = sum(c.size_rw for c in usage.runtime.containers)
    stopped_rw = sum(c.size_rw for c in usage.runtime.containers if not _active_container(c.container))
    sized = [v for v in usage.runtime.volumes if v.size != -1]
    volumes = sum(v.size for v in sized)
    unused = sum(v.size for v in sized if v.links == 0)
    cache = usage.images.build_cache
    bsz = builder_size(usage)
    in_use = sum(bc.size for bc in cache if bc.in_use and not bc.shared)
    return [
        {"Type": "Images", "TotalCount": str(len(images)), "Active": str(sum(1 for i in images if i.containers > 0)),
         "Size": human_size(total, 4), "Reclaimable": _share(total - used, total)},
        {"Type": "Containers", "TotalCount": str(len(containers)),
         "Active": str(sum(1 for c in containers if _active_container(c))), "Size": human_size(rw, 4),
         "Reclaimable": _share(stopped_rw, rw)},
        {"Type": "Local Volumes", "TotalCount": str(len(usage.runtime.volumes)),
         "Active": str(sum(1 for v in usage.runtime.volumes if v.links > 0)), "Size": human_size(volumes, 4),
         "Reclaimable": _share(unused, volumes)},
        {"Type": "Build Cache", "TotalCount": str(len(cache)), "Active": str(sum(1 for bc in cache if bc.in_use)),
         "Size": human_size(bsz, 4), "Reclaimable": human_size(bsz - in_use, 4)},
    ]


def summary_output(usage: Usage, fmt: str = "") -> str:
    """The summary in docker's table, or through ``fmt`` ("raw" is docker's raw layout)."""
    source = SUMMARY_FORMAT if fmt in ("", "table") else RAW_SUMMARY if fmt == "raw" else fmt
    rows = [(row, lambda _k: "") for row in summary_rows(usage)]
    return format_rows(source, "*formatter.diskUsageContainersContext", SUMMARY_HEADERS, rows)


def _truncate_id(text: str) -> str:
    """stringid.TruncateID: past any "algo:" prefix, 12 characters."""
    return text.partition(":")[2][:12] if ":" in text else text[:12]


def _image_row(u, now: float) -> dict[str, str]:
    from cli.images import familiar

    img = u.image
    repo, tag = familiar(img.repo_tags[0]) if img.repo_tags else ("<none>", "<none>")
    return {"Repository": repo, "Tag": tag, "ID": short_id(img.id),
            "CreatedSince": time_ago(parse_time(img.created), now) if img.created else "",
            "VirtualSize": human_size(img.size), "SharedSize": human_size(u.shared_size),
            "UniqueSize": human_size(img.size - u.shared_size), "Containers": str(u.containers)}


def _container_row(u) -> dict[str, str]:
    from cli.containers import ps_row

    row = ps_row(u.container)
    return {"ID": row["ID"], "Image": row["Image"], "Command": row["Command"], "LocalVolumes": str(u.local_volumes),
            "Size": human_size(u.size_rw), "RunningFor": row["RunningFor"], "Status": row["Status"],
            "Names": row["Names"]}


def _cache_row(bc, now: float) -> dict[str, str]:
    last = parse_time(bc.last_used)
    return {"ID": _truncate_id(bc.id) + ("*" if bc.in_use else ""), "CacheType": bc.cache_type,
            "Size": human_size(bc.size), "CreatedSince": time_ago(parse_time(bc.created), now),
            "LastUsedSince": time_ago(last, now) if last is not None else "", "UsageCount": str(bc.usage_count),
            "Shared": "true" if bc.shared else "false"}


def _cache_order(bc) -> tuple:
    """buildCacheSort: never used first, then by last use, then by id."""
    last = parse_time(bc.last_used)
    return (last is not None, last or 0.0, bc.id)


def verbose_output(usage: Usage, now: float | None = None) -> str:
    """``df -v``'s four sections."""
    now = time.time() if now is None else now

    def table(source: str, headers: dict[str, str], rows: list[dict[str, str]]) -> str:
        return format_rows(source, "", headers, [(r, lambda _k: "") for r in rows])

    images = table(IMAGES_FORMAT, IMAGES_HEADERS, [_image_row(u, now) for u in usage.images.images])
    containers = table(CONTAINERS_FORMAT, CONTAINERS_HEADERS, [_container_row(u) for u in usage.runtime.containers])
    volumes = table(VOLUMES_FORMAT, VOLUMES_HEADERS, [
        {"Name": v.name, "Links": str(v.links), "Size": human_size(v.size, 4) if v.size != -1 else "N/A"}
        for v in usage.runtime.volumes])
    cache = table(CACHE_FORMAT, CACHE_HEADERS,
                  [_cache_row(bc, now) for bc in sorted(usage.images.build_cache, key=_cache_order)])
    return ("Images space usage:\n\n" + images + "\nContainers space usage:\n\n" + containers
            + "\nLocal Volumes space usage:\n\n" + volumes
            + f"\nBuild cache usage: {human_size(builder_size(usage), 4)}\n\n" + cache)


@docker_status
def cmd_df(ctx, args) -> int:
    _check_args("barque system df", *USE, args.args, exactly=0)
    if args.verbose and args.format:
        raise CommandError("barque system df: --format with -v is not supported yet\n"
                           "See 'barque system df --help'.", FLAG_ERROR)
    usage = DiskUsageClient(ctx.config).usage()
    sys.stdout.write(verbose_output(usage) if args.verbose else summary_output(usage, args.format or ""))
    return 0


def system_group(sub):
    """The ``system`` command group cli/system.py made, found by name as ``system events`` finds it."""
    import argparse

    system = sub.choices["system"]
    return next(a for a in system._actions if isinstance(a, argparse._SubParsersAction))


def register(sub) -> None:
    """``system df``."""
    import argparse

    p = system_group(sub).add_parser("df", help=USE[1], usage=f"barque system {USE[0]}", description=USE[1])
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")
    p.add_argument("--format", default="", help="Pretty-print images using a Go template")
    p.set_defaults(func=cmd_df)
