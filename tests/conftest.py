"""Session fixtures shared by every test tier: real registries and pushed test images.

Each registry is Debian's ``docker-registry`` started as a process under its own
temp dir; teardown stops it by PID, checks it is gone and removes the dir.
``test_images`` pushes the image set once per session (see its docstring).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.imagespec import MediaType
from tests.support import layers
from tests.support.baseimages import push_debian_gcc
from tests.support.dockerd import PrivateDockerd
from tests.support.images import (
    PushedImage,
    busybox_layout,
    describe,
    layout_config,
    layout_layers,
    push_image,
    push_index,
    skopeo_push,
)
from tests.support.registry import Registry, start_registry

__all__ = [
    "AUTH_USER",
    "AUTH_PASSWORD",
    "registry",
    "auth_registry",
    "schema1_registry",
    "images_workdir",
    "busybox_oci_layout",
    "test_images",
    "debian_gcc_image",
    "base_images",
    "private_docker",
]

AUTH_USER = "barque"
AUTH_PASSWORD = "s3cret"


def _serve_registry(prefix: str, username: str | None = None, password: str | None = None,
                    schema1: bool = False) -> Iterator[Registry]:
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        reg = start_registry(workdir, username=username, password=password, schema1=schema1)
        try:
            yield reg
        finally:
            reg.stop()
            # stop() waits on the PID; a registry still running here would leak.
            assert reg.proc.poll() is not None, f"registry pid {reg.proc.pid} still running"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert not workdir.exists(), f"registry dir {workdir} left behind"


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """A plain (no auth, http) registry for the whole session."""
    yield from _serve_registry("barque-registry-")


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    """A registry requiring basic auth as ``AUTH_USER``/``AUTH_PASSWORD``."""
    yield from _serve_registry("barque-auth-registry-", AUTH_USER, AUTH_PASSWORD)


@pytest.fixture(scope="session")
def schema1_registry() -> Iterator[Registry]:
    """A plain registry that also accepts signed Docker schema1 pushes (off by default)."""
    yield from _serve_registry("barque-schema1-registry-", schema1=True)


@pytest.fixture(scope="session")
def images_workdir() -> Iterator[Path]:
    """A session temp dir for built image layouts, removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="barque-images-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_oci_layout(images_workdir: Path) -> Path:
    """The umoci-built busybox OCI layout (tag ``latest``); built once per session, as root."""
    if os.geteuid() != 0:
        pytest.skip("the busybox test image is built with umoci unpack/repack, which needs root")
    return busybox_layout(images_workdir)


