"""Volumes of the local driver on disk: ``<root>/<name>/_data`` holds the
data, ``<root>/<name>/volume.json`` what the volume was created with.

A volume exists when its metadata file does: it is written (atomically)
last at creation and removed first at removal, so a crash in between leaves
a directory :meth:`VolumeStore.create` and :meth:`VolumeStore.all` treat as
absent and clean up. Names are Docker's local-driver names, validated before
any path is built from them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from client.errors import Internal, InvalidArgument, NotFound
from services.common.atomic import write_atomic
from services.runtime.engine.mounts import is_mounted

__all__ = ["Volume", "VolumeStore", "VolumeNotFound", "validate_name", "new_volume_name", "DRIVER"]

DRIVER = "local"
META = "volume.json"
DATA = "_data"

#: Docker's names.RestrictedNamePattern, the local driver's rule
_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_RESTRICTED = "[a-zA-Z0-9][a-zA-Z0-9_.-]"


class VolumeNotFound(NotFound):
    pass


@dataclass(frozen=True)
class Volume:
    """One volume: ``options`` are the local driver's (type, device, o),
    ``anonymous`` says the engine made it for a container (``-v /path``, an
    image's VOLUME) rather than a user naming it."""

    name: str
    mountpoint: str
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    driver: str = DRIVER


def validate_name(name: str) -> None:
    """Docker's local driver's check (``Root.validateName``) and messages,
    as its volume store reports them (``create NAME: ...``)."""
    if len(name) == 1:
        raise InvalidArgument(f"create {name}: volume name is too short, names should be at least two "
                              "alphanumeric characters")
    if not _NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only '
            f'"{_RESTRICTED}" are allowed. If you intended to pass a host directory, use absolute path')


def new_volume_name() -> str:
    """A generated name: 64 hex digits, as Docker's stringid."""
    return secrets.token_hex(32)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _discard(vdir: Path) -> None:
    """Remove a volume's directory, never through a mount on its data (a
    bind volume's data is the user's host directory)."""
    if is_mounted(vdir / DATA):
        raise Internal(f"volume directory {vdir} still has its data mounted; not removed")
    shutil.rmtree(vdir, ignore_errors=True)


class VolumeStore:
    """Volumes by name under ``root``; every write atomic, one lock."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.lock = threading.RLock()
        #: (uid, gid) a new volume's data dir is given: a --userns-remap's
        #: root, as dockerd's volumes are its remapped root's (None: root's)
        self.data_owner: tuple[int, int] | None = None

    def _dir(self, name: str) -> Path:
        validate_name(name)
        return self.root / name

    def data_dir(self, name: str) -> Path:
        return self._dir(name) / DATA

    def _read(self, name: str) -> Volume | None:
        try:
            meta = json.loads((self._dir(name) / META).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"volume {name!r}: unreadable metadata: {exc}") from exc
        return Volume(name=name, mountpoint=str(self.data_dir(name)), created_at=str(meta.get("created_at", "")),
                      labels=dict(meta.get("labels") or {}), options=dict(meta.get("options") or {}),
                      anonymous=bool(meta.get("anonymous")))

    def get(self, name: str) -> Volume:
        """The volume ``name``; NotFound as Docker words it."""
        if not name:
            raise VolumeNotFound("get : no such volume")
        try:
            validate_name(name)
        except InvalidArgument:
            raise VolumeNotFound(f"get {name}: no such volume") from None
        with self.lock:
            volume = self._read(name)
        if volume is None:
            raise VolumeNotFound(f"get {name}: no such volume")
        return volume

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except VolumeNotFound:
            return False
        return True

    def all(self) -> list[Volume]:
        with self.lock:
            out = []
            for entry in sorted(os.listdir(self.root)):
                if not _NAME_RE.fullmatch(entry):
                    continue
                volume = self._read(entry)
                if volume is not None:
                    out.append(volume)
            return out

    def create(self, name: str, *, labels: dict[str, str] | None = None, options: dict[str, str] | None = None,
               anonymous: bool = False) -> tuple[Volume, bool]:
        """``(volume, created)``: a new volume, or the existing one of that
        name as it is (Docker returns it, whatever was asked)."""
        name = name or new_volume_name()
        validate_name(name)
        with self.lock:
            existing = self._read(name)
            if existing is not None:
                return existing, False
            vdir = self._dir(name)
            _discard(vdir)  # what a crash mid-create or mid-remove left
            try:
                vdir.mkdir(mode=0o700)
                (vdir / DATA).mkdir(mode=0o755)
                if self.data_owner is not None:
                    os.chown(vdir / DATA, *self.data_owner)
                meta = {"name": name, "created_at": _now(), "labels": dict(labels or {}),
                        "options": dict(options or {}), "anonymous": anonymous}
                write_atomic(vdir / META, json.dumps(meta, indent=1).encode())
            except BaseException:
                _discard(vdir)
                raise
            volume = self._read(name)
            assert volume is not None
            return volume, True

    def remove(self, name: str) -> None:
        """Remove the volume's metadata, then its directory (the caller has
        checked it is unused and unmounted)."""
        with self.lock:
            vdir = self._dir(name)
            try:
                (vdir / META).unlink()
            except FileNotFoundError:
                raise VolumeNotFound(f"get {name}: no such volume") from None
            _discard(vdir)

    def size(self, name: str) -> int:
        """Bytes its data holds (files' sizes, not descending into mounts)."""
        total = 0
        top = self.data_dir(name)
        dev = top.stat().st_dev
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if os.lstat(os.path.join(dirpath, d)).st_dev == dev]
            for f in filenames:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    continue
        return total
