"""The cgroup v2 device filter: v1 emulation and the eBPF program's verdicts.

The program is run here by a small interpreter of the handful of eBPF
instructions the builder emits, so every verdict below is the bytecode's own,
not the emulator's. tests/integration/test_cgroup_v2.py loads the same bytes
into the kernel and checks the verdicts there.
"""

from __future__ import annotations

import struct

import pytest

from client.errors import InvalidArgument
from services.runtime.oci.devicefilter import (
    ACC_MKNOD, ACC_READ, ACC_WRITE, DEV_BLOCK, DEV_CHAR, DeviceRule, Emulator, build_program,
    device_rules,
    rules_from_spec,
)

R, W, M = ACC_READ, ACC_WRITE, ACC_MKNOD


def run(program: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Interpret ``program`` on a bpf_cgroup_dev_ctx; the value of r0 at exit."""
    ctx = struct.pack("<III", dev_type | (access << 16), major, minor)
    regs = [0] * 11
    insns = [struct.unpack("<BBhi", program[i:i + 8]) for i in range(0, len(program), 8)]
    pc, steps = 0, 0
    while True:
        steps += 1
        assert steps < 10_000, "program loops"
        code, regbyte, off, imm = insns[pc]
        dst, src, uimm = regbyte & 0xF, regbyte >> 4, imm & 0xFFFFFFFF
        pc += 1
        if code == 0x61:    # ldx w
            assert src == 1, "only the context is read"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x54:  # and32 k
            regs[dst] = (regs[dst] & uimm) & 0xFFFFFFFF
        elif code == 0x74:  # rsh32 k
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> uimm
        elif code == 0xB4:  # mov32 k
            regs[dst] = uimm
        elif code == 0xBC:  # mov32 x
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == 0x56:  # jne32 k
            if (regs[dst] & 0xFFFFFFFF) != uimm:
                pc += off
        elif code == 0x5E:  # jne32 x
            if (regs[dst] & 0xFFFFFFFF) != (regs[src] & 0xFFFFFFFF):
                pc += off
        elif code == 0x95:  # exit
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def docker_program() -> bytes:
    """What the engine's default spec gives a container: deny all, then the
    default devices, then runc's always-allowed ones."""
    spec = [{"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    program, allows_all = build_program(device_rules({"devices": spec}))
    assert not allows_all
    return program


@pytest.mark.parametrize("dev_type,access,major,minor,verdict", [
    (DEV_CHAR, R | W, 1, 3, 1),        # /dev/null
    (DEV_CHAR, R, 1, 7, 1),            # /dev/full
    (DEV_CHAR, R | W, 5, 2, 1),        # /dev/ptmx
    (DEV_CHAR, R | W, 136, 4, 1),      # a pts slave: major only
    (DEV_CHAR, R | W, 10, 200, 1),     # /dev/net/tun
    (DEV_CHAR, M, 99, 99, 1),          # mknod of any char device (c *:* m)
    (DEV_BLOCK, M, 7, 0, 1),           # mknod of any block device (b *:* m)
    (DEV_BLOCK, R, 7, 0, 0),           # opening a loop device
    (DEV_BLOCK, R | W, 8, 0, 0),       # opening a disk
    (DEV_CHAR, R, 1, 1, 0),            # /dev/mem
    (DEV_CHAR, R | M, 1, 1, 0),        # access beyond the rule's (m only for c *:*)
    (DEV_CHAR, R, 137, 0, 0),
    (DEV_CHAR, R, 1, 3 + (1 << 20), 0),
])
def test_default_rules_verdicts(dev_type, access, major, minor, verdict):
    assert run(docker_program(), dev_type, access, major, minor) == verdict


def test_partial_access_rule():
    program, _ = build_program(rules_from_spec([
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "r"},
    ]))
    assert run(program, DEV_CHAR, R, 1, 7) == 1
    assert run(program, DEV_CHAR, W, 1, 7) == 0
    assert run(program, DEV_CHAR, R | W, 1, 7) == 0
    assert run(program, DEV_BLOCK, R, 1, 7) == 0


def test_later_deny_removes_an_allow_and_order_matters():
    program, _ = build_program(rules_from_spec([
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"},
    ]))
    assert run(program, DEV_CHAR, R, 1, 3) == 1
    assert run(program, DEV_CHAR, W, 1, 3) == 0
    # a deny-all after the allows resets them, as on v1
    program, _ = build_program(rules_from_spec([
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": False, "access": "rwm"},
    ]))
    assert run(program, DEV_CHAR, R, 1, 3) == 0


def test_allow_all_then_deny_is_a_denylist():
    program, allows_all = build_program(rules_from_spec([
        {"allow": True, "access": "rwm"},
        {"allow": False, "type": "b", "major": 8, "access": "rw"},
    ]))
    assert not allows_all
    assert run(program, DEV_BLOCK, R, 8, 1) == 0
    assert run(program, DEV_BLOCK, M, 8, 1) == 1
    assert run(program, DEV_CHAR, R, 1, 1) == 1


def test_privileged_allows_all():
    program, allows_all = build_program(device_rules(
        {"devices": [{"allow": True, "access": "rwm"}]}))
    assert allows_all
    assert run(program, DEV_BLOCK, R | W, 8, 0) == 1


def test_large_device_numbers_compare_as_u32():
    program, _ = build_program(rules_from_spec([
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 4000000000, "minor": 0xFFFFFFFF, "access": "r"},
    ]))
    assert run(program, DEV_CHAR, R, 4000000000, 0xFFFFFFFF) == 1
    assert run(program, DEV_CHAR, R, 4000000000, 1) == 0


def test_emulator_refuses_a_hole_in_a_wildcard():
    emulator = Emulator()
    emulator.apply(DeviceRule(True, "c", -1, -1, "rwm"))
    with pytest.raises(InvalidArgument, match="punch a hole"):
        emulator.apply(DeviceRule(False, "c", 1, 3, "r"))


def test_emulator_merges_access():
    emulator = Emulator()
    emulator.apply(DeviceRule(True, "c", 1, 3, "r"))
    emulator.apply(DeviceRule(True, "c", 1, 3, "w"))
    assert emulator.rules() == [("c", 1, 3, R | W)]


@pytest.mark.parametrize("rule", [
    {"allow": True, "type": "x", "access": "r"},
    {"allow": True, "type": "c", "access": "rq"},
    {"allow": True, "type": "c", "major": -2, "access": "r"},
    {"allow": True, "type": "c", "major": 1 << 32, "access": "r"},
])
def test_rules_from_spec_refuses_bad_rules(rule):
    with pytest.raises(InvalidArgument):
        rules_from_spec([rule])
