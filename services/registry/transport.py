"""HTTP to registries (Registry HTTP API v2): endpoints, auth flow, retries, redirects.

The only module that speaks HTTP. It knows nothing of manifests or the cache:
it turns ``(registry, method, path)`` into an open urllib3 response whose
status the caller accepted, or a categorised error.

- Endpoints: the configured mirrors first (full URLs), then the upstream.
  ``docker.io`` is ``https://registry-1.docker.io``; loopback hosts are plain
  HTTP as Docker does; others HTTPS unless configured ``insecure`` (then plain
  HTTP). A mirror that fails in any way is logged and skipped.
- Auth: a 401 carries ``WWW-Authenticate``. ``Bearer`` means a token from the
  realm (anonymous, or with the stored Basic credentials) cached per
  (origin, scope); ``Basic`` means the stored credentials. The challenge is
  remembered per origin so later requests authorise up front.
- Redirects are followed by hand (at most 10). ``Authorization`` is dropped
  for good at the first hop to another origin (scheme, host or port).
- Retries: 4 attempts with 0.2/0.4/0.8 s backoff on 5xx, 429 and transport
  errors (not TLS errors); never on other 4xx. A mirror gets one attempt, as
  the upstream behind it is the fallback.
- Pushes (:meth:`Transport.upstream`) go to the upstream only, never to a
  mirror, may carry a body, and may target an absolute upload URL (a
  ``Location``); a caller that resumes uploads itself asks for one attempt.
- A scope of several words (``"repository:a:push,pull repository:b:pull"``,
  a cross-repository mount) asks the token realm for each (``scope=`` repeated).
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, SSLError

from client.config import Config
from client.errors import (
    BarqueError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from client.reference import DEFAULT_DOMAIN
from services.common.log import get_logger
from services.registry.auth import (
    Challenge,
    Credentials,
    CredentialStore,
    TokenCache,
    basic_header,
    parse_token_response,
    parse_www_authenticate,
)

__all__ = ["Endpoint", "Transport", "endpoints_for", "is_loopback", "discard", "BACKOFF"]

BACKOFF: tuple[float, ...] = (0.2, 0.4, 0.8)
MAX_REDIRECTS = 10
#: error bodies and token answers are read up to this size (containerd reads 64 KiB)
SMALL_BODY_MAX = 1 << 20
DRAIN_MAX = 64 << 10
DOCKER_HUB_UPSTREAM = "https://registry-1.docker.io"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

log = get_logger("barque.registry.transport")


@dataclass(frozen=True)
class Endpoint:
    base_url: str   # "https://registry-1.docker.io", "http://127.0.0.1:5000"
    cred_host: str  # key into the credential store for this endpoint
    mirror: bool

    @property
    def origin(self) -> str:
        return _origin(self.base_url)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _is_absolute(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1, with or without a port."""
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def endpoints_for(registry: str, config: Config) -> list[Endpoint]:
    """Mirrors of ``registry`` in configured order, then the registry itself."""
    settings = config.registry_host(registry)
    out = []
    for mirror in settings.mirrors:
        netloc = urlsplit(mirror).netloc or mirror
        url = mirror if "://" in mirror else f"https://{mirror}"
        out.append(Endpoint(url.rstrip("/"), netloc, True))
    if registry == DEFAULT_DOMAIN:
        upstream = DOCKER_HUB_UPSTREAM
    elif is_loopback(registry) or settings.insecure:
        upstream = f"http://{registry}"
    else:
        upstream = f"https://{registry}"
    out.append(Endpoint(upstream, registry, False))
    return out


def discard(resp: urllib3.BaseHTTPResponse) -> None:
    """Give a response's connection back: drained when little is left, else closed.

    A connection whose body was not read to the end cannot carry another
    request, and draining a large or endless body would cost its whole length.
    """
    remaining = getattr(resp, "length_remaining", None)
    try:
        if remaining is not None and remaining <= DRAIN_MAX:
            resp.drain_conn()
        elif not resp.closed:
            resp.close()
    except (HTTPError, OSError):
        resp.close()
    resp.release_conn()


