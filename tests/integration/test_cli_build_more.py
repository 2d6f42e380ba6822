"""``barque build``: the rest of the Dockerfile reference end to end.

ADD of a local archive (extracted by the runtime's safe tar code) and of a
loopback URL with ``--checksum``; ``COPY --chown`` by names from the image's
own /etc/passwd and /etc/group, ``--chmod``, ``--link``; heredocs in RUN and
COPY as BuildKit's frontend documents them; ONBUILD triggers running in the
child build; ``build -`` with a Dockerfile or a tar on stdin; ``-f`` outside
the context; ``--network none``; an instruction barque does not support
refused with its line number."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest

from tests.support.buildcorpus import tar_bytes

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture
def eng(clean, busybox):
    clean.ok("tag", busybox, "busybox")
    return clean


def _ctx(tmp_path: Path, dockerfile: str, files: dict[str, bytes | str] | None = None) -> Path:
    root = tmp_path / "ctx"
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def _sh(engine, ref: str, script: str) -> str:
    return engine.ok("run", "--rm", ref, "sh", "-c", script).stdout


@pytest.fixture
def web(tmp_path):
    """A loopback HTTP server over tmp_path/www (never an outside address)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_add_extracts_a_local_archive_and_copy_does_not(eng, tmp_path):
    archive = tar_bytes({"pkg/bin/tool": b"#!/bin/sh\necho tool\n", "pkg/README": b"readme\n"}, uid=1234)
    ctx = _ctx(tmp_path, "FROM busybox\nADD pkg.tar.gz /opt/\nCOPY pkg.tar.gz /copied/\n",
               {"pkg.tar.gz": archive})
    eng.ok("build", "-t", "addtar", str(ctx))
    out = _sh(eng, "addtar", "cat /opt/pkg/README; stat -c '%u:%g %a' /opt/pkg/bin/tool; ls /copied")
    assert out.splitlines() == ["readme", "1234:1234 640", "pkg.tar.gz"]


def test_add_url_with_checksum(eng, tmp_path, web):
    root, url = web
    (root / "data.bin").write_bytes(b"downloaded\n")
    good = "sha256:" + hashlib.sha256(b"downloaded\n").hexdigest()
    ctx = _ctx(tmp_path, f"FROM busybox\nADD --checksum={good} {url}/data.bin /dl/\n")
    eng.ok("build", "-t", "addurl", str(ctx))
    assert _sh(eng, "addurl", "cat /dl/data.bin; stat -c %a /dl/data.bin") == "downloaded\n600\n"
    bad = _ctx(tmp_path / "bad", f"FROM busybox\nADD --checksum=sha256:{'0' * 64} {url}/data.bin /dl/\n")
    res = eng.cli("build", str(bad))
    assert res.returncode == 1 and "checksum mismatch" in res.stderr
    assert eng.ok("ps", "-aq").lines == []


def test_copy_chown_by_name_chmod_and_link(eng, tmp_path):
    ctx = _ctx(tmp_path, (
        "FROM busybox\n"
        "COPY --chown=nobody:nogroup f /owned/f\n"
        "COPY --chown=1001 f /numeric/\n"
        "COPY --chmod=0751 f /modes/f\n"
        "COPY --link f /linked/f\n"), {"f": "file\n"})
    eng.ok("build", "-t", "owners", str(ctx))
    out = _sh(eng, "owners", "stat -c '%u:%g %a %n' /owned /owned/f /numeric /numeric/f /modes/f /linked/f")
    nobody = _sh(eng, "owners", "id -u nobody; grep ^nogroup: /etc/group | cut -d: -f3").split()
    lines = out.splitlines()
    assert lines[0] == f"{nobody[0]}:{nobody[1]} 755 /owned"  # a new parent gets the --chown owner (moby)
    assert lines[1].startswith(f"{nobody[0]}:{nobody[1]} ")
    assert lines[2] == "1001:1001 755 /numeric" and lines[3].startswith("1001:1001 ")
    assert lines[4] == "0:0 751 /modes/f" and lines[5].startswith("0:0 644 /linked/f")
    res = eng.cli("build", str(_ctx(tmp_path / "b", "FROM busybox\nCOPY --chown=nosuchuser f /f\n", {"f": "x"})))
    assert res.returncode == 1 and "nosuchuser" in res.stderr
    assert eng.ok("ps", "-aq").lines == []


def test_heredocs_in_run_and_copy(eng, tmp_path):
    ctx = _ctx(tmp_path, (
        "FROM busybox\n"
        "ENV WHO=world\n"
        "RUN <<EOF\n"
        "echo first > /one\n"
        "echo second >> /one\n"
        "EOF\n"
        "RUN cat <<END > /two\n"
        "hello $WHO\n"
        "END\n"
        "COPY <<A <<'B' /docs/\n"
        "expanded $WHO\n"
        "A\n"
        "literal $WHO\n"
        "B\n"))
    eng.ok("build", "-t", "heredocs", str(ctx))
    assert _sh(eng, "heredocs", "cat /one /two") == "first\nsecond\nhello world\n"
    assert _sh(eng, "heredocs", "cat /docs/A /docs/B") == "expanded world\nliteral $WHO\n"


