"""The attach protocol spoken on ``attach.sock`` (described in the package
docstring): a JSON handshake line, then length-prefixed frames both ways.

Shared by the shim and by :mod:`services.runtime.shim.client`; stdlib-lean.
"""

from __future__ import annotations

from .leanjson import dumps, loads

__all__ = [
    "KIND_STDIN", "KIND_STDOUT", "KIND_STDERR", "KIND_STDIN_EOF", "KIND_EXIT", "KIND_RESIZE",
    "HEADER_SIZE", "MAX_PAYLOAD", "MAX_HANDSHAKE",
    "ProtocolError", "Handshake", "FrameDecoder", "encode_frame", "encode_handshake",
    "parse_handshake", "parse_size",
]

KIND_STDIN = 0
KIND_STDOUT = 1
KIND_STDERR = 2
KIND_STDIN_EOF = 3
KIND_EXIT = 4
KIND_RESIZE = 5
_KINDS = frozenset(range(6))

HEADER_SIZE = 5
#: largest payload either side accepts; bigger frames end the connection
MAX_PAYLOAD = 1 << 20
#: longest handshake line, newline included
MAX_HANDSHAKE = 4096


class ProtocolError(ValueError):
    """The peer broke the attach protocol; the connection is dropped."""


class Handshake:
    """Which streams a client attaches to, and the size of its terminal
    (0 when it has none or did not say)."""

    __slots__ = ("stdin", "stdout", "stderr", "logs", "height", "width")

    def __init__(self, stdin: bool, stdout: bool, stderr: bool, logs: bool = False,
                 height: int = 0, width: int = 0):
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.logs = logs
        self.height = height
        self.width = width


def encode_frame(kind: int, payload: bytes) -> bytes:
    if kind not in _KINDS:
        raise ProtocolError(f"unknown frame kind {kind}")
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"frame payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return bytes((kind,)) + len(payload).to_bytes(4, "big") + payload


def encode_handshake(stdin: bool, stdout: bool, stderr: bool, height: int = 0,
                     width: int = 0) -> bytes:
    doc: dict = {"stdin": stdin, "stdout": stdout, "stderr": stderr, "logs": False}
    if height and width:
        doc["height"], doc["width"] = height, width
    return (dumps(doc) + "\n").encode("ascii")


def parse_size(obj: object) -> tuple[int, int]:
    """(height, width) of a resize payload or handshake; (0, 0) when absent."""
    if not isinstance(obj, dict):
        raise ProtocolError("terminal size is not a json object")
    height, width = obj.get("height", 0), obj.get("width", 0)
    for value in (height, width):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
            raise ProtocolError(f"terminal size {value!r} is not an integer in 0..65535")
    return height, width


def parse_handshake(line: bytes) -> Handshake:
    """The client's first line (without its newline); missing keys are false."""
    try:
        obj = loads(line)
    except ValueError as exc:
        raise ProtocolError(f"attach handshake is not json: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError("attach handshake is not a json object")
    flags = {}
    for key in ("stdin", "stdout", "stderr", "logs"):
        value = obj.get(key, False)
        if not isinstance(value, bool):
            raise ProtocolError(f"attach handshake field {key!r} is not a boolean")
        flags[key] = value
    height, width = parse_size(obj)
    return Handshake(**flags, height=height, width=width)


class FrameDecoder:
    """Turns a byte stream into (kind, payload) frames."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames = []
        while len(self._buf) >= HEADER_SIZE:
            kind = self._buf[0]
            size = int.from_bytes(self._buf[1:HEADER_SIZE], "big")
            if kind not in _KINDS:
                raise ProtocolError(f"unknown frame kind {kind}")
            if size > MAX_PAYLOAD:
                raise ProtocolError(f"frame payload of {size} bytes exceeds {MAX_PAYLOAD}")
            if len(self._buf) < HEADER_SIZE + size:
                break
            frames.append((kind, bytes(self._buf[HEADER_SIZE:HEADER_SIZE + size])))
            del self._buf[:HEADER_SIZE + size]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buf)
