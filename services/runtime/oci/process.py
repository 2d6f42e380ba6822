"""The last steps of every container process (init and exec alike):
rlimits, capabilities, user, cwd, no_new_privs, executable lookup, seccomp,
fd hygiene and execve. Runs in a single-threaded child, already inside the
container's namespaces and root.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat

from client.errors import FailedPrecondition, InvalidArgument

from . import caps, seccomp, syscalls

__all__ = [
    "ExecFailed", "apply_rlimits", "finalize", "lookup_executable", "exec_process",
    "process_env", "apply_oom_score_adj", "before_userns", "fix_stdio_owner",
]


class ExecFailed(FailedPrecondition):
    """The process could not be started; ``exit_code`` is what a shell reports
    (127 not found, 126 not executable)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def apply_rlimits(rlimits: list[dict] | None) -> None:
    for rl in rlimits or ():
        name = rl["type"]
        number = getattr(resource, name, None)
        if not name.startswith("RLIMIT_") or number is None:
            raise InvalidArgument(f"unknown rlimit {name!r}")
        try:
            resource.setrlimit(number, (int(rl["soft"]), int(rl["hard"])))
        except (OSError, ValueError) as exc:
            raise FailedPrecondition(
                f"set {name} to soft {rl['soft']} hard {rl['hard']}: {exc}") from exc


def apply_oom_score_adj(process: dict) -> None:
    """Write ``oomScoreAdj`` (if any) to /proc/self/oom_score_adj."""
    if "oomScoreAdj" in process:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(int(process["oomScoreAdj"])))


def before_userns(process: dict) -> None:
    """What a process entering a user namespace sets while still the host's
    root, as runc does from outside: its rlimits (raising a hard limit takes
    the host's CAP_SYS_RESOURCE) and its OOM score (the file is the host
    root's); ``oomScoreAdj`` is then dropped from ``process`` (this forked
    child's copy), which the namespace's root could not write again."""
    apply_rlimits(process.get("rlimits"))
    apply_oom_score_adj(process)
    process.pop("oomScoreAdj", None)


def process_env(process: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in process.get("env") or ():
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("HOME", "/")
    return env


def fix_stdio_owner(uid: int) -> None:
    """runc's ``fixStdioPermissions``: stdin, stdout and stderr are made
    ``uid``'s (the group kept: devpts gives a terminal gid 5), so a process
    running as another user can use its terminal and reopen them through
    /dev/stdout; /dev/null (the container's) and fds already ``uid``'s are
    left alone, and so is an fd whose owner or group the namespace cannot
    map or whose filesystem is read-only (EINVAL, EPERM, EROFS), as runc."""
    try:
        null_rdev = os.stat("/dev/null").st_rdev
    except OSError:
        null_rdev = None
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if st.st_uid == uid or (null_rdev is not None and stat.S_ISCHR(st.st_mode)
                                and st.st_rdev == null_rdev):
            continue
        try:
            os.fchown(fd, uid, st.st_gid)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EPERM, errno.EROFS):
                raise FailedPrecondition(f"chown stdio fd {fd} to {uid}: {exc.strerror}") from exc


def _setup_user(user: dict) -> None:
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    fix_stdio_owner(uid)
    os.setgroups([int(g) for g in user.get("additionalGids") or ()])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _verify_cwd() -> None:
    """After chdir the cwd must be inside the container's root: a leaked host
    directory fd as cwd is CVE-2024-21626 (getcwd then reports unreachable)."""
    try:
        cwd = os.getcwd()
    except OSError as exc:
        raise FailedPrecondition("current working directory is outside of container mount "
                                 "namespace root -- possible container breakout detected") from exc
    if not cwd.startswith("/"):
        raise FailedPrecondition(f"current working directory {cwd!r} is not absolute")


def _chdir(cwd: str, retry_later: bool) -> bool:
    """chdir; False when refused (EACCES/EPERM) and ``retry_later``."""
    try:
        os.chdir(cwd)
    except PermissionError:
        if retry_later:
            return False
        raise FailedPrecondition(f"chdir to cwd {cwd!r} set in config.json failed: "
                                 "permission denied") from None
    except OSError as exc:
        raise FailedPrecondition(f"chdir to cwd {cwd!r} set in config.json failed: "
                                 f"{exc.strerror}") from exc
    return True