@pytest.fixture(scope="session")
def test_images(registry: Registry, auth_registry: Registry, busybox_oci_layout: Path) -> dict[str, PushedImage]:
    """The session's test images, pushed once, by name.

    * ``oci-gzip``, ``docker-gzip``, ``oci-zstd``: the busybox image pushed by
      skopeo as ``test/busybox:<name>`` (OCI/gzip, Docker v2s2/gzip, OCI/zstd).
    * ``multi-platform``: ``test/multi:latest``, an OCI index: linux/amd64 is
      the busybox image, linux/arm64 a one-layer image holding
      ``etc/barque-marker`` = ``linux/arm64``.
    * ``docker-multi``: ``test/docker-multi:latest``, the same shape as a Docker
      manifest list of v2s2 manifests.
    * ``layers``: ``test/layers:latest``, the benign hand-built layers in
      order base, whiteout, hardlink, setuid, xattr, device (no shell).
    * ``big``: ``test/big:latest``, busybox plus a 40 MiB incompressible layer
      (``big/random``), with the busybox config (``sh``, PATH).
    * ``auth``: busybox as ``test/busybox:auth`` on ``auth_registry`` only.

    Index entries carry their children in ``PushedImage.platforms``.
    """
    src = f"oci:{busybox_oci_layout}:latest"
    images: dict[str, PushedImage] = {
        "oci-gzip": skopeo_push(src, registry, "test/busybox:oci-gzip", format="oci"),
        "docker-gzip": skopeo_push(src, registry, "test/busybox:docker-gzip", format="v2s2"),
        "oci-zstd": skopeo_push(src, registry, "test/busybox:oci-zstd", format="oci", compress="zstd"),
    }

    arm_oci = push_image(registry, "test/multi", "arm64", [layers.marker_layer("linux/arm64")],
                         architecture="arm64")
    push_index(registry, "test/multi", "latest", [
        (images["oci-gzip"], {"os": "linux", "architecture": "amd64"}),
        (arm_oci, {"os": "linux", "architecture": "arm64"}),
    ])
    images["multi-platform"] = describe(registry, "test/multi", "latest")

    arm_docker = push_image(registry, "test/docker-multi", "arm64", [layers.marker_layer("linux/arm64")],
                            manifest_media_type=MediaType.DOCKER_MANIFEST, architecture="arm64")
    push_index(registry, "test/docker-multi", "latest", [
        (images["docker-gzip"], {"os": "linux", "architecture": "amd64"}),
        (arm_docker, {"os": "linux", "architecture": "arm64"}),
    ], media_type=MediaType.DOCKER_LIST)
    images["docker-multi"] = describe(registry, "test/docker-multi", "latest")

    images["layers"] = push_image(registry, "test/layers", "latest", [
        layers.base_layer(), layers.whiteout_layer(), layers.hardlink_layer(),
        layers.setuid_layer(), layers.xattr_layer(), layers.device_layer(),
    ])

    busybox_config = {k: v for k, v in layout_config(busybox_oci_layout).items() if k not in ("rootfs", "history")}
    images["big"] = push_image(registry, "test/big", "latest",
                               [*layout_layers(busybox_oci_layout), layers.big_layer(40)], config=busybox_config)

    images["auth"] = skopeo_push(src, auth_registry, "test/busybox:auth", format="oci")
    return images


@pytest.fixture(scope="session")
def debian_gcc_image(registry: Registry) -> PushedImage:
    """``<registry>/library/debian:bookworm-gcc``: debootstrap minbase with gcc and
    libc6-dev, one layer, Debian's config (tests/support/baseimages.py). Built once
    per machine and cached (.ci/run starts the build early in the background; this
    waits for it or builds it), then pushed to the session registry."""
    if os.geteuid() != 0:
        pytest.skip("the Debian base image is built with debootstrap, which needs root")
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (apt-get install -y debootstrap)")
    return push_debian_gcc(registry)


@pytest.fixture(scope="session")
def base_images(test_images: dict[str, PushedImage], debian_gcc_image: PushedImage) -> dict[str, PushedImage]:
    """The build tests' bases by name: ``busybox`` (the session's busybox,
    Docker v2s2) and ``debian-gcc`` (:func:`debian_gcc_image`)."""
    return {"busybox": test_images["docker-gzip"], "debian-gcc": debian_gcc_image}


@pytest.fixture(scope="session")
def private_docker() -> Iterator[PrivateDockerd]:
    """Debian's dockerd 20.10 of this session alone (tests/support/dockerd.py): its
    socket, data root and exec root under a temp dir, no bridge, no iptables;
    stopped by PID and removed at the end. ``.cli(*args)``, ``.build(...)``."""
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    missing = PrivateDockerd.available()
    if missing:
        pytest.skip(missing)
    docker = PrivateDockerd(Path(tempfile.mkdtemp(prefix="bqtest-dockerd-")))
    try:
        docker.setup()
        yield docker
    finally:
        docker.close()
    assert not docker.root.exists(), f"private dockerd dir {docker.root} left behind"


def pytest_collection_modifyitems(config, items):
    """"Needs root" is written one way: ``@pytest.mark.root`` (or a module's
    ``pytestmark``). Run unprivileged, those tests are skipped, never failed.
    tests/unit is pure logic: a root-marked test there is refused, it belongs
    in tests/kernel."""
    unit = Path(__file__).resolve().parent / "unit"
    misplaced = [item.nodeid for item in items
                 if item.get_closest_marker("root") is not None and unit in Path(str(item.path)).resolve().parents]
    if misplaced:
        raise pytest.UsageError(f"tests/unit is pure logic; move these to tests/kernel: {misplaced}")
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (namespaces, mounts, cgroups, device nodes, ownership)")
    for item in items:
        if item.get_closest_marker("root") is not None:
            item.add_marker(skip)
