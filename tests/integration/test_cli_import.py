"""``barque import`` through the real CLI and a real engine: the round trip
of ``export`` (a container's files imported as a one-layer image that runs),
from a file, from stdin (``-``) and from a loopback URL; ``--change`` and
``-m``; gzip, bzip2, xz and zstd input giving the plain tar's diff id; the
config and history docker 20.10 writes for an import; an untagged import
kept; and refusals (hostile entries, not a tar, a bad change, a digest
reference, a missing file, an unreachable URL): one line on stderr, exit 1,
and the store's blobs, snapshots and records exactly as before.

Every container a test makes is removed by the ``clean`` fixture.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import hashlib
import http.server
import io
import json
import lzma
import os
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zstandard
from barque.images.v1 import images_pb2

from tests.support.engine import CLI, REPO, Engine

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _import_stdin(engine: Engine, data_path: Path, *args: str) -> subprocess.CompletedProcess:
    with open(data_path, "rb") as f:
        return subprocess.run([*CLI, "import", *args], stdin=f, capture_output=True, text=True, timeout=300,
                              check=False, env={**os.environ, **engine.env}, cwd=REPO)


def _inspect(engine: Engine, ref: str) -> dict:
    return json.loads(engine.ok("image", "inspect", ref).stdout)[0]


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _store_state(engine: Engine) -> tuple:
    """What a refused import must leave as it was: blobs, snapshots, records, names, and no
    half-written ingest file or staged tree."""
    root = engine.state("images")
    meta_path = root / "metadata.json"  # written at the store's first change
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return (sorted(os.listdir(root / "content" / "blobs" / "sha256")),
            sorted(os.listdir(root / "snapshots" / "snapshots")),
            sorted(meta.get("images") or {}), sorted(meta.get("names") or {}),
            os.listdir(root / "content" / "ingest"), os.listdir(root / "snapshots" / "tmp"))


def _tar(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size, info.mode, info.mtime = len(entry[1]), 0o644, 1_700_000_000
                tar.addfile(info, io.BytesIO(entry[1]))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, target, 0o777
    return info


@pytest.fixture
def exported(clean: Engine, busybox: str, tmp_path: Path) -> Path:
    """The export of a busybox container that wrote /thefile, /data/{a,b} and a symlink."""
    cid = clean.ok("run", "-d", busybox, "sh", "-c",
                   "echo imported-content > /thefile && mkdir -p /data && echo a > /data/a && "
                   "chmod 0640 /data/a && echo b > /data/b && ln -s /thefile /data/link && exec sleep 600"
                   ).stdout.strip()
    clean.ok("exec", cid, "test", "-e", "/data/link")
    out = tmp_path / "fs.tar"
    clean.ok("export", "-o", str(out), cid)
    clean.ok("rm", "-f", cid)
    return out


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A loopback http.server serving a fresh directory: (directory, base URL)."""
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


def test_import_round_trip_of_export(clean: Engine, exported: Path) -> None:
    engine = clean
    res = engine.ok("import", str(exported), "imp/round:one")
    image_id = res.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71 and res.stdout.count("\n") == 1
    assert engine.ok("run", "--rm", "imp/round:one", "cat", "/thefile").stdout == "imported-content\n"
    out = engine.ok("run", "--rm", "imp/round:one", "sh", "-c", "stat -c '%a %N' /data/a /data/link").stdout
    assert out.splitlines() == ["640 /data/a", "777 '/data/link' -> '/thefile'"]
    doc = _inspect(engine, "imp/round:one")
    assert doc["Id"] == image_id
    assert doc["RootFS"]["Layers"] == [_sha256(exported)]  # the diff id: the tar as given
    assert doc["Comment"] == "Imported from -"
    assert doc["Config"]["Cmd"] is None and doc["Config"]["Env"] is None
    assert doc["Os"] == "linux" and doc["Architecture"]
    with engine.client("images") as images:
        image = images.Inspect(images_pb2.InspectRequest(reference="imp/round:one")).image
    config = json.loads(image.config_json)
    assert config["history"] == [{"created": config["created"], "comment": "Imported from -"}]
    assert config["comment"] == "Imported from -"
    assert len(image.layers) == 1 and image.layers[0].media_type.endswith("tar.gzip")
    blob = engine.state("images") / "content" / "blobs" / "sha256" / image.layers[0].digest.removeprefix("sha256:")
    assert hashlib.sha256(gzip.decompress(blob.read_bytes())).hexdigest() == _sha256(exported)[7:]
    history = engine.ok("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}",
                        "imp/round:one").stdout.splitlines()
    assert history == [f"{image_id}||Imported from -"]
    # the same tar again: the same layer, shared, a new image (its own created time)
    again = engine.ok("image", "import", str(exported), "imp/round:two").stdout.strip()
    assert again != image_id and _inspect(engine, "imp/round:two")["RootFS"]["Layers"] == [_sha256(exported)]
    engine.ok("rmi", "imp/round:two")
    assert engine.ok("run", "--rm", "imp/round:one", "cat", "/thefile").stdout == "imported-content\n"
    engine.ok("rmi", "imp/round:one")


