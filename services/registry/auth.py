"""Registry authentication state: challenges, stored credentials, bearer tokens.

Pure logic and local files only; the HTTP exchange with a token realm lives in
:mod:`services.registry.transport`.

- ``parse_www_authenticate`` reads RFC 7235 challenges (``Bearer realm=..``,
  ``Basic realm=..``), quoted strings with commas and escapes included.
- ``CredentialStore`` keeps ``<state_dir>/auth.json`` in Docker's
  ``config.json`` shape (``{"auths": {host: {"auth": base64(user:pass)}}}``),
  mode 0600, rewritten atomically (temp file, fsync, rename).
- ``TokenCache`` keeps bearer tokens per (origin, scope) until they expire.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from client.errors import FailedPrecondition
from services.common.atomic import write_atomic

__all__ = [
    "Challenge",
    "Credentials",
    "CredentialStore",
    "TokenCache",
    "parse_www_authenticate",
    "parse_token_response",
    "basic_header",
]

#: tokens are dropped this many seconds before the server's expiry, so a
#: token never expires between the cache lookup and the request using it
EXPIRY_MARGIN = 5.0
#: expiry assumed when a token response carries no ``expires_in`` (token spec)
DEFAULT_EXPIRES_IN = 60


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower-case: "bearer", "basic"
    params: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _read_token(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] not in " \t,=\"":
        i += 1
    return text[start:i], i


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    # text[i] is the opening quote; backslash escapes the next character
    out = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i


def parse_www_authenticate(headers: str | list[str]) -> list[Challenge]:
    """Parse one or more ``WWW-Authenticate`` header values into challenges.

    Unparseable fragments are skipped rather than raised: a registry's odd
    header must not hide a usable challenge next to it.
    """
    values = [headers] if isinstance(headers, str) else list(headers)
    challenges: list[Challenge] = []
    for text in values:
        i = 0
        scheme: str | None = None
        params: dict[str, str] = {}
        while i < len(text):
            i = _skip_space(text, i)
            if i < len(text) and text[i] == ",":
                i += 1
                continue
            token, j = _read_token(text, i)
            if not token:
                i = j + 1
                continue
            k = _skip_space(text, j)
            if k < len(text) and text[k] == "=" and scheme is not None:
                k = _skip_space(text, k + 1)
                if k < len(text) and text[k] == '"':
                    value, i = _read_quoted(text, k)
                else:
                    value, i = _read_token(text, k)
                params[token.lower()] = value
                continue
            if scheme is not None:
                challenges.append(Challenge(scheme, params))
            scheme, params, i = token.lower(), {}, j
        if scheme is not None:
            challenges.append(Challenge(scheme, params))
    return challenges


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def parse_token_response(body: bytes, now: float) -> tuple[str, float]:
    """Return (token, expires_at) from a token realm's JSON answer.

    ``token`` and ``access_token`` are equivalent (token spec); ``expires_in``
    defaults to 60 s.
    """
    try:
        obj = json.loads(body)
        token = obj.get("token") or obj.get("access_token")
        expires_in = obj.get("expires_in") or DEFAULT_EXPIRES_IN
        expires_in = float(expires_in)
    except (ValueError, AttributeError, TypeError) as exc:
        raise FailedPrecondition(f"malformed token response: {exc}") from exc
    if not isinstance(token, str) or not token:
        raise FailedPrecondition("token response carries neither 'token' nor 'access_token'")
    return token, now + max(expires_in - EXPIRY_MARGIN, 0.0)


class TokenCache:
    """Bearer tokens keyed by (origin, scope), dropped at expiry. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def get(self, origin: str, scope: str) -> str | None:
        with self._lock:
            entry = self._tokens.get((origin, scope))
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._tokens[(origin, scope)]
                return None
            return entry[0]

    def put(self, origin: str, scope: str, token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[(origin, scope)] = (token, expires_at)

    def drop(self, origin: str, scope: str) -> None:
        with self._lock:
            self._tokens.pop((origin, scope), None)

    def clear(self) -> None:
        """Forget every token (credentials changed: tokens may carry old rights)."""
        with self._lock:
            self._tokens.clear()

    def now(self) -> float:
        return self._clock()


class CredentialStore:
    """Credentials per registry host in ``auth.json``. Thread-safe.

    The file is read on every lookup so that a second process sharing the
    state directory sees logins made by the first.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _load(self) -> dict:
        try:
            with open(self.path, "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {"auths": {}}
        except (OSError, ValueError) as exc:
            raise FailedPrecondition(f"credential file {str(self.path)!r} is unreadable: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("auths", {}), dict):
            raise FailedPrecondition(f"credential file {str(self.path)!r} is malformed")
        data.setdefault("auths", {})
        return data

    def _save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True).encode(), mode=0o600)

    def get(self, host: str) -> Credentials | None:
        with self._lock:
            entry = self._load()["auths"].get(host)
        if not isinstance(entry, dict) or not entry.get("auth"):
            return None
        try:
            raw = base64.b64decode(entry["auth"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, TypeError):
            return None
        user, sep, password = raw.partition(":")
        return Credentials(user, password) if sep else None

    def put(self, host: str, creds: Credentials) -> None:
        token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode("ascii")
        with self._lock:
            data = self._load()
            data["auths"][host] = {"auth": token}
            self._save(data)

    def remove(self, host: str) -> bool:
        with self._lock:
            data = self._load()
            if host not in data["auths"]:
                return False
            del data["auths"][host]
            self._save(data)
            return True
