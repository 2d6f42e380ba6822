"""The engine's checks of Docker's ``run`` option values, with Docker's rules
and messages: binds, security options and log options.

Each parser takes the string a user typed (or a list of them) and returns a
plain value; anything Docker would refuse raises :class:`InvalidArgument`
naming the offending value. References are moby's
``volume/mounts/linux_parser.go`` (``-v``), ``daemon.parseSecurityOpt`` and
the json-file log driver's ``New`` and ``ValidateLogOpt``. The unit grammars
(sizes, CPUs, durations, signals, env files) that the CLI shares live in
:mod:`client.units`.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from client.errors import InvalidArgument
from client.units import from_human_size

__all__ = [
    "Bind", "VolumeSpec", "SecurityOpts", "parse_volume_spec", "parse_security_opts",
    "parse_log_opts", "parse_bool",
]


@dataclass(frozen=True)
class Bind:
    """One ``-v /host:/ctr[:opts]`` bind mount.

    ``mode`` is the option string as given (``"ro,z"``, ``""``);
    ``propagation`` is ``rprivate`` unless another was given;
    ``created`` says the host directory did not exist and was created, as
    Docker does for ``-v`` (not for ``--mount``).
    """

    source: str
    destination: str
    read_only: bool
    mode: str
    propagation: str = "rprivate"
    created: bool = False


_RW_MODES = {"ro", "rw"}
_LABEL_MODES = {"z", "Z"}
_PROPAGATION_MODES = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}
_COPY_MODES = {"nocopy"}


@dataclass(frozen=True)
class VolumeSpec:
    """One ``-v`` entry (``HostConfig.Binds``): a host ``bind`` (absolute
    source) or a ``volume`` (``source`` its name, empty for an anonymous
    one). ``propagation`` is the one given, or empty; ``copy`` is false with
    ``nocopy``."""

    type: str
    source: str
    destination: str
    read_only: bool
    mode: str
    propagation: str = ""
    copy: bool = True


def _parse_mode(mode: str, spec: str) -> dict[str, str]:
    """The mode's words by kind (rw, label, propagation, copy), at most one of each."""
    seen: dict[str, str] = {}
    for opt in (mode.split(",") if mode else []):
        for kind, allowed in (("rw", _RW_MODES), ("label", _LABEL_MODES),
                              ("propagation", _PROPAGATION_MODES), ("copy", _COPY_MODES)):
            if opt in allowed:
                break
        else:
            raise InvalidArgument(f"invalid mode: {opt!r} in volume specification {spec!r}")
        if kind in seen:
            raise InvalidArgument(f"invalid mode: {mode!r} in volume specification {spec!r}: "
                                  f"{seen[kind]!r} and {opt!r} conflict")
        seen[kind] = opt
    return seen


def _is_mode(text: str) -> bool:
    try:
        _parse_mode(text, text)
    except InvalidArgument:
        return False
    return True


