"""``barque export`` through the real CLI and a real engine (busybox): the
tar lists the container's files as ``tar -t`` sees them (a file it wrote, the
image's, no /proc or volume contents), stdout and ``-o`` agree, it unpacks
into a fresh directory with contents and modes intact, a stopped container
exports too, and the errors are Docker's (a terminal refused, no such
container), exit 1.

Every container a test makes is removed by the ``clean`` fixture.
"""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.support.engine import CLI, REPO

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _listing(tar: Path) -> list[str]:
    return subprocess.run(["tar", "-tf", str(tar)], capture_output=True, text=True, check=True).stdout.splitlines()


def test_export_lists_files_and_round_trips(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    cid = engine.ok("run", "-d", "-v", "/vol", busybox, "sh", "-c",
                    "echo exported > /marker && echo in-volume > /vol/hidden && mkdir -p /deep/er && "
                    "ln -s /marker /deep/er/link && exec sleep 600").stdout.strip()
    engine.ok("exec", cid, "test", "-e", "/vol/hidden")
    out = tmp_path / "c.tar"
    engine.ok("export", "-o", str(out), cid)
    names = _listing(out)
    assert {"marker", "bin/", "bin/busybox", "etc/passwd", "deep/er/link", "vol/", "proc/"} <= set(names)
    assert "vol/hidden" not in names  # a volume is not part of the container's filesystem
    assert not any(n.startswith(("proc/", "sys/")) and n not in ("proc/", "sys/") for n in names)
    assert names == sorted(names, key=lambda n: n.rstrip("/").split("/"))
    # stdout (redirected to a file) gives the same archive
    with open(tmp_path / "stdout.tar", "wb") as f:
        res = subprocess.run([*CLI, "container", "export", cid], stdout=f, stderr=subprocess.PIPE, timeout=120, check=False,
                             env={**os.environ, **engine.env}, cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert _listing(tmp_path / "stdout.tar") == names
    # into a fresh directory: contents, modes and links as in the container
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    subprocess.run(["tar", "-xf", str(out), "-C", str(fresh)], check=True)
    assert (fresh / "marker").read_text() == "exported\n"
    assert os.readlink(fresh / "deep/er/link") == "/marker"
    assert os.stat(fresh / "bin/busybox").st_mode & 0o111
    assert (fresh / "etc/passwd").read_text() == engine.ok("exec", cid, "cat", "/etc/passwd").stdout
    # stopped: the same files
    engine.ok("stop", "-t", "1", cid)
    engine.ok("export", "-o", str(tmp_path / "stopped.tar"), cid)
    assert "marker" in _listing(tmp_path / "stopped.tar")
    assert not list(tmp_path.glob(".docker_temp_*"))


def test_export_errors(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    res = engine.cli("export", "-o", str(tmp_path / "x.tar"), "nosuch")
    assert (res.returncode, res.stderr.strip()) == (1, "Error response from daemon: No such container: nosuch")
    assert list(tmp_path.iterdir()) == []  # no partial or temp file left
    res = engine.cli("export", "-o", str(tmp_path / "missing" / "x.tar"), "nosuch")
    assert res.returncode == 1
    assert res.stderr.strip() == (f'failed to export container: invalid output path: directory '
                                  f'"{tmp_path}/missing" does not exist')
    cid = engine.ok("create", busybox).stdout.strip()
    controller, terminal = pty.openpty()
    try:
        res = subprocess.run([*CLI, "export", cid], stdout=terminal, stderr=subprocess.PIPE, timeout=60, check=False,
                             env={**os.environ, **engine.env}, cwd=REPO)
    finally:
        os.close(terminal)
        os.close(controller)
    assert res.returncode == 1
    assert res.stderr.decode().strip() == "cowardly refusing to save to a terminal. Use the -o flag or redirect"
