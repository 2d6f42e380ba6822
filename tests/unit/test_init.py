"""``--init`` as one spec option (services/runtime/spec/init.py): the
process behind Docker's /sbin/docker-init, the static tini bound read-only."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.errors import FailedPrecondition
from services.runtime import spec as sb
from services.runtime.spec import init as init_option
from services.runtime.spec.flags import Bind
from services.runtime.spec.init import IN_CONTAINER_PATH, with_init
from services.runtime.spec.options import applied_fields


def _ctx(tmp_path: Path, **fields) -> sb.SpecContext:
    (tmp_path / "etc").mkdir(exist_ok=True)
    return sb.SpecContext(id="c0ffee1234567890", rootfs=tmp_path, image_config={"Cmd": ["sh"]},
                          facts=sb.HostFacts(kernel=(6, 1), last_cap=40, host_cpus=2, nofile=4096), **fields)


@pytest.fixture
def tini(tmp_path: Path, monkeypatch) -> str:
    binary = tmp_path / "tini-static"
    binary.write_text("#!/bin/true\n")
    binary.chmod(0o755)
    monkeypatch.setattr(init_option, "INIT_BINARY", str(binary))
    return str(binary)


def _spec(args: list[str], mounts: list[dict] | None = None) -> dict:
    spec = sb.skeleton()
    spec["process"]["args"] = list(args)
    spec["mounts"] = sb.default_mounts() if mounts is None else mounts
    return spec


def test_init_wraps_the_args_and_binds_tini_read_only(tmp_path, tini):
    spec = _spec(["sleep", "30"])
    with_init(spec, ContainerConfig(), HostConfig(init=True), _ctx(tmp_path))
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "30"]
    mount = [m for m in spec["mounts"] if m["destination"] == IN_CONTAINER_PATH]
    assert mount == [{"destination": "/sbin/docker-init", "type": "bind", "source": tini, "options": ["bind", "ro"]}]


def test_the_init_is_bound_before_the_users_binds(tmp_path, tini):
    host = HostConfig(init=True)
    ctx = _ctx(tmp_path, binds=[Bind("/srv", "/sbin", True, "ro")])
    spec = sb.build_spec(ContainerConfig(cmd=["true"]), host, ctx)
    destinations = [m["destination"] for m in spec["mounts"]]
    assert destinations.index("/sbin/docker-init") < destinations.index("/sbin")
    assert all(m["type"] != "bind" for m in spec["mounts"][:destinations.index("/sbin/docker-init")])
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "true"]


@pytest.mark.parametrize("host", [HostConfig(), HostConfig(init=False)])
def test_no_init_unless_asked(tmp_path, tini, host):
    spec = _spec(["sleep", "30"])
    before = copy.deepcopy(spec)
    with_init(spec, ContainerConfig(), host, _ctx(tmp_path))
    assert spec == before


def test_no_init_in_the_hosts_pid_namespace(tmp_path, tini):
    spec = _spec(["sleep", "30"])
    before = copy.deepcopy(spec)
    with_init(spec, ContainerConfig(), HostConfig(init=True, pid_mode="host"), _ctx(tmp_path))
    assert spec == before


def test_a_missing_tini_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(init_option, "INIT_BINARY", str(tmp_path / "absent"))
    with pytest.raises(FailedPrecondition) as err:
        with_init(_spec(["true"]), ContainerConfig(), HostConfig(init=True), _ctx(tmp_path))
    assert str(err.value) == f"--init needs {tmp_path / 'absent'} (Debian's tini package), which is missing on this host"


def test_only_args_and_mounts_change(tmp_path, tini):
    spec = _spec(["true"])
    before = copy.deepcopy(spec)
    with_init(spec, ContainerConfig(), HostConfig(init=True), _ctx(tmp_path))
    assert {k for k in spec if spec[k] != before[k]} == {"process", "mounts"}
    assert {k for k in spec["process"] if spec["process"][k] != before["process"][k]} == {"args"}


def test_init_is_a_default_option_after_the_mounts():
    options = list(sb.DEFAULT_OPTIONS)
    assert options.index(with_init) > options.index(sb.with_mounts)
    assert options.index(with_init) > options.index(sb.with_args)
    assert applied_fields()["HostConfig.init"].endswith("with_init")


def test_the_debian_tini_is_static_when_installed():
    binary = Path(init_option.INIT_BINARY)
    if not binary.exists():
        pytest.skip("tini is not installed on this host")
    head = binary.read_bytes()[:4096]
    assert head[:4] == b"\x7fELF" and b"/lib64/ld-linux" not in head and b"/lib/ld-" not in head
