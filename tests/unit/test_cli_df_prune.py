"""Pure logic of disk usage and pruning: ``system df``'s summary and ``-v``
layout over made-up responses, the prunes' output, ``system prune``'s
prompt, the shared prune filters (durations, times, labels), and leases."""

from __future__ import annotations

import re
import threading

import pytest

from barque.images.v1 import images_pb2
from barque.runtime.v1 import runtime_pb2
from cli.df import Usage, summary_output, summary_rows, verbose_output
from cli.prune import container_prune_output, image_prune_output, system_warning
from client.errors import InvalidArgument
from services.common.prunefilter import PruneFilter, parse_until
from services.images.leases import MTIME_SLACK_NS, Leases, current, leased, protect

NOW = 1_700_000_000.0


def _usage() -> Usage:
    img = images_pb2.Image(id="sha256:" + "a" * 64, repo_tags=["docker.io/library/busybox:latest"],
                           created="2023-11-14T22:13:20Z", size=2_000_000)
    other = images_pb2.Image(id="sha256:" + "b" * 64, created="", size=1_000_000)
    images = images_pb2.DiskUsageResponse(
        images=[images_pb2.ImageUsage(image=img, shared_size=500_000, unique_size=1_500_000, containers=1),
                images_pb2.ImageUsage(image=other, shared_size=500_000, unique_size=500_000, containers=0)],
        layers_size=2_500_000,
        build_cache=[images_pb2.BuildCacheUsage(id="sha256:" + "c" * 64, cache_type="regular", size=3000,
                                                created="2023-11-14T22:13:20Z", usage_count=1, in_use=False,
                                                shared=False),
                     images_pb2.BuildCacheUsage(id="sha256:" + "d" * 64, cache_type="regular", size=7000,
                                                created="2023-11-14T22:13:20Z", usage_count=1, in_use=True,
                                                shared=True)])
    running = runtime_pb2.Container(id="e" * 64, name="web", args=["sleep", "300"],
                                    config=runtime_pb2.ContainerConfig(image="busybox"),
                                    state=runtime_pb2.ContainerState(running=True, status="running"))
    stopped = runtime_pb2.Container(id="f" * 64, name="old", args=["true"],
                                    config=runtime_pb2.ContainerConfig(image="busybox"),
                                    state=runtime_pb2.ContainerState(status="exited"))
    runtime = runtime_pb2.DiskUsageResponse(
        containers=[runtime_pb2.ContainerUsage(container=running, size_rw=100, local_volumes=1),
                    runtime_pb2.ContainerUsage(container=stopped, size_rw=300)],
        volumes=[runtime_pb2.VolumeUsage(name="used", links=1, size=5000),
                 runtime_pb2.VolumeUsage(name="free", links=0, size=15000),
                 runtime_pb2.VolumeUsage(name="mounted", links=0, size=-1)])
    return Usage(images, runtime)


def test_summary_rows_as_docker_computes_them() -> None:
    rows = summary_rows(_usage())
    assert rows[0] == {"Type": "Images", "TotalCount": "2", "Active": "1", "Size": "2.5MB",
                       "Reclaimable": "1MB (40%)"}  # 2.5MB less the used image's 2MB - 0.5MB shared
    assert rows[1] == {"Type": "Containers", "TotalCount": "2", "Active": "1", "Size": "400B",
                       "Reclaimable": "300B (75%)"}
    assert rows[2] == {"Type": "Local Volumes", "TotalCount": "3", "Active": "1", "Size": "20kB",
                       "Reclaimable": "15kB (75%)"}
    assert rows[3] == {"Type": "Build Cache", "TotalCount": "2", "Active": "1", "Size": "3kB",
                       "Reclaimable": "3kB"}  # the shared record is not counted


