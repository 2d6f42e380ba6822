"""The breakout corpus (tests/support/hostilecorpus.py) through every path that
writes a tar into a root, on one engine: a pull from the registry, ``load``
(docker-archive and OCI archive), ``import``, ``cp -`` into a container and
``ADD`` of a local tar in a build.

Whatever the outcome, the sentinel directory the cases aim at and the host's
``/``, ``/etc``, ``/etc/passwd`` and ``/tmp`` are unchanged. A refused case
fails with one line naming the reason and, for the image paths, keeps
nothing: the content store's blobs, the snapshots, the image records, the
ingest and staging directories are as before. Pull, load and import take the
case's layer outcome (``.wh.`` names are whiteouts, a layer is applied into
its own snapshot); ``cp`` and ``ADD`` their copy outcomes (into a directory
holding the lowers, with each one's CopyTo header). (A refused ``cp`` keeps
what it extracted before the refusal, as docker's; a refused ``ADD`` fails
its build, which keeps no image.)

Contained cases go through the CLI in batches, many per run (one image of
all their layers, one docker and one OCI archive, one build); a refused case
must run alone, so each goes through the service the CLI calls (Pull, Load,
Import, the runtime's CopyTo with cp's and ADD's headers: the bytes the CLI
would stream), and one refused case per path goes through the CLI too, for
its exit status and one-line message. The whole module takes about a minute.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from barque.images.v1 import images_pb2
from barque.runtime.v1 import runtime_pb2
from client.errors import BarqueError
from tests.support import hostilecorpus
from tests.support.archives import _tar, docker_archive, oci_archive, store_state
from tests.support.engine import CLI, REPO, CliResult, Engine
from tests.support.hostilecorpus import Case, Sentinel
from tests.support.images import push_image

pytestmark = [pytest.mark.integration, pytest.mark.root]

_ALL = hostilecorpus.cases("/x")
_NAMES = [c.name for c in _ALL]
_LAYER_REFUSED = [c.name for c in _ALL if not c.layer_outcome.contained]
_COPY_REFUSED = [c.name for c in _ALL if not c.copy_outcome.contained]


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Sentinel:
    return Sentinel(tmp_path_factory.mktemp("breakout") / "sentinel")


@pytest.fixture(scope="module")
def corpus(sentinel: Sentinel) -> dict[str, Case]:
    return {c.name: c for c in hostilecorpus.cases(str(sentinel.dir))}


@pytest.fixture(autouse=True)
def _host_untouched(sentinel: Sentinel):
    yield
    sentinel.assert_untouched()


def _refused(res, case_words: str) -> None:
    assert res.returncode != 0, res.stdout
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, res.stderr
    assert re.search(case_words, err), err


def _cli_bytes(engine: Engine, *args: str, data: bytes) -> CliResult:
    """The CLI with ``data`` on its stdin (``cp -``)."""
    proc = subprocess.run([*CLI, *args], input=data, capture_output=True, timeout=120, check=False,
                          env={**os.environ, **engine.env}, cwd=REPO)
    return CliResult(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))


def _repo(name: str) -> str:
    return "breakout/" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


# ---- shared --------------------------------------------------------------------------------------

#: refused in every mode: the one each path's CLI run takes
CLI_CASE = "SymlinkToHostThenWrite"


@pytest.fixture(scope="module")
def images(rt_engine: Engine):
    with rt_engine.client("images") as stub:
        yield stub


@pytest.fixture(scope="module")
def runtime(rt_engine: Engine):
    with rt_engine.client("runtime") as stub:
        yield stub


def _refused_rpc(call, words: str) -> None:
    with pytest.raises(BarqueError) as err:
        call()
    text = str(err.value)
    assert "\n" not in text.strip(), text
    assert re.search(words, text), text


def _layers(cases) -> list[bytes]:
    return [tar for c in cases for tar in (*c.lowers, c.layer)]


# ---- pull --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _LAYER_REFUSED)
def test_pull_refused(rt_engine: Engine, images, registry, corpus, name: str) -> None:
    case = corpus[name]
    img = push_image(registry, _repo(name), "latest", [*case.lowers, case.layer])
    before = store_state(rt_engine)
    _refused_rpc(lambda: list(images.Pull(images_pb2.PullRequest(reference=img.ref), timeout=60)),
                 case.layer_outcome.refused or "")
    assert store_state(rt_engine) == before


def test_pull_cli(rt_engine: Engine, registry, corpus) -> None:
    """Every contained case's layers in one image; one refused case: exit 125, one line, nothing kept."""
    contained = [c for c in corpus.values() if c.layer_outcome.contained]
    img = push_image(registry, "breakout/contained", "latest", _layers(contained))
    rt_engine.ok("pull", img.ref)
    rt_engine.ok("rmi", img.ref)
    case = corpus[CLI_CASE]
    bad = push_image(registry, _repo(CLI_CASE), "cli", [*case.lowers, case.layer])
    before = store_state(rt_engine)
    res = rt_engine.cli("pull", bad.ref)
    _refused(res, case.layer_outcome.refused or "")
    assert res.returncode == 125
    assert store_state(rt_engine) == before


