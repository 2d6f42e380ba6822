"""Image references, normalised as Docker does (distribution/reference).

``parse_reference("busybox")`` is ``docker.io/library/busybox:latest``. The
grammar and the normalisation follow ``ParseNormalizedNamed`` with one
deliberate difference: the first path component is a registry domain only
when it contains ``.`` or ``:`` or is ``localhost`` (Docker also takes an
upper-case first component as a domain, which lets ``UPPER/case`` through as
a registry called ``UPPER``; we refuse it as an upper-case repository name).

Only sha256 digests are accepted, since digests end up as file names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from client.errors import InvalidArgument

__all__ = [
    "InvalidReference",
    "Reference",
    "parse_reference",
    "parse_name",
    "registry_host",
    "DEFAULT_DOMAIN",
    "NAME_TOTAL_LENGTH_MAX",
]

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAINS = frozenset({"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_RE = re.compile(rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")
_HEX64_RE = re.compile(r"[a-f0-9]{64}")


class InvalidReference(InvalidArgument):
    """A reference or repository name that does not follow the grammar."""


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + self._suffix()

    @property
    def familiar_name(self) -> str:
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(OFFICIAL_PREFIX) and "/" not in self.path[len(OFFICIAL_PREFIX):]:
            return self.path[len(OFFICIAL_PREFIX):]
        return self.path

    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")


def _split_domain(text: str) -> tuple[str, str]:
    """Split ``[domain/]remainder`` by the rule in the module docstring."""
    first, sep, rest = text.partition("/")
    if sep and (("." in first) or (":" in first) or first == "localhost"):
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, text
    if domain in LEGACY_DOMAINS:
        domain = DEFAULT_DOMAIN
    return domain, remainder


def _check_name(text: str, domain: str, path: str) -> None:
    bad = f"invalid reference format: {text!r}"
    if not _DOMAIN_RE.fullmatch(domain):
        raise InvalidReference(f"{bad}: invalid registry domain {domain!r}")
    if path.lower() != path:
        raise InvalidReference(f"{bad}: repository name {path!r} must be lowercase")
    if not _PATH_RE.fullmatch(path):
        raise InvalidReference(f"{bad}: invalid repository name {path!r}")


def _normalise_path(domain: str, path: str) -> str:
    if domain == DEFAULT_DOMAIN and "/" not in path:
        return OFFICIAL_PREFIX + path
    return path


def parse_reference(text: str) -> Reference:
    """Parse ``[domain/]path[:tag][@sha256:hex]`` into a normalised :class:`Reference`.

    The tag defaults to ``latest`` only when neither tag nor digest is given.
    Every error is an :class:`InvalidReference` naming ``text``.
    """
    bad = f"invalid reference format: {text!r}"
    if not isinstance(text, str) or not text:
        raise InvalidReference(bad)
    if _HEX64_RE.fullmatch(text):
        raise InvalidReference(
            f"{bad}: cannot specify a 64-byte hexadecimal string as a repository name"
        )
    rest, at, digest = text.partition("@")
    if at:
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidReference(f"{bad}: invalid digest {digest!r} (want sha256:<64 hex>)")
    tag: str | None = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReference(f"{bad}: invalid tag {tag!r}")
    if not rest:
        raise InvalidReference(f"{bad}: empty repository name")
    domain, path = _split_domain(rest)
    if not path:
        raise InvalidReference(f"{bad}: empty repository name")
    _check_name(text, domain, path)
    path = _normalise_path(domain, path)
    # counted on the normalised name, as Docker counts "docker.io/library/x"
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReference(
            f"{bad}: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if tag is None and not at:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest if at else None)


def parse_name(text: str) -> Reference:
    """Parse a repository name with neither tag nor digest (``Reference.name``).

    Returns a Reference whose ``tag`` and ``digest`` are both None; used by the
    calls that take ``name`` plus a separate digest.
    """
    if not isinstance(text, str) or "@" in text or ":" in text.rpartition("/")[2]:
        raise InvalidReference(f"invalid repository name {text!r}: want a name without tag or digest")
    ref = parse_reference(text)
    return Reference(ref.domain, ref.path, None, None)


def registry_host(text: str) -> str:
    """Normalise the registry argument of ``login``/``logout`` to a host.

    ``docker.io``, ``index.docker.io`` and ``https://index.docker.io/v1/`` are
    all ``docker.io``; an empty argument means Docker Hub, as in ``docker login``.
    """
    host = (text or "").strip()
    for scheme in ("http://", "https://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme):]
            break
    host = host.split("/", 1)[0]
    if not host:
        return DEFAULT_DOMAIN
    if host.lower() in LEGACY_DOMAINS or host.lower() == DEFAULT_DOMAIN:
        return DEFAULT_DOMAIN
    if not _DOMAIN_RE.fullmatch(host):
        raise InvalidReference(f"invalid registry host {text!r}")
    return host
