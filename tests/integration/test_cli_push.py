"""``barque push`` end to end: the CLI, the image-store and the registry-proxy
as processes, the real docker-registry (plain and htpasswd), and skopeo to
read back what was pushed. Docker and podman reading it are in
tests/peers/test_push_peers.py."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import AUTH_PASSWORD, AUTH_USER
from tests.support.engine import REPO
from tests.support.images import RegistryClient

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _layer_lines(lines: list[str]) -> dict[str, list[str]]:
    """Each layer's phases in order: {"5f70bf18a086": ["Preparing", "Pushed"]}."""
    out: dict[str, list[str]] = {}
    for line in lines:
        lid, sep, phase = line.partition(": ")
        if sep and len(lid) == 12 and all(c in "0123456789abcdef" for c in lid):
            out.setdefault(lid, []).append(phase)
    return out


def _skopeo_digest(ref: str) -> str:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"],
                         capture_output=True, check=True, timeout=120).stdout
    return "sha256:" + hashlib.sha256(out).hexdigest()


def _inspect(engine, ref: str) -> dict:
    return json.loads(engine.ok("image", "inspect", ref).stdout)[0]


@pytest.fixture(scope="module")
def built(rt_engine, busybox, tmp_path_factory) -> str:
    """An image built here: busybox plus a layer of our own (compressed by barque)."""
    ctx: Path = tmp_path_factory.mktemp("pushctx")
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nRUN echo pushed-by-barque > /hello\nCMD [\"cat\", \"/hello\"]\n")
    rt_engine.ok("build", "-q", "-t", "push-src:built", str(ctx))
    return "push-src:built"


def test_push_built_image_then_again_then_pull_back(rt_engine, registry, busybox, built):
    target = f"{registry.host}/push/built:v1"
    rt_engine.ok("tag", built, target)
    res = rt_engine.ok("push", target)
    lines = res.lines
    assert lines[0] == f"The push refers to repository [{registry.host}/push/built]"
    info = _inspect(rt_engine, target)
    diff_ids = info["RootFS"]["Layers"]
    phases = _layer_lines(lines)
    assert list(phases) == [d[7:19] for d in reversed(diff_ids)]  # docker lists the top layer first
    top, base = phases[diff_ids[-1][7:19]], phases[diff_ids[0][7:19]]
    assert top[0] == "Preparing" and top[-1] == "Pushed", lines
    # the base layer's repository is known to the store: mounted, not uploaded
    assert base[-1] == "Mounted from test/busybox", lines
    assert not any("Pushing" in line for line in lines)  # no byte counts off a terminal
    tag_line = lines[-1]
    assert tag_line.startswith("v1: digest: sha256:") and " size: " in tag_line
    digest = tag_line.split()[2]
    assert _skopeo_digest(target) == digest
    body, media_type = RegistryClient(registry).get_manifest("push/built", "v1")
    assert media_type == json.loads(body)["mediaType"]  # the image's own format, byte for byte
    assert f"{registry.host}/push/built@{digest}" in _inspect(rt_engine, target)["RepoDigests"]
    shown = rt_engine.ok("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}").lines
    assert f"{registry.host}/push/built v1 {digest}" in shown

    again = rt_engine.ok("push", target).lines
    assert set(p[-1] for p in _layer_lines(again).values()) == {"Layer already exists"}, again
    assert again[-1] == tag_line

    # pulled back by digest into a store that no longer has it, and run
    rt_engine.ok("rmi", target, built)
    rt_engine.ok("pull", f"{registry.host}/push/built@{digest}")
    out = rt_engine.ok("run", "--rm", f"{registry.host}/push/built@{digest}").stdout
    assert out == "pushed-by-barque\n"
    rt_engine.ok("tag", f"{registry.host}/push/built@{digest}", built)


def test_push_to_another_repository_mounts(rt_engine, registry, built):
    first, second = f"{registry.host}/push/mount-a:latest", f"{registry.host}/push/mount-b:latest"
    rt_engine.ok("tag", built, first)
    rt_engine.ok("tag", built, second)
    rt_engine.ok("push", first)
    lines = rt_engine.ok("push", second).lines
    assert lines[0] == "Using default tag: latest" or lines[0].startswith("The push refers")
    finals = [p[-1] for p in _layer_lines(lines).values()]
    assert finals and all(f.startswith("Mounted from ") for f in finals), lines
    # from a repository of this registry that holds it (push/built or push/mount-a: both do)
    assert set(finals) <= {"Mounted from push/built", "Mounted from push/mount-a", "Mounted from test/busybox"}


