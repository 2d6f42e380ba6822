"""``barque push`` beside docker 20.10 (Debian's, a private dockerd), podman 4.3
(private root and runroot) and skopeo, through the session's real registry:
what barque pushes, they pull and run the same; what they push, barque pulls
and runs; and barque's push output has docker's shape."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dockerd import EmptyDirs, PrivateDockerd, umount_under
from tests.support.engine import Engine

pytestmark = [pytest.mark.root, pytest.mark.integration]

MESSAGE = "pushed-by-barque"


class Podman:
    """podman with private storage (overlay, cgroupfs, runc); pull and push only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.flags = ["--root", str(root / "storage"), "--runroot", str(root / "run"), "--tmpdir",
                      str(root / "libpod"), "--storage-driver", "overlay", "--cgroup-manager=cgroupfs",
                      "--runtime=runc", "--events-backend", "file"]
        self.host_dirs = EmptyDirs("/run/containers", "/run/containers/networks")
        self.host_dirs.note()
        (root / "tmp").mkdir(parents=True)

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(["podman", *self.flags, *args], capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                             "TMPDIR": str(self.root / "tmp")})
        assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def close(self) -> None:
        umount_under(self.root)
        self.host_dirs.remove()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    pm = Podman(Path(tempfile.mkdtemp(prefix="bqtest-podman-push-")))
    try:
        yield pm
    finally:
        pm.close()
    assert not pm.root.exists()


@pytest.fixture(scope="module")
def pushed(barque: Engine, registry, test_images, tmp_path_factory) -> tuple[str, str]:
    """A busybox image barque built (a layer of its own) and pushed: (reference, digest)."""
    base = test_images["docker-gzip"].ref
    barque.ok("pull", base)
    ctx = tmp_path_factory.mktemp("ctx")
    (ctx / "Dockerfile").write_text(f'FROM {base}\nRUN echo {MESSAGE} > /hello\nCMD ["cat", "/hello"]\n')
    ref = f"{registry.host}/peers/barque-built:v1"
    barque.ok("build", "-q", "-t", ref, str(ctx))
    digest = barque.ok("push", ref).lines[-1].split()[2]
    return ref, digest


def _phases(lines: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in lines:
        lid, sep, phase = line.partition(": ")
        if sep and len(lid) == 12 and all(c in "0123456789abcdef" for c in lid):
            out.setdefault(lid, []).append(phase)
    return out


def test_docker_pulls_and_runs_what_barque_pushed(barque, private_docker: PrivateDockerd, pushed):
    ref, digest = pushed
    private_docker.cli("pull", ref)
    info = json.loads(private_docker.cli("image", "inspect", ref))[0]
    assert f"{ref.rsplit(':', 1)[0]}@{digest}" in info["RepoDigests"]
    ours = json.loads(barque.ok("image", "inspect", ref).stdout)[0]
    assert info["Id"] == ours["Id"] and info["RootFS"]["Layers"] == ours["RootFS"]["Layers"]
    theirs = private_docker.cli("run", "--rm", "--network", "none", ref)
    assert theirs == barque.ok("run", "--rm", ref).stdout == f"{MESSAGE}\n"


def test_podman_and_skopeo_read_what_barque_pushed(podman, pushed):
    ref, digest = pushed
    podman("pull", "--quiet", "--tls-verify=false", ref)
    assert digest in json.loads(podman("image", "inspect", ref))[0]["RepoDigests"][0]
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    assert json.loads(out)["Digest"] == digest


def test_barque_push_output_has_dockers_shape(barque, private_docker: PrivateDockerd, registry, pushed):
    """The same image pushed by both to new repositories, off a terminal."""
    ref, _ = pushed
    private_docker.cli("pull", ref)
    docker_ref, barque_ref = f"{registry.host}/peers/shape-docker:v1", f"{registry.host}/peers/shape-barque:v1"
    private_docker.cli("tag", ref, docker_ref)
    barque.ok("tag", ref, barque_ref)
    theirs = private_docker.cli("push", docker_ref).splitlines()
    ours = barque.ok("push", barque_ref).lines
    for lines, name in ((theirs, docker_ref), (ours, barque_ref)):
        assert lines[0] == f"The push refers to repository [{name.rsplit(':', 1)[0]}]"
        assert lines[-1].startswith("v1: digest: sha256:") and " size: " in lines[-1]
    # the same layers, listed by diff id, top first
    assert list(_phases(ours)) == list(_phases(theirs))
    for phases in (*_phases(ours).values(), *_phases(theirs).values()):
        assert phases[0] == "Preparing"
        assert phases[-1] in ("Pushed", "Layer already exists") or phases[-1].startswith("Mounted from ")
    missing = barque.cli("push", f"{registry.host}/peers/none")
    docker_missing = private_docker.cli_result("push", f"{registry.host}/peers/none")
    assert (missing.returncode, missing.stderr) == (docker_missing.returncode, docker_missing.stderr)
    assert missing.stdout == docker_missing.stdout


def test_barque_pulls_and_runs_what_docker_pushed(barque, private_docker: PrivateDockerd, registry, test_images,
                                                  tmp_path):
    base = test_images["docker-gzip"].ref
    private_docker.cli("pull", base)
    (tmp_path / "Dockerfile").write_text(f'FROM {base}\nRUN echo from-docker > /hello\nCMD ["cat", "/hello"]\n')
    ref = f"{registry.host}/peers/docker-built:v1"
    built = private_docker.build(tmp_path, ref)
    assert built.returncode == 0, built.stderr
    private_docker.cli("push", ref)
    barque.ok("pull", ref)
    assert barque.ok("run", "--rm", ref).stdout == "from-docker\n"


def test_barque_pulls_and_runs_what_podman_pushed(barque, podman, registry, test_images):
    base = test_images["oci-gzip"].ref
    ref = f"{registry.host}/peers/podman-pushed:v1"
    podman("pull", "--quiet", "--tls-verify=false", base)
    podman("tag", base, ref)
    podman("push", "--quiet", "--tls-verify=false", ref)
    barque.ok("pull", ref)
    assert barque.ok("run", "--rm", ref, "echo", "from-podman").stdout == "from-podman\n"
