"""What the build comparison tests compare: the same facts from barque's image and docker's.

Three facts per image, each normalised so that what Docker treats as the same
compares equal:

* :func:`config_facts` of an ``image inspect`` document: ``Config``'s Env, Cmd,
  Entrypoint, User, WorkingDir, Labels, ExposedPorts, Volumes, StopSignal,
  Healthcheck, Shell, OnBuild, and Architecture, Os. ``null`` and empty are
  one value (Cmd/Entrypoint/Shell ``None``; Labels/ExposedPorts/Volumes ``{}``;
  OnBuild/Env ``[]``; strings ``""``); a Healthcheck keeps only its set fields
  (docker-cli reports unset durations as 0).
* :func:`history_facts` of the image config blob (the exact bytes each engine
  stores: :meth:`tests.support.dockerd.PrivateDockerd.image_config` for docker,
  :func:`barque_image_config` for barque): ``(created_by, empty_layer)`` per
  history entry, oldest first. The content hash of ``COPY``/``ADD``
  (``COPY file:<64 hex> in /x``, ``dir:``, ``multi:``) becomes ``file:<hash>``.
  ``docker history`` is no source: it cannot tell an empty layer from a
  non-empty layer of 0 bytes.
* :func:`file_tree` of a container's export (``create IMAGE true``, ``export
  -o``, ``rm``): ``path -> (type, mode, uid, gid, size, sha256-or-linkname)``,
  no mtimes. A hardlink counts as the file it links to (which member of a
  hardlink set an exporter writes first is its own choice). Left out: what a
  runtime makes when it creates a container, not the image: ``.dockerenv``,
  ``etc/hostname``, ``etc/hosts``, ``etc/resolv.conf``, ``etc/mtab``
  (docker's init layer writes each, empty or a link to /proc/mounts),
  everything under and including ``dev``, ``proc`` and ``sys`` (docker's init
  layer makes ``dev/pts``, ``dev/shm``, ``dev/console``; the image's own
  directories there are mount points), and ``etc`` itself when nothing else
  is left under it (a ``FROM scratch`` image has none; docker's init layer adds it).

:func:`diff_facts` turns two facts into readable differences for an assertion
message (empty when they are equal).
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["CONFIG_KEYS", "RUNTIME_FILES", "config_facts", "normalise_created_by", "history_facts", "tree_from_tar",
           "file_tree", "diff_facts", "barque_image_config", "EngineCli"]

#: argv (without the program) -> stdout; raises when the command fails
EngineCli = Callable[[Sequence[str]], str]

CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "User", "WorkingDir", "Labels", "ExposedPorts", "Volumes", "StopSignal",
               "Healthcheck", "Shell", "OnBuild")
_NONE_WHEN_EMPTY = ("Cmd", "Entrypoint", "Shell")
_DICTS = ("Labels", "ExposedPorts", "Volumes")
_LISTS = ("Env", "OnBuild")
_STRINGS = ("User", "WorkingDir", "StopSignal")

#: files a runtime writes at create, whatever the image holds
RUNTIME_FILES = frozenset({".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab"})
#: mount points: the directories and everything under them
RUNTIME_TREES = ("dev", "proc", "sys")

_CONTENT_HASH = re.compile(r"(file|dir|multi):[0-9a-f]{64}\b")  # 20.10 glues it to --chown=


def _healthcheck(value: Any) -> dict | None:
    if not value:
        return None
    return {k: v for k, v in value.items() if v not in (None, 0, "", [])}


def config_facts(inspect_doc: dict | list) -> dict:
    """The comparable part of an ``image inspect`` document (a one-image list or its element)."""
    doc = inspect_doc[0] if isinstance(inspect_doc, list) else inspect_doc
    config = doc.get("Config") or {}
    facts: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = config.get(key)
        if key in _NONE_WHEN_EMPTY:
            facts[key] = list(value) if value else None
        elif key in _DICTS:
            facts[key] = dict(value) if value else {}
        elif key in _LISTS:
            facts[key] = list(value) if value else []
        elif key in _STRINGS:
            facts[key] = value or ""
        elif key == "Healthcheck":
            facts[key] = _healthcheck(value)
    facts["Architecture"] = doc.get("Architecture") or ""
    facts["Os"] = doc.get("Os") or ""
    return facts


def normalise_created_by(created_by: str) -> str:
    """``COPY file:<64 hex> in /x `` -> ``COPY file:<hash> in /x `` (and dir:, multi:)."""
    return _CONTENT_HASH.sub(lambda m: f"{m.group(1)}:<hash>", created_by)


def history_facts(config: dict) -> list[tuple[str, bool]]:
    """``(created_by normalised, empty_layer)`` per history entry of an image config, oldest first."""
    return [(normalise_created_by(str(entry.get("created_by") or "")), bool(entry.get("empty_layer")))
            for entry in config.get("history") or [] if isinstance(entry, dict)]


def _excluded(name: str) -> bool:
    if name in RUNTIME_FILES:
        return True
    return any(name == top or name.startswith(top + "/") for top in RUNTIME_TREES)


_TYPES = {tarfile.REGTYPE: "f", tarfile.AREGTYPE: "f", tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l",
          tarfile.CHRTYPE: "c", tarfile.BLKTYPE: "b", tarfile.FIFOTYPE: "p"}


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def tree_from_tar(fileobj: IO[bytes]) -> dict[str, tuple]:
    """``path -> (type, mode, uid, gid, size, sha256-or-linkname)`` of an export tar (see the module doc)."""
    tree: dict[str, tuple] = {}
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for member in tar:
            name = _clean(member.name)
            if not name or _excluded(name):
                continue
            mode = member.mode & 0o7777
            if member.islnk():
                target = tree.get(_clean(member.linkname))
                if target is None:
                    raise ValueError(f"export tar: hardlink {name!r} to {member.linkname!r}, not seen before")
                tree[name] = ("f", mode, member.uid, member.gid, target[4], target[5])
                continue
            kind = _TYPES.get(member.type)
            if kind is None:
                raise ValueError(f"export tar: {name!r} has unknown type {member.type!r}")
            if kind == "f":
                sha = hashlib.sha256()
                data = tar.extractfile(member)
                assert data is not None
                for chunk in iter(lambda: data.read(1 << 20), b""):
                    sha.update(chunk)
                tree[name] = ("f", mode, member.uid, member.gid, member.size, sha.hexdigest())
            elif kind == "l":
                tree[name] = ("l", mode, member.uid, member.gid, 0, member.linkname)
            elif kind in ("c", "b"):
                tree[name] = (kind, mode, member.uid, member.gid, 0, f"{member.devmajor}:{member.devminor}")
            else:
                tree[name] = (kind, mode, member.uid, member.gid, 0, "")
    if "etc" in tree and not any(n.startswith("etc/") for n in tree):
        del tree["etc"]
    return tree


def file_tree(engine_cli: EngineCli, ref: str) -> dict[str, tuple]:
    """The file tree of ``ref`` as the engine exports a container created from it (removed after)."""
    container = engine_cli(["create", ref, "true"]).strip().splitlines()[-1]
    try:
        with tempfile.TemporaryDirectory(prefix="bqtest-export-") as tmp:
            path = Path(tmp) / "export.tar"
            engine_cli(["export", "-o", str(path), container])
            with open(path, "rb") as f:
                return tree_from_tar(f)
    finally:
        engine_cli(["rm", container])


def barque_image_config(engine: Any, ref: str) -> dict:
    """The image config blob barque stores for ``ref`` (``Images.Inspect``'s ``config_json``)."""
    from barque.images.v1 import images_pb2

    with engine.client("images") as images:
        image = images.Inspect(images_pb2.InspectRequest(reference=ref)).image
    return json.loads(image.config_json)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, tuple) else repr(value)


def diff_facts(a: Any, b: Any, names: tuple[str, str] = ("a", "b"), path: str = "") -> list[str]:
    """Readable differences between two facts (dicts and lists walked), empty when equal."""
    left, right = names
    where = path or "<top>"
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in b:
                out.append(f"{sub}: only in {left}: {_show(a[key])}")
            elif key not in a:
                out.append(f"{sub}: only in {right}: {_show(b[key])}")
            else:
                out += diff_facts(a[key], b[key], names, sub)
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(b):
                out.append(f"{sub}: only in {left}: {_show(a[i])}")
            elif i >= len(a):
                out.append(f"{sub}: only in {right}: {_show(b[i])}")
            else:
                out += diff_facts(a[i], b[i], names, sub)
        return out
    if a != b:
        return [f"{where}: {left} {_show(a)} != {right} {_show(b)}"]
    return []
