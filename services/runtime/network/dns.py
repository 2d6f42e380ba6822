"""The embedded DNS responder: one process per engine serves every
user-defined network on UDP and TCP port 53 of its gateway address (the
bridge's, which a container's resolv.conf names); the default bridge has
none, as with Docker. One process in the host's namespace rather than
Docker's 127.0.0.11 in each container: no process, socket or NAT rule per
container and no namespace to enter; upstreams such as 127.0.0.53 work as
they are; the querier is known by its source address on the network the
query reached.

- ``--table FILE``: the name table (its shape and what is answered from it:
  :mod:`.dnstable`), replaced atomically by the runtime; checked on every
  query and every 0.1 s (inode, mtime, size), at once on SIGHUP. An
  unreadable or invalid table is logged and the previous one kept.
  Listening sockets follow its gateways, bound with IP_FREEBIND so a bridge
  without its address yet is listened on already; a bind that still fails
  (port taken) is logged once and retried every second, never fatal.
- The rest is forwarded: the query's bytes to each upstream in turn, over
  UDP (TCP when the client asked over TCP), 2 s each by default; the first
  reply is relayed as it is, a truncated one too (the client asks again
  over TCP: a TCP reply could not fit its UDP limit anyway); SERVFAIL when
  every upstream failed or none is set. Forwarding runs in a thread pool
  (blocking sockets, timeouts), so the selectors loop never waits on an
  upstream and answers local names meanwhile; over 100 forwards in flight a
  query gets SERVFAIL at once (moby's ``maxConcurrent``).
- ``--pid-file`` is written once the first table is loaded and bound (a
  readiness signal), removed at exit. SIGTERM/SIGINT: close every socket,
  exit 0; a forward in flight may delay that by one upstream timeout.

Run as ``python -m services.runtime.network.dns --table FILE [--port 53]
[--pid-file F] [--upstream-timeout S]``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import queue
import selectors
import signal
import socket
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from dnslib import RCODE

from services.common.atomic import write_atomic
from services.common.log import configure_logging, get_logger
from services.runtime.network.dnstable import DropQuery, NameTable, Upstream, reply_with_rcode

__all__ = ["Responder", "forward", "main", "UPSTREAM_TIMEOUT"]

UPSTREAM_TIMEOUT = 2.0
_TICK = 0.1  # table check and bind retry cadence
_BIND_RETRY = 1.0
_MAX_IN_FLIGHT = 100
_MAX_TCP = 128
_TCP_IDLE = 10.0
_UPSTREAM_LOG_EVERY = 10.0  # one warning per upstream per this many seconds
_IP_FREEBIND = 15  # <linux/in.h>; not exported by Python's socket module

Send = Callable[[bytes], None]
Failures = list[tuple[str, str]]


def _recv_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("upstream closed the connection")
        data += chunk
    return bytes(data)


def _exchange(query: bytes, server: Upstream, tcp: bool, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server.host, server.port))  # UDP: only this server's datagrams are received
        if tcp:
            sock.sendall(len(query).to_bytes(2, "big") + query)
            return _recv_exact(sock, int.from_bytes(_recv_exact(sock, 2, deadline), "big"), deadline)
        sock.send(query)
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            reply = sock.recv(65535)
            if len(reply) >= 12 and reply[:2] == query[:2] and reply[2] & 0x80:  # same id, QR set
                return reply


def forward(query: bytes, upstreams: list[Upstream], *, tcp: bool, timeout: float = UPSTREAM_TIMEOUT,
            stop: threading.Event | None = None) -> tuple[bytes, Failures]:
    """The first upstream's reply to ``query``, as it is, or SERVFAIL; with
    the failures met on the way (``(server, error)``). Blocks."""
    failures: Failures = []
    for server in upstreams:
        if stop is not None and stop.is_set():
            break
        try:
            return _exchange(query, server, tcp, timeout), failures
        except OSError as exc:
            failures.append((f"{server.host}:{server.port}", f"{type(exc).__name__}: {exc}"))
    return reply_with_rcode(query, RCODE.SERVFAIL), failures


@dataclass(eq=False)
class _TcpConn:
    sock: socket.socket
    peer: str
    gateway: str
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    last_active: float = field(default_factory=time.monotonic)
    closed: bool = False


class Responder:
    """The server: one selectors loop over every gateway's sockets."""

    def __init__(self, table_path: str, port: int = 53, *, timeout: float = UPSTREAM_TIMEOUT,
                 workers: int = 32) -> None:
        self.table_path, self.port, self.timeout = table_path, port, timeout
        self.table = NameTable.empty()
        self._log = get_logger("dns")
        self._signature: tuple[int, int, int] | None = None
        self._reload_now = False
        self._stopping = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._listeners: dict[str, tuple[socket.socket, socket.socket]] = {}
        self._retry: dict[str, float] = {}  # gateway -> when to try binding again
        self._bind_error: dict[str, str] = {}  # the last logged, so each is logged once
        self._conns: dict[socket.socket, _TcpConn] = {}
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="dns-forward")
        self._in_flight = 0
        self._done: queue.SimpleQueue[tuple[Send, Future]] = queue.SimpleQueue()
        self._upstream_logged: dict[str, float] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._on_wake)

    def run(self, pid_file: str | None = None) -> None:
        signal.set_wakeup_fd(self._wake_w.fileno())
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "_reload_now", True))
        self._tick(time.monotonic())
        if pid_file:
            write_atomic(pid_file, f"{os.getpid()}\n".encode(), mode=0o644)
        try:
            next_tick = time.monotonic() + _TICK
            while not self._stopping.is_set():
                for key, events in self._selector.select(max(next_tick - time.monotonic(), 0)):
                    if key.fileobj.fileno() == -1:  # type: ignore[union-attr]
                        continue  # closed by a reload earlier in this batch
                    try:
                        key.data(events)
                    except Exception:  # a bug on one packet must not stop name service: log it, serve on
                        self._log.exception("dns.handler_failed")
                self._complete()
                if (now := time.monotonic()) >= next_tick or self._reload_now:
                    self._tick(now)
                    next_tick = now + _TICK
        finally:
            self.close()
            signal.set_wakeup_fd(-1)
            if pid_file:
                _remove_own_pid_file(pid_file)
        self._log.info("dns.stopped")

    def close(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for conn in list(self._conns.values()):
            self._close_conn(conn)
        for gateway in list(self._listeners):
            self._unbind(gateway)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _tick(self, now: float) -> None:
        self._maybe_reload()
        for gateway, when in list(self._retry.items()):
            if when <= now:
                self._bind(gateway, now)
        for conn in [c for c in self._conns.values() if now - c.last_active > _TCP_IDLE]:
            self._close_conn(conn)

    def _on_wake(self, _events: int) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._wake_r.recv(4096):
                pass

    def _maybe_reload(self) -> None:
        try:
            st = os.stat(self.table_path)
            signature: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            signature = None
        if signature == self._signature and not self._reload_now:
            return
        self._signature, self._reload_now = signature, False
        if signature is None:
            self._log.warning("dns.table_missing", path=self.table_path)
            return
        try:
            with open(self.table_path, "rb") as f:
                table = NameTable.from_json(json.loads(f.read()))
        except (OSError, ValueError) as exc:
            self._log.error("dns.table_invalid", path=self.table_path, error=str(exc))
            return
        self.table = table
        wanted = table.gateways
        for gateway in set(self._listeners) - wanted:
            self._unbind(gateway)
        self._retry = {gw: self._retry.get(gw, 0.0) for gw in wanted - set(self._listeners)}
        self._log.info("dns.table_loaded", networks=len(wanted), upstream=len(table.upstream))

    def _bind(self, gateway: str, now: float) -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            for sock in (udp, tcp):
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart meets TIME_WAIT
            udp.bind((gateway, self.port))
            tcp.bind((gateway, self.port))
            tcp.listen(64)
        except OSError as exc:
            udp.close()
            tcp.close()
            self._retry[gateway] = now + _BIND_RETRY
            if self._bind_error.get(gateway) != str(exc):
                self._bind_error[gateway] = str(exc)
                self._log.error("dns.bind_failed", address=gateway, port=self.port, error=str(exc))
            return
        del self._retry[gateway]
        self._bind_error.pop(gateway, None)
        self._listeners[gateway] = (udp, tcp)
        self._selector.register(udp, selectors.EVENT_READ, lambda _e: self._on_udp(udp, gateway))
        self._selector.register(tcp, selectors.EVENT_READ, lambda _e: self._on_accept(tcp, gateway))
        self._log.info("dns.listening", address=gateway, port=self.port)

    def _unbind(self, gateway: str) -> None:
        for sock in self._listeners.pop(gateway):
            self._selector.unregister(sock)
            sock.close()
        for conn in [c for c in self._conns.values() if c.gateway == gateway]:
            self._close_conn(conn)
        self._log.info("dns.unbound", address=gateway, port=self.port)

    def _query(self, data: bytes, peer: str, gateway: str, tcp: bool, send: Send) -> None:
        self._maybe_reload()
        try:
            reply = self.table.answer(data, peer, gateway, tcp=tcp)
        except DropQuery:
            return
        if reply is not None:
            send(reply)
        elif self._in_flight >= _MAX_IN_FLIGHT:
            self._log.warning("dns.too_many_forwards", limit=_MAX_IN_FLIGHT, peer=peer)
            send(reply_with_rcode(data, RCODE.SERVFAIL))
        else:
            self._in_flight += 1
            future = self._pool.submit(forward, data, self.table.upstream, tcp=tcp, timeout=self.timeout,
                                       stop=self._stopping)
            future.add_done_callback(lambda f: self._finished(send, f))

    def _finished(self, send: Send, future: Future) -> None:
        """In a pool thread: hand the result to the loop."""
        self._done.put((send, future))
        with contextlib.suppress(OSError):  # full (the loop wakes anyway) or closed (stopping)
            self._wake_w.send(b"\0")

    def _complete(self) -> None:
        while True:
            try:
                send, future = self._done.get_nowait()
            except queue.Empty:
                return
            self._in_flight -= 1
            if future.cancelled():
                continue
            try:
                reply, failures = future.result()
            except Exception:  # forward() handles OSError; anything else is a bug: log it, drop the query
                self._log.exception("dns.forward_failed")
                continue
            now = time.monotonic()
            for server, error in failures:
                if now - self._upstream_logged.get(server, -_UPSTREAM_LOG_EVERY) >= _UPSTREAM_LOG_EVERY:
                    self._upstream_logged[server] = now
                    self._log.warning("dns.upstream_failed", upstream=server, error=error)
            send(reply)

    def _on_udp(self, sock: socket.socket, gateway: str) -> None:
        for _ in range(64):  # then let the other sockets have a turn
            if sock.fileno() == -1:
                return  # a reload (by the query before) closed it
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._log.warning("dns.receive_failed", address=gateway, error=str(exc))
                return
            self._query(data, addr[0], gateway, False, functools.partial(_sendto, sock, addr))

    def _on_accept(self, listener: socket.socket, gateway: str) -> None:
        try:
            sock, addr = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:
            self._log.warning("dns.accept_failed", address=gateway, error=str(exc))
            return
        if len(self._conns) >= _MAX_TCP:
            sock.close()
            return
        sock.setblocking(False)
        conn = _TcpConn(sock, addr[0], gateway)
        self._conns[sock] = conn
        self._selector.register(sock, selectors.EVENT_READ, lambda events: self._on_tcp(conn, events))

    def _on_tcp(self, conn: _TcpConn, events: int) -> None:
        conn.last_active = time.monotonic()
        if events & selectors.EVENT_WRITE:
            self._flush(conn)
        if not events & selectors.EVENT_READ or conn.closed:
            return
        try:
            data = conn.sock.recv(65537)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_conn(conn)
            return
        conn.inbuf += data
        while len(conn.inbuf) >= 2:
            size = int.from_bytes(conn.inbuf[:2], "big")
            if len(conn.inbuf) < 2 + size:
                break
            message = bytes(conn.inbuf[2:2 + size])
            del conn.inbuf[:2 + size]
            self._query(message, conn.peer, conn.gateway, True, lambda reply: self._send_tcp(conn, reply))

    def _send_tcp(self, conn: _TcpConn, reply: bytes) -> None:
        if not conn.closed:
            conn.outbuf += len(reply).to_bytes(2, "big") + reply
            self._flush(conn)

    def _flush(self, conn: _TcpConn) -> None:
        try:
            sent = conn.sock.send(conn.outbuf)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close_conn(conn)
            return
        del conn.outbuf[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbuf else 0)
        self._selector.modify(conn.sock, events, self._selector.get_key(conn.sock).data)

    def _close_conn(self, conn: _TcpConn) -> None:
        if not conn.closed:
            conn.closed = True
            del self._conns[conn.sock]
            self._selector.unregister(conn.sock)
            conn.sock.close()


def _sendto(sock: socket.socket, addr: tuple, reply: bytes) -> None:
    with contextlib.suppress(OSError):  # the socket closed (network removed): UDP may drop it
        sock.sendto(reply, addr)


def _remove_own_pid_file(path: str) -> None:
    with contextlib.suppress(OSError, ValueError), open(path) as f:
        if f.read().strip() == str(os.getpid()):
            os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="barque-dns", description="barque's embedded DNS responder")
    parser.add_argument("--table", required=True, help="the name table file the runtime writes")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--pid-file")
    parser.add_argument("--upstream-timeout", type=float, default=UPSTREAM_TIMEOUT, help="seconds per upstream")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    configure_logging("dns", args.log_level)
    Responder(args.table, args.port, timeout=args.upstream_timeout).run(args.pid_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
