"""One attach connection as the shim sees it: handshake, frames in, a
bounded-by-backpressure queue of frames out. No I/O policy lives here; the
supervisor decides when to read, write and drop.
"""

from __future__ import annotations

import _socket

from .protocol import (
    KIND_STDERR, KIND_STDOUT, MAX_HANDSHAKE, FrameDecoder, Handshake, ProtocolError,
    parse_handshake,
)

__all__ = ["AttachClient"]


class AttachClient:
    """A connected client; ``handshake`` is None until its first line arrived."""

    __slots__ = ("sock", "fd", "handshake", "decoder", "outbuf", "reading", "_line")

    def __init__(self, sock: _socket.socket):
        self.sock = sock
        self.fd = sock.fileno()
        self.handshake: Handshake | None = None
        self.decoder = FrameDecoder()
        self.outbuf = bytearray()
        #: false once the client shut down its sending side; output still flows
        self.reading = True
        self._line = bytearray()

    def receive(self, data: bytes) -> list[tuple[int, bytes]]:
        """Feed bytes read from the socket; returns the complete frames.
        Raises ProtocolError for a bad handshake or frame."""
        if self.handshake is None:
            self._line += data
            newline = self._line.find(b"\n")
            if newline < 0:
                if len(self._line) >= MAX_HANDSHAKE:
                    raise ProtocolError("attach handshake line is too long")
                return []
            self.handshake = parse_handshake(bytes(self._line[:newline]))
            data = bytes(self._line[newline + 1:])
            self._line = bytearray()
        return self.decoder.feed(data)

    def wants(self, kind: int) -> bool:
        hs = self.handshake
        if hs is None:
            return False
        return hs.stdout if kind == KIND_STDOUT else hs.stderr if kind == KIND_STDERR else False

    def send_pending(self) -> None:
        """Write what the socket takes now; raises OSError when the peer is gone."""
        while self.outbuf:
            try:
                sent = self.sock.send(self.outbuf)
            except BlockingIOError:
                return
            del self.outbuf[:sent]

    def close(self) -> None:
        """Read what the client still sent (so closing does not turn into a
        reset that could discard the exit frame at the peer), then close."""
        try:
            self.sock.setblocking(False)
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.sock.close()
