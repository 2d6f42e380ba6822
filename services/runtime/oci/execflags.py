"""The process of ``exec``: read from ``--process`` (the flags are then
ignored, as runc ignores them) or built from the container's own process
and runc's exec flags (``--tty``, ``--cwd``, ``--env``, ``--user``,
``--additional-gids``, ``--cap``, ``--no-new-privs``) plus the command.
"""

from __future__ import annotations

import argparse
import copy
import json

from client.errors import InvalidArgument

__all__ = ["load_process", "build_process"]


def load_process(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            proc = json.load(f)
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"read process file {path!r}: {exc}") from exc
    if not isinstance(proc, dict):
        raise InvalidArgument(f"process file {path!r} is not a JSON object")
    return proc


def _user(value: str, base: dict) -> dict:
    uid, _, gid = value.partition(":")
    try:
        user = {"uid": int(uid), "gid": int(gid) if gid else 0}
    except ValueError as exc:
        raise InvalidArgument(f"invalid --user {value!r}: expected <uid>[:<gid>]") from exc
    if "umask" in base:
        user["umask"] = base["umask"]
    return user


def build_process(base: dict, args: argparse.Namespace) -> dict:
    """runc's ``getProcess`` without ``--process``: the container's process
    with the command and flags applied."""
    if not args.args:
        raise InvalidArgument("exec needs a command (or --process)")
    proc = copy.deepcopy(base)
    proc["args"] = list(args.args)
    proc["terminal"] = bool(args.tty)
    if args.cwd:
        proc["cwd"] = args.cwd
    proc["env"] = [*(proc.get("env") or ()), *args.env]
    if args.user:
        proc["user"] = _user(args.user, proc.get("user") or {})
    if args.additional_gids:
        user = proc.setdefault("user", {"uid": 0, "gid": 0})
        try:
            user["additionalGids"] = [int(g) for g in args.additional_gids]
        except ValueError as exc:
            raise InvalidArgument(f"invalid --additional-gids {args.additional_gids}") from exc
    if args.cap:
        caps = proc.setdefault("capabilities", {})
        for name in args.cap:
            cap = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
            for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
                if cap not in caps.setdefault(kind, []):
                    caps[kind].append(cap)
    if args.no_new_privs:
        proc["noNewPrivileges"] = True
    return proc
