"""Identifier validators match the whole value (security review, issue 7).

A pattern anchored with ``$`` also matches just before a final newline, so
``re.match(r"^sha256:[a-f0-9]{64}$", "sha256:<hex>\\n")`` accepted a digest
that then became a file name or a URL. Every validator is exercised through
its public entry point with a valid value (accepted) and the same value with
trailing whitespace (refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from client.errors import BarqueError, InvalidArgument, Unavailable
from client.imagespec import digest_hex, validate_digest
from client.reference import parse_name, parse_reference, registry_host
from services.common.content import ContentStore
from services.images.snapshots import validate_key
from services.registry.core import RegistryProxy
from services.runtime.engine.containers import ContainerConfig, ContainerRecord, ContainerStore, HostConfig
from services.runtime.oci.spec import validate_id

HEX = "0123456789abcdef" * 4
DIGEST = f"sha256:{HEX}"
TRAILING = ["\n", "\r\n", " ", "\t", "\r", "\x0b", "\x0c"]


def _record(name: str, container_id: str = HEX) -> ContainerRecord:
    return ContainerRecord(id=container_id, name=name, created="", image_id=DIGEST,
                           config=ContainerConfig(), host_config=HostConfig())


class _Response:
    """What RegistryProxy reads of a resumed (206) blob response."""

    def __init__(self, content_range: str) -> None:
        self.status = 206
        self.headers = {"Content-Range": content_range}


def _resume(content_range: str) -> int:
    return RegistryProxy._resume_skip(_Response(content_range), 10, "blob")  # type: ignore[arg-type]


def _store_dir(tmp: Path, container_id: str) -> Path:
    return ContainerStore(tmp / "containers").dir(container_id)


def _store_reserve(tmp: Path, name: str) -> None:
    ContainerStore(tmp / "containers").reserve(_record(name))


#: (id, call taking (tmp_path, value), a valid value); each must refuse value + trailing whitespace
VALIDATORS: list[tuple[str, Callable[[Path, str], object], str]] = [
    ("parse_reference/digest", lambda _, v: parse_reference(v), f"busybox@{DIGEST}"),
    ("parse_reference/tag", lambda _, v: parse_reference(v), "busybox:1.36"),
    ("parse_reference/path", lambda _, v: parse_reference(v), "ns/busybox"),
    ("parse_reference/domain", lambda _, v: parse_reference(f"{v}/ns/img"), "localhost:5000"),
    ("parse_reference/ipv6-domain", lambda _, v: parse_reference(f"{v}/ns/img"), "[::1]:5000"),
    ("parse_name", lambda _, v: parse_name(v), "registry.example/ns/img"),
    # the login argument is stripped as a whole; what sits before the path must still be a host
    ("registry_host", lambda _, v: registry_host(f"https://{v}/v1/"), "registry.example:5000"),
    ("validate_digest", lambda _, v: validate_digest(v), DIGEST),
    ("digest_hex", lambda _, v: digest_hex(v), DIGEST),
    ("content_store_path", lambda t, v: ContentStore(t / "content").path(v), DIGEST),
    ("container_store_dir", _store_dir, HEX),
    ("container_name", _store_reserve, "web_1"),
    ("snapshot_key", lambda _, v: validate_key(v), "c0ffee-init"),
    ("oci_container_id", lambda _, v: validate_id(v), "abc-1.2"),
    ("content_range", lambda _, v: _resume(v), "bytes 10-99/100"),
]


@pytest.mark.parametrize("call,valid", [(c, v) for _, c, v in VALIDATORS],
                         ids=[name for name, _, _ in VALIDATORS])
def test_valid_value_is_accepted(tmp_path, call, valid):
    call(tmp_path, valid)


@pytest.mark.parametrize("suffix", TRAILING, ids=[repr(s) for s in TRAILING])
@pytest.mark.parametrize("call,valid", [(c, v) for _, c, v in VALIDATORS],
                         ids=[name for name, _, _ in VALIDATORS])
def test_trailing_whitespace_is_refused(tmp_path, call, valid, suffix):
    with pytest.raises((InvalidArgument, Unavailable)) as info:
        call(tmp_path, valid + suffix)
    assert isinstance(info.value, BarqueError)


def test_container_id_prefix_with_newline_is_not_a_prefix(tmp_path):
    store = ContainerStore(tmp_path / "containers")
    store.reserve(_record("web"))
    assert store.find(HEX[:12]).id == HEX
    with pytest.raises(BarqueError):
        store.find(HEX[:12] + "\n")


def _dollar_anchored(root: Path) -> list[str]:
    """``re`` calls whose literal pattern ends in an unescaped ``$`` (no MULTILINE)."""
    import ast

    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                    and node.args):
                continue
            pattern = node.args[0]
            if isinstance(pattern, ast.JoinedStr) and pattern.values:
                pattern = pattern.values[-1]
            if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, str)):
                continue
            text = pattern.value
            if text.endswith("$") and not text.endswith("\\$") and "MULTILINE" not in ast.unparse(node):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


@pytest.mark.parametrize("package", ["services", "cli", "deploy"])
def test_no_dollar_anchored_validators(package):
    """Validators use fullmatch (or ``\\Z``); ``$`` lets a trailing newline through."""
    root = Path(__file__).resolve().parents[2] / package
    assert _dollar_anchored(root) == []
