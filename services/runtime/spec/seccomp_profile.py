"""Docker's default seccomp profile as data, and its translation to runtime-spec form.

The rules are moby's ``profiles/seccomp/default_linux.go`` (the 2023 profile:
``socket`` allowed except AF_VSOCK, ``name_to_handle_at`` in the allowlist,
CAP_BPF / CAP_PERFMON gates, ``clone3`` answering ENOSYS without
CAP_SYS_ADMIN so glibc falls back to ``clone``, and no ``io_uring_*`` since
moby#46762: io_uring has been a steady source of kernel privilege escalations
and bypasses seccomp for the operations it submits), trimmed to the x86 family:
entries that only apply to arm, ppc64le, s390 and riscv64 are left out, the
amd64/x32/x86 ones are kept. Each rule may carry ``includes`` / ``excludes``
filters on capabilities, architectures and a minimum kernel, evaluated by
:func:`default_profile` exactly as moby's ``setupSeccomp`` does: a rule with
``includes.caps`` needs every listed cap in the container's bounding set; a
rule with ``excludes.caps`` is dropped when any listed cap is there.
"""

from __future__ import annotations

import errno
import os
import re
from typing import Any

__all__ = ["DEFAULT_RULES", "default_profile", "kernel_version", "ARCHITECTURES"]

#: libseccomp architectures for an amd64 host (moby's archMap entry)
ARCHITECTURES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]

_AF_VSOCK = 40
# CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP
_CLONE_NS_FLAGS = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000

_ALLOWED = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64
fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents
getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer
getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid
getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area
gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64
ioprio_get ioprio_set io_setup io_submit ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock
munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause
pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall
rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64
send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid
setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid
setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid
setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget
shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat
stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime
utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
""".split()


def _allow(names: list[str], **extra: Any) -> dict:
    return {"names": names, "action": "SCMP_ACT_ALLOW", **extra}


def _arg(index: int, value: int, op: str) -> dict:
    return {"index": index, "value": value, "op": op}


#: the profile's rules in order; "includes"/"excludes" use moby's keys
#: (caps, arches with Go/libseccomp names, minKernel "MAJOR.MINOR")
DEFAULT_RULES: list[dict] = [
    _allow(_ALLOWED),
    _allow(["process_vm_readv", "process_vm_writev", "ptrace"], includes={"minKernel": "4.8"}),
    _allow(["socket"], args=[_arg(0, _AF_VSOCK, "SCMP_CMP_NE")]),
    *(_allow(["personality"], args=[_arg(0, persona, "SCMP_CMP_EQ")])
      for persona in (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)),
    _allow(["arch_prctl"], includes={"arches": ["amd64", "x32"]}),
    _allow(["modify_ldt"], includes={"arches": ["amd64", "x32", "x86"]}),
    _allow(["open_by_handle_at"], includes={"caps": ["CAP_DAC_READ_SEARCH"]}),
    _allow(["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
            "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
            "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
            "umount2", "unshare"], includes={"caps": ["CAP_SYS_ADMIN"]}),
    _allow(["clone"], args=[{**_arg(0, _CLONE_NS_FLAGS, "SCMP_CMP_MASKED_EQ"), "valueTwo": 0}],
           excludes={"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}),
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS,
     "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    _allow(["reboot"], includes={"caps": ["CAP_SYS_BOOT"]}),
    _allow(["chroot"], includes={"caps": ["CAP_SYS_CHROOT"]}),
    _allow(["delete_module", "init_module", "finit_module"], includes={"caps": ["CAP_SYS_MODULE"]}),
    _allow(["acct"], includes={"caps": ["CAP_SYS_PACCT"]}),
    _allow(["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
           includes={"caps": ["CAP_SYS_PTRACE"]}),
    _allow(["iopl", "ioperm"], includes={"caps": ["CAP_SYS_RAWIO"]}),
    _allow(["settimeofday", "stime", "clock_settime", "clock_settime64"], includes={"caps": ["CAP_SYS_TIME"]}),
    _allow(["vhangup"], includes={"caps": ["CAP_SYS_TTY_CONFIG"]}),
    _allow(["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
           includes={"caps": ["CAP_SYS_NICE"]}),
    _allow(["syslog"], includes={"caps": ["CAP_SYSLOG"]}),
    _allow(["bpf"], includes={"caps": ["CAP_BPF"]}),
    _allow(["perf_event_open"], includes={"caps": ["CAP_PERFMON"]}),
]


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of ``release`` (default: the running kernel's uname)."""
    text = release if release is not None else os.uname().release
    match = re.match(r"(\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"unparsable kernel release {text!r}")
    return int(match.group(1)), int(match.group(2))


def _selected(rule: dict, caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    excludes = rule.get("excludes") or {}
    includes = rule.get("includes") or {}
    if arch in excludes.get("arches", ()):
        return False
    if any(c in caps for c in excludes.get("caps", ())):
        return False
    if "minKernel" in excludes and kernel >= kernel_version(excludes["minKernel"]):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if any(c not in caps for c in includes.get("caps", ())):
        return False
    if "minKernel" in includes and kernel < kernel_version(includes["minKernel"]):
        return False
    return True


def default_profile(bounding_caps: list[str], *, arch: str = "amd64",
                    kernel: tuple[int, int] | None = None) -> dict:
    """``linux.seccomp`` for a container whose bounding set is ``bounding_caps``.

    Rules are filtered by capability, architecture (moby's names: ``amd64``,
    ``x86``, ``x32``) and kernel version (default: the running kernel), then
    emitted without their filters, in profile order.
    """
    caps = set(bounding_caps)
    kern = kernel if kernel is not None else kernel_version()
    syscalls = []
    for rule in DEFAULT_RULES:
        if not _selected(rule, caps, arch, kern):
            continue
        out = {"names": list(rule["names"]), "action": rule["action"]}
        if "errnoRet" in rule:
            out["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            out["args"] = [dict(a) for a in rule["args"]]
        syscalls.append(out)
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": list(ARCHITECTURES),
        "syscalls": syscalls,
    }
