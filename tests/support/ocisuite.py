"""runc 1.1.5's own integration suite (``tests/integration``, bats), got from
Debian and made runnable here without the internet or Go.

* :func:`fetch`: ``apt-get source runc`` through an apt configuration of the
  test's own (a ``deb-src`` list, lists and cache under the cache dir; the
  machine's sources are never read or changed), once per machine into
  ``/var/cache/barque-test/runc-suite/`` under the same flock as
  :mod:`tests.support.baseimages` (its info.json written last).
* :func:`busybox_image`: the suite's busybox image, which runc's
  ``get-images.sh`` downloads, built from Debian's ``busybox-static``: every
  applet hard-linked in ``/bin``, the busybox image's ``/etc/passwd`` and
  ``/etc/group``, ``/root``, ``/home``, a sticky ``/tmp``; cached by the
  binary's digest. The Debian image (only ``hooks.bats`` uses it) is the
  cached debootstrap layer of :mod:`tests.support.baseimages`.
* :func:`stage`: a copy of the suite under a work dir, changed as
  tests/ocisuite/README.md lists: ``get-images.sh`` replaced by a script that
  prints the two cached images, our ``recvtty`` (tests/ocisuite/recvtty and
  recvtty.py) where helpers.bash looks for runc's Go one, and runc's ``go.mod`` beside it (spec.bats reads it).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.baseimages import CACHE_DIR, DEBIAN_GCC, prepare

__all__ = ["SUITE_CACHE", "RECVTTY", "LEFT_OUT", "Suite", "fetch", "busybox_image", "debian_image", "stage",
           "test_names", "container_ids"]

SUITE_CACHE = CACHE_DIR / "runc-suite"
RECVTTY = Path(__file__).resolve().parents[1] / "ocisuite" / "recvtty"
BUSYBOX = Path("/bin/busybox")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SOURCES = (f"deb-src [signed-by={KEYRING}] http://deb.debian.org/debian bookworm main\n"
           f"deb-src [signed-by={KEYRING}] http://deb.debian.org/debian-security bookworm-security main\n")

#: bats files that need what this machine lacks, left out for every runtime alike
LEFT_OUT = {
    "checkpoint.bats": "criu is not packaged here (checkpoint/restore)",
    "mounts_sshfs.bats": "needs sshfs and a working FUSE mount",
    "seccomp-notify.bats": "needs runc's seccompagent, a Go program (contrib/cmd/seccompagent)",
}

# the docker-library busybox image's account files (buildroot's skeleton)
_PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""
_SHADOW = "".join(f"{line.split(':')[0]}:*:10933:0:99999:7:::\n" for line in _PASSWD.splitlines())
_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700, "sys": 0o555,
         "tmp": 0o1777, "usr": 0o755, "usr/sbin": 0o755, "var": 0o755, "var/spool": 0o755,
         "var/spool/mail": 0o755, "var/www": 0o755}


_RECVTTY_START = '("$RECVTTY" --pid-file "$dir/pid" --mode null "$CONSOLE_SOCKET" &) &\n'
#: helpers.bash's setup_recvtty waits for the socket, as update.bats does for its own recvtty
_RECVTTY_WAIT = ('\t# barque: wait for the socket (tests/ocisuite/README.md)\n'
                 '\tlocal i\n\tfor i in $(seq 100); do [ -S "$CONSOLE_SOCKET" ] && break; sleep 0.05; done\n')


@dataclass(frozen=True)
class Suite:
    """A staged copy of runc's suite: ``integration`` is its tests/integration."""

    root: Path
    integration: Path
    version: str
    busybox: Path
    debian: Path

    def files(self) -> list[str]:
        """The bats files that run here (every file but :data:`LEFT_OUT`), sorted."""
        return sorted(p.name for p in self.integration.glob("*.bats") if p.name not in LEFT_OUT)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _apt(conf: Path, *args: str, cwd: Path) -> None:
    opts = ["-o", f"Dir::Etc::SourceList={conf / 'sources.list'}", "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={conf / 'lists'}", "-o", f"Dir::Cache={conf / 'cache'}",
            "-o", "APT::Sandbox::User=root", "-q"]
    proc = subprocess.run(["apt-get", *opts, *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"apt-get {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def fetch(cache: Path = SUITE_CACHE) -> tuple[Path, str]:
    """runc's unpacked Debian source (``<cache>/src``) and its version, fetched
    first when absent (needs root, dpkg-dev and deb.debian.org, a few seconds)."""
    cache.mkdir(parents=True, exist_ok=True)
    info = cache / "info.json"
    if not info.is_file():
        with _locked(cache.parent / f"{cache.name}.lock"):
            if not info.is_file():
                _fetch(cache)
    return cache / "src", json.loads(info.read_text())["version"]


def _fetch(cache: Path) -> None:
    if shutil.which("dpkg-source") is None:
        raise RuntimeError("dpkg-source is not installed: apt-get install -y dpkg-dev")
    staging = cache / "src.partial"  # an interrupted fetch never counts: info.json is written last
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(cache / "src", ignore_errors=True)
    conf, get = staging / "apt", staging / "get"
    for d in (conf / "lists" / "partial", conf / "cache" / "archives" / "partial", get):
        d.mkdir(parents=True)
    (conf / "sources.list").write_text(SOURCES)
    _apt(conf, "update", cwd=staging)
    _apt(conf, "source", "runc", cwd=get)
    [unpacked] = [p for p in get.iterdir() if p.is_dir()]
    [dsc] = list(get.glob("*.dsc"))
    version = re.search(r"^Version: (\S+)$", dsc.read_text(), re.M)
    if not (unpacked / "tests" / "integration" / "helpers.bash").is_file() or version is None:
        raise RuntimeError(f"apt-get source runc gave no tests/integration in {unpacked}")
    unpacked.rename(cache / "src")
    shutil.rmtree(staging)
    (cache / "info.json").write_text(json.dumps({"version": version[1], "dsc": dsc.name}))


def _add(tar: tarfile.TarFile, name: str, *, mode: int, data: bytes | None = None, kind: bytes = tarfile.REGTYPE,
         link: str = "") -> None:
    info = tarfile.TarInfo("./" + name)
    info.mode, info.type, info.linkname, info.mtime = mode, kind, link, 0
    if data is None:
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def busybox_image(cache: Path = SUITE_CACHE) -> Path:
    """The busybox rootfs tar of this machine's static busybox (built once per binary)."""
    binary = BUSYBOX.read_bytes()
    target = cache / "images" / f"busybox-{hashlib.sha256(binary).hexdigest()[:16]}.tar"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    partial = target.with_suffix(f".{os.getpid()}.partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "", mode=0o755, kind=tarfile.DIRTYPE)
        for d, mode in _DIRS.items():
            _add(tar, d, mode=mode, kind=tarfile.DIRTYPE)
        _add(tar, "bin/busybox", mode=0o755, data=binary)
        for applet in sorted(set(applets) - {"busybox"}):
            _add(tar, f"bin/{applet}", mode=0o755, kind=tarfile.LNKTYPE, link="./bin/busybox")
        for name, text, mode in (("passwd", _PASSWD, 0o644), ("group", _GROUP, 0o644), ("shadow", _SHADOW, 0o640)):
            _add(tar, f"etc/{name}", mode=mode, data=text.encode())
    partial.rename(target)
    return target


def debian_image() -> Path:
    """The cached debootstrap layer (gzip tar) of :mod:`tests.support.baseimages`."""
    image = prepare(DEBIAN_GCC)
    return image.blob(image.info["layer"]["digest"])


def stage(work: Path, cache: Path = SUITE_CACHE, *, debian: bool = True) -> Suite:
    """A runnable copy of the suite under ``work/runc`` (see the module's docstring).
    Without ``debian`` (only hooks.bats needs it) no debootstrap is waited for,
    and DEBIAN_IMAGE names a path that does not exist."""
    src, version = fetch(cache)
    busybox = busybox_image(cache)
    debian_tar = debian_image() if debian else cache / "images" / "no-debian-image.tar"
    root = work / "runc"
    integration = root / "tests" / "integration"
    shutil.copytree(src / "tests" / "integration", integration, symlinks=True)
    shutil.copy2(src / "go.mod", root / "go.mod")
    recvtty = root / "contrib" / "cmd" / "recvtty"
    recvtty.mkdir(parents=True)
    for name in ("recvtty", "recvtty.py"):
        shutil.copy2(RECVTTY.parent / name, recvtty / name)
    images = integration / "get-images.sh"
    images.write_text("#!/bin/bash\n# barque: in place of runc's get-images.sh, which downloads them;"
                      " built by tests/support/ocisuite.py\n"
                      f"echo 'BUSYBOX_IMAGE={busybox}'\necho 'DEBIAN_IMAGE={debian_tar}'\n")
    images.chmod(0o755)
    helpers = integration / "helpers.bash"
    text = helpers.read_text()
    if _RECVTTY_START not in text:
        raise RuntimeError(f"{helpers}: setup_recvtty is not runc 1.1.5's, the wait cannot be added")
    helpers.write_text(text.replace(_RECVTTY_START, _RECVTTY_START + _RECVTTY_WAIT))
    for d in (work, root):  # userns.bats' mapped users walk down to the bundles
        d.chmod(0o755)
    return Suite(root, integration, version, busybox, debian_tar)


_TEST = re.compile(r'^@test\s+"(.*)"\s*\{\s*$', re.M)
_RUN = re.compile(r"^\s*(?:__)?runc\s.*\b(?:run|create)\b.*\s([A-Za-z0-9][A-Za-z0-9_.-]*)\s*$", re.M)


def test_names(path: Path) -> list[str]:
    """The names of a bats file's tests, in file order (as bats reports them)."""
    return _TEST.findall(path.read_text())


def container_ids(suite: Suite) -> set[str]:
    """The container ids the suite's ``runc run``/``runc create`` lines name
    (the cgroup a runtime makes when ``cgroupsPath`` is empty is named by them)."""
    ids: set[str] = set()
    for path in suite.integration.glob("*.bats"):
        ids.update(i for i in _RUN.findall(path.read_text()) if not i.startswith("-"))
    return ids
