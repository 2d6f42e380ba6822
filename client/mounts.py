"""Docker's mount flags as the client reads them: ``--mount``'s CSV,
``-v``'s split between binds and anonymous volumes, and ``--tmpfs``.

The grammar and the messages are docker-cli's, word for word:

- ``--mount``: ``opts/mount.go`` ``MountOpt.Set`` (v20.10.27, unchanged in
  v23): one CSV record of ``key=value`` fields (``readonly``/``ro``,
  ``volume-nocopy`` and ``bind-nonrecursive`` may stand alone), ``type``
  defaulting to ``volume``; keys are case-insensitive, ``type``,
  ``consistency`` and ``bind-propagation`` values lower-cased.
- ``-v``: ``cli/compose/loader/volume.go`` ``ParseVolume`` decides, as
  ``cli/command/container/opts.go`` ``parse`` does, whether a spec is a bind
  or a volume with a source (``HostConfig.Binds``, sent as typed but for a
  ``./`` host part made absolute, as docker-cli 23+) or an anonymous volume
  (``Config.Volumes``). Its errors ("invalid empty volume spec", "invalid
  spec: ...") are reported before anything is sent, as docker-cli 24 does;
  everything else about the spec is the engine's to judge.
- ``--tmpfs``: ``path[:options]``, split at the first colon, options unread.

barque's Mount message has no volume driver options, so ``volume-driver``
other than ``local``, ``volume-opt`` and ``bind-nonrecursive`` are refused
here with the reason, where Docker would pass them to its daemon.

Values are plain dicts and lists (a mount's keys are the fields of
``barque.runtime.v1.Mount``): this module imports no protobuf.
"""

from __future__ import annotations

import csv
import os
from typing import Any, Iterable

from client.errors import InvalidArgument
from client.units import ram_in_bytes

__all__ = ["parse_mount", "parse_volume", "split_volumes", "parse_tmpfs", "parse_go_bool"]

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")

#: mount.Propagations: what ParseVolume takes as a bind option
_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


def parse_go_bool(text: str) -> bool:
    """strconv.ParseBool; ValueError for anything else."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(text)


def _csv_record(value: str) -> list[str]:
    """encoding/csv Reader.Read's first record; "EOF" when there is none."""
    for record in csv.reader(value.splitlines() or [""], strict=True):
        if record:
            return record
    raise InvalidArgument("EOF")


