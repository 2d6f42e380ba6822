"""config.json validation, default spec, ids, capability masks."""

from __future__ import annotations

import json

import pytest

from client.errors import InvalidArgument, NotFound
from services.runtime.oci import caps, spec


def test_default_spec_is_valid_and_runc_like():
    s = spec.default_spec()
    spec.validate_spec(s)
    assert s["process"]["terminal"] is True
    assert s["root"] == {"path": "rootfs", "readonly": True}
    assert [m["destination"] for m in s["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    assert "inheritable" not in s["process"]["capabilities"]
    s["mounts"].append({"destination": "/x"})
    assert len(spec.default_spec()["mounts"]) == 7  # a deep copy each time


def _mutated(path: str, value):
    s = spec.default_spec()
    target = s
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    return s


@pytest.mark.parametrize("path,value,message", [
    ("ociVersion", "0.9", "ociVersion"),
    ("root", {}, "root.path"),
    ("process.args", [], "process.args"),
    ("process.cwd", "relative", "cwd"),
    ("process.env", ["NOEQUALS"], "KEY=value"),
    ("process.user", {"uid": -1, "gid": 0}, "uid"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}], "soft limit"),
    ("linux.namespaces", [{"type": "user"}, {"type": "mount"}], "no uid and gid mappings"),
    ("linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}], "isn't enabled"),
    ("linux.namespaces", [{"type": "mount"}, {"type": "mount"}], "twice"),
    ("linux.namespaces", [{"type": "time2"}], "unknown namespace"),
    ("linux.namespaces", [{"type": "mount"}], "hostname"),
    ("linux.maskedPaths", ["proc/kcore"], "absolute"),
    ("linux.cgroupsPath", "/barque/../etc", ".."),
    ("mounts", [{"destination": "rel"}], "absolute destination"),
])
def test_invalid_specs_are_rejected(path, value, message):
    with pytest.raises(spec.SpecError, match=message):
        spec.validate_spec(_mutated(path, value))


@pytest.mark.parametrize("entry", [
    {"containerID": 0, "hostID": 100000, "size": 0},
    {"containerID": -1, "hostID": 100000, "size": 1},
    {"containerID": 0, "hostID": 2**32 - 1, "size": 1},
    {"containerID": 0, "hostID": True, "size": 1},
    {"containerID": 0, "hostID": 100000},
])
def test_bad_id_mappings_are_rejected(entry):
    s = spec.default_spec()
    s["linux"]["namespaces"].append({"type": "user"})
    s["linux"]["uidMappings"] = [entry]
    s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    with pytest.raises(spec.SpecError, match="uidMappings entry"):
        spec.validate_spec(s)


def test_user_namespace_with_maps_or_a_path_is_accepted():
    s = spec.default_spec()
    s["linux"]["namespaces"].append({"type": "user"})
    s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec.validate_spec(s)
    joined = spec.default_spec()
    joined["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})
    spec.validate_spec(joined)


def test_load_bundle_resolves_rootfs(tmp_path):
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(spec.default_spec()))
    loaded = spec.load_bundle(str(tmp_path))
    assert loaded["root"]["path"] == str((tmp_path / "rootfs").resolve())


def test_load_bundle_errors(tmp_path):
    with pytest.raises(NotFound):
        spec.load_bundle(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(spec.SpecError, match="config.json"):
        spec.load_bundle(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(spec.default_spec()))
    with pytest.raises(spec.SpecError, match="not a directory"):
        spec.load_bundle(str(tmp_path))


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a b", "x\n"])
def test_invalid_ids(bad):
    with pytest.raises(InvalidArgument):
        spec.validate_id(bad)


def test_valid_ids():
    for good in ("bqtest-1a2b", "abc_DEF.1", "x+y"):
        assert spec.validate_id(good) == good


def test_docker_default_caps_mask():
    assert caps.cap_mask(caps.DOCKER_DEFAULT_CAPS) == 0xA80425FB


def test_cap_mask_unknown_and_limits():
    assert caps.cap_mask(["CAP_KILL", "CAP_NOPE"]) == 1 << 5
    with pytest.raises(caps.InvalidCapability):
        caps.cap_mask(["CAP_NOPE"], strict=True)
    assert caps.cap_mask(["CAP_BPF", "CAP_KILL"], limit=38) == 1 << 5
    assert caps.cap_mask(["cap_chown"]) == 1


def test_capability_sets_from_spec():
    sets = caps.CapabilitySets.from_spec({"bounding": ["CAP_KILL", "CAP_CHOWN"],
                                          "effective": ["CAP_KILL"]})
    assert (sets.bounding, sets.effective, sets.permitted, sets.inheritable, sets.ambient) == (
        0b100001, 0b100000, 0, 0, 0)
    with pytest.raises(caps.InvalidCapability):
        caps.CapabilitySets.from_spec({"bogus": []})
    with pytest.raises(caps.InvalidCapability):
        caps.CapabilitySets.from_spec({"effective": ["CAP_NOPE"]})