def test_import_stdin_gzip_with_change_and_message(clean: Engine, exported: Path, tmp_path: Path) -> None:
    engine = clean
    gz = tmp_path / "fs.tar.gz"
    gz.write_bytes(gzip.compress(exported.read_bytes()))
    res = _import_stdin(engine, gz, "-c", 'CMD ["cat", "/thefile"]', "--change", "ENV MARK=set",
                        "-c", "WORKDIR /data", "-m", "from a pipe", "-", "imp/stdin:gz")
    assert res.returncode == 0, res.stderr
    image_id = res.stdout.strip()
    doc = _inspect(engine, "imp/stdin:gz")
    assert doc["Id"] == image_id and doc["Comment"] == "from a pipe"
    assert doc["Config"]["Cmd"] == ["cat", "/thefile"]
    assert doc["Config"]["Env"] == ["MARK=set"] and doc["Config"]["WorkingDir"] == "/data"
    assert doc["RootFS"]["Layers"] == [_sha256(exported)]
    assert engine.ok("run", "--rm", "imp/stdin:gz").stdout == "imported-content\n"
    assert engine.ok("run", "--rm", "imp/stdin:gz", "sh", "-c", "echo $MARK $PWD").stdout == "set /data\n"
    engine.ok("rmi", "imp/stdin:gz")


def test_import_from_loopback_url(clean: Engine, exported: Path, http_dir: tuple[Path, str]) -> None:
    engine = clean
    root, base = http_dir
    (root / "fs.tar").write_bytes(exported.read_bytes())
    url = f"{base}/fs.tar"
    res = engine.ok("import", url, "imp/url:latest")
    lines = res.stdout.splitlines()
    assert lines[0] == f"Downloading from {url}" and lines[-1].startswith("sha256:") and len(lines) == 2
    doc = _inspect(engine, "imp/url:latest")
    assert doc["Comment"] == f"Imported from {url}" and doc["RootFS"]["Layers"] == [_sha256(exported)]
    assert engine.ok("run", "--rm", "imp/url:latest", "cat", "/thefile").stdout == "imported-content\n"
    engine.ok("rmi", "imp/url:latest")
    before = _store_state(engine)
    res = engine.cli("import", f"{base}/missing.tar", "imp/url:missing")
    assert res.returncode == 1
    err = res.stderr.strip().splitlines()
    assert err[0].startswith(f"Error response from daemon: failed to GET {base}/missing.tar with status 404")
    assert _store_state(engine) == before


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_import_compressed_inputs(engine: Engine, tmp_path: Path, kind: str) -> None:
    plain = _tar(tmp_path / "fs.tar", [("hello.txt", b"hi\n"), ("dir/x", b"xx")])
    data = plain.read_bytes()
    packers: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress,
        "zstd": zstandard.ZstdCompressor().compress}
    packed = packers[kind](data)
    path = tmp_path / f"fs.{kind}"
    path.write_bytes(packed)
    image_id = engine.ok("import", str(path), f"imp/packed:{kind}").stdout.strip()
    doc = _inspect(engine, f"imp/packed:{kind}")
    assert doc["Id"] == image_id and doc["RootFS"]["Layers"] == [_sha256(plain)]
    assert doc["Size"] > 0
    engine.ok("rmi", f"imp/packed:{kind}")


def test_import_untagged_is_kept(engine: Engine, tmp_path: Path) -> None:
    plain = _tar(tmp_path / "fs.tar", [("only.txt", b"kept\n")])
    since = time.time_ns()
    image_id = engine.ok("import", str(plain)).stdout.strip()
    other = engine.ok("import", str(_tar(tmp_path / "o.tar", [("o", b"o")])), "imp/other:x").stdout.strip()
    with engine.client("images") as images:
        events = list(images.Events(images_pb2.EventsRequest(since_nanos=since, until_nanos=time.time_ns())))
    assert [(e.type, e.action, e.id, e.attributes["name"]) for e in events] == [
        ("image", "import", image_id, image_id), ("image", "tag", other, "imp/other:x"),
        ("image", "import", other, other)]  # as moby's ImportImage logs them
    engine.ok("rmi", "imp/other:x")  # collects what nothing holds: not the untagged import
    ids = engine.ok("images", "-q").stdout.split()
    assert image_id[7:19] in ids and other[7:19] not in ids
    engine.ok("rmi", image_id)


def _hostile(tmp_path: Path) -> dict[str, Path]:
    gz = tmp_path / "truncated.tar.gz"
    gz.write_bytes(gzip.compress(_tar(tmp_path / "t.tar", [("a", b"a" * 5000)]).read_bytes())[:-30])
    text = tmp_path / "notes.txt"
    text.write_bytes(b"this is not a tar file\n" * 40)
    return {
        "dotdot": _tar(tmp_path / "dotdot.tar", [("ok", b"ok"), ("../evil", b"x")]),
        "deep-dotdot": _tar(tmp_path / "deep.tar", [("a/b/../../../evil", b"x")]),
        "hardlink-out": _tar(tmp_path / "hard.tar", [_link("passwd", "../../../../etc/passwd", tarfile.LNKTYPE)]),
        "through-symlink": _tar(tmp_path / "sym.tar", [_link("evil", "/etc"), ("evil/barque-import-pwned", b"x")]),
        "not-a-tar": text,
        "truncated-gzip": gz,
    }