def parse_volume_spec(spec: str) -> VolumeSpec:
    """``-v`` as moby's ``ParseMountRaw``: ``DEST`` (an anonymous volume),
    ``SRC:DEST`` or ``SRC:DEST:MODE``, where an absolute SRC is a host path
    and any other a volume name (checked where the volume is made). Nothing
    on the host is touched."""
    if "\x00" in spec:
        raise InvalidArgument(f"invalid volume specification: {spec!r}: NUL byte")
    parts = spec.split(":")
    if not parts[0] or len(parts) > 3 or (len(parts) == 2 and _is_mode(parts[1])):
        raise InvalidArgument(f"invalid volume specification: {spec!r}")
    source, destination = ("", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    mode = parts[2] if len(parts) == 3 else ""
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid volume specification: {spec!r}: "
                              f"destination {destination!r} is not an absolute path")
    destination = _clean(destination)
    if destination == "/":
        raise InvalidArgument(f"invalid volume specification: {spec!r}: destination can't be '/'")
    seen = _parse_mode(mode, spec)
    kind = "bind" if source.startswith("/") else "volume"
    return VolumeSpec(type=kind, source=_clean(source) if kind == "bind" else source, destination=destination,
                      read_only=seen.get("rw") == "ro", mode=mode, propagation=seen.get("propagation", ""),
                      copy="copy" not in seen)


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    # normpath keeps a leading "//" (POSIX leaves it implementation-defined);
    # Go's filepath.Clean does not.
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(text: str, what: str) -> bool:
    """Go's ``strconv.ParseBool``."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidArgument(f"invalid boolean {text!r} for {what}")


@dataclass(frozen=True)
class SecurityOpts:
    """The ``--security-opt`` values this engine acts on.

    ``notes`` lists accepted options that have no effect here (SELinux labels,
    AppArmor profiles: neither is used by this engine), for the caller to show
    as warnings.
    """

    no_new_privileges: bool = False
    seccomp_unconfined: bool = False
    notes: list[str] = field(default_factory=list)


def parse_security_opts(opts: list[str]) -> SecurityOpts:
    """Parse ``--security-opt`` values as the Docker CLI and daemon do.

    ``no-new-privileges`` alone means true; ``no-new-privileges=BOOL`` (or the
    deprecated ``:`` separator) sets it. ``seccomp=unconfined`` disables the
    filter, ``seccomp=builtin`` keeps the default; custom profile files are not
    supported. ``label=...``, ``label:...`` and ``apparmor=...`` are accepted
    and ignored with a note. Anything else is refused.
    """
    nnp = False
    unconfined = False
    notes: list[str] = []
    for opt in opts:
        if opt == "no-new-privileges":
            nnp = True
            continue
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if not sep or not value:
            raise InvalidArgument(f"invalid --security-opt: {opt!r}")
        if key == "no-new-privileges":
            nnp = parse_bool(value, f"--security-opt {opt!r}")
        elif key == "seccomp":
            if value == "unconfined":
                unconfined = True
            elif value in ("builtin", "default"):
                unconfined = False
            else:
                raise InvalidArgument(f"--security-opt {opt!r}: custom seccomp profiles are not supported")
        elif key in ("label", "apparmor"):
            notes.append(f"--security-opt {opt!r} ignored: {'selinux' if key == 'label' else 'apparmor'} "
                         "is not used by this engine")
        else:
            raise InvalidArgument(f"invalid --security-opt: {opt!r}")
    return SecurityOpts(no_new_privileges=nnp, seccomp_unconfined=unconfined, notes=notes)


# The json-file driver's accepted options (daemon/logger/jsonfilelog ValidateLogOpt).
_LOG_OPTS = ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag")


def parse_log_opts(opts: list[str]) -> dict[str, str]:
    """``--log-opt key=value`` pairs for the json-file driver, validated.

    ``max-size`` must be a positive size (go-units ``FromHumanSize``: k, m,
    g are powers of 1000, as moby's json-file driver reads it),
    ``max-file`` an integer >= 1, ``compress`` a boolean. Later duplicates
    win, as in Docker's map.
    """
    out: dict[str, str] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep:
            raise InvalidArgument(f"invalid key value pair format: {opt!r}")
        if key not in _LOG_OPTS:
            raise InvalidArgument(f"unknown log opt {key!r} for json-file log driver")
        out[key] = value
    if "max-size" in out and from_human_size(out["max-size"]) <= 0:
        raise InvalidArgument(f"log opt max-size {out['max-size']!r} must be a positive size")
    if "max-file" in out:
        if not re.fullmatch(r"[+-]?\d+", out["max-file"]):
            raise InvalidArgument(f"log opt max-file {out['max-file']!r} is not a number")
        if int(out["max-file"]) < 1:
            raise InvalidArgument("log opt max-file cannot be less than 1")
    if "compress" in out:
        parse_bool(out["compress"], "log opt compress")
    return out
