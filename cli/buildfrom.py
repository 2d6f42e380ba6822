"""Build-side helpers over a container's files: ``--chown`` names resolved
from the image's ``/etc/passwd`` and ``/etc/group``, and ``COPY --from``'s
tar (as the runtime's CopyFrom sends it) rewritten for the destination.

The rewrite streams: members are read and written one at a time, file data
in chunks, never a whole file in memory. Names are only ever shortened
(the copied path's own top entry dropped or renamed); the runtime's safe
extraction contains whatever the names say.
"""

from __future__ import annotations

import io
import tarfile
from typing import Callable, Iterable, Iterator, Optional, Tuple

from client.errors import InvalidArgument

__all__ = ["ChownError", "parse_chown", "retar", "IterStream"]

_CHUNK = 1 << 20


class ChownError(InvalidArgument):
    """``--chown`` names a user or group the image does not have."""


def _lookup(table: str, name: str, field: int) -> Optional[int]:
    for line in table.splitlines():
        parts = line.split(":")
        if len(parts) > 3 and parts[0] == name:
            try:
                return int(parts[field])
            except ValueError:
                return None
    return None


def parse_chown(spec: str, read_file: Callable[[str], str]) -> Tuple[int, int]:
    """moby's parseChownFlag: ``user[:group]``, names looked up in the image;
    a missing group is the user string looked up as a group."""
    user, _, group = spec.partition(":")
    group = group or user
    if user.isdigit():
        uid = int(user)
    else:
        found = _lookup(read_file("/etc/passwd"), user, 2)
        if found is None:
            raise ChownError(f"unable to convert uid/gid chown string to host mapping: "
                             f"can't find uid for user {user}: no such user: {user}")
        uid = found
    if group.isdigit():
        gid = int(group)
    else:
        found = _lookup(read_file("/etc/group"), group, 2)
        if found is None:
            raise ChownError(f"unable to convert uid/gid chown string to host mapping: "
                             f"can't find gid for group {group}: no such group: {group}")
        gid = found
    return uid, gid


class IterStream(io.RawIOBase):
    """A readable file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def retar(chunks: Iterable[bytes], *, contents: bool, rename: Optional[str],
          owner: Optional[Tuple[int, int]], chmod: Optional[int]) -> Iterator[bytes]:
    """Rewrite CopyFrom's tar of one path: ``contents`` drops the top entry
    and lifts its children (a directory source); otherwise the top entry is
    renamed to ``rename`` when given. ``owner`` replaces every uid/gid."""
    src = tarfile.open(fileobj=io.BufferedReader(IterStream(chunks), _CHUNK), mode="r|")
    top: Optional[str] = None
    for member in src:
        name = member.name.rstrip("/")
        if top is None:
            top = name
        if name == top:
            if contents:
                continue
            new = rename or name
        else:
            rest = name[len(top) + 1:] if name.startswith(top + "/") else None
            if rest is None:
                continue
            new = rest if contents else f"{rename or top}/{rest}"
        member.name = new
        if member.islnk():
            target = member.linkname.rstrip("/")
            if target == top or not target.startswith(top + "/"):
                continue
            tail = target[len(top) + 1:]
            member.linkname = tail if contents else f"{rename or top}/{tail}"
        if owner is not None:
            member.uid, member.gid = owner
            member.uname = member.gname = ""
        if chmod is not None and not member.issym():
            member.mode = chmod
        yield member.tobuf(format=tarfile.PAX_FORMAT)
        if member.isreg() and member.size:
            data = src.extractfile(member)
            assert data is not None
            left = member.size
            while left:
                piece = data.read(min(_CHUNK, left))
                if not piece:
                    raise InvalidArgument(f"copy --from: archive truncated in {member.name}")
                left -= len(piece)
                yield piece
            pad = -member.size % tarfile.BLOCKSIZE
            if pad:
                yield b"\0" * pad
    yield b"\0" * (tarfile.BLOCKSIZE * 2)
