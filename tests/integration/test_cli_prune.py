"""``image prune``, ``container prune`` and ``system prune`` with the real
services, and ``system df`` on the same store.

- ``image prune -a`` removes exactly the images no container uses: a
  running container's image and a stopped container's image stay (the
  stopped one's until ``container prune`` took the container), their
  blobs and snapshots too; what went is reported line by line (untagged,
  deleted image, deleted layers) with the bytes it freed;
- a declined prompt ("n") removes nothing and still prints docker's total;
  ``-f`` skips the prompt;
- ``image prune`` alone takes only dangling images (a commit's ``<none>``,
  an image pulled by digest, which an ``rmi`` meanwhile does not collect);
- filters: ``label=`` and ``label!=`` on images and containers, ``until=``
  on images (busybox is old, an import is new) and containers, and on
  networks;
- a build step's tagged image loses its tag to ``image prune -a`` and stays
  the build cache's, until ``builder prune``;
- ``system prune`` prompts with docker's list (and the filters), then prunes
  containers, networks, volumes (``--volumes``) and images in order;
- ``system df``'s numbers agree with the store: each image's shared plus
  unique size is its size, the layers' total is every snapshot counted
  once, ACTIVE counts the images containers use.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import time

import pytest

from barque.images.v1 import images_pb2
from barque.runtime.v1 import runtime_pb2

pytestmark = [pytest.mark.integration, pytest.mark.root]

TOTAL = re.compile(r"Total reclaimed space: (\d+(\.\d+)?)(B|kB|MB|GB)")


def _ids(eng) -> set[str]:
    return {i.id for i in _list(eng)}


def _list(eng) -> list[images_pb2.Image]:
    with eng.client("images") as images:
        return list(images.List(images_pb2.ListRequest()).images)


def _blobs(eng) -> set[str]:
    return {"sha256:" + p.name for p in (eng.state("images") / "content" / "blobs" / "sha256").iterdir()}


def _snapshots(eng) -> set[str]:
    return {"sha256:" + p.name for p in (eng.state("images") / "snapshots" / "snapshots").iterdir()}


def _disk_usage(top) -> int:
    """st_blocks * 512 of a tree, each inode once (du's count)."""
    seen, total = set(), 0
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [".", *dirnames, *filenames] if dirpath == str(top) else [*dirnames, *filenames]:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def _reclaimed(out: str) -> str:
    m = TOTAL.search(out)
    assert m, out
    return m.group(0)


def _df(eng):
    with eng.client("images") as images, eng.client("runtime") as rt:
        return (images.DiskUsage(images_pb2.DiskUsageRequest(), timeout=60),
                rt.DiskUsage(runtime_pb2.DiskUsageRequest(), timeout=60))


@pytest.fixture
def labelled(hand_built_image):
    return (hand_built_image("prune-a1", config={"Labels": {"a": "1"}}),
            hand_built_image("prune-a2", config={"Labels": {"a": "2"}}))


def test_image_prune_all_keeps_containers_images_and_df(fresh_rt_engine, test_images, labelled) -> None:
    eng = fresh_rt_engine
    busybox, layers = test_images["oci-gzip"].ref, test_images["layers"].ref
    stopped_image = labelled[0].ref
    for ref in (busybox, layers, stopped_image):
        eng.ok("pull", ref)
    running = eng.ok("run", "-d", busybox, "sleep", "300").stdout.strip()
    stopped = eng.ok("create", "--label", "keep=no", stopped_image, "true").stdout.strip()
    ids = {i.repo_tags[0]: i.id for i in _list(eng)}
    layers_id = next(i for n, i in ids.items() if n.endswith("test/layers:latest"))

    du, rtdu = _df(eng)
    by_id = {u.image.id: u for u in du.images}
    for u in du.images:
        assert u.shared_size + u.unique_size == u.image.size > 0
    assert by_id[layers_id].containers == 0 and by_id[labelled[0].config_digest].containers == 1
    assert sum(1 for u in du.images if u.containers > 0) == 2
    # every layer once: the three images share busybox's, so the total is below their sum
    assert max(u.image.size for u in du.images) <= du.layers_size < sum(u.image.size for u in du.images)
    assert du.layers_size == sum(_disk_usage(p / "fs") for p in (eng.state("images") / "snapshots" / "snapshots")
                                 .iterdir())  # the snapshots' blocks, counted here on their own
    assert du.content_size == sum(p.stat().st_size for p in (eng.state("images") / "content" / "blobs"
                                                             / "sha256").iterdir())
    assert {c.container.id for c in rtdu.containers} == {running, stopped}
    summary = eng.ok("system", "df").lines
    assert summary[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert summary[1].split()[:3] == ["Images", "3", "2"] and summary[2].split()[:3] == ["Containers", "2", "1"]
    assert summary[3].startswith("Local Volumes") and summary[4].startswith("Build Cache")

    declined = eng.cli("image", "prune", "-a", input="n\n")
    assert declined.returncode == 0
    assert declined.stdout == ("WARNING! This will remove all images without at least one container associated "
                               "to them.\nAre you sure you want to continue? [y/N] Total reclaimed space: 0B\n")
    assert layers_id in _ids(eng)

    layer_blobs = set(test_images["layers"].layer_digests)
    assert layer_blobs <= _blobs(eng)
    out = eng.ok("image", "prune", "-a", "-f").stdout
    lines = out.splitlines()
    assert lines[0] == "Deleted Images:"
    assert lines[1] == "untagged: " + layers
    assert f"deleted: {layers_id}" in lines
    assert lines[-2] == "" and lines[-1].startswith("Total reclaimed space: ") and lines[-1] != \
        "Total reclaimed space: 0B"
    assert _ids(eng) == {ids[n] for n in ids if not n.endswith("test/layers:latest")}
    assert not layer_blobs & _blobs(eng)  # the pruned image's layers are gone
    for layer in test_images["oci-gzip"].layer_digests:
        assert layer in _blobs(eng)  # the running container's image keeps its content

    out = eng.ok("container", "prune", "-f").stdout
    assert out.startswith(f"Deleted Containers:\n{stopped}\n\nTotal reclaimed space: ")
    assert eng.ok("ps", "-aq", "--no-trunc").lines == [running]
    out = eng.ok("image", "prune", "-a", "-f").stdout
    assert f"deleted: {labelled[0].config_digest}" in out.splitlines()
    assert _ids(eng) == {test_images["oci-gzip"].config_digest}
    assert eng.ok("image", "prune", "-a", "-f").stdout == "Total reclaimed space: 0B\n"
    eng.ok("rm", "-f", running)

    # system df -v on what is left: busybox, and a container that wrote 3 kB beside a 5 kB volume
    eng.ok("run", "-v", "dfvol:/data", busybox, "sh", "-c", "head -c 5000 /dev/zero > /data/f; "
           "head -c 3000 /dev/zero > /root.bin")
    out = eng.ok("system", "df", "-v").stdout
    parts = out.split("\n\n")
    assert parts[0] == "Images space usage:"
    images = parts[1].splitlines()
    assert images[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE", "SHARED", "SIZE",
                                 "UNIQUE", "SIZE", "CONTAINERS"]
    row = images[1].split()
    assert row[0] == busybox.rsplit(":", 1)[0] and row[1] == "oci-gzip" and row[-1] == "1"
    assert parts[2].startswith("Containers space usage:")
    containers = parts[3].splitlines()
    assert containers[0].split()[:4] == ["CONTAINER", "ID", "IMAGE", "COMMAND"]
    assert containers[1].split()[0] == eng.ok("ps", "-aq").lines[0] and " 1 " in containers[1]
    assert "3kB" in containers[1], containers[1]
    assert parts[4] == "Local Volumes space usage:"
    assert parts[5].splitlines()[0].split() == ["VOLUME", "NAME", "LINKS", "SIZE"]
    assert parts[5].splitlines()[1].split() == ["dfvol", "1", "5kB"]
    assert parts[6].startswith("Build cache usage: 0B")
    assert parts[7].split() == ["CACHE", "ID", "CACHE", "TYPE", "SIZE", "CREATED", "LAST", "USED", "USAGE", "SHARED"]
    fmt = eng.ok("system", "df", "--format", "{{.Type}}: {{.TotalCount}} {{.Active}}").lines
    assert fmt == ["Images: 1 1", "Containers: 1 0", "Local Volumes: 1 1", "Build Cache: 0 0"]
    eng.ok("container", "prune", "-f")
    eng.ok("volume", "rm", "dfvol")


def test_dangling_and_filters(fresh_rt_engine, test_images, labelled) -> None:
    eng = fresh_rt_engine
    busybox = test_images["oci-gzip"].ref
    for ref in (busybox, labelled[0].ref, labelled[1].ref):
        eng.ok("pull", ref)
    cid = eng.ok("create", busybox, "true").stdout.strip()
    dangling = eng.ok("commit", cid).stdout.strip()  # a <none> image
    eng.ok("rm", cid)
    layers = test_images["layers"]
    by_digest = layers.ref.rsplit(":", 1)[0] + "@" + layers.manifest_digest
    eng.ok("pull", by_digest)  # no tag: dangling for prune, yet an image nothing else may collect
    eng.ok("rmi", labelled[1].ref)  # a collection meanwhile keeps it
    assert layers.config_digest in _ids(eng)
    lines = eng.ok("image", "prune", "-f").stdout.splitlines()
    assert lines[0] == "Deleted Images:" and f"deleted: {dangling}" in lines
    assert f"untagged: {by_digest}" in lines and f"deleted: {layers.config_digest}" in lines
    assert lines.index(f"untagged: {by_digest}") < lines.index(f"deleted: {layers.config_digest}")
    assert dangling not in _ids(eng) and test_images["oci-gzip"].config_digest in _ids(eng)
    eng.ok("pull", labelled[1].ref)
    assert eng.ok("image", "prune", "-f").stdout == "Total reclaimed space: 0B\n"

    out = eng.ok("image", "prune", "-a", "-f", "--filter", "label=a=1").stdout
    assert f"deleted: {labelled[0].config_digest}" in out and labelled[1].config_digest not in out
    out = eng.ok("image", "prune", "-a", "-f", "--filter", "label!=a").stdout
    assert f"deleted: {test_images['oci-gzip'].config_digest}" in out and labelled[1].config_digest not in out
    assert _ids(eng) == {labelled[1].config_digest}

    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        info = tarfile.TarInfo("hello")
        info.size = 3
        t.addfile(info, io.BytesIO(b"hi\n"))
    eng.ok("pull", busybox)
    new = eng.ok("import", "-", "fresh:1", input=tar.getvalue().decode("latin-1")).stdout.strip()
    with eng.client("images") as images:  # a build step, tagged: the build cache holds it
        cached = images.Commit(images_pb2.CommitRequest(
            parent=test_images["oci-gzip"].config_digest, empty_layer=True, cache_key="prune-k1",
            reference="cached:1", config_json=b'{"Cmd":["sh"]}', created_by="#(nop) CMD"), timeout=60).image.id
        assert [c.in_use for c in images.DiskUsage(images_pb2.DiskUsageRequest()).build_cache] == [True]
    out = eng.ok("image", "prune", "-a", "-f", "--filter", "until=1h").stdout  # busybox was built long ago
    assert f"deleted: {test_images['oci-gzip'].config_digest}" in out and new not in out and cached not in out
    out = eng.ok("image", "prune", "-a", "-f").stdout
    assert "untagged: fresh:1" in out.splitlines() and f"deleted: {new}" in out.splitlines()
    assert "untagged: cached:1" in out.splitlines() and cached not in out  # untagged only: the cache's now
    assert _ids(eng) == {cached}
    assert eng.ok("builder", "prune", "-f").stdout.startswith("Deleted build cache objects:\n")
    assert _ids(eng) == set() and _snapshots(eng) == set()

    a = eng.ok("create", "--label", "x=1", busybox, "true").stdout.strip()
    b = eng.ok("create", "--label", "x=2", busybox, "true").stdout.strip()
    assert eng.ok("container", "prune", "-f", "--filter", "until=1h").stdout == "Total reclaimed space: 0B\n"
    out = eng.ok("container", "prune", "-f", "--filter", "label=x=1").stdout
    assert out.startswith(f"Deleted Containers:\n{a}\n\n")
    bad = eng.cli("container", "prune", "-f", "--filter", "nope=1")
    assert bad.returncode == 1 and bad.stderr == "Error response from daemon: Invalid filter 'nope'\n"  # docker's
    bad = eng.cli("image", "prune", "-f", "--filter", "until=yesterday")
    assert bad.returncode == 1 and bad.stderr == \
        'Error response from daemon: failed to parse value as time or duration: "yesterday"\n'  # docker's
    assert eng.ok("ps", "-aq", "--no-trunc").lines == [b]
    eng.ok("rm", b)


def test_system_prune(fresh_rt_engine, test_images) -> None:
    eng = fresh_rt_engine
    busybox, layers = test_images["oci-gzip"].ref, test_images["layers"].ref
    eng.ok("pull", busybox)
    eng.ok("pull", layers)
    cid = eng.ok("create", busybox, "true").stdout.strip()
    eng.ok("network", "create", "prunenet")
    eng.ok("network", "create", "--label", "keep=1", "keptnet")
    assert eng.ok("network", "prune", "-f", "--filter", "until=1h").stdout == ""  # both are new
    eng.ok("volume", "create", "prunevol")
    warning = ("WARNING! This will remove:\n  - all stopped containers\n"
               "  - all networks not used by at least one container\n"
               "  - all volumes not used by at least one container\n"
               "  - all images without at least one container associated to them\n"
               "  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label!=keep\n\n"
               "Are you sure you want to continue? [y/N] ")
    declined = eng.cli("system", "prune", "-a", "--volumes", "--filter", "label!=keep", input="n\n")
    assert declined.returncode == 0 and declined.stdout == warning
    assert eng.ok("ps", "-aq").lines and "prunevol" in eng.ok("volume", "ls", "-q").lines

    out = eng.ok("system", "prune", "-a", "--volumes", "--filter", "label!=keep", input="y\n").stdout
    assert out.startswith(warning)
    body = out[len(warning):]
    sections = [s.split("\n", 1)[0] for s in body.split("\n\n") if s]
    assert sections[:4] == ["Deleted Containers:", "Deleted Networks:", "Deleted Volumes:", "Deleted Images:"], body
    assert f"Deleted Containers:\n{cid}\n" in body and "Deleted Networks:\nprunenet\n" in body
    assert "Deleted Volumes:\nprunevol\n" in body
    assert body.splitlines()[-1] != "Total reclaimed space: 0B" and _reclaimed(body)
    assert eng.ok("ps", "-aq").lines == [] and _ids(eng) == set() and _snapshots(eng) == set()
    assert "prunenet" not in eng.ok("network", "ls").stdout
    assert eng.ok("network", "prune", "-f", "--filter", "label!=keep").stdout == ""
    assert eng.ok("network", "prune", "-f", "--filter", "label=keep=1").stdout == "Deleted Networks:\nkeptnet\n\n"
    filtered = eng.cli("system", "prune", "-f", "--volumes", "--filter", "until=1h")
    assert filtered.returncode == 1 and filtered.stderr.strip() == \
        'ERROR: The "until" filter is not supported with "--volumes"'
    prompt = eng.cli("system", "prune", "--filter", "label=a", input="n\n").stdout
    assert prompt == ("WARNING! This will remove:\n  - all stopped containers\n"
                      "  - all networks not used by at least one container\n  - all dangling images\n"
                      "  - all dangling build cache\n\n  Items to be pruned will be filtered with:\n  - label=a\n\n"
                      "Are you sure you want to continue? [y/N] ")


def test_a_held_lease_keeps_images_from_prunes(fresh_rt_engine, test_images) -> None:
    """What a build does between its steps: the images it named on its lease
    (a step only the build cache holds, a tagged one) survive builder prune
    and image prune -a; once the lease ends the next prune takes them."""
    from cli.leases import LeaseHolder

    eng = fresh_rt_engine
    eng.ok("pull", test_images["oci-gzip"].ref)
    with eng.client("images") as images:
        step = images.Commit(images_pb2.CommitRequest(
            parent=test_images["oci-gzip"].config_digest, empty_layer=True, cache_key="lease-k1",
            config_json=b'{"Cmd":["sh"]}', created_by="#(nop) CMD"), timeout=60).image.id
        lease = LeaseHolder(images, "build")
        assert lease.hold(step, test_images["oci-gzip"].ref, "no/such:image") == [
            step, test_images["oci-gzip"].config_digest]
        assert eng.ok("builder", "prune", "-f").stdout == "Total reclaimed space: 0B\n"
        assert eng.ok("image", "prune", "-a", "-f").stdout == "Total reclaimed space: 0B\n"
        assert _ids(eng) == {step, test_images["oci-gzip"].config_digest}
        lease.close()
        deadline = time.monotonic() + 10
        while _ids(eng) and time.monotonic() < deadline:
            eng.ok("image", "prune", "-a", "-f")  # the lease ends once the server sees the stream close
        assert _ids(eng) == set() and _snapshots(eng) == set()