def test_push_quiet_all_tags_and_default_tag(rt_engine, registry, built):
    repo = f"{registry.host}/push/tags"
    for tag in ("a", "b", "latest"):
        rt_engine.ok("tag", built, f"{repo}:{tag}")
    quiet = rt_engine.ok("push", "-q", f"{repo}:a")
    assert quiet.stdout == f"{repo}:a\n"
    default = rt_engine.ok("push", repo).lines
    assert default[0] == "Using default tag: latest"
    assert default[-1].startswith("latest: digest: ")
    every = rt_engine.ok("image", "push", "--all-tags", repo).lines
    assert every[0] == f"The push refers to repository [{repo}]"
    assert [x.split(":")[0] for x in every if ": digest: " in x] == ["a", "b", "latest"]
    tags = json.loads(RegistryClient(registry).request("GET", "/v2/push/tags/tags/list")[2])["tags"]
    assert sorted(tags) == ["a", "b", "latest"]


def test_push_refusals(rt_engine, registry, built):
    missing = rt_engine.cli("push", f"{registry.host}/push/none:v1")
    assert missing.returncode == 1
    assert missing.stderr == f"An image does not exist locally with the tag: {registry.host}/push/none\n"
    both = rt_engine.cli("push", "-a", f"{registry.host}/push/none:v1")
    assert both.returncode == 1 and both.stderr == "tag can't be used with --all-tags/-a\n"
    bad = rt_engine.cli("push", "Bad_Name!")
    assert bad.returncode == 1 and bad.stderr.startswith("invalid reference format") and bad.stdout == ""
    unreachable = "127.0.0.1:1/push/nowhere:v1"  # nothing listens on port 1
    rt_engine.ok("tag", built, unreachable)
    gone = rt_engine.cli("push", unreachable)
    assert gone.returncode == 1 and "cannot reach http://127.0.0.1:1" in gone.stderr
    assert len(gone.stderr.strip().splitlines()) == 1
    rt_engine.ok("rmi", unreachable)


def test_push_with_login(rt_engine, auth_registry, built):
    target = f"{auth_registry.host}/push/private:v1"
    rt_engine.ok("tag", built, target)
    rt_engine.cli("logout", auth_registry.host)
    denied = rt_engine.cli("push", target)
    assert denied.returncode == 1 and denied.stderr.strip(), denied
    rt_engine.ok("login", "-u", AUTH_USER, "--password-stdin", auth_registry.host, input=AUTH_PASSWORD)
    try:
        lines = rt_engine.ok("push", target).lines
    finally:
        rt_engine.ok("logout", auth_registry.host)
    digest = lines[-1].split()[2]
    body, _ = RegistryClient(auth_registry).get_manifest("push/private", "v1")
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest


def test_image_pulled_through_an_index_pushes_its_platform_manifest(rt_engine, registry, test_images):
    """The store keeps one platform of test/multi: that manifest is pushed, byte for byte."""
    multi = test_images["multi-platform"]
    rt_engine.ok("pull", multi.ref)
    target = f"{registry.host}/push/from-index:v1"
    rt_engine.ok("tag", multi.ref, target)
    digest = rt_engine.ok("push", target).lines[-1].split()[2]
    assert digest == multi.platforms["linux/amd64"].manifest_digest
    body, media_type = RegistryClient(registry).get_manifest("push/from-index", "v1")
    assert media_type == multi.platforms["linux/amd64"].media_type


def _on_a_terminal(engine, *args: str) -> tuple[int, str]:
    """The CLI with a pty as its stdout and stderr: (status, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cli", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env={**os.environ, **engine.env}, cwd=REPO)
    os.close(slave)
    out = b""
    try:
        while chunk := os.read(master, 65536):
            out += chunk
    except OSError:  # EIO: the last holder of the pty's other end has gone
        pass
    finally:
        os.close(master)
    return proc.wait(60), out.decode()


def test_push_on_a_terminal_redraws_layer_lines(rt_engine, auth_registry, test_images):
    """test/big (a 40 MiB layer) to the htpasswd registry, where nothing can be mounted
    from: bars redrawn in place, then Pushed."""
    big = test_images["big"]
    rt_engine.ok("pull", big.ref)
    target = f"{auth_registry.host}/push/tty-{os.getpid()}:v1"
    rt_engine.ok("tag", big.ref, target)
    rt_engine.ok("login", "-u", AUTH_USER, "--password-stdin", auth_registry.host, input=AUTH_PASSWORD)
    try:
        status, text = _on_a_terminal(rt_engine, "push", target)
    finally:
        rt_engine.ok("logout", auth_registry.host)
    assert status == 0, text
    top = json.loads(rt_engine.ok("image", "inspect", target).stdout)[0]["RootFS"]["Layers"][-1][7:19]
    assert text.startswith(f"The push refers to repository [{auth_registry.host}/push/tty-")
    # the top layer is the first line: redrawn from one line per layer below it
    up = len(big.layer_digests)
    assert f"\x1b[{up}A\r\x1b[2K{top}: Pushing [" in text
    assert f"\x1b[{up}A\r\x1b[2K{top}: Pushed\x1b[{up}B\r" in text
    assert text.rstrip("\r\n").splitlines()[-1].startswith("v1: digest: sha256:")