# ---- import ------------------------------------------------------------------------------------


def _import(images, ref: str, tar: bytes):
    header = images_pb2.ImportHeader(reference=ref, source="-")
    return images.Import(iter([images_pb2.ImportRequest(header=header), images_pb2.ImportRequest(data=tar)]),
                         timeout=60)


@pytest.mark.parametrize("name", _NAMES)
def test_import(rt_engine: Engine, images, corpus, name: str) -> None:
    case = corpus[name]
    ref = _repo(name) + ":imported"
    before = store_state(rt_engine)
    if case.layer_outcome.contained:
        _import(images, ref, case.layer)
        images.Remove(images_pb2.RemoveRequest(reference=ref), timeout=30)
    else:
        _refused_rpc(lambda: _import(images, ref, case.layer), case.layer_outcome.refused or "")
        assert store_state(rt_engine) == before


def test_import_cli(rt_engine: Engine, corpus, tmp_path: Path) -> None:
    case = corpus[CLI_CASE]
    tar = tmp_path / "case.tar"
    tar.write_bytes(case.layer)
    before = store_state(rt_engine)
    res = rt_engine.cli("import", str(tar), "breakout/import:cli")
    _refused(res, case.layer_outcome.refused or "")
    assert res.returncode == 1
    assert store_state(rt_engine) == before


# ---- load --------------------------------------------------------------------------------------


def _load(images, data: bytes):
    return list(images.Load(iter([images_pb2.LoadRequest(data=data)]), timeout=60))


@pytest.mark.parametrize("form", ["docker", "oci"])
@pytest.mark.parametrize("name", _LAYER_REFUSED)
def test_load_refused(rt_engine: Engine, images, corpus, name: str, form: str) -> None:
    case = corpus[name]
    archive = (docker_archive if form == "docker" else oci_archive)(
        {_repo(name) + ":loaded": [*case.lowers, case.layer]})
    before = store_state(rt_engine)
    _refused_rpc(lambda: _load(images, archive), case.layer_outcome.refused or "")
    assert store_state(rt_engine) == before


@pytest.mark.parametrize("form", ["docker", "oci"])
def test_load_cli(rt_engine: Engine, corpus, tmp_path: Path, form: str) -> None:
    """Every contained case an image of one archive; one refused case: exit 1, one line, nothing kept."""
    build = docker_archive if form == "docker" else oci_archive
    tags = {_repo(c.name) + ":" + form: [*c.lowers, c.layer] for c in corpus.values()
            if c.layer_outcome.contained}
    archive = tmp_path / "contained.tar"
    archive.write_bytes(build(tags))
    res = rt_engine.ok("load", "-i", str(archive))
    assert sorted(res.lines) == sorted(f"Loaded image: {tag}" for tag in tags)
    rt_engine.ok("rmi", *tags)
    case = corpus[CLI_CASE]
    archive.write_bytes(build({"breakout/load:cli": [*case.lowers, case.layer]}))
    before = store_state(rt_engine)
    res = rt_engine.cli("load", "-i", str(archive))
    _refused(res, case.layer_outcome.refused or "")
    assert res.returncode == 1
    assert store_state(rt_engine) == before


