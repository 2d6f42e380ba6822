"""The engine's checks of Docker option values: binds, security and log opts
(the unit grammars are tested in test_units.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from client.errors import InvalidArgument
from services.runtime.spec import flags


@pytest.mark.parametrize("mode,read_only", [("", False), ("ro", True), ("rw", False), ("ro,z", True),
                                            ("Z", False), ("rw,rprivate", False), ("nocopy", False),
                                            ("rshared", False), ("ro,slave", True)])
def test_parse_bind_modes(tmp_path: Path, mode, read_only):
    spec = f"{tmp_path}:/data" + (f":{mode}" if mode else "")
    bind = flags.parse_bind(spec)
    propagation = next((w for w in mode.split(",") if "private" in w or "shared" in w or "slave" in w), "rprivate")
    assert bind == flags.Bind(source=str(tmp_path), destination="/data", read_only=read_only, mode=mode,
                              propagation=propagation)


def test_parse_bind_cleans_paths(tmp_path: Path):
    bind = flags.parse_bind(f"{tmp_path}/./sub/..//:/srv/../data/")
    assert (bind.source, bind.destination) == (str(tmp_path), "/data")


def test_parse_bind_creates_missing_host_dir_and_says_so(tmp_path: Path):
    source = tmp_path / "a" / "b"
    bind = flags.parse_bind(f"{source}:/data:ro")
    assert source.is_dir()
    assert bind.created is True and bind.read_only is True
    assert flags.parse_bind(f"{source}:/data").created is False


def test_parse_bind_without_create_refuses_missing_source(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="does not exist"):
        flags.parse_bind(f"{tmp_path}/missing:/data", create_missing=False)
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("spec,message", [
    ("/data", "anonymous volumes"),
    ("named:/data", "named volumes"),
    ("relative/dir:/data", "named volumes"),
    ("/tmp:data", "not an absolute path"),
    ("/tmp:/", "can't be '/'"),
    ("/tmp:/data:ro,rw", "conflict"),
    ("/tmp:/data:z,Z", "conflict"),
    ("/tmp:/data:bogus", "invalid mode"),
    ("/tmp:/data:ro:extra", "invalid volume specification"),
])
def test_parse_bind_refuses(spec, message):
    with pytest.raises(InvalidArgument, match=message):
        flags.parse_bind(spec, create_missing=False)


@pytest.mark.parametrize("opts,nnp,unconfined", [
    ([], False, False),
    (["no-new-privileges"], True, False),
    (["no-new-privileges:true"], True, False),
    (["no-new-privileges=true"], True, False),
    (["no-new-privileges=false"], False, False),
    (["no-new-privileges", "no-new-privileges=0"], False, False),
    (["seccomp=unconfined"], False, True),
    (["seccomp:unconfined"], False, True),
    (["seccomp=unconfined", "seccomp=builtin"], False, False),
])
def test_parse_security_opts(opts, nnp, unconfined):
    parsed = flags.parse_security_opts(opts)
    assert (parsed.no_new_privileges, parsed.seccomp_unconfined, parsed.notes) == (nnp, unconfined, [])


def test_parse_security_opts_accepts_labels_and_apparmor_with_notes():
    parsed = flags.parse_security_opts(["label=disable", "label:type:svirt_t", "apparmor=unconfined"])
    assert len(parsed.notes) == 3
    assert "selinux" in parsed.notes[0] and "apparmor" in parsed.notes[2]
    assert not parsed.no_new_privileges and not parsed.seccomp_unconfined


@pytest.mark.parametrize("opt,message", [
    ("no-new-privileges=maybe", "invalid boolean"),
    ("seccomp=/etc/profile.json", "custom seccomp"),
    ("bogus=1", "invalid --security-opt"),
    ("seccomp", "invalid --security-opt"),
    ("seccomp=", "invalid --security-opt"),
])
def test_parse_security_opts_refuses(opt, message):
    with pytest.raises(InvalidArgument, match=message):
        flags.parse_security_opts([opt])


def test_parse_log_opts():
    assert flags.parse_log_opts(["max-size=10m", "max-file=3", "compress=true", "max-file=5"]) == {
        "max-size": "10m", "max-file": "5", "compress": "true"}


@pytest.mark.parametrize("opt,message", [
    ("max-size", "key value pair"),
    ("colour=blue", "unknown log opt 'colour'"),
    ("max-size=0", "positive"),
    ("max-size=ten", "invalid size"),
    ("max-file=0", "less than 1"),
    ("max-file=x", "not a number"),
    ("compress=sometimes", "invalid boolean"),
])
def test_parse_log_opts_refuses(opt, message):
    with pytest.raises(InvalidArgument, match=message):
        flags.parse_log_opts([opt])


def test_parse_bind_leaves_no_directory_when_refused(tmp_path: Path):
    target = tmp_path / "never"
    with pytest.raises(InvalidArgument):
        flags.parse_bind(f"{target}:/data:bogus")
    assert not target.exists()
    assert os.listdir(tmp_path) == []
