"""Linux capabilities: names to bit masks, and applying a process's five sets.

Order of application follows runc's ``finalizeNamespace``: drop the bounding
set first (needs CAP_SETPCAP, which root still has), keep permitted caps across
the uid switch with PR_SET_KEEPCAPS, then capset the configured
effective/permitted/inheritable sets and raise the ambient ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from client.errors import InvalidArgument

from . import syscalls

__all__ = [
    "CAPABILITIES", "DOCKER_DEFAULT_CAPS", "CapabilitySets", "cap_mask",
    "last_cap", "drop_bounding", "apply_capabilities", "InvalidCapability",
]

#: capability name -> number (linux/capability.h)
CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6,
    "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

#: the 14 capabilities Docker and containerd keep (moby caps/defaults.go)
DOCKER_DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)


class InvalidCapability(InvalidArgument):
    """A capability name in config.json is not one this runtime knows."""


def cap_mask(names: list[str] | tuple[str, ...] | None, *, strict: bool = False,
             limit: int | None = None) -> int:
    """Bit mask of ``names``.

    Unknown names raise :class:`InvalidCapability` when ``strict``; otherwise
    they are skipped, as runc skips capabilities the running kernel lacks.
    Capabilities above ``limit`` (the kernel's cap_last_cap) are skipped too.
    """
    mask = 0
    for name in names or ():
        number = CAPABILITIES.get(name.upper())
        if number is None:
            if strict:
                raise InvalidCapability(f"unknown capability {name!r}")
            continue
        if limit is not None and number > limit:
            continue
        mask |= 1 << number
    return mask


def last_cap() -> int:
    """Highest capability number the running kernel supports."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


@dataclass(frozen=True)
class CapabilitySets:
    bounding: int
    effective: int
    permitted: int
    inheritable: int
    ambient: int

    @classmethod
    def from_spec(cls, caps: dict | None) -> "CapabilitySets":
        """Masks from ``process.capabilities``; an absent set is empty."""
        caps = caps or {}
        top = last_cap()
        for key in caps:
            if key not in ("bounding", "effective", "permitted", "inheritable", "ambient"):
                raise InvalidCapability(f"unknown capability set {key!r}")
        for names in caps.values():
            cap_mask(names, strict=True)
        return cls(*(cap_mask(caps.get(k), limit=top) for k in
                     ("bounding", "effective", "permitted", "inheritable", "ambient")))


def drop_bounding(bounding: int) -> None:
    """Drop every capability not in ``bounding`` from the bounding set."""
    for number in range(last_cap() + 1):
        if not bounding & (1 << number):
            try:
                syscalls.prctl(syscalls.PR_CAPBSET_DROP, number)
            except OSError as exc:
                raise OSError(exc.errno, f"drop capability {number} from bounding set") from exc


def apply_capabilities(sets: CapabilitySets) -> None:
    """capset the effective/permitted/inheritable sets, then raise ambient caps."""
    syscalls.capset(sets.effective, sets.permitted, sets.inheritable)
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    for number in range(64):
        if sets.ambient & (1 << number):
            # The kernel refuses ambient caps not in both permitted and
            # inheritable; runc ignores those failures, and so do we.
            try:
                syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, number)
            except OSError:
                continue
