"""``barque build`` beside docker 20.10's legacy builder (Debian's docker.io,
a private dockerd, ``DOCKER_BUILDKIT=0``) on the same Dockerfiles and
contexts: the image config (env, cmd, entrypoint, user, workdir, labels,
exposed ports, volumes, stop signal, health check, shell, onbuild), the
history (``created_by`` with the copied content's hash masked, and
``empty_layer``) and the file tree of a container made from the image
(tests/support/imagefacts.py says what is compared and what is not) must be
equal.

The cases: every instruction on the Debian base (the table docker's own
build was checked against in test_docker_peer_pull_facts.py), a multi-stage
build of a small C program compiled with Debian's gcc and copied into a
busybox stage, and ``.dockerignore`` rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.peers.test_docker_peer_pull_facts import (
    EVERY_INSTRUCTION,
    EVERY_INSTRUCTION_CONFIG,
    EVERY_INSTRUCTION_HISTORY,
)
from tests.support.buildcorpus import HELLO_C, MULTI_STAGE
from tests.support.dockerd import PrivateDockerd
from tests.support.engine import Engine
from tests.support.imagefacts import barque_image_config, config_facts, diff_facts, file_tree, history_facts

pytestmark = [pytest.mark.root, pytest.mark.integration]

IGNORE_DOCKERFILE = """\
FROM {busybox}
COPY . /ctx/
"""

IGNORE_RULES = "**/*.log\nsecret/\n!keep.log\nbuild/**/tmp\nDockerfile\n"
IGNORE_FILES = {
    "a.txt": "a", "b.log": "b", "keep.log": "k", "sub/c.log": "c", "sub/d.txt": "d", "secret/s": "s",
    "build/x/tmp/t": "t", "build/x/keep": "k",
}


def _context(root: Path, dockerfile: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _both(barque: Engine, docker: PrivateDockerd, context: Path, tag: str) -> None:
    built = docker.build(context, tag)
    assert built.returncode == 0, built.stderr + built.stdout
    barque.ok("build", "-t", tag, str(context))


def _assert_same(what: str, ours, theirs) -> None:
    diffs = diff_facts(ours, theirs, names=("barque", "docker"))
    assert not diffs, f"{what}: barque and docker differ:\n" + "\n".join(diffs[:60])


def _compare(barque: Engine, docker: PrivateDockerd, tag: str) -> dict:
    ours = config_facts(json.loads(barque.ok("image", "inspect", tag).stdout))
    theirs = config_facts(json.loads(docker.cli("image", "inspect", tag)))
    _assert_same(f"config of {tag}", ours, theirs)
    _assert_same(f"history of {tag}", history_facts(barque_image_config(barque, tag)),
                 history_facts(docker.image_config(tag)))
    tree = file_tree(lambda argv: barque.ok(*argv).stdout, tag)
    _assert_same(f"files of {tag}", tree, file_tree(lambda argv: docker.cli(*argv), tag))
    return tree


def test_every_instruction_as_docker(tmp_path: Path, base_images, barque: Engine,
                                     private_docker: PrivateDockerd) -> None:
    base = base_images["debian-gcc"].ref
    barque.ok("pull", base)
    private_docker.cli("pull", base)
    context = _context(tmp_path / "every", EVERY_INSTRUCTION.format(base=base),
                       {"a.txt": "a\n", "b.txt": "b\n", "dir/c.txt": "c\n"})
    _both(barque, private_docker, context, "bqtest/every:1")
    assert history_facts(barque_image_config(barque, "bqtest/every:1")) == EVERY_INSTRUCTION_HISTORY
    assert config_facts(json.loads(barque.ok("image", "inspect", "bqtest/every:1").stdout)) == \
        EVERY_INSTRUCTION_CONFIG
    _compare(barque, private_docker, "bqtest/every:1")


def test_multi_stage_c_program_as_docker(tmp_path: Path, base_images, barque: Engine,
                                         private_docker: PrivateDockerd) -> None:
    refs = {name: base_images[name].ref for name in ("debian-gcc", "busybox")}
    for ref in refs.values():
        barque.ok("pull", ref)
        private_docker.cli("pull", ref)
    context = _context(tmp_path / "c", MULTI_STAGE.format(debian=refs["debian-gcc"], busybox=refs["busybox"]),
                       {"hello.c": HELLO_C})
    _both(barque, private_docker, context, "bqtest/hello:1")
    tree = _compare(barque, private_docker, "bqtest/hello:1")
    assert tree["usr/local/bin/hello"][0] == "f"
    assert barque.ok("run", "--rm", "bqtest/hello:1").stdout == "hello from C\n"
    assert not barque.ok("ps", "-aq").lines


def test_dockerignore_as_docker(tmp_path: Path, base_images, barque: Engine,
                                private_docker: PrivateDockerd) -> None:
    busybox = base_images["busybox"].ref
    barque.ok("pull", busybox)
    private_docker.cli("pull", busybox)
    context = _context(tmp_path / "ign", IGNORE_DOCKERFILE.format(busybox=busybox),
                       {".dockerignore": IGNORE_RULES, **IGNORE_FILES})
    _both(barque, private_docker, context, "bqtest/ignore:1")
    tree = _compare(barque, private_docker, "bqtest/ignore:1")
    copied = {p for p in tree if p.startswith("ctx/")}
    assert "ctx/a.txt" in copied and "ctx/keep.log" in copied and "ctx/build/x/keep" in copied
    assert "ctx/b.log" not in copied and "ctx/secret" not in copied and "ctx/Dockerfile" not in copied
    assert "ctx/build/x/tmp/t" not in copied and "ctx/.dockerignore" in copied
