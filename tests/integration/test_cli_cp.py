"""``barque cp`` through the real CLI and a real engine (busybox): Docker's
path rules both ways (file, dir, ``dir/.``, rename, into a directory),
symlinks with and without ``-L``, ownership with and without ``-a``, ``-``
tar streams both ways, stopped containers, a volume of a running container,
a read-only rootfs; and hostile paths: symlinks inside the container to
``/``, ``/etc`` and ``../../..`` stay inside its root both ways, and a
hostile tar on stdin is refused with nothing written outside.

Every container a test makes is removed by the ``clean`` fixture.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.support.engine import CLI, REPO

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _run(engine, busybox: str, *flags: str) -> str:
    return engine.ok("run", "-d", *flags, busybox, "sleep", "600").stdout.strip()


def _sh(engine, cid: str, script: str) -> str:
    return engine.ok("exec", cid, "sh", "-c", script).stdout


def _raw(engine, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    """The CLI with binary stdin/stdout (a tar stream)."""
    return subprocess.run([*CLI, *args], input=data, capture_output=True, timeout=120, check=False,
                          env={**os.environ, **engine.env}, cwd=REPO)


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, len(data), linkname, 0o644
    return info, data


def test_files_and_dirs_both_ways(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    cid = _run(engine, busybox)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.txt").write_text("beta\n")
    os.chmod(src / "a.txt", 0o750)
    # file into a dir, and to a new name
    engine.ok("cp", str(src / "a.txt"), f"{cid}:/tmp/")
    engine.ok("cp", str(src / "a.txt"), f"{cid}:/tmp/renamed")
    assert _sh(engine, cid, "cat /tmp/a.txt /tmp/renamed; stat -c %a /tmp/a.txt") == "alpha\nalpha\n750\n"
    # a dir to a new name, then into the existing dir; dir/. copies its contents
    engine.ok("cp", str(src), f"{cid}:/tmp/d")
    engine.ok("cp", str(src), f"{cid}:/tmp/d")
    engine.ok("cp", f"{src}/.", f"{cid}:/tmp/contents")
    listing = _sh(engine, cid, "cd /tmp && find d contents | sort").split()
    assert listing == ["contents", "contents/a.txt", "contents/sub", "contents/sub/b.txt",
                       "d", "d/a.txt", "d/src", "d/src/a.txt", "d/src/sub", "d/src/sub/b.txt",
                       "d/sub", "d/sub/b.txt"]
    # out again: a file, a dir to a new name, a dir into an existing dir, dir/. into a new dir
    out = tmp_path / "out"
    out.mkdir()
    engine.ok("cp", f"{cid}:/etc/passwd", str(out / "passwd"))
    assert (out / "passwd").read_text() == _sh(engine, cid, "cat /etc/passwd")
    engine.ok("cp", f"{cid}:/tmp/d", str(out / "newd"))
    engine.ok("cp", f"{cid}:/tmp/d", str(out))
    engine.ok("cp", f"{cid}:/tmp/d/.", str(out / "dot"))
    assert (out / "newd" / "sub" / "b.txt").read_text() == "beta\n"
    assert (out / "d" / "src" / "a.txt").read_text() == "alpha\n"
    assert sorted(p.name for p in (out / "dot").iterdir()) == ["a.txt", "src", "sub"]
    assert oct(os.stat(out / "d" / "a.txt").st_mode & 0o777) == "0o750"
    # Docker's errors, exit 1
    res = engine.cli("cp", f"{cid}:/nope", str(out))
    assert (res.returncode, res.stderr.strip()) == (1, f"Error: No such container:path: {cid}:/nope")
    res = engine.cli("cp", f"{cid}:/tmp/d", str(out / "passwd"))
    assert (res.returncode, res.stderr.strip()) == (1, "cannot copy directory")
    res = engine.cli("cp", f"{cid}:/etc/passwd", str(out / "missing") + "/")
    assert (res.returncode, res.stderr.strip()) == (1, "no such directory")
    res = engine.cli("cp", str(tmp_path / "nope"), f"{cid}:/tmp/")
    assert (res.returncode, res.stderr.strip()) == (1, f"lstat {tmp_path}/nope: no such file or directory")
    res = engine.cli("cp", str(src), f"{cid}:/tmp/renamed")
    assert (res.returncode, res.stderr.strip()) == (1, "cannot copy directory")
    res = engine.cli("cp", str(src / "a.txt"), "nosuch:/tmp/x")
    assert (res.returncode, res.stderr.strip()) == (1, "Error: No such container:path: nosuch:/tmp")
    res = engine.cli("cp", str(src / "a.txt"), f"{cid}:/nope/x")
    assert (res.returncode, res.stderr.strip()) == (1, f"Error: No such container:path: {cid}:/nope")
    res = engine.cli("cp", f"{cid}:/etc/passwd", f"{cid}:/tmp/")
    assert (res.returncode, res.stderr.strip()) == (1, "copying between containers is not supported")
    # a paused container copies both ways too
    engine.ok("pause", cid)
    try:
        engine.ok("cp", str(src / "a.txt"), f"{cid}:/tmp/while-paused")
        engine.ok("cp", f"{cid}:/tmp/while-paused", str(out / "while-paused"))
    finally:
        engine.ok("unpause", cid)
    assert (out / "while-paused").read_text() == "alpha\n"
    res = engine.cli("cp", "a", "b")
    assert (res.returncode, res.stderr.strip()) == (1, "must specify at least one container source")


def test_symlinks_follow_link_and_ownership(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    cid = _run(engine, busybox)
    _sh(engine, cid, "ln -s /etc/passwd /tmp/pl")
    out = tmp_path / "out"
    out.mkdir()
    engine.ok("cp", f"{cid}:/tmp/pl", str(out))
    assert os.readlink(out / "pl") == "/etc/passwd"
    engine.ok("cp", "-L", f"{cid}:/tmp/pl", str(out / "followed"))
    assert (out / "followed").read_text() == _sh(engine, cid, "cat /etc/passwd")
    engine.ok("cp", "--follow-link", f"{cid}:/tmp/pl", str(tmp_path))
    assert not (tmp_path / "pl").is_symlink() and (tmp_path / "pl").read_text().startswith("root:")
    res = _raw(engine, "cp", "-L", f"{cid}:/tmp/pl", "-")  # a stream names the target, as docker's
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
        assert tf.getnames() == ["passwd"]
    # copy in through a symlinked destination dir: lands in its target, inside the container
    _sh(engine, cid, "mkdir -p /srv/real && ln -s /srv/real /srv/link")
    owned = tmp_path / "owned"
    owned.write_text("o")
    os.chown(owned, 1234, 5678)
    engine.ok("cp", str(owned), f"{cid}:/srv/link")
    engine.ok("cp", "-a", str(owned), f"{cid}:/srv/kept")
    assert _sh(engine, cid, "stat -c '%u:%g' /srv/real/owned /srv/kept").split() == ["0:0", "1234:5678"]


def test_tar_streams_both_ways(clean, busybox) -> None:
    engine = clean
    cid = _run(engine, busybox)
    res = _raw(engine, "cp", f"{cid}:/etc", "-")
    assert res.returncode == 0, res.stderr
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
        names = tf.getnames()
        assert tf.extractfile("etc/passwd").read().decode() == _sh(engine, cid, "cat /etc/passwd")  # type: ignore[union-attr]
    assert names[0] == "etc" and "etc/passwd" in names
    data = _tar(_member("in/one", data=b"1\n"), _member("in/two", data=b"2\n"))
    res = _raw(engine, "cp", "-", f"{cid}:/tmp", data=data)
    assert res.returncode == 0 and res.stdout == b"", res.stderr
    assert _sh(engine, cid, "cat /tmp/in/one /tmp/in/two; stat -c %u /tmp/in/one") == "1\n2\n0\n"
    res = _raw(engine, "cp", "-", f"{cid}:/etc/passwd", data=data)
    assert res.returncode == 1
    assert res.stderr.decode().strip() == f'destination "{cid}:/etc/passwd" must be a directory'


def test_stopped_container_and_volume_of_running_one(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    payload = tmp_path / "payload"
    payload.write_text("to the volume\n")
    vol = f"cpvol{uuid.uuid4().hex[:8]}"
    cid = _run(engine, busybox, "-v", f"{vol}:/data")
    engine.ok("cp", str(payload), f"{cid}:/data/")
    mountpoint = Path(json.loads(engine.ok("volume", "inspect", vol).stdout)[0]["Mountpoint"])
    assert (mountpoint / "payload").read_text() == "to the volume\n"
    engine.ok("cp", f"{cid}:/data/payload", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "to the volume\n"
    # stopped: a created container, then an exited one, both ways
    created = engine.ok("create", busybox, "cat", "/tmp/payload").stdout.strip()
    engine.ok("cp", str(payload), f"{created}:/tmp/")
    engine.ok("cp", f"{created}:/tmp/payload", str(tmp_path / "from_created"))
    assert (tmp_path / "from_created").read_text() == "to the volume\n"
    engine.ok("start", created)
    assert engine.ok("wait", created).stdout.strip() == "0"
    assert engine.ok("logs", created).stdout == "to the volume\n"
    engine.ok("cp", str(payload), f"{created}:/tmp/again")
    engine.ok("cp", f"{created}:/tmp/again", str(tmp_path / "again"))
    assert (tmp_path / "again").read_text() == "to the volume\n"
    engine.ok("rm", "-f", cid)
    engine.ok("volume", "rm", vol)


def test_read_only_rootfs_refuses_copy_in(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    vol = f"cpro{uuid.uuid4().hex[:8]}"
    cid = _run(engine, busybox, "--read-only", "-v", "/data", "-v", f"{vol}:/ro:ro")
    payload = tmp_path / "p"
    payload.write_text("x")
    res = engine.cli("cp", str(payload), f"{cid}:/tmp/")
    assert (res.returncode, res.stderr.strip()) == (
        1, "Error response from daemon: container rootfs is marked read-only")
    engine.ok("cp", str(payload), f"{cid}:/data/")  # a volume of it stays writable
    res = engine.cli("cp", str(payload), f"{cid}:/ro/")
    assert (res.returncode, res.stderr.strip()) == (
        1, "Error response from daemon: mounted volume is marked read-only")
    engine.ok("cp", f"{cid}:/etc/hostname", str(tmp_path / "h"))  # copy out works


def test_hostile_symlinks_stay_inside_the_root(clean, busybox, tmp_path: Path) -> None:
    engine = clean
    cid = _run(engine, busybox)
    _sh(engine, cid, "ln -s / /escape && ln -s /etc /etc2 && ln -s ../../../../ /up")
    tag = uuid.uuid4().hex[:12]
    payload = tmp_path / f"barque-cp-{tag}"
    payload.write_text("inside\n")
    host_etc = set(os.listdir("/etc"))
    engine.ok("cp", str(payload), f"{cid}:/escape/tmp/")
    engine.ok("cp", str(payload), f"{cid}:/etc2/")
    engine.ok("cp", str(payload), f"{cid}:/up/up/etc/via-up-{tag}")
    engine.ok("cp", str(payload), f"{cid}:/escape")  # dest is a symlink to a dir: into the container's /
    assert _sh(engine, cid, f"cat /tmp/barque-cp-{tag} /etc/barque-cp-{tag} /etc/via-up-{tag} /barque-cp-{tag}") \
        == "inside\n" * 4
    assert set(os.listdir("/etc")) == host_etc
    assert not Path(f"/tmp/barque-cp-{tag}").exists() and not Path(f"/barque-cp-{tag}").exists()
    # out: a host file named through the links is not found; the container's own files are
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("host secret\n")
    out = tmp_path / "out"
    out.mkdir()
    for path in (f"/escape{sentinel}", f"/up{sentinel}", f"/etc2/../{sentinel}"):
        res = engine.cli("cp", f"{cid}:{path}", str(out))
        assert (res.returncode, res.stderr.strip()) == (1, f"Error: No such container:path: {cid}:{path}")
    engine.ok("cp", f"{cid}:/etc2/hostname", str(out / "hostname"))
    engine.ok("cp", f"{cid}:/up/etc/passwd", str(out / "passwd"))
    assert (out / "hostname").read_text() == _sh(engine, cid, "cat /etc/hostname")
    assert (out / "passwd").read_text() == _sh(engine, cid, "cat /etc/passwd")
    res = _raw(engine, "cp", f"{cid}:/escape/", "-")  # the container's root, never the host's
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
        names = set(tf.getnames())
    assert "escape/bin/busybox" in names and f"escape{sentinel}" not in names
    assert "escape/proc" in names and not any(n.startswith("escape/proc/") for n in names)  # listed empty
    assert list(out.iterdir()) and all("secret" not in p.read_text() for p in out.iterdir() if p.is_file())


def test_hostile_tar_on_stdin_is_refused(clean, busybox) -> None:
    engine = clean
    cid = _run(engine, busybox)
    tag = uuid.uuid4().hex[:12]
    host_etc = set(os.listdir("/etc"))
    cases = [
        (_tar(_member(f"../{tag}-dotdot", data=b"x")), "'..'"),
        (_tar(_member(f"lnk{tag}", tarfile.SYMTYPE, linkname="/etc"),
              _member(f"lnk{tag}/{tag}-through", data=b"x")), "symlink"),
        (_tar(_member(f"hl{tag}", tarfile.LNKTYPE, linkname="../../etc/passwd")), "'..'"),
        (_tar(_member(f"hl{tag}", tarfile.LNKTYPE, linkname="/etc/shadow")), "hardlink"),
    ]
    for data, why in cases:
        res = _raw(engine, "cp", "-", f"{cid}:/tmp", data=data)
        err = res.stderr.decode()
        assert res.returncode == 1 and err.startswith("Error response from daemon: ") and why in err, err
        assert err.count("\n") == 1
    # an absolute name is contained: it lands under the destination
    res = _raw(engine, "cp", "-", f"{cid}:/tmp", data=_tar(_member(f"/etc/{tag}-abs", data=b"contained\n")))
    assert res.returncode == 0, res.stderr
    assert _sh(engine, cid, f"cat /tmp/etc/{tag}-abs; ls / /etc | grep -c {tag} || true") == "contained\n0\n"
    assert set(os.listdir("/etc")) == host_etc
    assert not any(tag in name for name in os.listdir("/tmp"))


def test_local_extraction_never_follows_a_planted_symlink(clean, busybox, tmp_path: Path) -> None:
    """A copy out into a destination that already holds a symlink named like an
    entry: the write is refused rather than following it out of DEST."""
    engine = clean
    cid = _run(engine, busybox)
    _sh(engine, cid, "mkdir -p /tmp/tree/etc && echo pwned > /tmp/tree/etc/target")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    (dest / "tree").mkdir(parents=True)
    os.symlink(outside, dest / "tree" / "etc")
    res = engine.cli("cp", f"{cid}:/tmp/tree", str(dest))
    assert res.returncode == 1 and "cannot overwrite non-directory" in res.stderr, res.stderr
    assert list(outside.iterdir()) == []


def test_tar_streams_through_the_warm_command_server(clean, busybox, tmp_path: Path) -> None:
    """The installed ``barque`` hands stdin and stdout to a forked worker as
    descriptors: binary tar streams pass through it unchanged both ways."""
    import signal
    import sys
    import time

    from cli.cmdserver import server_pid
    from tests.support.host import alive
    from tests.support.runtime import wait_for

    engine = clean
    cid = _run(engine, busybox)
    sock = tmp_path / "cli" / "cli.sock"
    env = {**os.environ, **engine.env, "BARQUE_CLI_SOCKET": str(sock)}
    env.pop("BARQUE_CLI_SERVER", None)
    launcher = [sys.executable, "-IS", str(REPO / "cli" / "launcher.py")]

    def barque(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*launcher, *args], input=data, capture_output=True, env=env, timeout=120, check=False)

    try:
        assert barque("ps").returncode == 0  # starts the server, runs in-process meanwhile
        wait_for(lambda: bool(server_pid(sock)) and sock.exists(), what="the command server")
        payload = os.urandom(300_000)
        res = barque("cp", "-", f"{cid}:/tmp", data=_tar(_member("warm/file", data=payload)))
        assert res.returncode == 0, res.stderr
        res = barque("cp", f"{cid}:/tmp/warm/file", "-")
        assert res.returncode == 0, res.stderr
        with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
            assert tf.extractfile("file").read() == payload  # type: ignore[union-attr]
    finally:
        pid = server_pid(sock)
        if pid and alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
