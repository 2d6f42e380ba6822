"""``--userns-remap`` as pure logic: the config value, its resolution
against subuid/subgid files (temporary ones: the machine's are never read or
written here), and the spec option that puts a container in a user
namespace with Docker's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.runtime.v1.runtime_pb2 import ContainerConfig, HostConfig
from client.config import load_config
from client.errors import FailedPrecondition, InvalidArgument
from services.common import idmap
from services.runtime.spec import SpecContext, skeleton, with_namespaces, with_userns

RANGE = idmap.IdMapping(((0, 100000, 65536),), ((0, 200000, 65536),))


@pytest.mark.parametrize("value,expected", [
    ("", ""), ("default", "default"), ("dockremap", "dockremap"), ("1000:1000", "1000:1000"),
    ("100000:100000:65536", "100000:100000:65536"),
])
def test_config_accepts_dockerds_forms(value, expected):
    assert load_config(path="/nonexistent", environ={"BARQUE_USERNS_REMAP": value}).userns.remap == expected


@pytest.mark.parametrize("value", ["a:b:c", "1:2:3:4", ":x", "x:"])
def test_config_refuses_malformed_remaps(value):
    with pytest.raises(InvalidArgument, match="userns-remap"):
        load_config(path="/nonexistent", environ={"BARQUE_USERNS_REMAP": value})


def test_config_layers_switch():
    assert load_config(path="/nonexistent", environ={}).userns.layers == "auto"
    assert load_config(path="/nonexistent", environ={"BARQUE_USERNS_LAYERS": "copy"}).userns.layers == "copy"
    with pytest.raises(InvalidArgument, match="auto or copy"):
        load_config(path="/nonexistent", environ={"BARQUE_USERNS_LAYERS": "chown"})


def test_explicit_range_needs_no_files():
    mapping = idmap.resolve("100000:200000:65536", subuid="/nonexistent", subgid="/nonexistent")
    assert mapping == idmap.IdMapping(((0, 100000, 65536),), ((0, 200000, 65536),))
    assert mapping.root == (100000, 200000) and mapping.key == "100000.200000"
    assert mapping.host_uid(1000) == 101000 and mapping.host_uid(65536) is None
    assert mapping.spec()[0] == [{"containerID": 0, "hostID": 100000, "size": 65536}]
    assert idmap.resolve("") is None


def test_explicit_range_over_host_root_is_refused():
    with pytest.raises(InvalidArgument, match="host id 0"):
        idmap.resolve("0:100000:65536")


def _files(tmp_path: Path, subuid: str, subgid: str) -> tuple[str, str]:
    (tmp_path / "subuid").write_text(subuid)
    (tmp_path / "subgid").write_text(subgid)
    return str(tmp_path / "subuid"), str(tmp_path / "subgid")


def test_user_entries_by_name_and_by_uid_are_concatenated(tmp_path):
    uid_file, gid_file = _files(tmp_path, "# comment\nother:1:5\nroot:100000:1000\n0:300000:10\n",
                                "root:400000:65536\n")
    mapping = idmap.resolve("root", uid_file, gid_file)
    assert mapping.uids == ((0, 100000, 1000), (1000, 300000, 10))
    assert mapping.gids == ((0, 400000, 65536),)
    assert mapping == idmap.resolve("0", uid_file, gid_file)


def test_user_and_group(tmp_path):
    uid_file, gid_file = _files(tmp_path, "root:100000:65536\n", "root:1:2\ndaemon:500000:65536\n")
    assert idmap.resolve("root:daemon", uid_file, gid_file).gids == ((0, 500000, 65536),)


def test_missing_entries_and_users_are_refused(tmp_path):
    uid_file, gid_file = _files(tmp_path, "root:100000:65536\n", "")
    with pytest.raises(FailedPrecondition, match="no subordinate gid range"):
        idmap.resolve("root", uid_file, gid_file)
    with pytest.raises(InvalidArgument, match="no such user"):
        idmap.resolve("no-such-user-here", uid_file, gid_file)
    (tmp_path / "subgid").write_text("root:broken\n")
    with pytest.raises(FailedPrecondition, match="NAME:FIRST:COUNT"):
        idmap.resolve("root", uid_file, gid_file)


def test_default_takes_the_first_free_range_after_the_files(tmp_path):
    uid_file, gid_file = _files(tmp_path, "a:100000:65536\nb:300000:10\n", "c:165536:100\n")
    assert idmap._first_free((uid_file, gid_file)) == 300010
    empty = _files(tmp_path, "", "")
    assert idmap._first_free(empty) == idmap.DEFAULT_FIRST


def _spec(host: HostConfig, remap: idmap.IdMapping | None = RANGE, network: str = "none") -> dict:
    spec = skeleton()
    ctx = SpecContext(id="a" * 64, rootfs="/nonexistent", network=network, idmap=remap)
    with_namespaces(spec, ContainerConfig(), host, ctx)
    with_userns(spec, ContainerConfig(), host, ctx)
    return spec


def test_remapped_container_gets_a_user_namespace_and_the_maps():
    linux = _spec(HostConfig())["linux"]
    assert linux["namespaces"][0] == {"type": "user"}
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": 100000, "size": 65536}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": 200000, "size": 65536}]


@pytest.mark.parametrize("host,remap", [(HostConfig(userns_mode="host"), RANGE), (HostConfig(), None)])
def test_host_mode_or_no_remap_keeps_the_hosts_namespace(host, remap):
    linux = _spec(host, remap)["linux"]
    assert all(ns["type"] != "user" for ns in linux["namespaces"]) and "uidMappings" not in linux


@pytest.mark.parametrize("host,network,message", [
    (HostConfig(userns_mode="private"), "none", "invalid USER mode: private"),
    (HostConfig(privileged=True), "none", "privileged mode is incompatible with user namespaces"),
    (HostConfig(), "host", "cannot share the host's network namespace"),
])
def test_dockers_refusals(host, network, message):
    with pytest.raises(InvalidArgument, match=message):
        _spec(host, network=network)


def test_host_mode_allows_privileged_and_host_network():
    _spec(HostConfig(userns_mode="host", privileged=True), network="host")


def test_default_makes_the_barque_user_and_its_ranges_as_dockerd_makes_dockremaps(tmp_path, monkeypatch):
    """useradd, then usermod with the first free 65536 ids; nothing when all is there."""
    uid_file, gid_file = _files(tmp_path, "alice:100000:65536\n", "alice:100000:65536\n")
    calls: list[list[str]] = []

    def fake_run(argv: list[str]) -> None:
        calls.append(argv)
        if argv[0] == "usermod":
            span = argv[argv.index("--add-subuids") + 1]
            first, last = (int(x) for x in span.split("-"))
            for path in (uid_file, gid_file):
                with open(path, "a") as f:
                    f.write(f"barque:{first}:{last - first + 1}\n")

    def no_user(name: str):
        raise KeyError(name)

    monkeypatch.setattr(idmap, "_run", fake_run)
    monkeypatch.setattr(idmap.pwd, "getpwnam", no_user)
    monkeypatch.setattr(idmap, "_user_names", lambda user: {user})
    mapping = idmap.resolve("default", uid_file, gid_file)
    assert calls == [["useradd", "--system", "--shell", "/bin/false", "--no-create-home", "barque"],
                     ["usermod", "--add-subuids", "165536-231071", "--add-subgids", "165536-231071", "barque"]]
    assert mapping.uids == ((0, 165536, 65536),) and mapping.gids == ((0, 165536, 65536),)
    calls.clear()
    monkeypatch.setattr(idmap.pwd, "getpwnam", lambda name: None)
    assert idmap.resolve("default", uid_file, gid_file) == mapping and calls == []
