"""Build and install a classic-BPF seccomp filter from ``linux.seccomp``.

We assemble the filter ourselves instead of linking libseccomp: the program is
a straight list of per-syscall blocks evaluated first-match, which is what the
OCI profiles (Docker's default included) need.

Contract of the generated program:

* only the native x86_64 ABI is filtered; any other audit arch, and x32
  syscall numbers, get SECCOMP_RET_KILL_PROCESS (we have no number tables
  for them, and letting them through would bypass a deny list);
* rules whose action equals the default action are skipped, syscall names
  missing from our table are ignored (both as runc does);
* the conditions of one rule (``args``) are ANDed, unless two of them test
  the same argument: then, as runc 1.1 adds them to libseccomp, each
  condition is a rule of its own (ORed); rules are tried in order;
* a syscall numbered above every syscall the profile names gets ENOSYS
  rather than the default action, unless that default lets syscalls through
  (allow, log, trace) or is already ENOSYS: runc's -ENOSYS stub, so that a
  program built for a newer kernel than the profile falls back as it would
  on an old kernel instead of failing on EPERM.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import struct

from client.errors import InvalidArgument

from . import syscall_table, syscalls

__all__ = [
    "Instruction", "SeccompError", "build_filter", "pack_filter", "install_filter",
    "action_value", "RET_ALLOW", "RET_KILL_PROCESS", "RET_ERRNO", "RET_TRAP",
    "RET_KILL_THREAD", "RET_LOG", "RET_TRACE",
]

Instruction = tuple[int, int, int, int]  # (code, jt, jf, k)

_LD_ABS = 0x20     # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15        # BPF_JMP | BPF_JEQ | BPF_K
_JGT = 0x25
_JGE = 0x35
_AND = 0x54        # BPF_ALU | BPF_AND | BPF_K
_RET = 0x06        # BPF_RET | BPF_K

_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARGS = 16

RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}

_FAIL = -1  # jump target placeholder: the instruction after the rule's ret
_MAX_INSNS = 4096


class SeccompError(InvalidArgument):
    """linux.seccomp cannot be turned into a filter."""


def action_value(action: str, errno_ret: int | None) -> int:
    """SECCOMP_RET_* value for an OCI action name."""
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        code = errno_mod.EPERM if errno_ret is None else int(errno_ret)
        if not 0 <= code <= 0xFFFF:
            raise SeccompError(f"errnoRet {code} out of range")
        return (RET_ERRNO if action == "SCMP_ACT_ERRNO" else RET_TRACE) | code
    fixed = {
        "SCMP_ACT_KILL": RET_KILL_THREAD,
        "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS,
        "SCMP_ACT_TRAP": RET_TRAP,
        "SCMP_ACT_LOG": RET_LOG,
        "SCMP_ACT_ALLOW": RET_ALLOW,
    }
    if action == "SCMP_ACT_NOTIFY":
        raise SeccompError("seccomp action SCMP_ACT_NOTIFY is not supported: it needs a seccomp "
                           "agent (linux.seccomp.listenerPath), which barque-oci does not run")
    if action not in fixed:
        raise SeccompError(f"unsupported seccomp action {action!r}")
    return fixed[action]


def _arg_check(index: int, op: str, value: int, value_two: int) -> list[Instruction]:
    """Instructions that fall through when the 64-bit argument matches and
    jump to _FAIL otherwise."""
    if not 0 <= index <= 5:
        raise SeccompError(f"seccomp arg index {index} out of range")
    lo_off = _OFF_ARGS + 8 * index
    hi_off = lo_off + 4
    v_hi, v_lo = (value >> 32) & 0xFFFFFFFF, value & 0xFFFFFFFF
    ld_hi = (_LD_ABS, 0, 0, hi_off)
    ld_lo = (_LD_ABS, 0, 0, lo_off)
    if op == "SCMP_CMP_EQ":
        return [ld_hi, (_JEQ, 0, _FAIL, v_hi), ld_lo, (_JEQ, 0, _FAIL, v_lo)]
    if op == "SCMP_CMP_NE":
        return [ld_hi, (_JEQ, 0, 2, v_hi), ld_lo, (_JEQ, _FAIL, 0, v_lo)]
    if op == "SCMP_CMP_MASKED_EQ":
        m_hi, m_lo = (value_two >> 32) & 0xFFFFFFFF, value_two & 0xFFFFFFFF
        return [ld_hi, (_AND, 0, 0, v_hi), (_JEQ, 0, _FAIL, m_hi),
                ld_lo, (_AND, 0, 0, v_lo), (_JEQ, 0, _FAIL, m_lo)]
    if op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        last = _JGT if op == "SCMP_CMP_GT" else _JGE
        return [ld_hi, (_JGT, 3, 0, v_hi), (_JEQ, 0, _FAIL, v_hi),
                ld_lo, (last, 0, _FAIL, v_lo)]
    if op in ("SCMP_CMP_LT", "SCMP_CMP_LE"):
        last = _JGE if op == "SCMP_CMP_LT" else _JGT
        return [ld_hi, (_JGT, _FAIL, 0, v_hi), (_JEQ, 0, 2, v_hi),
                ld_lo, (last, _FAIL, 0, v_lo)]
    raise SeccompError(f"unsupported seccomp operator {op!r}")


def _resolve(block: list[Instruction]) -> list[Instruction]:
    """Replace _FAIL with the relative offset to the end of the block."""
    out = []
    for i, (code, jt, jf, k) in enumerate(block):
        end = len(block) - i - 1
        jt, jf = (end if jt == _FAIL else jt), (end if jf == _FAIL else jf)
        if jt > 255 or jf > 255:
            raise SeccompError("seccomp rule too large for a BPF jump")
        out.append((code, jt, jf, k))
    return out


def build_filter(config: dict) -> list[Instruction]:
    """Assemble ``linux.seccomp`` into a BPF program (list of instructions)."""
    if "defaultAction" not in config:
        raise SeccompError("linux.seccomp.defaultAction is required")
    default = action_value(config["defaultAction"], config.get("defaultErrnoRet"))
    for arch in config.get("architectures") or ():
        if not isinstance(arch, str) or not arch.startswith("SCMP_ARCH_"):
            raise SeccompError(f"invalid seccomp architecture {arch!r}")
    prog: list[Instruction] = [
        (_LD_ABS, 0, 0, _OFF_ARCH),
        (_JEQ, 1, 0, syscall_table.AUDIT_ARCH_X86_64),
        (_RET, 0, 0, RET_KILL_PROCESS),
        (_LD_ABS, 0, 0, _OFF_NR),
        (_JGE, 0, 1, syscall_table.X32_SYSCALL_BIT),
        (_RET, 0, 0, RET_KILL_PROCESS),
    ]
    prog += _enosys_stub(config, default)
    nr_loaded = True
    for rule in config.get("syscalls") or ():
        action = action_value(rule.get("action", ""), rule.get("errnoRet"))
        if action == default:
            continue
        numbers = [syscall_table.SYSCALLS_X86_64[n] for n in rule.get("names") or ()
                   if n in syscall_table.SYSCALLS_X86_64]
        alternatives = _condition_sets(rule.get("args") or [])
        for number in numbers:
            if alternatives:
                for checks in alternatives:
                    block = [(_LD_ABS, 0, 0, _OFF_NR), (_JEQ, 0, _FAIL, number),
                             *checks, (_RET, 0, 0, action)]
                    prog += _resolve(block)
                nr_loaded = False
            else:
                if not nr_loaded:
                    prog.append((_LD_ABS, 0, 0, _OFF_NR))
                    nr_loaded = True
                prog += [(_JEQ, 0, 1, number), (_RET, 0, 0, action)]
    prog.append((_RET, 0, 0, default))
    if len(prog) > _MAX_INSNS:
        raise SeccompError(f"seccomp filter has {len(prog)} instructions, over {_MAX_INSNS}")
    return prog


def _condition_sets(args: list[dict]) -> list[list[Instruction]]:
    """The rule's conditions as alternatives, each a list of checks that all
    must hold: one alternative of every condition, or, when an argument is
    tested twice, one alternative per condition (runc 1.1's "old
    behaviour": the two tests of one argument could never both hold)."""
    checks = [_arg_check(int(arg.get("index", 0)), arg.get("op", ""),
                         int(arg.get("value", 0)), int(arg.get("valueTwo", 0))) for arg in args]
    indexes = [int(arg.get("index", 0)) for arg in args]
    if len(set(indexes)) < len(indexes):
        return checks
    return [[insn for check in checks for insn in check]] if checks else []


#: default actions that let a syscall run (runc's isAllowAction): no -ENOSYS stub for them
_PERMISSIVE = (RET_ALLOW, RET_LOG)


def _enosys_stub(config: dict, default: int) -> list[Instruction]:
    """With the syscall number loaded: ENOSYS for numbers above the
    highest syscall the profile names (see the module's contract)."""
    if default in _PERMISSIVE or default & 0xFFFF0000 == RET_TRACE:
        return []
    if default == RET_ERRNO | errno_mod.ENOSYS:
        return []
    named = [syscall_table.SYSCALLS_X86_64[name] for rule in config.get("syscalls") or ()
             for name in rule.get("names") or () if name in syscall_table.SYSCALLS_X86_64]
    if not named:
        return []
    return [(_JGT, 0, 1, max(named)), (_RET, 0, 0, RET_ERRNO | errno_mod.ENOSYS)]


def pack_filter(prog: list[Instruction]) -> bytes:
    """struct sock_filter[] in native byte order."""
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_SYS_SECCOMP = 317  # x86_64
_SECCOMP_SET_MODE_FILTER = 1


def install_filter(prog: list[Instruction], flags: list[str] | None = None) -> None:
    """Load the filter into the calling thread. Needs no_new_privs or CAP_SYS_ADMIN."""
    mask = 0
    for flag in flags or ():
        if flag not in _FLAGS:
            raise SeccompError(f"unsupported seccomp flag {flag!r}")
        mask |= _FLAGS[flag]
    raw = pack_filter(prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = syscalls._libc
    if libc.syscall(ctypes.c_long(_SYS_SECCOMP), ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
                    ctypes.c_long(mask), ctypes.byref(fprog)) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SET_MODE_FILTER): {errno_mod.errorcode.get(err, err)}")
