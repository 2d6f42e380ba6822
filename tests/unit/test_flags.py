"""The engine's checks of Docker option values: security and log opts (volume
and bind specs are tested in test_volume_plan.py, the unit grammars in
test_units.py)."""

from __future__ import annotations


import pytest

from client.errors import InvalidArgument
from services.runtime.spec import flags


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
