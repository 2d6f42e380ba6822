"""The seccomp BPF assembler, checked by running its programs in a small
classic-BPF interpreter over synthetic seccomp_data."""

from __future__ import annotations

import errno
import struct

import pytest

from services.runtime.oci import caps as caps_mod
from services.runtime.oci import seccomp
from services.runtime.oci.caps import DOCKER_DEFAULT_CAPS
from services.runtime.oci.syscall_table import AUDIT_ARCH_X86_64, SYSCALLS_X86_64
from services.runtime.spec.seccomp_profile import default_profile

NR = SYSCALLS_X86_64


def run_bpf(prog, nr: int, args=(0, 0, 0, 0, 0, 0), arch: int = AUDIT_ARCH_X86_64) -> int:
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args)
    acc, pc = 0, 0
    for _ in range(100000):
        code, jt, jf, k = prog[pc]
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code == 0x54:
            acc &= k
            pc += 1
        elif code == 0x06:
            return k
        elif code in (0x15, 0x25, 0x35):
            cond = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k}[code]
            pc += 1 + (jt if cond else jf)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("program did not terminate")


def test_allowlist_profile_allows_listed_and_denies_rest_with_errno():
    prog = seccomp.build_filter({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "syscalls": [{"names": ["read", "write", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"}],
    })
    assert run_bpf(prog, NR["read"]) == seccomp.RET_ALLOW
    assert run_bpf(prog, NR["write"]) == seccomp.RET_ALLOW
    assert run_bpf(prog, NR["mkdir"]) == seccomp.RET_ERRNO | 38


def test_denylist_profile_and_rule_errno():
    prog = seccomp.build_filter({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                     {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"}],
    })
    assert run_bpf(prog, NR["mkdirat"]) == seccomp.RET_ERRNO | 13
    assert run_bpf(prog, NR["reboot"]) == seccomp.RET_KILL_PROCESS
    assert run_bpf(prog, NR["open"]) == seccomp.RET_ALLOW


def test_rules_with_default_action_are_skipped():
    prog = seccomp.build_filter({"defaultAction": "SCMP_ACT_ALLOW",
                                 "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
    assert len(prog) == 7  # arch check (3) + x32 check (3) + default


def test_foreign_arch_and_x32_are_killed():
    prog = seccomp.build_filter({"defaultAction": "SCMP_ACT_ALLOW"})
    assert run_bpf(prog, NR["read"], arch=0x40000003) == seccomp.RET_KILL_PROCESS
    assert run_bpf(prog, NR["read"] | 0x40000000) == seccomp.RET_KILL_PROCESS
    assert run_bpf(prog, NR["read"]) == seccomp.RET_ALLOW


@pytest.mark.parametrize("op,value,two,matching,other", [
    ("SCMP_CMP_EQ", 0x1_0000_0005, 0, [0x1_0000_0005], [5, 0x1_0000_0006, 0]),
    ("SCMP_CMP_NE", 7, 0, [6, 0x1_0000_0007], [7]),
    ("SCMP_CMP_MASKED_EQ", 0x7E020000, 0, [0x11, 0x80000000_00000011], [0x10000000, 0x00020000]),
    ("SCMP_CMP_GT", 0x1_0000_0000, 0, [0x1_0000_0001, 0x2_0000_0000], [0x1_0000_0000, 5]),
    ("SCMP_CMP_GE", 0x1_0000_0000, 0, [0x1_0000_0000, 0x3_0000_0000], [0xFFFF_FFFF]),
    ("SCMP_CMP_LT", 0x1_0000_0000, 0, [0xFFFF_FFFF, 0], [0x1_0000_0000, 0x1_0000_0001]),
    ("SCMP_CMP_LE", 0x1_0000_0001, 0, [0x1_0000_0001, 3], [0x1_0000_0002, 0x2_0000_0000]),
])
def test_argument_comparisons_are_64_bit(op, value, two, matching, other):
    prog = seccomp.build_filter({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": value, "valueTwo": two, "op": op}]}],
    })
    for arg in matching:
        assert run_bpf(prog, NR["clone"], (arg, 0, 0, 0, 0, 0)) == seccomp.RET_ERRNO | 1, hex(arg)
    for arg in other:
        assert run_bpf(prog, NR["clone"], (arg, 0, 0, 0, 0, 0)) == seccomp.RET_ALLOW, hex(arg)
    assert run_bpf(prog, NR["fork"], (matching[0], 0, 0, 0, 0, 0)) == seccomp.RET_ALLOW


def test_masked_eq_uses_mask_and_expected_value():
    # Docker's clone rule: allowed when (flags & CLONE_NEW*) == 0
    prog = seccomp.build_filter({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0,
                                "op": "SCMP_CMP_MASKED_EQ"}]}],
    })
    assert run_bpf(prog, NR["clone"], (0x01200011, 0, 0, 0, 0, 0)) == seccomp.RET_ALLOW
    assert run_bpf(prog, NR["clone"], (0x10000000, 0, 0, 0, 0, 0)) == seccomp.RET_ERRNO | 1


def test_multiple_args_are_anded():
    prog = seccomp.build_filter({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 38, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]}],
    })
    assert run_bpf(prog, NR["socket"], (38, 5, 0, 0, 0, 0)) == seccomp.RET_ERRNO | 1
    assert run_bpf(prog, NR["socket"], (38, 5, 1, 0, 0, 0)) == seccomp.RET_ALLOW
    assert run_bpf(prog, NR["socket"], (2, 5, 0, 0, 0, 0)) == seccomp.RET_ALLOW


