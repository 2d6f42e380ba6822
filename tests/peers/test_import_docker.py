"""``barque import`` beside docker 20.10's ``docker import`` (Debian's
docker.io, a private dockerd) of the very same tars: the config facts
(tests/support/imagefacts.py) with every ``--change`` instruction docker
allows, the top-level comment, os and architecture, the history (comment,
created_by, empty_layer per entry), the diff id (the tar as given, so both
engines' must be equal) and the file tree of a container made from each
image must be equal. The tars: the export of a busybox container that wrote
files, and a hand-made one with owners, modes, setuid, a fifo, a hardlink,
links and empty directories; plain, gzip and from a loopback URL (each
engine downloads it itself: ``Imported from <URL>``).
"""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dockerd import PrivateDockerd
from tests.support.engine import Engine
from tests.support.imagefacts import barque_image_config, config_facts, diff_facts, file_tree, history_facts

pytestmark = [pytest.mark.root, pytest.mark.integration]

CHANGES = ['CMD ["cat", "/thefile"]', "ENV A=b C=d", "LABEL k=v other=\"two words\"", "EXPOSE 80 53/udp",
           "WORKDIR /data", "USER 1000:1000", "VOLUME /v",
           "HEALTHCHECK --interval=5s CMD true", "ONBUILD RUN echo hi"]


@pytest.fixture(scope="module")
def export_tar(barque: Engine, test_images, tmp_path_factory) -> Path:
    """barque's export of a busybox container that wrote a few files."""
    ref = test_images["oci-gzip"].ref
    barque.ok("pull", ref)
    cid = barque.ok("run", "-d", ref, "sh", "-c",
                    "echo imported > /thefile && mkdir -p /data/sub && chmod 0750 /data/sub && "
                    "ln -s /thefile /data/link && exec sleep 600").stdout.strip()
    barque.ok("exec", cid, "test", "-e", "/data/link")
    out = tmp_path_factory.mktemp("import-peer") / "export.tar"
    barque.ok("export", "-o", str(out), cid)
    barque.ok("rm", "-f", cid)
    return out


def _hand_made(path: Path) -> Path:
    def info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, uid: int = 0, gid: int = 0,
             link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.linkname, ti.mtime = kind, mode, uid, gid, link, 1_700_000_000
        return ti

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info("bin", tarfile.DIRTYPE, 0o755))
        tar.addfile(info("home/user", tarfile.DIRTYPE, 0o700, 1000, 1000))
        data = b"#!/bin/sh\necho setuid\n"
        entry = info("bin/tool", mode=0o4755)
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
        notes = b"notes\n" * 100
        entry = info("home/user/notes", mode=0o600, uid=1000, gid=1000)
        entry.size = len(notes)
        tar.addfile(entry, io.BytesIO(notes))
        # a hardlink's header carries its target's metadata, as archivers write it: docker 20.10
        # applies a hardlink header's mode and owner to the shared inode, barque (as GNU tar) does not
        tar.addfile(info("home/user/notes.hard", tarfile.LNKTYPE, 0o600, 1000, 1000, link="home/user/notes"))
        tar.addfile(info("bin/tool.link", tarfile.SYMTYPE, 0o777, link="tool"))
        tar.addfile(info("run/pipe", tarfile.FIFOTYPE, 0o620))
        tar.addfile(info("empty", tarfile.DIRTYPE, 0o1777))
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the stdlib's name)
        pass


def _assert_same(what: str, ours, theirs) -> None:
    diffs = diff_facts(ours, theirs, names=("barque", "docker"))
    assert not diffs, f"{what}: barque and docker differ:\n" + "\n".join(diffs[:60])


def _compare(barque: Engine, docker: PrivateDockerd, tag: str) -> dict:
    ours_doc = json.loads(barque.ok("image", "inspect", tag).stdout)[0]
    theirs_doc = json.loads(docker.cli("image", "inspect", tag))[0]
    _assert_same(f"config of {tag}", config_facts(ours_doc), config_facts(theirs_doc))
    for key in ("Comment", "Os", "Architecture"):
        assert ours_doc[key] == theirs_doc[key], key
    assert ours_doc["RootFS"]["Layers"] == theirs_doc["RootFS"]["Layers"]  # the same diff id
    ours, theirs = barque_image_config(barque, tag), docker.image_config(tag)
    _assert_same(f"history of {tag}", history_facts(ours), history_facts(theirs))
    comments = [[(e.get("comment"), sorted(e)) for e in c["history"]] for c in (ours, theirs)]
    assert comments[0] == comments[1]
    assert ours["comment"] == theirs["comment"]
    tree = file_tree(lambda argv: barque.ok(*argv).stdout, tag)
    _assert_same(f"files of {tag}", tree, file_tree(lambda argv: docker.cli(*argv), tag))
    return tree


def _changes() -> list[str]:
    return [arg for change in CHANGES for arg in ("-c", change)]


def test_import_of_an_export_as_docker(barque: Engine, private_docker: PrivateDockerd, export_tar: Path) -> None:
    tag = "bqtest/imported:export"
    barque.ok("import", *_changes(), "-m", "the export", str(export_tar), tag)
    private_docker.cli("import", *_changes(), "-m", "the export", str(export_tar), tag)
    tree = _compare(barque, private_docker, tag)
    assert tree["thefile"][0] == "f" and tree["data/link"] == ("l", 0o777, 0, 0, 0, "/thefile")
    plain = "bqtest/imported:plain"
    barque.ok("import", str(export_tar), plain)
    private_docker.cli("import", str(export_tar), plain)
    _compare(barque, private_docker, plain)
    assert barque.ok("run", "--rm", plain, "cat", "/thefile").stdout == \
        private_docker.cli("run", "--rm", "--network", "none", plain, "cat", "/thefile")


def test_import_of_a_hand_made_gzip_tar_as_docker(barque: Engine, private_docker: PrivateDockerd,
                                                  tmp_path: Path) -> None:
    plain = _hand_made(tmp_path / "hand.tar")
    packed = tmp_path / "hand.tar.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    tag = "bqtest/imported:hand"
    barque.ok("import", str(packed), tag)
    private_docker.cli("import", str(packed), tag)
    tree = _compare(barque, private_docker, tag)
    assert tree["bin/tool"][1] == 0o4755 and tree["home/user/notes"][2:4] == (1000, 1000)
    assert tree["run/pipe"][0] == "p" and tree["empty"][1] == 0o1777


def test_import_from_a_url_as_docker(barque: Engine, private_docker: PrivateDockerd, export_tar: Path,
                                     served: tuple[Path, str]) -> None:
    root, base = served
    (root / "fs.tar").write_bytes(export_tar.read_bytes())
    url = f"{base}/fs.tar"
    tag = "bqtest/imported:url"
    ours = barque.ok("import", url, tag).stdout.splitlines()
    theirs = private_docker.cli("import", url, tag).splitlines()
    assert ours[0] == theirs[0] == f"Downloading from {url}"
    _compare(barque, private_docker, tag)
    assert json.loads(barque.ok("image", "inspect", tag).stdout)[0]["Comment"] == f"Imported from {url}"
