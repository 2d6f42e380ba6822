"""WWW-Authenticate parsing, token responses and cache, the credential file."""

from __future__ import annotations

import json
import os
import threading

import pytest

from client.errors import FailedPrecondition
from services.registry.auth import (
    Challenge,
    Credentials,
    CredentialStore,
    TokenCache,
    basic_header,
    parse_token_response,
    parse_www_authenticate,
)


def params(header) -> list[tuple[str, dict[str, str]]]:
    return [(c.scheme, c.params) for c in parse_www_authenticate(header)]


@pytest.mark.parametrize("header,expected", [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
     'scope="repository:samalba/my-app:pull,push"',
     [("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                  "scope": "repository:samalba/my-app:pull,push"})]),
    ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
    ('basic realm=unquoted', [("basic", {"realm": "unquoted"})]),
    ('BEARER Realm="r" , Service = "s"', [("bearer", {"realm": "r", "service": "s"})]),
    ('Bearer realm="a \\"quoted\\" realm",error="invalid_token"',
     [("bearer", {"realm": 'a "quoted" realm', "error": "invalid_token"})]),
    ('Basic realm="a", Bearer realm="b",service="c"',
     [("basic", {"realm": "a"}), ("bearer", {"realm": "b", "service": "c"})]),
    ("Negotiate", [("negotiate", {})]),
    ("", []),
    (['Basic realm="one"', 'Bearer realm="two"'],
     [("basic", {"realm": "one"}), ("bearer", {"realm": "two"})]),
    ('Bearer realm="unterminated', [("bearer", {"realm": "unterminated"})]),
])
def test_parse_www_authenticate(header, expected):
    assert params(header) == expected


def test_challenge_scheme_is_lower_case():
    assert parse_www_authenticate('Bearer realm="x"') == [Challenge("bearer")]


def test_basic_header():
    assert basic_header(Credentials("user", "pa:ss")) == "Basic dXNlcjpwYTpzcw=="


@pytest.mark.parametrize("body,token,ttl", [
    (b'{"token": "t1", "expires_in": 300}', "t1", 295),
    (b'{"access_token": "t2"}', "t2", 55),          # default 60 s, minus the margin
    (b'{"token": "t3", "access_token": "t3", "expires_in": 2}', "t3", 0),
])
def test_parse_token_response(body, token, ttl):
    assert parse_token_response(body, 1000.0) == (token, 1000.0 + ttl)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"token": ""}', b'{"expires_in": 5}',
                                  b'{"token": "t", "expires_in": "soon"}'])
def test_parse_token_response_refuses_garbage(body):
    with pytest.raises(FailedPrecondition):
        parse_token_response(body, 0.0)


def test_token_cache_expiry_and_scope():
    now = [100.0]
    cache = TokenCache(clock=lambda: now[0])
    cache.put("https://r:443", "repository:a:pull", "tok", 160.0)
    assert cache.get("https://r:443", "repository:a:pull") == "tok"
    assert cache.get("https://r:443", "repository:b:pull") is None
    assert cache.get("https://other:443", "repository:a:pull") is None
    now[0] = 160.0
    assert cache.get("https://r:443", "repository:a:pull") is None
    cache.put("https://r:443", "s", "tok2", 500.0)
    cache.clear()
    assert cache.get("https://r:443", "s") is None


def test_credential_store_roundtrip_and_mode(tmp_path):
    store = CredentialStore(tmp_path / "state" / "auth.json")
    assert store.get("docker.io") is None
    assert store.remove("docker.io") is False
    store.put("docker.io", Credentials("alice", "s3:cret"))
    store.put("localhost:5000", Credentials("bob", "pw"))
    assert store.get("docker.io") == Credentials("alice", "s3:cret")
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    data = json.loads(store.path.read_text())
    assert set(data["auths"]) == {"docker.io", "localhost:5000"}
    assert "s3:cret" not in store.path.read_text()
    assert store.remove("docker.io") is True
    assert store.get("docker.io") is None
    assert store.get("localhost:5000") == Credentials("bob", "pw")
    # no temp files left behind by the atomic rewrites
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["auth.json"]


def test_credential_store_reads_docker_format(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"quay.io": {"auth": "dTpw"}, "bad": {"auth": "!!"}}}))
    store = CredentialStore(path)
    assert store.get("quay.io") == Credentials("u", "p")
    assert store.get("bad") is None


def test_credential_store_refuses_malformed_file(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text("{not json")
    with pytest.raises(FailedPrecondition) as info:
        CredentialStore(path).get("docker.io")
    assert str(path) in str(info.value)


def test_credential_store_concurrent_writers(tmp_path):
    store = CredentialStore(tmp_path / "auth.json")
    threads = [threading.Thread(target=store.put, args=(f"host{i}:5000", Credentials(f"u{i}", "p")))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(json.loads(store.path.read_text())["auths"]) == 16


def test_credentials_repr_hides_password():
    assert "hunter2" not in repr(Credentials("u", "hunter2"))