@pytest.mark.parametrize("config", [
    {},
    {"defaultAction": "SCMP_ACT_NOTIFY"},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BOGUS"}]},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                      "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]},
    {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]},
])
def test_invalid_profiles_are_rejected(config):
    with pytest.raises(seccomp.SeccompError):
        seccomp.build_filter(config)


def test_pack_filter_layout():
    raw = seccomp.pack_filter([(0x06, 1, 2, 0x7FFF0000)])
    assert raw == struct.pack("<HBBI", 6, 1, 2, 0x7FFF0000)
    assert len(raw) == 8


# Docker's default profile, run through our assembler: io_uring is denied
# (moby#46762) whatever the capabilities, like every other unlisted call.
_IO_URING = ("io_uring_setup", "io_uring_enter", "io_uring_register")


@pytest.mark.parametrize("caps", [
    pytest.param(list(DOCKER_DEFAULT_CAPS), id="docker-default-caps"),
    pytest.param(list(caps_mod.CAPABILITIES), id="all-caps"),
])
def test_default_profile_denies_io_uring_with_eperm(caps):
    profile = default_profile(caps, kernel=(6, 18))
    for rule in profile["syscalls"]:
        assert not set(rule["names"]) & set(_IO_URING), rule
    prog = seccomp.build_filter(profile)
    for name in _IO_URING:
        assert run_bpf(prog, NR[name]) == seccomp.RET_ERRNO | errno.EPERM, name
    assert run_bpf(prog, NR["read"]) == seccomp.RET_ALLOW
    assert run_bpf(prog, NR["io_submit"]) == seccomp.RET_ALLOW  # classic AIO stays allowed


def test_two_conditions_on_one_argument_are_ored_as_runc_adds_them():
    """seccomp_syscall_test1.json's rules: process_vm_readv allowed for pid
    100 OR 9001 (both tests of arg 0), kcmp for (0 AND 1337) on two args."""
    prog = seccomp.build_filter({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["process_vm_readv"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 100, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 9001, "op": "SCMP_CMP_EQ"}]},
            {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 1337, "op": "SCMP_CMP_EQ"}]}],
    })
    eperm = seccomp.RET_ERRNO | errno.EPERM
    assert run_bpf(prog, NR["process_vm_readv"], (100, 0, 0, 0, 0, 0)) == seccomp.RET_ALLOW
    assert run_bpf(prog, NR["process_vm_readv"], (9001, 0, 0, 0, 0, 0)) == seccomp.RET_ALLOW
    assert run_bpf(prog, NR["process_vm_readv"], (0, 0, 0, 0, 0, 0)) == eperm
    assert run_bpf(prog, NR["kcmp"], (0, 1337, 0, 0, 0, 0)) == seccomp.RET_ALLOW
    assert run_bpf(prog, NR["kcmp"], (0, 0, 0, 0, 0, 0)) == eperm
    assert run_bpf(prog, NR["kcmp"], (500, 1337, 0, 0, 0, 0)) == eperm


@pytest.mark.parametrize("default, errno_ret, stub", [
    ("SCMP_ACT_ERRNO", None, True), ("SCMP_ACT_KILL", None, True),
    ("SCMP_ACT_ERRNO", errno.ENOSYS, False), ("SCMP_ACT_ALLOW", None, False),
    ("SCMP_ACT_LOG", None, False), ("SCMP_ACT_TRACE", None, False)])
def test_syscalls_newer_than_the_profile_get_enosys(default, errno_ret, stub):
    """runc's -ENOSYS stub: above the highest syscall named, unless the
    default lets syscalls run or is ENOSYS already."""
    config = {"defaultAction": default,
              "syscalls": [{"names": ["read", "openat"], "action": "SCMP_ACT_KILL_PROCESS"
                            if default == "SCMP_ACT_ALLOW" else "SCMP_ACT_ALLOW"}]}
    if errno_ret is not None:
        config["defaultErrnoRet"] = errno_ret
    prog = seccomp.build_filter(config)
    default_ret = seccomp.action_value(default, errno_ret)
    above = max(NR["read"], NR["openat"]) + 1
    assert run_bpf(prog, 1000) == run_bpf(prog, above) == (
        seccomp.RET_ERRNO | errno.ENOSYS if stub else default_ret)
    assert run_bpf(prog, NR["mkdir"]) == default_ret  # below the highest named: the default


def test_notify_is_refused_clearly():
    with pytest.raises(seccomp.SeccompError, match="SCMP_ACT_NOTIFY is not supported"):
        seccomp.build_filter({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})
