"""Docker's reference normalisation rules (distribution/reference ParseNormalizedNamed)."""

from __future__ import annotations

import pytest

from client.errors import InvalidArgument
from client.reference import (
    InvalidReference,
    Reference,
    parse_name,
    parse_reference,
    registry_host,
)

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "0123456789abcdef" * 4

VALID = [
    # text, domain, path, tag, digest, str, familiar
    ("busybox", "docker.io", "library/busybox", "latest", None,
     "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None,
     "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("user/x", "docker.io", "user/x", "latest", None, "docker.io/user/x:latest", "user/x:latest"),
    ("docker.io/busybox", "docker.io", "library/busybox", "latest", None,
     "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", None,
     "docker.io/library/busybox:latest", "busybox:latest"),
    ("registry-1.docker.io/user/x:v1", "docker.io", "user/x", "v1", None,
     "docker.io/user/x:v1", "user/x:v1"),
    ("docker.io/library/a/b", "docker.io", "library/a/b", "latest", None,
     "docker.io/library/a/b:latest", "library/a/b:latest"),
    ("localhost:5000/a", "localhost:5000", "a", "latest", None,
     "localhost:5000/a:latest", "localhost:5000/a:latest"),
    ("localhost/a", "localhost", "a", "latest", None, "localhost/a:latest", "localhost/a:latest"),
    ("127.0.0.1:5000/ns/name:t", "127.0.0.1:5000", "ns/name", "t", None,
     "127.0.0.1:5000/ns/name:t", "127.0.0.1:5000/ns/name:t"),
    ("quay.io/coreos/etcd", "quay.io", "coreos/etcd", "latest", None,
     "quay.io/coreos/etcd:latest", "quay.io/coreos/etcd:latest"),
    (f"a.b/c:tag@{D1}", "a.b", "c", "tag", D1, f"a.b/c:tag@{D1}", f"a.b/c:tag@{D1}"),
    (f"busybox@{D2}", "docker.io", "library/busybox", None, D2,
     f"docker.io/library/busybox@{D2}", f"busybox@{D2}"),
    (f"busybox:1@{D2}", "docker.io", "library/busybox", "1", D2,
     f"docker.io/library/busybox:1@{D2}", f"busybox:1@{D2}"),
    ("[::1]:5000/x:y", "[::1]:5000", "x", "y", None, "[::1]:5000/x:y", "[::1]:5000/x:y"),
    ("My.Registry:443/a", "My.Registry:443", "a", "latest", None,
     "My.Registry:443/a:latest", "My.Registry:443/a:latest"),
    ("a_b/c__d/e-f---g.h", "docker.io", "a_b/c__d/e-f---g.h", "latest", None,
     "docker.io/a_b/c__d/e-f---g.h:latest", "a_b/c__d/e-f---g.h:latest"),
    ("x:" + "T" * 128, "docker.io", "library/x", "T" * 128, None,
     "docker.io/library/x:" + "T" * 128, "x:" + "T" * 128),
    ("x:_under.score-1", "docker.io", "library/x", "_under.score-1", None,
     "docker.io/library/x:_under.score-1", "x:_under.score-1"),
    # a bare host without a slash is a repository name, and its port a tag (as in Docker)
    ("localhost:5000", "docker.io", "library/localhost", "5000", None,
     "docker.io/library/localhost:5000", "localhost:5000"),
]


@pytest.mark.parametrize("text,domain,path,tag,digest,full,familiar", VALID)
def test_valid_references(text, domain, path, tag, digest, full, familiar):
    ref = parse_reference(text)
    assert ref == Reference(domain, path, tag, digest)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert ref.name == f"{domain}/{path}"
    # normalisation is idempotent
    assert parse_reference(str(ref)) == ref


INVALID = [
    ("", "invalid reference format"),
    ("UPPER/case", "must be lowercase"),
    ("Busybox", "must be lowercase"),
    ("docker.io/Library/busybox", "must be lowercase"),
    ("name:", "invalid tag"),
    (":tag", "empty repository name"),
    ("a.b/", "empty repository name"),
    ("@" + D1, "empty repository name"),
    ("busybox@sha256:abc", "invalid digest"),
    ("busybox@sha512:" + "a" * 128, "invalid digest"),
    ("busybox@sha256:" + "A" * 64, "invalid digest"),
    ("busybox@", "invalid digest"),
    ("a" * 64, "64-byte hexadecimal"),
    ("x:" + "t" * 129, "invalid tag"),
    ("x:-tag", "invalid tag"),
    ("x:.tag", "invalid tag"),
    ("x:t/a", "invalid registry domain"),
    ("a//b", "invalid repository name"),
    ("a/b/", "invalid repository name"),
    ("-a/b", "invalid repository name"),
    ("a_/b", "invalid repository name"),
    ("a/b_", "invalid repository name"),
    ("a...b", "invalid repository name"),
    ("a b", "invalid repository name"),
    ("-host.com/a", "invalid registry domain"),
    ("host.com:port/a", "invalid registry domain"),
    ("a" * 250, "more than 255"),
    ("localhost/" + "a" * 246, "more than 255"),
    # counted after normalisation: docker.io/library/ adds 18 characters
    ("a" * 240, "more than 255"),
]


@pytest.mark.parametrize("text,needle", INVALID)
def test_invalid_references(text, needle):
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert needle in str(info.value)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, InvalidArgument)


def test_longest_allowed_name():
    ref = parse_reference("localhost/" + "a" * 245)
    assert len(ref.name) == 255


@pytest.mark.parametrize("text", ["busybox:latest", f"busybox@{D1}", "a.b/c:tag"])
def test_parse_name_refuses_tag_and_digest(text):
    with pytest.raises(InvalidReference):
        parse_name(text)


@pytest.mark.parametrize(
    "text,name",
    [("docker.io/library/busybox", "docker.io/library/busybox"), ("busybox", "docker.io/library/busybox"),
     ("localhost:5000/a/b", "localhost:5000/a/b")],
)
def test_parse_name(text, name):
    ref = parse_name(text)
    assert (ref.name, ref.tag, ref.digest) == (name, None, None)


@pytest.mark.parametrize(
    "text,host",
    [
        ("docker.io", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("", "docker.io"),
        ("localhost:5000", "localhost:5000"),
        ("http://127.0.0.1:5000/", "127.0.0.1:5000"),
        ("quay.io", "quay.io"),
        ("[::1]:5000", "[::1]:5000"),
    ],
)
def test_registry_host(text, host):
    assert registry_host(text) == host


@pytest.mark.parametrize("text", ["bad host", "-x.com", "a.b:port"])
def test_registry_host_invalid(text):
    with pytest.raises(InvalidArgument) as info:
        registry_host(text)
    assert repr(text) in str(info.value)