def test_import_refusals_leave_the_store_unchanged(clean: Engine, busybox: str, tmp_path: Path) -> None:
    engine = clean
    before = _store_state(engine)
    for name, path in _hostile(tmp_path).items():
        res = engine.cli("import", str(path), f"imp/hostile:{name}")
        assert res.returncode == 1, (name, res.stdout, res.stderr)
        assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1, (name, res.stderr)
        assert res.stderr.startswith("Error response from daemon: "), (name, res.stderr)
        assert _store_state(engine) == before, name
    assert not Path("/etc/barque-import-pwned").exists()
    # the CLI's own refusals, before anything is sent
    fine = _tar(tmp_path / "fine.tar", [("f", b"f")])
    cases = [
        (["import", "-c", "RUN echo x", str(fine)], "Error response from daemon: run is not a valid change command"),
        (["import", str(fine), "imp/x@sha256:" + "a" * 64], "Error response from daemon: cannot import digest reference"),
        (["import", str(tmp_path / "nonexistent.tar")], f"open {tmp_path}/nonexistent.tar: no such file or directory"),
        (["import", "--platform", "linux", str(fine)], "invalid platform 'linux': want os/arch[/variant]"),
    ]
    for argv, message in cases:
        res = engine.cli(*argv)
        assert (res.returncode, res.stderr.strip()) == (1, message), argv
    res = engine.cli("import", str(fine), "Bad:Name")
    assert res.returncode == 1 and "repository name" in res.stderr and "lowercase" in res.stderr
    assert engine.cli("import").returncode == 125
    assert _store_state(engine) == before
    # an absolute name is contained, as docker's import does: it lands under the image's root
    absolute = _tar(tmp_path / "abs.tar", [("/etc/barque-import-absolute", b"inside\n")])
    engine.ok("import", str(absolute), "imp/hostile:absolute")
    assert not Path("/etc/barque-import-absolute").exists()
    tree = subprocess.run(["tar", "-tf", str(absolute)], capture_output=True, text=True, check=True).stdout
    assert tree.strip() == "/etc/barque-import-absolute"
    with engine.client("images") as images:
        image = images.Inspect(images_pb2.InspectRequest(reference="imp/hostile:absolute")).image
    fs = engine.state("images") / "snapshots" / "snapshots" / image.chain_id.removeprefix("sha256:") / "fs"
    assert (fs / "etc" / "barque-import-absolute").read_text() == "inside\n"
    engine.ok("rmi", "imp/hostile:absolute")


def test_import_cut_off_midway_leaves_nothing(engine: Engine, tmp_path: Path) -> None:
    """The CLI killed while its tar streams: the store aborts the import, nothing of it is kept."""
    before = _store_state(engine)
    cli_tmp = tmp_path / "cli-tmp"  # the CLI's TMPDIR: a killed CLI must have left nothing there either
    cli_tmp.mkdir()
    proc = subprocess.Popen([*CLI, "import", "-", "imp/cut:off"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **engine.env, "TMPDIR": str(cli_tmp)},
                            cwd=REPO)
    try:
        assert proc.stdin is not None
        header = tarfile.TarInfo("big")
        header.size = 64 << 20
        proc.stdin.write(header.tobuf(tarfile.PAX_FORMAT))
        for _ in range(8):  # 8 MiB of the promised 64
            proc.stdin.write(b"x" * (1 << 20))
        proc.stdin.flush()
        root = engine.state("images")
        deadline = time.monotonic() + 30
        while not os.listdir(root / "content" / "ingest") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.listdir(root / "content" / "ingest"), "the import never began"
    finally:
        proc.kill()  # the CLI we started, by its pid
        proc.communicate(timeout=30)
    assert os.listdir(cli_tmp) == []
    deadline = time.monotonic() + 30
    while _store_state(engine) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _store_state(engine) == before
    assert engine.cli("image", "inspect", "imp/cut:off").returncode != 0


def test_import_platform(engine: Engine, tmp_path: Path) -> None:
    plain = _tar(tmp_path / "fs.tar", [("arm.txt", b"arm\n")])
    engine.ok("import", "--platform", "linux/arm64/v8", str(plain), "imp/platform:arm")
    doc = _inspect(engine, "imp/platform:arm")
    assert (doc["Os"], doc["Architecture"], doc["Variant"]) == ("linux", "arm64", "v8")
    res = engine.cli("import", "--platform", "windows/amd64", str(plain), "imp/platform:win")
    assert res.returncode == 1 and "operating system 'windows' is not supported" in res.stderr
    engine.ok("rmi", "imp/platform:arm")