def _error_detail(resp: urllib3.BaseHTTPResponse) -> str:
    """The registry's error code/message from a JSON error body, bounded."""
    try:
        body = resp.read(SMALL_BODY_MAX, decode_content=True)
    except (HTTPError, OSError):
        return ""
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, TypeError):
        return body[:200].decode("utf-8", "replace").strip()


def _status_error(resp: urllib3.BaseHTTPResponse, what: str, host: str) -> BarqueError:
    detail = _error_detail(resp)
    suffix = f" ({detail})" if detail else ""
    status = resp.status
    if status == 401:
        return Unauthenticated(f"{what}: unauthorized at {host}{suffix}")
    if status == 403:
        return PermissionDenied(f"{what}: denied by {host}{suffix}")
    if status == 404:
        return NotFound(f"{what}: not found at {host}{suffix}")
    if status == 429 or status >= 500:
        return Unavailable(f"{what}: {host} answered {status}{suffix}")
    if status == 413:
        return FailedPrecondition(f"{what}: {host} answered 413 too large{suffix}")
    return InvalidArgument(f"{what}: {host} answered {status}{suffix}")


class Transport:
    """Thread-safe registry HTTP client over one urllib3 pool manager."""

    def __init__(self, config: Config, credentials: CredentialStore, *,
                 user_agent: str = "barque/0.1", backoff: Sequence[float] = BACKOFF,
                 timeout: urllib3.Timeout | None = None, tokens: TokenCache | None = None) -> None:
        self.config = config
        self.credentials = credentials
        self.tokens = tokens or TokenCache()
        self.backoff = tuple(backoff)
        self.user_agent = user_agent
        self.pool = urllib3.PoolManager(num_pools=32, maxsize=16, block=False, retries=False,
                                        timeout=timeout or urllib3.Timeout(connect=10, read=60))
        self._challenges: dict[str, Challenge] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.pool.clear()

    # -- public ---------------------------------------------------------------

    def request(self, registry: str, method: str, path: str, *, scope: str | None = None,
                headers: dict[str, str] | None = None, ok: Sequence[int] = (200,),
                what: str = "") -> urllib3.BaseHTTPResponse:
        """Open ``method path`` on the first endpoint of ``registry`` that accepts it.

        Returns the response unread (``preload_content=False``); the caller
        reads and releases it. Statuses outside ``ok`` become errors.
        """
        what = what or f"{method} {registry}{path}"
        last: BarqueError | None = None
        for endpoint in endpoints_for(registry, self.config):
            log.info("registry.request", registry=registry, endpoint=endpoint.base_url,
                      mirror=endpoint.mirror, method=method, path=path)
            try:
                resp = self._with_retries(endpoint, method, path, scope, headers or {}, what)
            except BarqueError as exc:
                last = exc
            else:
                if resp.status in ok:
                    return resp
                last = _status_error(resp, what, urlsplit(endpoint.base_url).netloc)
                discard(resp)
            log.info("registry.endpoint_failed", registry=registry, endpoint=endpoint.base_url,
                     mirror=endpoint.mirror, method=method, path=path, error=str(last))
        assert last is not None
        raise last

    def upstream(self, registry: str, method: str, target: str, *, scope: str | None = None,
                 headers: dict[str, str] | None = None, body: bytes | None = None,
                 ok: Sequence[int] = (200,), what: str = "",
                 retry: bool = True) -> urllib3.BaseHTTPResponse:
        """Like :meth:`request`, on the upstream alone (pushes never go to a mirror).

        ``target`` is a path under the registry or an absolute URL the
        registry handed out (an upload's ``Location``); credentials go only to
        the registry's own origin. With ``retry`` False a transport error or a
        5xx is raised at once (Unavailable), for callers that resume by
        themselves what a failed request may have half done.
        """
        endpoint = endpoints_for(registry, self.config)[-1]
        what = what or f"{method} {registry}{target}"
        log.info("registry.request", registry=registry, endpoint=endpoint.base_url,
                 mirror=False, method=method, path=urlsplit(target).path)
        creds = self.credentials.get(endpoint.cred_host)
        resp = self._retrying(lambda: self._send_authorized(endpoint, method, target, scope,
                                                            headers or {}, creds, what, body),
                              what, endpoint.base_url, retry=retry)
        if resp.status in ok:
            return resp
        try:
            raise _status_error(resp, what, urlsplit(endpoint.base_url).netloc)
        finally:
            discard(resp)

    def check_login(self, registry: str, creds: Credentials) -> None:
        """GET /v2/ on the upstream with ``creds`` through the full auth flow.

        Unauthenticated when the registry (or its token realm) refuses them.
        """
        endpoint = endpoints_for(registry, self.config)[-1]
        url = endpoint.base_url + "/v2/"
        resp = self._send_retrying("GET", url, {}, endpoint.origin, f"login to {registry}")
        if resp.status == 401:
            challenges = parse_www_authenticate(resp.headers.getlist("WWW-Authenticate"))
            discard(resp)
            auth = self._fresh_authorization(endpoint, challenges, None, creds,
                                             f"login to {registry}")
            if auth is None:
                raise Unauthenticated(f"login to {registry}: no supported auth challenge")
            resp = self._send_retrying("GET", url, {"Authorization": auth}, endpoint.origin,
                                       f"login to {registry}")
        try:
            if resp.status != 200:
                raise _status_error(resp, f"login to {registry}", urlsplit(url).netloc)
        finally:
            discard(resp)

    # -- internals ------------------------------------------------------------

    def _with_retries(self, endpoint: Endpoint, method: str, path: str, scope: str | None,
                      headers: dict[str, str], what: str) -> urllib3.BaseHTTPResponse:
        creds = self.credentials.get(endpoint.cred_host)
        # a mirror gets one attempt: falling back to the upstream is its retry
        return self._retrying(lambda: self._send_authorized(endpoint, method, path, scope,
                                                            headers, creds, what), what,
                              endpoint.base_url, retry=not endpoint.mirror)

    def _send_retrying(self, method: str, url: str, headers: dict[str, str], origin: str,
                       what: str) -> urllib3.BaseHTTPResponse:
        return self._retrying(lambda: self._send(method, url, headers, origin), what, url)

    def _retrying(self, attempt: Callable[[], urllib3.BaseHTTPResponse], what: str, url: str,
                  retry: bool = True) -> urllib3.BaseHTTPResponse:
        last: BarqueError | None = None
        for n in range(len(self.backoff) + 1 if retry else 1):
            if n:
                time.sleep(self.backoff[n - 1])
            try:
                resp = attempt()
            except SSLError as exc:
                raise Unavailable(f"{what}: tls error talking to {url}: {exc}") from exc
            except (HTTPError, OSError) as exc:
                last = Unavailable(f"{what}: cannot reach {url}: {exc}")
                last.__cause__ = exc
                log.info("registry.retry", url=url, attempt=n + 1, error=str(exc))
                continue
            if resp.status == 429 or resp.status >= 500:
                last = _status_error(resp, what, urlsplit(url).netloc)
                discard(resp)
                log.info("registry.retry", url=url, attempt=n + 1, status=resp.status)
                continue
            return resp
        assert last is not None
        raise last

    def _send(self, method: str, url: str, headers: dict[str, str],
              auth_origin: str, body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        """One request, redirects followed; Authorization only to ``auth_origin``.

        A 307/308 keeps the method and ``body``; a 303 turns into a bodiless GET.
        """
        hdrs = {"User-Agent": self.user_agent, **headers}
        if _origin(url) != auth_origin:
            hdrs.pop("Authorization", None)
        for _ in range(MAX_REDIRECTS + 1):
            resp = self.pool.request(method, url, headers=hdrs, body=body, preload_content=False,
                                     redirect=False, retries=False)
            location = resp.headers.get("Location")
            if resp.status not in _REDIRECTS or not location:
                return resp
            discard(resp)
            nxt = urljoin(url, location)
            if _origin(nxt) != _origin(url):
                # dropped for good: a later hop back to the origin gets none either
                hdrs.pop("Authorization", None)
            if resp.status == 303:
                method, body = "GET", None
            log.debug("registry.redirect", src=url, dst=nxt, status=resp.status)
            url = nxt
        raise Unavailable(f"too many redirects from {url}")

    def _send_authorized(self, endpoint: Endpoint, method: str, path: str, scope: str | None,
                         headers: dict[str, str], creds: Credentials | None,
                         what: str, body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        url = path if _is_absolute(path) else endpoint.base_url + path
        hdrs = dict(headers)
        auth = self._known_authorization(endpoint, scope, creds, what)
        if auth:
            hdrs["Authorization"] = auth
        resp = self._send(method, url, hdrs, endpoint.origin, body)
        if resp.status != 401:
            return resp
        challenges = parse_www_authenticate(resp.headers.getlist("WWW-Authenticate"))
        if not challenges:
            return resp
        discard(resp)
        if scope is not None:
            self.tokens.drop(endpoint.origin, scope)
        auth = self._fresh_authorization(endpoint, challenges, scope, creds, what)
        if auth is None:
            raise Unauthenticated(f"{what}: {endpoint.base_url} wants authentication "
                                  f"({', '.join(c.scheme for c in challenges)}) and no credentials "
                                  f"are stored for {endpoint.cred_host}")
        hdrs["Authorization"] = auth
        return self._send(method, url, hdrs, endpoint.origin, body)

    def _known_authorization(self, endpoint: Endpoint, scope: str | None,
                             creds: Credentials | None, what: str) -> str | None:
        """Authorization for a request before any 401, from what we learnt before."""
        with self._lock:
            challenge = self._challenges.get(endpoint.origin)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return basic_header(creds) if creds else None
        key = scope or challenge.params.get("scope", "")
        token = self.tokens.get(endpoint.origin, key)
        if token:
            return f"Bearer {token}"
        return self._bearer(endpoint, challenge, key, creds, what)

    def _fresh_authorization(self, endpoint: Endpoint, challenges: list[Challenge],
                             scope: str | None, creds: Credentials | None,
                             what: str) -> str | None:
        for challenge in challenges:
            if challenge.scheme == "bearer" and challenge.params.get("realm"):
                with self._lock:
                    self._challenges[endpoint.origin] = challenge
                key = scope or challenge.params.get("scope", "")
                return self._bearer(endpoint, challenge, key, creds, what)
        for challenge in challenges:
            if challenge.scheme == "basic":
                with self._lock:
                    self._challenges[endpoint.origin] = challenge
                return basic_header(creds) if creds else None
        return None

    def _plain_http_ok(self, netloc: str) -> bool:
        return is_loopback(netloc) or self.config.registry_host(netloc).insecure

    def _bearer(self, endpoint: Endpoint, challenge: Challenge, scope: str,
                creds: Credentials | None, what: str) -> str:
        """Fetch a token from the challenge's realm and cache it per (origin, scope)."""
        query = [("service", challenge.params["service"])] if "service" in challenge.params else []
        query += [("scope", word) for word in scope.split()]
        realm = challenge.params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        realm_parts = urlsplit(url)
        if realm_parts.scheme not in ("http", "https") or not realm_parts.hostname:
            raise Unauthenticated(f"{what}: unusable token realm {realm!r}")
        if creds and realm_parts.scheme == "http" and not self._plain_http_ok(realm_parts.netloc):
            # a password never crosses the network in clear text
            raise Unauthenticated(f"{what}: token realm {realm!r} is plain http; "
                                  f"refusing to send credentials for {endpoint.cred_host}")
        hdrs = {"Authorization": basic_header(creds)} if creds else {}
        # the realm is its own origin: credentials go there deliberately, and
        # are dropped if it redirects elsewhere
        resp = self._send_retrying("GET", url, hdrs, _origin(url), f"{what}: token from {realm}")
        try:
            if resp.status in (401, 403):
                raise Unauthenticated(f"{what}: token realm {realm} refused "
                                      f"{'the stored credentials' if creds else 'anonymous access'}"
                                      f" for scope {scope!r}")
            if resp.status != 200:
                raise _status_error(resp, f"{what}: token from {realm}", urlsplit(url).netloc)
            body = resp.read(SMALL_BODY_MAX + 1, decode_content=True)
        except (HTTPError, OSError) as exc:
            raise Unavailable(f"{what}: reading token from {realm}: {exc}") from exc
        finally:
            discard(resp)
        if len(body) > SMALL_BODY_MAX:
            raise FailedPrecondition(f"{what}: token response from {realm} is too large")
        token, expires_at = parse_token_response(body, self.tokens.now())
        self.tokens.put(endpoint.origin, scope, token, expires_at)
        log.debug("registry.token", origin=endpoint.origin, scope=scope, realm=realm)
        return f"Bearer {token}"