def test_copy_from_an_image_that_is_no_stage(eng, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox AS unrelated\nFROM scratch\nCOPY --from=busybox /bin/busybox /busybox\n")
    eng.ok("build", "-t", "fromimage", str(ctx))
    # busybox-static runs alone on scratch: the copied binary is whole and executable
    assert eng.ok("run", "--rm", "fromimage", "/busybox", "echo", "from an image").stdout == "from an image\n"


def test_onbuild_triggers_run_in_the_child(eng, tmp_path):
    parent = _ctx(tmp_path / "p", "FROM busybox\nONBUILD RUN echo triggered > /from-parent\n")
    eng.ok("build", "-t", "parent:1", str(parent))
    child = _ctx(tmp_path / "c", "FROM parent:1\nRUN cat /from-parent\n")
    out = eng.ok("build", "-t", "child:1", str(child)).stdout
    assert "# Executing 1 build trigger" in out
    assert _sh(eng, "child:1", "cat /from-parent") == "triggered\n"
    config = json.loads(eng.ok("image", "inspect", "child:1").stdout)[0]["Config"]
    assert not config.get("OnBuild")


def test_stdin_dockerfile_tar_and_dockerfile_elsewhere(eng, tmp_path):
    res = eng.ok("build", "-t", "fromstdin", "-", input="FROM busybox\nRUN echo stdin > /s\n")
    assert "Successfully tagged fromstdin:latest" in res.stdout
    assert _sh(eng, "fromstdin", "cat /s") == "stdin\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY in.txt /in.txt\n"), ("in.txt", b"from tar\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    tar_path = tmp_path / "ctx.tar"
    tar_path.write_bytes(buf.getvalue())
    import subprocess

    with open(tar_path, "rb") as stdin:
        proc = subprocess.run([*eng_cli(eng), "build", "-t", "fromtar", "-"], stdin=stdin,
                              capture_output=True, env=eng_env(eng), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert _sh(eng, "fromtar", "cat /in.txt") == "from tar\n"
    ctx = _ctx(tmp_path, "", {"x.txt": "x\n"})
    other = tmp_path / "elsewhere.Dockerfile"
    other.write_text("FROM busybox\nCOPY x.txt /x\n")
    eng.ok("build", "-f", str(other), "-t", "elsewhere", str(ctx))
    assert _sh(eng, "elsewhere", "cat /x") == "x\n"


def eng_cli(engine) -> list[str]:
    from tests.support.engine import CLI

    return CLI


def eng_env(engine) -> dict:
    import os

    return {**os.environ, **engine.env}


def test_network_none_and_refusals(eng, tmp_path):
    ctx = _ctx(tmp_path, "FROM busybox\nRUN cat /proc/net/dev > /devs\n")
    eng.ok("build", "--network", "none", "-t", "nonet", str(ctx))
    devices = {line.split(":")[0].strip() for line in _sh(eng, "nonet", "cat /devs").splitlines()[2:]}
    assert devices == {"lo"}
    bad = _ctx(tmp_path / "bad", "FROM busybox\nRUN true\nFROBNICATE x\n")
    res = eng.cli("build", str(bad))
    assert res.returncode != 0 and "line 3" in res.stderr and "FROBNICATE" in res.stderr.upper()
    mount = _ctx(tmp_path / "m", "FROM busybox\nRUN --mount=type=cache,target=/c true\n")
    res = eng.cli("build", str(mount))
    assert res.returncode == 1 and "--mount" in res.stderr
    assert eng.ok("ps", "-aq").lines == []


def test_compact_progress_view(eng, tmp_path):
    """``--progress=tty`` (what a terminal gets with auto): a line per step, CACHED on a rebuild."""
    ctx = _ctx(tmp_path, "FROM busybox\nENV A=1\nRUN echo from-run\n")
    first = eng.ok("build", "--progress", "tty", "-t", "compact", str(ctx)).stdout
    # (the harness reads text: its universal newlines turn the view's "\r" into "\n")
    assert "\x1b[K[1/3] FROM busybox" in first and "[3/3] RUN echo from-run | from-run" in first
    assert "Step 1/3" not in first and "Running in" not in first
    again = eng.ok("build", "--progress", "tty", str(ctx)).stdout
    finals = [line.split("\x1b[K")[-1] for line in again.splitlines()]
    assert [line.split()[-1] for line in finals if line.startswith("[") and line.split()[-1] == "CACHED"] == [
        "CACHED", "CACHED"]
    plain = eng.ok("build", "--progress", "plain", str(ctx)).stdout
    assert "Step 2/3 : ENV A=1" in plain and " ---> Using cache" in plain
