"""The build corpus (tests/support/buildcorpus.py) built by barque and by
docker 20.10's legacy builder: for every case the image config, the history
(``created_by`` with content hashes masked, ``empty_layer``) and the file
tree of a container made from the image are equal.

Both engines build the whole corpus first (a few builds at a time, which
also runs barque's builds concurrently against one engine); each case's
comparison is then its own test.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.buildcorpus import CORPUS, Case
from tests.support.dockerd import PrivateDockerd
from tests.support.engine import Engine
from tests.support.imagefacts import barque_image_config, config_facts, diff_facts, file_tree, history_facts

pytestmark = [pytest.mark.root, pytest.mark.integration]

PARALLEL = 3


def _context(root: Path, case: Case, bases: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    text = case.dockerfile
    for key, ref in bases.items():  # not str.format: the Dockerfiles have ${VAR} of their own
        text = text.replace("{" + key + "}", ref)
    (root / "Dockerfile").write_text(text)
    for name, data in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def _barque_build(engine: Engine, context: Path, tag: str, case: Case):
    argv = ["build", "-t", tag]
    for key, value in case.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    if case.target:
        argv += ["--target", case.target]
    return engine.cli(*argv, str(context))


@pytest.fixture(scope="module")
def built(tmp_path_factory, base_images, barque: Engine, private_docker: PrivateDockerd) -> dict[str, tuple]:
    bases = {"busybox": base_images["busybox"].ref}
    barque.ok("pull", bases["busybox"])
    private_docker.cli("pull", bases["busybox"])
    root = tmp_path_factory.mktemp("corpus")
    contexts = {name: _context(root / name, case, bases) for name, case in CORPUS.items()}

    def both(name: str) -> tuple:
        case, tag = CORPUS[name], f"bqcorpus/{name}:1"
        docker = private_docker.build(contexts[name], tag, build_args=case.build_args, target=case.target)
        ours = _barque_build(barque, contexts[name], tag, case)
        return docker, ours

    with ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(CORPUS, pool.map(both, CORPUS)))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_case_as_docker(name: str, built, barque: Engine, private_docker: PrivateDockerd) -> None:
    docker, ours = built[name]
    assert docker.returncode == 0, f"docker could not build {name}: {docker.stderr}{docker.stdout}"
    assert ours.returncode == 0, f"barque could not build {name}: {ours.stderr}{ours.stdout}"
    tag = f"bqcorpus/{name}:1"
    problems = []
    problems += diff_facts(config_facts(json.loads(barque.ok("image", "inspect", tag).stdout)),
                           config_facts(json.loads(private_docker.cli("image", "inspect", tag))),
                           names=("barque", "docker"), path="config")
    problems += diff_facts(history_facts(barque_image_config(barque, tag)),
                           history_facts(private_docker.image_config(tag)),
                           names=("barque", "docker"), path="history")
    problems += diff_facts(file_tree(lambda argv: barque.ok(*argv).stdout, tag),
                           file_tree(lambda argv: private_docker.cli(*argv), tag),
                           names=("barque", "docker"), path="files")
    assert not problems, f"{name}: barque and docker differ:\n" + "\n".join(problems[:60])
