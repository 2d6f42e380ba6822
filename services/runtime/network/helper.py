"""The runtime's network helper: a warm fork server for netlink, namespace
and firewall work, which the gRPC server may not do itself (pyroute2's
namespace calls fork, ``unshare`` changes the calling process).

It imports pyroute2 once (about 0.2 s) and forks a child per request, so
starts proceed in parallel and a child may leave the host's network
namespace. The runtime starts it in a new session (:mod:`.helperclient`);
it ignores SIGCHLD, so the kernel reaps its children.

Requests on ``--socket`` (unix stream, 0600), one JSON line each:
``{"op": NAME, "args": {...}}``; the reply is one JSON line,
``{"result": ...}`` or ``{"error": "one line", "code": "FAILED_PRECONDITION"}``
(a category of :mod:`client.errors`). Operations: ``host_networks``,
``ensure_bridge``, ``remove_bridge``, ``attach``, ``detach``, ``namespace`` (see
:mod:`.plumbing`), ``firewall`` and ``firewall_remove`` (see :mod:`.firewall`).

Run as ``python -m services.runtime.network.helper --socket S --pid-file P``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import traceback
from typing import Any, Callable

from client.errors import BarqueError
from services.common.atomic import write_atomic
from services.runtime.network import firewall, plumbing

__all__ = ["main", "OPERATIONS"]

_MAX_REQUEST = 1 << 20


def _firewall(nets: list[dict], chain_prefix: str) -> None:
    firewall.apply([firewall.BridgeNet(n["bridge"], n["subnet"], tuple(firewall.PublishedPort(**p) for p in n["ports"]),
                                       bool(n.get("internal")))
                    for n in nets], prefix=chain_prefix)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "host_networks": lambda: plumbing.host_networks(),
    "ensure_bridge": plumbing.ensure_bridge,
    "remove_bridge": plumbing.remove_bridge,
    "attach": plumbing.attach,
    "detach": plumbing.detach,
    "namespace": plumbing.namespace,
    "firewall": _firewall,
    "firewall_remove": lambda chain_prefix: firewall.remove(prefix=chain_prefix),
}


def _answer(conn: socket.socket, request: bytes) -> dict:
    try:
        doc = json.loads(request)
        op, args = doc["op"], doc.get("args") or {}
        if op not in OPERATIONS or not isinstance(args, dict):
            raise ValueError(f"unknown operation {op!r}")
    except (ValueError, KeyError, TypeError) as exc:
        return {"error": f"bad network helper request: {exc}", "code": "INVALID_ARGUMENT"}
    try:
        return {"result": OPERATIONS[op](**args)}
    except BarqueError as exc:
        return {"error": str(exc), "code": exc.code_name}
    except Exception as exc:  # reported to the runtime, which logs it; the traceback goes to our stderr
        traceback.print_exc()
        return {"error": f"network {op}: {exc}", "code": "INTERNAL"}


def _serve_one(conn: socket.socket) -> None:
    """In the forked child: read one request, answer it, exit."""
    try:
        conn.settimeout(10)
        data = b""
        while not data.endswith(b"\n") and len(data) < _MAX_REQUEST:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        conn.settimeout(None)
        reply = _answer(conn, data)
        conn.sendall(json.dumps(reply).encode() + b"\n")
    finally:
        os._exit(0)


def serve(socket_path: str, pid_file: str) -> None:
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(socket_path)
    finally:
        os.umask(old)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    write_atomic(pid_file, f"{os.getpid()}\n".encode(), mode=0o644)
    while True:
        conn, _ = listener.accept()
        try:
            pid = os.fork()
        except OSError:
            pid = -1  # this request fails (its client sees EOF); the helper serves on
        if pid == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _serve_one(conn)
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="barque-network-helper")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--pid-file", required=True)
    args = parser.parse_args(argv)
    serve(args.socket, args.pid_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
