"""Hand-built, uncompressed tar layers for the image tests.

Every builder returns the bytes of one tar archive (PAX format), built entry by
entry from ``TarInfo`` so the tests control exactly what a layer holds,
including entries no well-behaved tool would write. The output is
deterministic: fixed mtimes, no user/group names, seeded random data, so the
same call always yields the same diff ID.

The benign layers are meant to stack in this order, each acting on the paths
of the ones before it::

    base_layer, whiteout_layer, hardlink_layer, setuid_layer, xattr_layer, device_layer

The hostile layers are each one attack from the security notes (T1-T5 in
/work/shared/reference/security-reliability.md); an applier must refuse them or
keep every write inside the rootfs.
"""

from __future__ import annotations

import io
import random
import tarfile

__all__ = [
    "MTIME",
    "TarEntry",
    "build_tar",
    "dir_entry",
    "file_entry",
    "symlink_entry",
    "hardlink_entry",
    "chardev_entry",
    "fifo_entry",
    "base_layer",
    "whiteout_layer",
    "hardlink_layer",
    "setuid_layer",
    "xattr_layer",
    "device_layer",
    "marker_layer",
    "big_layer",
    "dotdot_layer",
    "abs_layer",
    "symlink_escape_layer",
    "symlink_escape_two_layers",
    "hardlink_escape_layer",
    "dotdot_symlink_layer",
]

# Fixed modification time of every entry (2000-01-01T00:00:00Z).
MTIME = 946684800

# One archive member: its header and, for regular files, its content.
TarEntry = tuple[tarfile.TarInfo, bytes | None]


