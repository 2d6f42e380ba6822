"""bpf(2) through ctypes: load a cgroup device program and attach it.

Only what the cgroup v2 device filter needs: ``BPF_PROG_LOAD`` of a
``BPF_PROG_TYPE_CGROUP_DEVICE`` program, ``BPF_PROG_ATTACH`` to a cgroup
directory with ``BPF_F_ALLOW_MULTI`` (as runc attaches it, so programs that a
parent cgroup holds still apply), and ``BPF_PROG_QUERY`` to list what is
attached. An attached program stays in force for the cgroup's lifetime after
the loading process closes its fd.
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["load_device_program", "attach_device_program", "attached_device_programs",
           "BpfError"]

_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), 321)
_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_QUERY = 16
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
_BPF_F_ALLOW_MULTI = 2
_LOG_SIZE = 1 << 16

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class BpfError(OSError):
    """A bpf(2) command failed; ``errno`` is the kernel's, the message says which."""


class _ProgLoad(ctypes.Structure):
    _fields_ = [
        ("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32), ("expected_attach_type", ctypes.c_uint32),
    ]


class _ProgAttach(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
        ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
        ("replace_bpf_fd", ctypes.c_uint32),
    ]


class _ProgQuery(ctypes.Structure):
    _fields_ = [
        ("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
        ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
        ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32),
        ("_pad", ctypes.c_uint32),
    ]


def _bpf(cmd: int, attr: ctypes.Structure, what: str) -> int:
    ret = _libc.syscall(_SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise BpfError(err, f"{what}: {os.strerror(err)}")
    return ret


def load_device_program(insns: bytes, name: str = "barque_dev") -> int:
    """Load ``insns`` as a cgroup device program; returns its fd (close it
    once attached). The verifier's log is part of the error when it refuses."""
    if len(insns) % 8:
        raise ValueError("eBPF instructions are 8 bytes each")
    code = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(_LOG_SIZE)
    attr = _ProgLoad(prog_type=_BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=len(insns) // 8,
                     insns=ctypes.addressof(code), license=ctypes.addressof(license),
                     log_level=1, log_size=_LOG_SIZE, log_buf=ctypes.addressof(log),
                     prog_name=name.encode()[:15])
    try:
        return _bpf(_BPF_PROG_LOAD, attr, "load device filter")
    except BpfError as exc:
        verifier = log.value.decode(errors="replace").strip().splitlines()
        if verifier:
            raise BpfError(exc.errno, f"{exc.strerror} ({verifier[-1]})") from None
        raise


def attach_device_program(cgroup_dir: str, prog_fd: int) -> None:
    """Attach the program to the cgroup directory (``BPF_F_ALLOW_MULTI``)."""
    dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attr = _ProgAttach(target_fd=dir_fd, attach_bpf_fd=prog_fd,
                           attach_type=_BPF_CGROUP_DEVICE, attach_flags=_BPF_F_ALLOW_MULTI)
        _bpf(_BPF_PROG_ATTACH, attr, f"attach device filter to {cgroup_dir}")
    finally:
        os.close(dir_fd)


def attached_device_programs(cgroup_dir: str) -> list[int]:
    """Ids of the device programs attached directly to ``cgroup_dir``."""
    dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ids = (ctypes.c_uint32 * 64)()
        attr = _ProgQuery(target_fd=dir_fd, attach_type=_BPF_CGROUP_DEVICE,
                          prog_ids=ctypes.addressof(ids), prog_cnt=len(ids))
        _bpf(_BPF_PROG_QUERY, attr, f"query device filters of {cgroup_dir}")
        return list(ids[:attr.prog_cnt])
    finally:
        os.close(dir_fd)