def test_summary_table_and_formats() -> None:
    assert summary_output(_usage()) == (
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"
        "Images          2         1         2.5MB     1MB (40%)\n"
        "Containers      2         1         400B      300B (75%)\n"
        "Local Volumes   3         1         20kB      15kB (75%)\n"
        "Build Cache     2         1         3kB       3kB\n")
    assert summary_output(_usage(), "{{.Type}}={{.Size}}").splitlines()[0] == "Images=2.5MB"
    raw = summary_output(_usage(), "raw")
    assert raw.startswith("type: Images\ntotal: 2\nactive: 1\nsize: 2.5MB\nreclaimable: 1MB (40%)\n")
    empty = Usage(images_pb2.DiskUsageResponse(), runtime_pb2.DiskUsageResponse())
    assert summary_output(empty).splitlines()[1].split() == ["Images", "0", "0", "0B", "0B"]


def test_verbose_layout() -> None:
    out = verbose_output(_usage(), now=NOW + 3600)
    sections = out.split("\n\n")
    assert sections[0] == "Images space usage:"
    assert sections[1].splitlines() == [
        "REPOSITORY   TAG       IMAGE ID       CREATED             SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS",
        "busybox      latest    aaaaaaaaaaaa   About an hour ago   2MB       500kB         1.5MB         1",
        "<none>       <none>    bbbbbbbbbbbb                       1MB       500kB         500kB         0",
    ]
    assert sections[2] == "Containers space usage:"
    header, first, second = sections[3].splitlines()
    assert re.split(r"\s{2,}", header) == ["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED",
                                           "STATUS", "NAMES"]
    assert re.split(r"\s{2,}", first)[:5] == ["eeeeeeeeeeee", "busybox", '"sleep 300"', "1", "100B"]
    assert second.startswith("ffffffffffff") and "Exited (0)" in second
    assert sections[4] == "Local Volumes space usage:"
    assert sections[5].splitlines() == ["VOLUME NAME   LINKS     SIZE", "used          1         5kB",
                                        "free          0         15kB", "mounted       0         N/A"]
    assert sections[6] == "Build cache usage: 3kB"
    cache = sections[7].splitlines()
    assert re.split(r"\s{2,}", cache[0]) == ["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE",
                                             "SHARED"]
    assert cache[1].split()[:3] == ["cccccccccccc", "regular", "3kB"]
    assert cache[2].split()[0] == "dddddddddddd*" and cache[2].split()[-1] == "true"
    assert out.endswith("\n")


def test_prune_outputs() -> None:
    assert image_prune_output(None) == (0, "")
    assert image_prune_output(images_pb2.PruneImagesResponse(space_reclaimed=5)) == (0, "")
    resp = images_pb2.PruneImagesResponse(deleted=[
        images_pb2.ImageDeleteEntry(untagged="busybox:latest"),
        images_pb2.ImageDeleteEntry(deleted="sha256:" + "a" * 64)], space_reclaimed=1234)
    assert image_prune_output(resp) == (1234, "Deleted Images:\nuntagged: busybox:latest\n"
                                              f"deleted: sha256:{'a' * 64}\n")
    resp2 = runtime_pb2.PruneContainersResponse(deleted=["x" * 64], space_reclaimed=12)
    assert container_prune_output(resp2) == (12, f"Deleted Containers:\n{'x' * 64}\n")


def test_system_warning() -> None:
    assert system_warning(False, False, []) == (
        "WARNING! This will remove:\n  - all stopped containers\n"
        "  - all networks not used by at least one container\n  - all dangling images\n"
        "  - all dangling build cache\n\nAre you sure you want to continue?")
    text = system_warning(True, True, ["until=24h", "label=b", "label!=a", "label=a10", "label=a9"])
    assert text.endswith("  - all images without at least one container associated to them\n  - all build cache\n\n"
                         "  Items to be pruned will be filtered with:\n  - label!=a\n  - label=a9\n"
                         "  - label=a10\n  - label=b\n  - until=24h\n\nAre you sure you want to continue?")
    assert "  - all volumes not used by at least one container\n" in text