def finalize(process: dict, seccomp_config: dict | None) -> list | None:
    """Apply limits, capabilities and user in runc's order.

    Returns the seccomp program still to be loaded right before execve (when
    noNewPrivileges is set); otherwise the filter is loaded here, before the
    capability drop, because without no_new_privs loading it needs
    CAP_SYS_ADMIN.
    """
    apply_rlimits(process.get("rlimits"))
    apply_oom_score_adj(process)
    sets = caps.CapabilitySets.from_spec(process.get("capabilities"))
    no_new_privs = bool(process.get("noNewPrivileges"))
    program = seccomp.build_filter(seccomp_config) if seccomp_config else None
    if seccomp_config and program is not None and not no_new_privs:
        seccomp.install_filter(program, seccomp_config.get("flags"))
        program = None
    # as runc: the cwd is entered while still root with every capability
    # (a directory the user cannot reach, the caller can), and again as the
    # user if root was refused (a directory only the user may enter)
    cwd = process.get("cwd") or "/"
    pending_chdir = not _chdir(cwd, retry_later=True)
    try:
        caps.drop_bounding(sets.bounding)
        syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
        _setup_user(process.get("user") or {})
        syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
        caps.apply_capabilities(sets)
    except OSError as exc:
        raise FailedPrecondition(f"set user and capabilities: {exc}") from exc
    if pending_chdir:
        _chdir(cwd, retry_later=False)
    _verify_cwd()
    if no_new_privs:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
    return program


def _check_candidate(path: str) -> int:
    """0 if ``path`` can be executed, else the errno execve would give."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc.errno or errno.ENOENT
    if stat.S_ISDIR(st.st_mode) or not os.access(path, os.X_OK):
        return errno.EACCES
    return 0


def lookup_executable(arg0: str, env: dict[str, str]) -> str:
    """execvpe's search, done before execve so failures carry runc's messages."""
    if "/" in arg0:
        err = _check_candidate(arg0)
        if err == 0:
            return arg0
        if err == errno.EACCES:
            raise ExecFailed(f'exec: "{arg0}": permission denied', 126)
        raise ExecFailed(f'exec: "{arg0}": stat {arg0}: no such file or directory', 127)
    denied = False
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", arg0)
        err = _check_candidate(candidate)
        if err == 0:
            return candidate
        denied = denied or err == errno.EACCES
    if denied:
        raise ExecFailed(f'exec: "{arg0}": permission denied', 126)
    raise ExecFailed(f'exec: "{arg0}": executable file not found in $PATH', 127)


def exec_process(path: str, args: list[str], env: dict[str, str], umask: int,
                 program: list | None, seccomp_flags: list[str] | None,
                 preserve_fds: int = 0) -> None:
    """Close fds >= 3 (but keep 3..3+preserve_fds-1 open across execve, as
    runc's --preserve-fds), restore signal dispositions, load seccomp, execve.

    Never returns: on failure the error goes to stderr and the process exits
    with 126/127 like a shell.
    """
    first_closed = 3 + max(preserve_fds, 0)
    for fd in range(3, first_closed):
        try:
            os.set_inheritable(fd, True)
        except OSError:  # not open: nothing to pass on
            pass
    # Not closerange(..., SC_OPEN_MAX): that is the container's RLIMIT_NOFILE,
    # applied by now, and an inherited fd numbered above it would survive.
    syscalls.close_fds_from(first_closed)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.umask(umask)
    try:
        if program is not None:
            seccomp.install_filter(program, seccomp_flags)
        os.execve(path, args, env)
    except OSError as exc:
        code = 126 if exc.errno in (errno.EACCES, errno.ENOEXEC, errno.EPERM) else 127
        os.write(2, f"barque-oci: exec {args[0]!r}: {exc.strerror or exc}\n".encode())
        os._exit(code)
