"""cli.buildcontext: a build context on disk as docker 20.10's legacy builder
sees it (paths, .dockerignore, symlinks in scope, errors, hashes, the tars
for CopyTo). Real files under tmp_path; the tars are read back with tarfile."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from cli.buildcontext import BuildContext, BuildContextError, Source, archive_stream


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


@pytest.fixture
def ctx_dir(tmp_path: Path) -> Path:
    root = _tree(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\n",
        "a.txt": "hi\n",
        "b.go": "package b\n",
        "sub/b.txt": "b\n",
        "sub/deep/d": "d\n",
        "ex/keep": "keep\n",
        "ex/no": "no\n",
    })
    os.symlink("/etc/passwd", root / "sub/pw")
    os.symlink("../a.txt", root / "sub/up")
    os.link(root / "sub/b.txt", root / "sub/b2.txt")
    return root


def _read(chunks) -> list[tarfile.TarInfo]:
    data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar]


def _names(ctx: BuildContext, patterns: list[str]) -> list[str]:
    return [s.name for s in ctx.sources(patterns)]


# ---- from_dir -------------------------------------------------------------------------------


def test_context_path_errors_are_dockers(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BuildContextError, match='^unable to prepare context: path "nope" not found$'):
        BuildContext.from_dir("nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BuildContextError, match="context must be a directory: .*/file$"):
        BuildContext.from_dir("file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BuildContextError) as err:
        BuildContext.from_dir("empty")
    assert str(err.value) == ("unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                              f"lstat {tmp_path}/empty/Dockerfile: no such file or directory")


def test_dockerfile_relative_to_cwd_lowercase_and_outside(tmp_path: Path, monkeypatch):
    root = _tree(tmp_path / "ctx", {"dockerfile": "FROM a\n", "x": "x"})
    assert BuildContext.from_dir(str(root)).dockerfile_text == "FROM a\n"
    _tree(tmp_path, {"other/Dockerfile.dev": "FROM b\n"})
    monkeypatch.chdir(tmp_path / "other")
    ctx = BuildContext.from_dir(str(root), "Dockerfile.dev")
    assert ctx.dockerfile_text == "FROM b\n"
    # outside the context: sent as a .dockerfile.<random> entry, .dockerignore made for it
    assert ctx.tar_size() == 512 * 2 + 512 * 2 + 1024 + 1024 + 1024


def test_dockerfile_from_stdin_with_a_directory(tmp_path: Path):
    root = _tree(tmp_path / "ctx", {"x": "x"})
    ctx = BuildContext.from_dir(str(root), "-", stdin=io.BytesIO(b"FROM c\n"))
    assert ctx.dockerfile_text == "FROM c\n"
    assert _names(ctx, ["x"]) == ["x"]


def test_tar_size_as_dockers_cli_counts(tmp_path: Path, ctx_dir: Path):
    (ctx_dir / ".dockerignore").write_text("ex\n!ex/keep\n")
    ctx = BuildContext.from_dir(str(ctx_dir))
    # files of one block: .dockerignore Dockerfile a.txt b.go ex/keep sub/b.txt sub/deep/d (2 blocks each);
    # one block: sub/ sub/b2.txt (a hardlink) sub/deep/ sub/pw sub/up; two end blocks
    assert ctx.tar_size() == 7 * 1024 + 5 * 512 + 1024
    small = BuildContext.from_dir(str(_tree(tmp_path / "small", {"Dockerfile": "FROM scratch\n"})))
    assert small.tar_size() == 2048  # "Sending build context to Docker daemon  2.048kB"
    long = "d" * 90 + "/" + "f" * 90  # a USTAR prefix split: no PAX header
    _tree(tmp_path / "small", {long: "x", "é": "x", "n" * 120: "x"})
    # d*90/ and its file: 512+1024; é (non-ASCII) and n*120 (unsplittable): PAX header + ustar + data
    again = BuildContext.from_dir(str(tmp_path / "small"))
    assert again.tar_size() == 2048 + 512 + 1024 + 2 * (512 + 512 + 1024)


# ---- .dockerignore ----------------------------------------------------------------------------


def test_dockerignore_rules(ctx_dir: Path):
    (ctx_dir / ".dockerignore").write_text("# comment\n**/*.txt\n!sub/b.txt\nex\n!ex/keep\nDockerfile\n")
    ctx = BuildContext.from_dir(str(ctx_dir))
    assert ctx.dockerfile_text == "FROM busybox\n"  # excluded, still read
    assert _names(ctx, ["*"]) == [".dockerignore", "b.go", "ex", "sub"]
    for hidden in ("Dockerfile", "a.txt", "ex/no", "sub/deep/../../a.txt"):
        with pytest.raises(BuildContextError, match="file not found in build context or excluded by "
                                                    r"\.dockerignore: stat .*: file does not exist$"):
            ctx.sources([hidden])
    entries = _read(ctx.tar_stream(ctx.sources(["ex"])))
    assert [m.name for m, _ in entries] == ["keep"]
    sub = [m.name for m, _ in _read(ctx.tar_stream(ctx.sources(["sub"])))]
    assert sub == ["b.txt", "deep", "deep/d", "pw", "up"]


def test_dockerignore_and_itself(tmp_path: Path):
    root = _tree(tmp_path / "c", {"Dockerfile": "FROM a\n", ".dockerignore": ".dockerignore\n", "x": "x"})
    ctx = BuildContext.from_dir(str(root))
    assert _names(ctx, ["*"]) == ["Dockerfile", "x"]
    assert ctx.tar_size() == 3 * 1024 + 1024  # .dockerignore is still sent


# ---- sources ------------------------------------------------------------------------------------


def test_wildcards_and_paths(ctx_dir: Path):
    ctx = BuildContext.from_dir(str(ctx_dir))
    assert _names(ctx, ["*.txt"]) == ["a.txt"]
    assert _names(ctx, ["sub/*.txt"]) == ["sub/b.txt", "sub/b2.txt"]
    assert _names(ctx, ["?.go", "/a.txt", "./sub/deep"]) == ["b.go", "a.txt", "sub/deep"]
    assert _names(ctx, ["[ab].*"]) == ["a.txt", "b.go"]
    assert _names(ctx, ["*/deep/?"]) == ["sub/deep/d"]
    assert ctx.sources(["/"])[0].is_dir and ctx.sources(["."])[0].path == ""
    with pytest.raises(BuildContextError, match="^COPY failed: no source files were specified$"):
        ctx.sources(["*.c", "[z"])
    with pytest.raises(BuildContextError, match=r"^ADD failed: forbidden path outside the build "
                                                r"context: \.\./x \(\)$"):
        ctx.sources(["../x"], "ADD")
    with pytest.raises(BuildContextError, match="forbidden path outside the build context: sub/../../x"):
        ctx.sources(["sub/../../x"])


def test_symlinks_resolved_in_scope(ctx_dir: Path):
    ctx = BuildContext.from_dir(str(ctx_dir))
    up = ctx.sources(["sub/up"])[0]
    assert (up.name, up.path) == ("sub/up", "a.txt")
    with pytest.raises(BuildContextError, match="stat sub/pw: file does not exist"):
        ctx.sources(["sub/pw"])  # /etc/passwd re-rooted: <ctx>/etc/passwd does not exist
    _tree(ctx_dir, {"etc/passwd": "mine\n"})
    ctx = BuildContext.from_dir(str(ctx_dir))
    [(info, data)] = _read(ctx.tar_stream(ctx.sources(["sub/pw"])))
    assert (info.name, data) == ("pw", b"mine\n")
    os.symlink("../../..", ctx_dir / "sub/escape")
    assert ctx.sources(["sub/escape/a.txt"])[0].path == "a.txt"
    os.symlink("loop2", ctx_dir / "loop1")
    os.symlink("loop1", ctx_dir / "loop2")
    with pytest.raises(BuildContextError, match=r"forbidden path outside the build context: loop1 \(\)"):
        ctx.sources(["loop1"])


def test_directory_symlink_loop_copied_as_links(tmp_path: Path):
    root = _tree(tmp_path / "c", {"Dockerfile": "FROM a\n", "d/f": "f"})
    os.symlink("..", root / "d/up")
    os.symlink(".", root / "d/self")
    ctx = BuildContext.from_dir(str(root))
    entries = _read(ctx.tar_stream(ctx.sources(["d"])))
    assert [(m.name, m.type, m.linkname) for m, _ in entries] == [
        ("f", tarfile.REGTYPE, ""), ("self", tarfile.SYMTYPE, "."), ("up", tarfile.SYMTYPE, "..")]
    assert ctx.digest(ctx.sources(["d"])).kind == "dir"


# ---- tar_stream -------------------------------------------------------------------------------


def test_tar_stream_entries(ctx_dir: Path):
    os.chmod(ctx_dir / "a.txt", 0o751)
    os.utime(ctx_dir / "a.txt", (1_600_000_000, 1_600_000_000))
    ctx = BuildContext.from_dir(str(ctx_dir))
    [(info, data)] = _read(ctx.tar_stream(ctx.sources(["a.txt"]), uid=1000, gid=1001))
    assert (info.name, info.mode, info.uid, info.gid, info.mtime, data) == (
        "a.txt", 0o751, 1000, 1001, 1_600_000_000, b"hi\n")
    [(info, _)] = _read(ctx.tar_stream(ctx.sources(["sub/up"]), rename="renamed", chmod=0o600))
    assert (info.name, info.mode) == ("renamed", 0o600)
    entries = {m.name: (m, d) for m, d in _read(ctx.tar_stream(ctx.sources(["sub", "b.go"]), chmod=0o640))}
    assert list(entries) == ["b.txt", "b2.txt", "deep", "deep/d", "pw", "up", "b.go"]
    assert entries["b2.txt"][0].islnk() and entries["b2.txt"][0].linkname == "b.txt"
    assert entries["pw"][0].issym() and entries["pw"][0].linkname == "/etc/passwd"
    assert entries["deep"][0].mode == 0o640 and entries["deep/d"][1] == b"d\n"
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" for m, _ in entries.values())
    with pytest.raises(ValueError):
        ctx.tar_stream(ctx.sources(["sub"]), rename="x")


def test_inline_source_and_chunks(tmp_path: Path):
    root = _tree(tmp_path / "c", {"Dockerfile": "FROM a\n", "big": os.urandom(3 << 20)})
    ctx = BuildContext.from_dir(str(root))
    [(info, data)] = _read(ctx.tar_stream([Source.inline("hello", b"hi\n", 0o755)]))
    assert (info.name, info.mode, data) == ("hello", 0o755, b"hi\n")
    chunks = list(ctx.tar_stream(ctx.sources(["big"])))
    assert max(map(len, chunks)) <= 1 << 20 and len(chunks) >= 3
    assert _read(chunks)[0][1] == (root / "big").read_bytes()


def test_file_that_grows_while_read_fails(tmp_path: Path):
    root = _tree(tmp_path / "c", {"Dockerfile": "FROM a\n", "grow": b"x" * (3 << 20)})
    ctx = BuildContext.from_dir(str(root))
    stream = ctx.tar_stream(ctx.sources(["grow"]))
    next(stream)
    with open(root / "grow", "ab") as f:
        f.write(b"more")
    with pytest.raises(BuildContextError, match="'grow' changed size while it was read"):
        list(stream)


# ---- digest ------------------------------------------------------------------------------------


def test_digest_ignores_mtimes_and_sees_one_byte(ctx_dir: Path):
    ctx = BuildContext.from_dir(str(ctx_dir))
    before = {p: ctx.digest(ctx.sources([p])) for p in ("a.txt", "sub", "*")}
    assert [d.kind for d in before.values()] == ["file", "dir", "multi"]
    assert str(before["a.txt"]).startswith("file:") and before["a.txt"].digest.startswith("sha256:")
    for path in ctx_dir.rglob("*"):
        os.utime(path, (1, 1), follow_symlinks=False)
    again = BuildContext.from_dir(str(ctx_dir))
    assert {p: again.digest(again.sources([p])) for p in before} == before
    (ctx_dir / "sub/deep/d").write_text("e\n")
    changed = BuildContext.from_dir(str(ctx_dir))
    after = {p: changed.digest(changed.sources([p])) for p in before}
    assert after["a.txt"] == before["a.txt"]
    assert after["sub"] != before["sub"] and after["*"] != before["*"]
    os.chmod(ctx_dir / "a.txt", 0o600)
    mode = BuildContext.from_dir(str(ctx_dir))
    assert mode.digest(mode.sources(["a.txt"])) != before["a.txt"]


def test_digest_is_mobys_tarsum(tmp_path: Path):
    """tarsum v1 of "a.txt" (0644, "hi\\n") as the CLI tars it: fields then content."""
    import hashlib
    root = _tree(tmp_path / "c", {"Dockerfile": "FROM a\n", "a.txt": "hi\n"})
    os.chmod(root / "a.txt", 0o644)
    ctx = BuildContext.from_dir(str(root))
    fields = "namea.txtmode33188uid0gid0size3typeflag0linknameunamegnamedevmajor0devminor0"
    want = hashlib.sha256(fields.encode() + b"hi\n").hexdigest()
    assert str(ctx.digest(ctx.sources(["a.txt"]))) == f"file:{want}"


# ---- from_stdin -----------------------------------------------------------------------------


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def test_from_stdin_tar_and_gzip(tmp_path: Path):
    plain = _tar([_reg("Dockerfile", b"FROM x\n"), _reg("app/main.c", b"int main;\n"),
                  _reg(".dockerignore", b"app\n.dockerignore\n")])
    for n, raw in enumerate((plain, gzip.compress(plain))):
        work = tmp_path / str(n)
        work.mkdir()
        with BuildContext.from_stdin(io.BytesIO(raw), work) as ctx:
            assert ctx.dockerfile_text == "FROM x\n"
            assert ctx.tar_size() == len(raw)
            # a tar context is not filtered by the daemon, only .dockerignore/Dockerfile removed
            assert _names(ctx, ["app/main.c"]) == ["app/main.c"]
            with pytest.raises(BuildContextError):
                ctx.sources([".dockerignore"])
        assert not (work / "context").exists()


def test_from_stdin_bare_dockerfile(tmp_path: Path):
    ctx = BuildContext.from_stdin(io.BytesIO(b"FROM busybox\nRUN true\n"), tmp_path)
    assert ctx.dockerfile_text == "FROM busybox\nRUN true\n"
    assert ctx.tar_size() == 2048
    assert _names(ctx, ["*"]) == ["Dockerfile"]
    ctx.close()


def test_from_stdin_errors(tmp_path: Path):
    with pytest.raises(BuildContextError, match="^Cannot locate specified Dockerfile: Dockerfile$"):
        BuildContext.from_stdin(io.BytesIO(_tar([_reg("x", b"x")])), tmp_path)
    assert not (tmp_path / "context").exists()
    with pytest.raises(BuildContextError, match="can't use stdin for both"):
        BuildContext.from_stdin(io.BytesIO(b""), tmp_path, "-")


def test_from_stdin_hostile_tars_refused(tmp_path: Path):
    outside = tmp_path / "victim"
    dotdot = _tar([_reg("Dockerfile", b"FROM x\n"), _reg("../victim", b"pwned")])
    link = tarfile.TarInfo("ln")
    link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path)
    through = _tar([_reg("Dockerfile", b"FROM x\n"), (link, None), _reg("ln/victim", b"pwned")])
    for n, raw in enumerate((dotdot, through)):
        work = tmp_path / f"w{n}"
        work.mkdir()
        with pytest.raises(BuildContextError, match="^error processing tar file from stdin: refusing"):
            BuildContext.from_stdin(io.BytesIO(raw), work)
        assert not outside.exists() and not (work / "context").exists()


# ---- ADD of a local archive ------------------------------------------------------------------------


def test_archive_stream(tmp_path: Path):
    inner = _tar([_reg("in/x", b"x\n")])
    root = _tree(tmp_path / "c", {"Dockerfile": "FROM a\n", "a.tar": inner, "a.tgz": gzip.compress(inner),
                                  "plain.txt": "not a tar\n", "empty": b"",
                                  "fake.gz": gzip.compress(b"not a tar either" * 100)})
    ctx = BuildContext.from_dir(str(root))
    for name in ("a.tar", "a.tgz"):
        stream = archive_stream(ctx, ctx.sources([name])[0])
        assert stream is not None and b"".join(stream) == inner
    for name in ("plain.txt", "empty", "fake.gz", "Dockerfile"):
        assert archive_stream(ctx, ctx.sources([name])[0]) is None
