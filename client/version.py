"""barque's version, its API version, and the build a process runs.

Written by hand beside the generated contracts because the API version is
theirs: its major is the proto packages' ``v1``, its minor counts additive
revisions (fields and RPCs added, never renumbered), and
:data:`MIN_API_VERSION` is the oldest a component still serves. The package
version is pyproject.toml's, read from the installed distribution's
``barque-<version>.dist-info`` (or pyproject.toml itself in a source checkout
that was never installed).

Every component, the CLI and each service, reports :func:`build_info` of its
own process, as ``docker version`` shows the client's build and the
engine's. Only the standard library is imported, and ``tomllib`` only in that
fallback, so the CLI stays quick to start.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["API_VERSION", "MIN_API_VERSION", "BuildInfo", "build_info", "go_arch", "git_commit"]

API_VERSION = "1.0"
MIN_API_VERSION = "1.0"

#: ``uname -m`` to Go's GOARCH, the names Docker reports (and OCI platforms use)
_GO_ARCH = {
    "x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "386", "i686": "386",
    "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}

#: the source tree this module was loaded from, in a checkout (client/version.py)
_SOURCE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BuildInfo:
    """The fields of ``barque.types.v1.BuildInfo``, by the same names."""

    version: str
    api_version: str
    min_api_version: str
    git_commit: str
    build_time: str
    python_version: str
    os: str
    arch: str


def go_arch(machine: str) -> str:
    """Go's name for a ``uname -m`` machine; unknown ones pass through."""
    return _GO_ARCH.get(machine, machine)


@functools.lru_cache(maxsize=1)
def build_info() -> BuildInfo:
    """This process's build, computed once: the code a process runs does not
    change under it, whatever is installed or committed later."""
    version, built = _distribution()
    return BuildInfo(
        version=version, api_version=API_VERSION, min_api_version=MIN_API_VERSION,
        git_commit=git_commit(_SOURCE_ROOT), build_time=built,
        python_version="%d.%d.%d" % sys.version_info[:3],
        os=sys.platform, arch=go_arch(os.uname().machine),
    )


def _distribution() -> tuple[str, str]:
    """(version, build time) of the installed barque distribution: the version
    in its dist-info's name, the time pip wrote its METADATA (an editable
    install's build). Without one, pyproject.toml's version and no time."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("barque-") and name.endswith(".dist-info"):
                version = name[len("barque-"):-len(".dist-info")]
                try:
                    mtime = os.stat(os.path.join(entry or ".", name, "METADATA")).st_mtime
                except OSError:
                    return version, ""
                stamp = datetime.fromtimestamp(int(mtime), timezone.utc)
                return version, stamp.isoformat().replace("+00:00", "Z")
    return _pyproject_version(_SOURCE_ROOT / "pyproject.toml"), ""


def _pyproject_version(path: Path) -> str:
    import tomllib

    try:
        with open(path, "rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def git_commit(root: Path, length: int = 7) -> str:
    """The commit HEAD names in ``root``'s git work tree, shortened; "" when
    ``root`` is no work tree (an installed wheel) or the ref is unreadable.
    Read from the files, without running git."""
    git = root / ".git"
    try:
        if git.is_file():  # a linked work tree: "gitdir: <path>"
            git = (root / git.read_text().split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
    except (OSError, IndexError):
        return ""
    if not head.startswith("ref:"):
        return head[:length]
    ref = head[4:].strip()
    common = git
    try:
        common = (git / (git / "commondir").read_text().strip()).resolve()
    except OSError:
        pass
    for base in dict.fromkeys((git, common)):
        try:
            return (base / ref).read_text().strip()[:length]
        except OSError:
            pass
        try:
            packed = (base / "packed-refs").read_text()
        except OSError:
            continue
        for line in packed.splitlines():
            if line.endswith(" " + ref) and not line.startswith(("#", "^")):
                return line.split()[0][:length]
    return ""