def _info(name: str, kind: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = uid
    info.gid = gid
    info.uname = ""
    info.gname = ""
    info.mtime = MTIME
    return info


def dir_entry(name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> TarEntry:
    return _info(name, tarfile.DIRTYPE, mode, uid, gid), None


def file_entry(name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0,
               xattrs: dict[str, str] | None = None) -> TarEntry:
    """A regular file; ``xattrs`` become PAX ``SCHILY.xattr.<name>`` records."""
    info = _info(name, tarfile.REGTYPE, mode, uid, gid)
    info.size = len(data)
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{key}": value for key, value in xattrs.items()}
    return info, data


def symlink_entry(name: str, target: str, uid: int = 0, gid: int = 0) -> TarEntry:
    info = _info(name, tarfile.SYMTYPE, 0o777, uid, gid)
    info.linkname = target
    return info, None


def hardlink_entry(name: str, target: str) -> TarEntry:
    """A hard link; ``target`` is a member name relative to the layer root."""
    info = _info(name, tarfile.LNKTYPE, 0o644, 0, 0)
    info.linkname = target
    return info, None


def chardev_entry(name: str, major: int, minor: int, mode: int = 0o666) -> TarEntry:
    info = _info(name, tarfile.CHRTYPE, mode, 0, 0)
    info.devmajor = major
    info.devminor = minor
    return info, None


def fifo_entry(name: str, mode: int = 0o644) -> TarEntry:
    return _info(name, tarfile.FIFOTYPE, mode, 0, 0), None


def build_tar(entries: list[TarEntry]) -> bytes:
    """Write ``entries`` in order, verbatim (names are not normalised)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def base_layer() -> bytes:
    """A small tree the later benign layers modify.

    ``data/gone`` is removed by ``whiteout_layer``; ``data/opaque/x`` is hidden
    by its opaque marker; ``data/keep`` and ``data/dir/*`` survive. ``bin/``
    holds a relative and an absolute symlink to ``data/keep``.
    """
    return build_tar([
        dir_entry("etc/"),
        file_entry("etc/os-release", b'ID=barque-test\nNAME="barque test layers"\n'),
        dir_entry("data/"),
        file_entry("data/keep", b"keep\n"),
        file_entry("data/gone", b"gone\n"),
        dir_entry("data/dir/"),
        file_entry("data/dir/a", b"a\n"),
        file_entry("data/dir/b", b"b\n"),
        dir_entry("data/opaque/"),
        file_entry("data/opaque/x", b"x\n"),
        dir_entry("bin/"),
        symlink_entry("bin/keep-rel", "../data/keep"),
        symlink_entry("bin/keep-abs", "/data/keep"),
    ])


def whiteout_layer() -> bytes:
    """Deletes ``data/gone`` and makes ``data/opaque`` opaque, adding ``data/opaque/new``.

    The opaque marker comes *after* ``new`` in the archive: the spec applies it
    regardless of order, so ``new`` must survive and only lower-layer children
    (``x``) disappear.
    """
    return build_tar([
        dir_entry("data/"),
        file_entry("data/.wh.gone", b""),
        dir_entry("data/opaque/"),
        file_entry("data/opaque/new", b"new\n"),
        file_entry("data/opaque/.wh..wh..opq", b""),
    ])


def hardlink_layer() -> bytes:
    """``hard/file`` and ``hard/link``, a hard link to it (same inode once applied)."""
    return build_tar([
        dir_entry("hard/"),
        file_entry("hard/file", b"linked content\n"),
        hardlink_entry("hard/link", "hard/file"),
    ])


def setuid_layer() -> bytes:
    """Special mode bits and ownership that an applier must keep.

    ``perm/setuid`` 0o4755 root, ``perm/setgid`` 0o2755 root, ``perm/sticky/``
    a 0o1777 directory, ``perm/owned`` 0o640 owned by 1000:1000.
    """
    return build_tar([
        dir_entry("perm/"),
        file_entry("perm/setuid", b"#!/bin/sh\n", mode=0o4755),
        file_entry("perm/setgid", b"#!/bin/sh\n", mode=0o2755),
        dir_entry("perm/sticky/", mode=0o1777),
        file_entry("perm/owned", b"owned by app\n", mode=0o640, uid=1000, gid=1000),
    ])


def xattr_layer() -> bytes:
    """``xattr/file`` carrying ``user.test=barque`` as a PAX ``SCHILY.xattr`` record."""
    return build_tar([
        dir_entry("xattr/"),
        file_entry("xattr/file", b"has an xattr\n", xattrs={"user.test": "barque"}),
    ])


def device_layer() -> bytes:
    """``devices/null`` (char 1,3, 0o666) and ``devices/fifo`` (a named pipe).

    Kept out of ``dev/`` so a runtime's /dev mount does not hide them.
    """
    return build_tar([
        dir_entry("devices/"),
        chardev_entry("devices/null", 1, 3),
        fifo_entry("devices/fifo"),
    ])


def marker_layer(text: str, path: str = "etc/barque-marker") -> bytes:
    """One file ``path`` holding ``text`` plus a newline (tells images apart)."""
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    entries = [dir_entry(parent + "/")] if parent else []
    return build_tar(entries + [file_entry(path, text.encode() + b"\n")])


def big_layer(mb: int = 40, seed: int = 1) -> bytes:
    """``big/random``: ``mb`` MiB of seeded pseudo-random (incompressible) bytes."""
    data = random.Random(seed).randbytes(mb * 1024 * 1024)
    return build_tar([dir_entry("big/"), file_entry("big/random", data)])


def dotdot_layer() -> bytes:
    """T1: a member named ``../escape``, one level above the rootfs."""
    return build_tar([file_entry("../escape", b"escaped via ..\n")])


def abs_layer() -> bytes:
    """T2: a member named ``/abs-escape``; must land in the rootfs, not the host root."""
    return build_tar([file_entry("/abs-escape", b"escaped via absolute name\n")])


def symlink_escape_layer(target: str) -> bytes:
    """T3 in one layer: ``evil -> target`` then ``evil/pwned`` written through it."""
    return build_tar([
        symlink_entry("evil", target),
        file_entry("evil/pwned", b"written through a symlink\n"),
    ])


def symlink_escape_two_layers(target: str) -> tuple[bytes, bytes]:
    """T3 across layers: the first holds ``evil -> target``, the second ``evil/pwned``."""
    first = build_tar([symlink_entry("evil", target)])
    second = build_tar([file_entry("evil/pwned", b"written through a lower symlink\n")])
    return first, second


def hardlink_escape_layer() -> bytes:
    """T5: ``passwd-link`` hard-links ``/etc/passwd``; ``outside-link`` hard-links ``../outside``.

    Linknames are archive-root relative: neither may reach a host file.
    """
    return build_tar([
        hardlink_entry("passwd-link", "/etc/passwd"),
        hardlink_entry("outside-link", "../outside"),
    ])


def dotdot_symlink_layer() -> bytes:
    """T3/T4: ``evil -> ../../../..`` (relative climb past the root) then ``evil/x``."""
    return build_tar([
        symlink_entry("evil", "../../../.."),
        file_entry("evil/x", b"written through a relative escape\n"),
    ])
