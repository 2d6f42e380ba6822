"""The device rules of a cgroup v2 container as an eBPF program.

cgroup v2 has no devices controller: access to device nodes is decided by a
``BPF_PROG_TYPE_CGROUP_DEVICE`` program attached to the cgroup. This module
builds that program from runtime-spec ``linux.resources.devices`` rules, as
runc's ``devices/devicefilter.go`` does:

1. the rules are first run through an emulator of the v1 devices controller
   (:class:`Emulator`), so a rule list means exactly what it means on v1,
   including v1's refusal to punch a hole in a wildcard rule;
2. the emulator's clean rule set becomes one block per rule, checked in order;
   the first block whose type, access, major and minor all match returns its
   verdict, and falling off the end returns the default (deny, for every spec
   that starts with a deny-all rule, which is every spec barque writes).

Pure: no syscalls here (:mod:`.bpf` loads and attaches the bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from client.errors import InvalidArgument

__all__ = ["DeviceRule", "Emulator", "rules_from_spec", "device_rules", "build_program",
           "DEFAULT_ALLOWED_DEVICES", "ACCESS_BITS",
           "DEV_BLOCK", "DEV_CHAR", "ACC_MKNOD", "ACC_READ", "ACC_WRITE"]

#: bpf_cgroup_dev_ctx.access_type: low 16 bits device type, high 16 bits access
DEV_BLOCK = 1
DEV_CHAR = 2
ACC_MKNOD = 1
ACC_READ = 2
ACC_WRITE = 4
ACCESS_BITS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_ALL_ACCESS = ACC_MKNOD | ACC_READ | ACC_WRITE
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
WILDCARD = -1
_U32_MAX = 0xFFFFFFFF


#: runc's specconv.AllowedDevices: always appended after the spec's rules
DEFAULT_ALLOWED_DEVICES: tuple[dict, ...] = (
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
)


@dataclass(frozen=True)
class DeviceRule:
    """One rule: ``kind`` is ``a``, ``b`` or ``c``; -1 majors/minors match any."""

    allow: bool
    kind: str = "a"
    major: int = WILDCARD
    minor: int = WILDCARD
    access: str = "rwm"


def _number(rule: dict, key: str) -> int:
    value = rule.get(key)
    if value is None or value == -1:
        return WILDCARD
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U32_MAX:
        raise InvalidArgument(f"device rule {key} {value!r} out of range")
    return value


def rules_from_spec(rules: list[dict] | tuple[dict, ...]) -> list[DeviceRule]:
    """runtime-spec ``LinuxDeviceCgroup`` objects -> :class:`DeviceRule`s."""
    out = []
    for rule in rules:
        kind = rule.get("type") or "a"
        if kind not in ("a", "b", "c"):
            raise InvalidArgument(f"device rule type {kind!r}: expected a, b or c")
        access = rule.get("access") or "rwm"
        if set(access) - set(ACCESS_BITS):
            raise InvalidArgument(f"device rule access {access!r}: expected letters of rwm")
        out.append(DeviceRule(bool(rule.get("allow")), kind, _number(rule, "major"),
                              _number(rule, "minor"), access))
    return out


def device_rules(resources: dict | None) -> list[DeviceRule]:
    """The spec's device rules then runc's always-allowed ones, applied to a
    deny-all cgroup (what v1 gets by writing ``devices.deny a`` first)."""
    rules = [*((resources or {}).get("devices") or ()), *DEFAULT_ALLOWED_DEVICES]
    return rules_from_spec(rules)


def _bits(access: str) -> int:
    value = 0
    for letter in access:
        value |= ACCESS_BITS[letter]
    return value


class Emulator:
    """The v1 devices controller's state machine: a default verdict and a map
    of exceptions ``(kind, major, minor) -> access bits`` that invert it."""

    def __init__(self) -> None:
        self.default_allow = False
        self.exceptions: dict[tuple[str, int, int], int] = {}

    def apply(self, rule: DeviceRule) -> None:
        if rule.kind == "a":
            # "a" resets the cgroup: allow-all or deny-all, no exceptions
            self.default_allow, self.exceptions = rule.allow, {}
            return
        key, bits = (rule.kind, rule.major, rule.minor), _bits(rule.access)
        if rule.allow != self.default_allow:
            self.exceptions[key] = self.exceptions.get(key, 0) | bits
            return
        # a rule equal to the default removes (part of) an exception; v1
        # cannot punch a hole in a wildcard exception, so neither can we
        for partial in ((rule.kind, WILDCARD, rule.minor), (rule.kind, rule.major, WILDCARD),
                        (rule.kind, WILDCARD, WILDCARD)):
            if partial != key and self.exceptions.get(partial, 0) & bits:
                raise InvalidArgument(
                    f"device rule {_describe(rule)} is not supported: it would punch a "
                    f"hole in the wildcard rule {_describe_key(partial)}")
        remaining = self.exceptions.get(key, 0) & ~bits
        if remaining:
            self.exceptions[key] = remaining
        else:
            self.exceptions.pop(key, None)

    def rules(self) -> list[tuple[str, int, int, int]]:
        """The exceptions, ordered by (major, minor, kind) as runc orders them."""
        return sorted(((k, ma, mi, bits) for (k, ma, mi), bits in self.exceptions.items()),
                      key=lambda r: (r[1], r[2], r[0]))


def _describe_key(key: tuple[str, int, int]) -> str:
    kind, major, minor = key
    return f"{kind} {'*' if major < 0 else major}:{'*' if minor < 0 else minor}"


def _describe(rule: DeviceRule) -> str:
    return f"{_describe_key((rule.kind, rule.major, rule.minor))} {rule.access}"


# ---- eBPF encoding (struct bpf_insn: u8 code, u8 dst:4|src:4, s16 off, s32 imm)

_R0, _R1, _R2, _R3, _R4, _R5 = range(6)
_LDX_MEM_W = 0x61      # BPF_LDX | BPF_MEM | BPF_W
_ALU32_AND_K = 0x54    # BPF_ALU | BPF_AND | BPF_K
_ALU32_RSH_K = 0x74    # BPF_ALU | BPF_RSH | BPF_K
_ALU32_MOV_K = 0xB4    # BPF_ALU | BPF_MOV | BPF_K
_ALU32_MOV_X = 0xBC    # BPF_ALU | BPF_MOV | BPF_X
_JMP32_JNE_K = 0x56    # BPF_JMP32 | BPF_JNE | BPF_K: compares the low 32 bits
_JMP32_JNE_X = 0x5E    # BPF_JMP32 | BPF_JNE | BPF_X
_EXIT = 0x95           # BPF_JMP | BPF_EXIT


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    if imm > 0x7FFFFFFF:
        imm -= 1 << 32  # u32 device numbers travel as s32 immediates
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


_PROLOGUE = (
    _insn(_LDX_MEM_W, _R2, _R1, 0),       # r2 = ctx->access_type
    _insn(_ALU32_AND_K, _R2, imm=0xFFFF),  # r2 = device type
    _insn(_LDX_MEM_W, _R3, _R1, 0),
    _insn(_ALU32_RSH_K, _R3, imm=16),      # r3 = requested access
    _insn(_LDX_MEM_W, _R4, _R1, 4),       # r4 = major
    _insn(_LDX_MEM_W, _R5, _R1, 8),       # r5 = minor
)


def _verdict(allow: bool) -> list[bytes]:
    return [_insn(_ALU32_MOV_K, _R0, imm=int(allow)), _insn(_EXIT)]


def _block(kind: str, major: int, minor: int, bits: int, allow: bool) -> list[bytes]:
    """Instructions that return ``allow`` when the request matches, else fall
    through to the next block. A jump is written as ``(code, dst, src, imm)``
    until the block's length, and so its offset to the next block, is known."""
    body: list[bytes | tuple[int, int, int, int]] = [(_JMP32_JNE_K, _R2, 0, _TYPES[kind])]
    if bits != _ALL_ACCESS:
        # every requested access bit must be in the rule's: (r3 & bits) == r3
        body += [_insn(_ALU32_MOV_X, _R1, _R3), _insn(_ALU32_AND_K, _R1, imm=bits),
                 (_JMP32_JNE_X, _R1, _R3, 0)]
    if major != WILDCARD:
        body.append((_JMP32_JNE_K, _R4, 0, major))
    if minor != WILDCARD:
        body.append((_JMP32_JNE_K, _R5, 0, minor))
    body += _verdict(allow)
    return [_insn(item[0], item[1], item[2], off=len(body) - i - 1, imm=item[3])
            if isinstance(item, tuple) else item for i, item in enumerate(body)]


def build_program(rules: list[DeviceRule]) -> tuple[bytes, bool]:
    """The program's instructions for ``rules`` applied in order to a fresh
    (deny-all) cgroup, and whether it allows every device (so a host that
    cannot load it loses nothing by running without it)."""
    emulator = Emulator()
    for rule in rules:
        emulator.apply(rule)
    insns = list(_PROLOGUE)
    for kind, major, minor, bits in emulator.rules():
        insns.extend(_block(kind, major, minor, bits, not emulator.default_allow))
    insns.extend(_verdict(emulator.default_allow))
    return b"".join(insns), emulator.default_allow and not emulator.exceptions
