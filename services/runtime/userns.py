"""The engine's side of ``--userns-remap``: a remapped container's overlay
root, and the state directories its root must traverse.

Image layers are stored with the ids of the image (root's files owned by 0).
The remapped root (say host uid 100000) would see them owned by nobody and
could write none of them. Two ways to show them as its own:

- **idmapped mounts** (Linux 5.19+ for overlayfs lower layers): each lower
  dir is cloned detached with ``open_tree(OPEN_TREE_CLONE)``, given the
  remap's user namespace with ``mount_setattr(MOUNT_ATTR_IDMAP)``, attached
  on a scratch dir only long enough for overlayfs to take its own private
  clone, then unmounted. Nothing on disk changes, nothing is copied;
- **a chowned copy** of each layer per remap range (dockerd's remapped
  graph root), made once, reused by every container of the range, and
  removed once its layer is gone from the image store.

``auto`` probes idmapped mounts once (the first remapped container) and
caches the answer; ``copy`` (``[runtime] userns_layers``) always copies.

The user namespace for ``MOUNT_ATTR_IDMAP`` belongs to a short-lived helper
process (the service never forks: subprocess spawns it) that unshares one and
waits; the service writes its maps, keeps an fd on it for its lifetime, and
lets the helper exit. An idmapped mount needs only the namespace's maps.

The container's upper and work dirs are given to the remapped root, and the
state root, the runtime's dir, its ``containers`` dir and each remapped
container's dir are made 0710 with the remapped root's group: it may walk
down to its rootfs and etc files, and list none of them (Docker's 0710).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from client.errors import FailedPrecondition, Internal
from services.common.idmap import IdMapping
from services.common.log import get_logger
from services.common.server import REMAP_TRAVERSE_MODE
from services.runtime.engine.mounts import mount_overlay, unmount
from services.runtime.oci import mountapi as ma
from services.runtime.usernscopy import LayerCopies

__all__ = ["RemapLayers", "open_to_remapped_root", "userns_fd"]

log = get_logger()

#: the helper: unshare a user namespace, say so, wait for stdin to close
_HELPER = ("import ctypes,os,sys\n"
           "if ctypes.CDLL(None,use_errno=True).unshare(0x10000000)!=0:\n"
           "    sys.exit(ctypes.get_errno())\n"
           "os.write(1,b'u')\n"
           "os.read(0,1)\n")


def userns_fd(idmap: IdMapping) -> int:
    """An fd on a user namespace with ``idmap``'s maps (its helper gone)."""
    proc = subprocess.Popen([sys.executable, "-S", "-I", "-c", _HELPER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        if proc.stdout.read(1) != b"u":
            raise Internal(f"user namespace helper exited ({proc.wait(5)}) before unsharing")
        uids, gids = idmap.spec()
        for name, entries in (("uid_map", uids), ("gid_map", gids)):
            text = "".join(f"{e['containerID']} {e['hostID']} {e['size']}\n" for e in entries)
            with open(f"/proc/{proc.pid}/{name}", "w") as f:
                f.write(text)
        return os.open(f"/proc/{proc.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise Internal(f"user namespace for idmapped mounts: {exc}") from exc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.stdout is not None:
            proc.stdout.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def open_to_remapped_root(directories: list[Path], idmap: IdMapping) -> None:
    """Each of ``directories`` 0710 with the remapped root's group (owner kept)."""
    gid = idmap.root[1]
    for directory in directories:
        st = os.stat(directory)
        if st.st_gid != gid:
            os.chown(directory, -1, gid)
        if st.st_mode & 0o7777 != REMAP_TRAVERSE_MODE:
            os.chmod(directory, REMAP_TRAVERSE_MODE)


class RemapLayers:
    """Overlay roots for one remap range over image layers as stored."""

    def __init__(self, root: Path, idmap: IdMapping, layers: str = "auto") -> None:
        """``root`` is the runtime's state dir; copies live under
        ``root/userns/<uid>.<gid>/layers``."""
        self.idmap = idmap
        self.copies = LayerCopies(root / "userns" / idmap.key / "layers", idmap)
        #: None until probed; False: use copies
        self._idmapped: bool | None = None if layers == "auto" else False
        self._fd: int | None = None
        self._lock = threading.Lock()

    @property
    def idmapped(self) -> bool | None:
        """Whether layers go through idmapped mounts (None: not probed yet)."""
        return self._idmapped

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def mount(self, target: Path, lowerdirs: list[str], upperdir: str, workdir: str,
              scratch: Path) -> None:
        """The overlay on ``target`` as the remapped root sees it as its own;
        ``scratch`` (made and removed here) holds the idmapped layers while
        overlayfs takes them."""
        uid, gid = self.idmap.root
        for directory in (upperdir, workdir):
            os.chown(directory, uid, gid)
        if self._idmapped is not False:
            try:
                self._mount_idmapped(target, lowerdirs, upperdir, workdir, scratch)
                self._idmapped = True
                return
            except OSError as exc:
                if self._idmapped:  # worked before: a real failure, not a kernel without it
                    raise FailedPrecondition(f"idmapped layers for {target}: {exc}") from exc
                log.warning("userns.idmapped_layers_unavailable", error=str(exc),
                            fallback="chowned copies")
                self._idmapped = False
        copies = [str(self.copies.get(lower)) for lower in lowerdirs]
        mount_overlay(target, copies, upperdir, workdir)

    def _userns(self) -> int:
        with self._lock:
            if self._fd is None:
                self._fd = userns_fd(self.idmap)
            return self._fd

    def _mount_idmapped(self, target: Path, lowerdirs: list[str], upperdir: str, workdir: str,
                        scratch: Path) -> None:
        fd = self._userns()
        scratch.mkdir(mode=0o700, exist_ok=True)
        attached: list[Path] = []
        try:
            for index, lower in enumerate(lowerdirs):
                point = scratch / str(index)
                point.mkdir(mode=0o700, exist_ok=True)
                clone = ma.open_tree(ma.AT_FDCWD, lower, ma.OPEN_TREE_CLONE)
                try:
                    ma.mount_setattr(clone, ma.MOUNT_ATTR_IDMAP, userns_fd=fd)
                    ma.move_mount(clone, "", ma.AT_FDCWD, str(point), ma.MOVE_MOUNT_F_EMPTY_PATH)
                finally:
                    os.close(clone)
                attached.append(point)
            try:
                mount_overlay(target, [str(p) for p in attached], upperdir, workdir)
            except Internal as exc:
                raise OSError(f"overlay over idmapped layers: {exc}") from exc
        finally:
            # overlayfs holds private clones of its layers: the attached ones go now
            for point in attached:
                unmount(point)
            for point in scratch.iterdir() if scratch.exists() else ():
                point.rmdir()
            if scratch.exists():
                scratch.rmdir()

    def prune(self) -> int:
        """Remove the copies whose layer the image store no longer has (and,
        with the last, the range's dirs); their count."""
        removed = self.copies.prune()
        for directory in (self.copies.root.parent, self.copies.root.parent.parent):  # <uid>.<gid>, userns
            try:
                directory.rmdir()
            except OSError:
                break
        return removed