def test_prune_filter_until_forms() -> None:
    assert parse_until("24h", NOW) == NOW - 86400
    assert parse_until("1h30m", NOW) == NOW - 5400
    assert parse_until("90s", NOW) == NOW - 90
    assert parse_until("1.5h", NOW) == NOW - 5400
    assert parse_until("2023-11-14T22:13:20Z", NOW) == NOW
    assert parse_until("2023-11-14T23:13:20+01:00", NOW) == NOW
    assert parse_until("2023-11-14", NOW) == NOW - (22 * 3600 + 13 * 60 + 20)
    assert parse_until("1700000000.5", NOW) == NOW + 0.5
    for bad in ("yesterday", "10x", "", "h"):
        with pytest.raises(InvalidArgument):
            parse_until(bad, NOW)


def test_prune_filter_labels_and_keys() -> None:
    f = PruneFilter.parse(["label=a", "label=b=2", "label!=c"])
    assert f.include(None, {"a": "", "b": "2"})
    assert not f.include(None, {"a": "", "b": "3"})
    assert not f.include(None, {"a": "", "b": "2", "c": "x"})
    both = PruneFilter.parse(["label!=c", "label!=d=1"])  # excluded only when every label! matches
    assert both.include(None, {"c": "1"}) and not both.include(None, {"c": "1", "d": "1"})
    until = PruneFilter.parse(["until=1h"], now=NOW)
    assert until.include(NOW - 7200, {}) and not until.include(NOW - 60, {}) and not until.include(None, {})
    with pytest.raises(InvalidArgument, match="Invalid filter 'dangling'"):
        PruneFilter.parse(["dangling=true"])
    assert PruneFilter.parse(["dangling=false"], ("dangling", "until")).extra == {"dangling": ["false"]}
    with pytest.raises(InvalidArgument, match="bad format"):
        PruneFilter.parse(["label"])


class _Store:
    def __init__(self) -> None:
        self.leases = Leases()


def test_leases_protect_while_held_and_reach_worker_threads() -> None:
    import contextvars

    store = _Store()
    seen: list[set[str]] = []

    @leased("pull")
    def pull(s: _Store):
        protect("sha256:one")
        yield 1

        def worker() -> None:
            protect("sha256:two")  # a worker started with the caller's context sees the lease

        t = threading.Thread(target=contextvars.copy_context().run, args=(worker,))
        t.start()
        t.join()
        seen.append(s.leases.protected())
        yield 2

    assert store.leases.oldest_ns() is None
    gen = pull(store)
    next(gen)
    assert store.leases.protected() == {"sha256:one"} and store.leases.held() == ["pull"]
    assert store.leases.oldest_ns() is not None
    list(gen)
    assert seen == [{"sha256:one", "sha256:two"}]
    assert store.leases.protected() == set() and store.leases.oldest_ns() is None and current() is None


def test_leases_nest_and_end_on_errors() -> None:
    store = _Store()

    @leased("commit")
    def inner(s: _Store) -> int:
        protect("sha256:x")
        return len(s.leases.held())

    @leased("build")
    def outer(s: _Store) -> int:
        return inner(s)

    assert outer(store) == 1  # the inner operation shares the outer lease
    with pytest.raises(RuntimeError):
        with store.leases.hold("load") as lease:
            assert lease.started_ns - MTIME_SLACK_NS == store.leases.oldest_ns()
            raise RuntimeError("boom")
    assert store.leases.held() == [] and protect("sha256:y") is None


def test_an_abandoned_lease_stops_holding_back_new_writes(monkeypatch) -> None:
    import services.images.leases as leases

    store = _Store()
    with store.leases.hold("pull") as lease:
        lease.protect("sha256:z")
        assert store.leases.oldest_ns() is not None
        monkeypatch.setattr(leases, "MAX_AGE_NS", 0)
        assert store.leases.oldest_ns() is None  # expired: new writes are no longer kept for it
        assert store.leases.protected() == {"sha256:z"}  # what it named still is


def test_build_cache_prune_filters() -> None:
    import time

    from services.images.buildcache import _older_than

    assert _older_than([]) is None
    assert _older_than(["label=a", "label!=b"]) is None  # read and ignored, as moby's cache does
    at = _older_than(["until=1h", "unused-for=2h"])
    assert at is not None and abs(at - (time.time() - 7200)) < 5  # the earliest: the fewest go
    with pytest.raises(InvalidArgument, match="'parent' is not supported"):
        _older_than(["parent=x"])
