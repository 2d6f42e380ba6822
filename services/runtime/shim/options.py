"""The shim's command line (see the package docstring for the flags).

A hand-written parser: argparse costs the shim about 0.8 MiB of private
memory (it imports ``re`` and ``gettext``), and the shim is spawned only by the
runtime service, which builds the argv with :func:`services.runtime.shim.client`.
"""

from __future__ import annotations

import os

from .logfile import DRIVERS

__all__ = ["Options", "UsageError", "parse_args", "valid_id"]

_VALUE_FLAGS = {
    "--id": "container_id", "--bundle": "bundle", "--state-dir": "state_dir",
    "--runtime": "runtime", "--runtime-root": "runtime_root", "--log-path": "log_path",
    "--log-driver": "log_driver", "--log-max-size": "log_max_size",
    "--log-max-file": "log_max_file", "--oom-cgroup": "oom_cgroup",
}
_BOOL_FLAGS = {"--stdin": "stdin", "--wait-attach": "wait_attach", "--tty": "tty"}
_PATHS = ("bundle", "state_dir", "runtime_root", "log_path", "oom_cgroup")
_REQUIRED = ("container_id", "bundle", "state_dir", "runtime", "runtime_root", "log_path",
             "log_driver")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


class UsageError(Exception):
    """The command line cannot be used; the shim exits 2."""


class Options:
    """Validated settings of one shim; paths are absolute."""

    container_id: str
    bundle: str
    state_dir: str
    runtime: str
    runtime_args: list[str]
    runtime_root: str
    log_path: str
    log_driver: str
    log_max_size: int
    log_max_file: int
    stdin: bool
    wait_attach: bool
    tty: bool
    oom_cgroup: str | None

    def __init__(self) -> None:
        self.runtime_args = []
        self.log_max_size = 0
        self.log_max_file = 1
        self.stdin = False
        self.wait_attach = False
        self.tty = False
        self.oom_cgroup = None


def valid_id(container_id: str) -> bool:
    """runc's rule: letters, digits, ``_+-.``, not ``.``/``..``, at most 1024."""
    return (0 < len(container_id) <= 1024 and container_id not in (".", "..")
            and all(c in _ID_CHARS for c in container_id))


def parse_args(argv: list[str]) -> Options:
    opts = Options()
    seen: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, eq, inline = arg.partition("=")
        if flag in _BOOL_FLAGS and not eq:
            setattr(opts, _BOOL_FLAGS[flag], True)
            i += 1
            continue
        if flag not in _VALUE_FLAGS and flag != "--runtime-arg":
            raise UsageError(f"unknown argument {arg!r}")
        if eq:
            value = inline
            i += 1
        elif i + 1 < len(argv):
            value = argv[i + 1]
            i += 2
        else:
            raise UsageError(f"{flag} needs a value")
        if flag == "--runtime-arg":
            opts.runtime_args.append(value)
        else:
            seen[_VALUE_FLAGS[flag]] = value
    for name in _REQUIRED:
        if not seen.get(name):
            raise UsageError(f"--{name.replace('_', '-').replace('container-', '')} is required")
    for name, value in seen.items():
        setattr(opts, name, value)
    for name in _PATHS:
        value = getattr(opts, name)
        if value is not None and not value.startswith("/"):  # the runtime sends absolute ones:
            setattr(opts, name, os.path.abspath(value))  # posixpath's code stays untouched
    if not valid_id(opts.container_id):
        raise UsageError(f"invalid container id {opts.container_id!r}")
    if opts.log_driver not in DRIVERS:
        raise UsageError(f"--log-driver {opts.log_driver!r} is not one of {', '.join(DRIVERS)}")
    opts.log_max_size = _number("--log-max-size", seen.get("log_max_size", "0"), 0)
    opts.log_max_file = _number("--log-max-file", seen.get("log_max_file", "1"), 1)
    return opts


def _number(flag: str, text: str, minimum: int) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < minimum:
        raise UsageError(f"{flag} {text!r} is not an integer of at least {minimum}")
    return int(text)