def parse_mount(value: str) -> dict[str, Any]:
    """One ``--mount`` value -> the fields of a Mount message
    (InvalidArgument with docker-cli's reason)."""
    try:
        fields = _csv_record(value)
    except csv.Error as exc:
        raise InvalidArgument(f"parse error on line 1: {exc}") from exc
    mount: dict[str, Any] = {"type": "volume"}
    used = {"volume": False, "bind": False, "tmpfs": False}

    def parse_bool(key: str, text: str, message: str | None = None) -> bool:
        try:
            return parse_go_bool(text)
        except ValueError:
            raise InvalidArgument(message or f"invalid value for {key}: {text}") from None

    def set_on_map(name: str, text: str) -> None:
        key, sep, val = text.partition("=")
        mount.setdefault(name, {})[key] = val if sep else ""

    for field in fields:
        key, sep, val = field.partition("=")
        key = key.lower()
        if not sep:
            if key in ("readonly", "ro"):
                mount["read_only"] = True
                continue
            if key == "volume-nocopy":
                used["volume"] = True
                mount["volume_no_copy"] = True
                continue
            if key == "bind-nonrecursive":
                raise InvalidArgument("bind-nonrecursive is not supported by barque")
            raise InvalidArgument(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            mount["type"] = val.lower()
        elif key in ("source", "src"):
            mount["source"] = val
        elif key in ("target", "dst", "destination"):
            mount["target"] = val
        elif key in ("readonly", "ro"):
            mount["read_only"] = parse_bool(key, val)
        elif key == "consistency":
            mount["consistency"] = val.lower()
        elif key == "bind-propagation":
            used["bind"] = True
            mount["bind_propagation"] = val.lower()
        elif key == "bind-nonrecursive":
            raise InvalidArgument("bind-nonrecursive is not supported by barque")
        elif key == "volume-nocopy":
            used["volume"] = True
            mount["volume_no_copy"] = parse_bool(key, val, f"invalid value for volume-nocopy: {val}")
        elif key == "volume-label":
            used["volume"] = True
            set_on_map("volume_labels", val)
        elif key == "volume-driver":
            used["volume"] = True
            if val not in ("", "local"):
                raise InvalidArgument(f"volume driver '{val}' is not supported: barque has only the local driver")
        elif key == "volume-opt":
            raise InvalidArgument("volume-opt is not supported by barque: create the volume with "
                                  "'barque volume create --opt' and mount it by name")
        elif key == "tmpfs-size":
            used["tmpfs"] = True
            try:
                mount["tmpfs_size_bytes"] = ram_in_bytes(val)
            except InvalidArgument:
                raise InvalidArgument(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            used["tmpfs"] = True
            if not val or any(c not in "01234567" for c in val) or int(val, 8) > 0xFFFFFFFF:
                raise InvalidArgument(f"invalid value for {key}: {val}")
            mount["tmpfs_mode"] = int(val, 8)
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{field}'")
    if mount["type"] == "":
        raise InvalidArgument("type is required")
    if not mount.get("target"):
        raise InvalidArgument("target is required")
    for kind in ("volume", "bind", "tmpfs"):
        if used[kind] and mount["type"] != kind:
            raise InvalidArgument(f"cannot mix '{kind}-*' options with mount type '{mount['type']}'")
    return mount


def _is_windows_drive(buffer: str, char: str) -> bool:
    return char == ":" and len(buffer) == 1 and buffer.isalpha()


def _is_file_path(source: str) -> bool:
    if source[0] in "./~":
        return True
    if len(source) == 1:
        return False
    return source.startswith("\\\\") or _is_windows_drive(source[0], source[1])


def parse_volume(spec: str) -> dict[str, Any]:
    """compose loader ParseVolume: ``{"type", "source", "target",
    "read_only", "no_copy", "propagation"}`` of a ``-v`` spec."""
    volume: dict[str, Any] = {"type": "volume", "source": "", "target": "", "read_only": False,
                              "no_copy": False, "propagation": ""}
    if not spec:
        raise InvalidArgument("invalid empty volume spec")
    if len(spec) <= 2:
        volume["target"] = spec
        return volume
    buffer = ""
    end = "\0"
    for char in spec + end:
        if _is_windows_drive(buffer, char):
            buffer += char
        elif char in (":", end):
            _populate(char == end, buffer, volume, spec)
            buffer = ""
        else:
            buffer += char
    if volume["source"] and _is_file_path(volume["source"]):
        volume["type"] = "bind"
    return volume


def _populate(at_end: bool, buffer: str, volume: dict[str, Any], spec: str) -> None:
    """populateFieldFromBuffer, its errors wrapped as ParseVolume wraps them."""
    if not buffer:
        raise InvalidArgument(f"invalid spec: {spec}: empty section between colons")
    if not volume["source"] and at_end:
        volume["target"] = buffer
        return
    if not volume["source"]:
        volume["source"] = buffer
        return
    if not volume["target"]:
        volume["target"] = buffer
        return
    if not at_end:
        raise InvalidArgument(f"invalid spec: {spec}: too many colons")
    for option in buffer.split(","):
        if option in ("ro", "rw"):
            volume["read_only"] = option == "ro"
        elif option == "nocopy":
            volume["no_copy"] = True
        elif option in _PROPAGATIONS:
            volume["propagation"] = option


def split_volumes(specs: Iterable[str], cwd: str | None = None) -> tuple[list[str], list[str]]:
    """``-v`` values -> (Binds, Volumes): a spec with a source is a bind
    (its ``./`` or ``.`` host part made absolute against ``cwd``), one
    without is an anonymous volume; each spec once, in the order given."""
    binds: list[str] = []
    volumes: list[str] = []
    for spec in dict.fromkeys(specs):
        parsed = parse_volume(spec)
        if not parsed["source"]:
            volumes.append(spec)
            continue
        host, sep, rest = spec.partition(":")
        if parsed["type"] == "bind" and sep and (host == "." or host.startswith("./")):
            host = os.path.normpath(os.path.join(cwd or os.getcwd(), host))
            spec = f"{host}:{rest}"
        binds.append(spec)
    return binds, volumes


def parse_tmpfs(values: Iterable[str]) -> dict[str, str]:
    """``--tmpfs /path[:options]`` -> path -> options, as docker-cli builds
    HostConfig.Tmpfs (a later path replaces an earlier one)."""
    out: dict[str, str] = {}
    for value in values:
        path, _, options = value.partition(":")
        out[path] = options
    return out