# ---- cp and ADD: the runtime's CopyTo ----------------------------------------------------------


def _prefixed(cases: list[Case], prefix: str) -> bytes:
    """One tar of every case's lowers, case ``i``'s under ``<prefix><i>/``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
        for i, case in enumerate(cases):
            d = tarfile.TarInfo(f"{prefix}{i}")
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            out.addfile(d)
            for lower in case.lowers:
                with tarfile.open(fileobj=io.BytesIO(lower)) as src:
                    for m in src.getmembers():
                        data = src.extractfile(m) if m.isfile() else None
                        m.name = f"{prefix}{i}/" + m.name.lstrip("/")
                        out.addfile(m, data)
    return buf.getvalue()


#: the CopyTo headers of ``cp -`` (cli/cp.py) and of ``ADD`` of a local tar (cli/buildrun.py)
_HEADERS = {
    "cp": dict(copy_uid_gid=False, no_overwrite_dir_non_dir=True),
    "add": dict(copy_uid_gid=True, make_parents=True, parents_uid=0, parents_gid=0),
}


@pytest.fixture(scope="module")
def container(rt_engine: Engine, busybox: str, corpus):
    """A created container holding every case's lowers twice: under ``/cp<i>`` and ``/add<i>``."""
    cases = list(corpus.values())
    cid = rt_engine.ok("create", busybox, "true").stdout.strip()
    for prefix in ("cp", "add"):
        res = _cli_bytes(rt_engine, "cp", "-", f"{cid}:/", data=_prefixed(cases, prefix))
        assert res.returncode == 0, res.stderr
    yield cid, {c.name: i for i, c in enumerate(cases)}
    rt_engine.ok("rm", "-f", cid)


def _copy_to(runtime, cid: str, path: str, data: bytes, how: str) -> None:
    def messages():
        yield runtime_pb2.CopyToRequest(header=runtime_pb2.CopyToHeader(id=cid, path=path, **_HEADERS[how]))
        yield runtime_pb2.CopyToRequest(data=data)
    runtime.CopyTo(messages(), timeout=60)


@pytest.mark.parametrize("how", ["cp", "add"])
@pytest.mark.parametrize("name", _NAMES)
def test_copy_to(runtime, container, corpus, name: str, how: str) -> None:
    case = corpus[name]
    cid, index = container
    outcome = case.copy_outcome if how == "cp" else case.add
    path = f"/{how}{index[name]}"
    if outcome.contained:
        _copy_to(runtime, cid, path, case.layer, how)
    else:
        _refused_rpc(lambda: _copy_to(runtime, cid, path, case.layer, how), outcome.refused or "")


def test_cp_cli(rt_engine: Engine, container, corpus) -> None:
    cid, index = container
    res = _cli_bytes(rt_engine, "cp", "-", f"{cid}:/cp{index[CLI_CASE]}", data=corpus[CLI_CASE].layer)
    _refused(res, corpus[CLI_CASE].copy_outcome.refused or "")
    assert res.returncode == 1


def _context(tmp: Path, busybox: str, cases: list[Case]) -> Path:
    tmp.mkdir()
    (tmp / "lowers.tar").write_bytes(_prefixed(cases, "c"))
    lines = [f"FROM {busybox}", "ADD lowers.tar /"]
    for i, case in enumerate(cases):
        (tmp / f"case{i}.tar").write_bytes(case.layer)
        lines.append(f"ADD case{i}.tar /c{i}/")
    (tmp / "Dockerfile").write_text("\n".join(lines) + "\n")
    return tmp


