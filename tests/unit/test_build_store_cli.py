"""Pure parts of build's store side: the scratch config, a commit request's
checks (refused before the store is touched), ``images``' hiding of
intermediate images, and ``builder prune``'s output."""

from __future__ import annotations

import os

import pytest

from barque.images.v1 import images_pb2
from cli.builder import ALL_WARNING, DANGLING_WARNING, prune_output
from cli.images import visible_images
from cli.main import build_parser
from client.errors import InvalidArgument
from client.version import go_arch
from services.images.commit import CommitSpec, commit_snapshot, scratch_config


def test_scratch_config_is_what_docker_writes_for_from_scratch() -> None:
    assert scratch_config() == {
        "architecture": go_arch(os.uname().machine), "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


@pytest.mark.parametrize("spec, message", [
    (CommitSpec(key="", parent=""), "snapshot key is required"),
    (CommitSpec(key="", parent="", empty_layer=True, created_nanos=-1), "created_nanos"),
    (CommitSpec(key="c", parent="", clamp_mtime=-5), "clamp_mtime"),
    (CommitSpec(key="", parent="", empty_layer=True, cache_key="k" * 1025), "cache key longer"),
])
def test_bad_commit_requests_are_refused_first(spec: CommitSpec, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        commit_snapshot(None, spec)  # type: ignore[arg-type]  # never reached


def _image(id_: str, parent: str = "", tags: tuple[str, ...] = (), digests: tuple[str, ...] = ()):
    return images_pb2.Image(id=id_, parent=parent, repo_tags=tags, repo_digests=digests)


def test_untagged_parents_are_hidden_unless_all() -> None:
    base = _image("sha256:a")                         # untagged parent: an intermediate step
    mid = _image("sha256:b", parent="sha256:a")       # untagged parent too
    top = _image("sha256:c", parent="sha256:b", tags=("docker.io/library/app:1",))
    dangling = _image("sha256:d", parent="sha256:a")  # untagged, no child: shown as <none>
    pulled = _image("sha256:e", digests=("docker.io/library/x@sha256:f",))
    tagged_parent = _image("sha256:f", tags=("docker.io/library/base:1",))
    child = _image("sha256:g", parent="sha256:f", tags=("docker.io/library/child:1",))
    images = [base, mid, top, dangling, pulled, tagged_parent, child]
    assert [i.id for i in visible_images(images, False)] == ["sha256:c", "sha256:d", "sha256:e", "sha256:f",
                                                              "sha256:g"]
    assert visible_images(images, True) == images


def test_prune_output_as_docker_cli() -> None:
    resp = images_pb2.PruneBuildCacheResponse(entries=2, deleted=["sha256:a", "sha256:b"], reclaimed_bytes=12345)
    assert prune_output(resp) == ("Deleted build cache objects:\nsha256:a\nsha256:b\n\n"
                                  "Total reclaimed space: 12.35kB\n")
    assert prune_output(images_pb2.PruneBuildCacheResponse(entries=1)) == "Total reclaimed space: 0B\n"
    assert prune_output(None) == "Total reclaimed space: 0B\n"
    assert DANGLING_WARNING.startswith("WARNING! This will remove all dangling build cache.")
    assert ALL_WARNING == "WARNING! This will remove all build cache. Are you sure you want to continue?"


def test_builder_prune_flags() -> None:
    args = build_parser().parse_args(["builder", "prune", "-a", "-f", "--filter", "until=24h"])
    assert (args.all, args.force, args.filter) == (True, True, ["until=24h"])
    args = build_parser().parse_args(["images", "-a"])
    assert args.all