#: contained by ADD's extraction, but a ``.wh.``-named file the step left is a whiteout in the
#: layer the step commits, and these names are invalid ones: the build fails there (docker's
#: commit writes them as they are; barque's unpack of the committed layer refuses them)
_COMMIT_REFUSES = ("WhiteoutRootParent", "WhiteoutParent", "WhiteoutRoot", "WhiteoutCurrentDirectory")


def test_add_cli(rt_engine: Engine, busybox: str, corpus, tmp_path: Path) -> None:
    """Every contained case ADDed in one build; one refused case fails its build and keeps no image."""
    cases = [c for c in corpus.values() if c.add.contained and c.name not in _COMMIT_REFUSES]
    rt_engine.ok("build", "-q", "-t", "breakout/add:contained", str(_context(tmp_path / "ok", busybox, cases)))
    rt_engine.ok("rmi", "breakout/add:contained")
    before = store_state(rt_engine)
    ctx = _context(tmp_path / "bad", busybox, [corpus[CLI_CASE]])
    res = rt_engine.cli("build", "-q", "-t", "breakout/add:refused", str(ctx))
    assert res.returncode != 0, res.stdout
    assert re.search(corpus[CLI_CASE].add.refused or "", res.stderr), res.stderr
    assert "breakout/add" not in rt_engine.ok("images").stdout
    assert store_state(rt_engine)[3:] == before[3:]  # no name, nothing staged (the cache may keep a step)



@pytest.mark.parametrize("name", _COMMIT_REFUSES)
def test_add_of_invalid_whiteout_names_fails_at_the_commit(rt_engine: Engine, busybox: str, corpus,
                                                           tmp_path: Path, name: str) -> None:
    before = store_state(rt_engine)
    res = rt_engine.cli("build", "-q", "-t", "breakout/add:wh", str(_context(tmp_path / "ctx", busybox, [corpus[name]])))
    _refused(res, "invalid whiteout")
    assert "breakout/add" not in rt_engine.ok("images").stdout
    assert store_state(rt_engine)[3:] == before[3:]  # no name, nothing staged (the cache may keep a step)


# ---- documents: CVE-2024-3727, CVE-2021-41190 through load -------------------------------------


def _doc_archive(doc: hostilecorpus.DocCase) -> bytes:
    """An OCI archive whose index names ``doc`` (by its true digest) as an image manifest."""
    body = hostilecorpus.manifest_bytes(doc)
    digest = hashlib.sha256(body).hexdigest()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + digest,
        "size": len(body), "annotations": {"io.containerd.image.name": "breakout/doc:1"}}]}
    return _tar({"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode(),
                 "blobs/sha256/" + digest: body})


def _index_archive(bad_digest: str) -> bytes:
    """An OCI archive whose index.json itself names a manifest by ``bad_digest``."""
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": bad_digest, "size": 2}]}
    return _tar({"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": json.dumps(index).encode()})


@pytest.mark.parametrize("doc", hostilecorpus.documents(), ids=lambda d: d.name)
def test_load_documents_refused(rt_engine: Engine, images, doc) -> None:
    before = store_state(rt_engine)
    with pytest.raises(BarqueError) as err:
        _load(images, _doc_archive(doc))
    assert "\n" not in str(err.value).strip()
    assert re.search(doc.error, str(err.value)), str(err.value)
    assert store_state(rt_engine) == before


@pytest.mark.parametrize("digest", ["sha256:../../../../etc/passwd", "sha256:" + "A" * 64, "md5:" + "a" * 32,
                                    "sha256:" + "a" * 63])
def test_load_index_digest_refused(rt_engine: Engine, images, digest: str) -> None:
    before = store_state(rt_engine)
    _refused_rpc(lambda: _load(images, _index_archive(digest)), "invalid digest")
    assert store_state(rt_engine) == before
