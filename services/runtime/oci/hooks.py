"""The runtime-spec's lifecycle hooks, run as runc 1.1 runs them.

Six stages, each a list of ``{path, args, env, timeout}`` run in order, the
first failure ending the list (and the operation):

=================  ==========================================  =============
stage              where and when                               state status
=================  ==========================================  =============
prestart,          the runtime's namespaces, by ``create``,     creating
createRuntime      once the init has mounted the rootfs and
                   before it pivots (the init's host pid)
createContainer    in the init: its mount namespace, cwd the    creating
                   rootfs, before pivot_root (its own pid)
startContainer     in the init after ``start`` released it,     created
                   after pivot_root, before the user's exec
poststart          by ``start`` once the init was released      running
                   (runtime-spec and runc 1.2; runc 1.1 ran it
                   at the end of ``create``); a failure kills
                   the container and fails ``start``
poststop           by ``delete`` once the container, its        stopped
                   cgroup and its state dir are gone; a failure
                   fails ``delete``, the container stays gone
=================  ==========================================  =============

A hook gets the state document (runtime-spec ``state`` without ``rootfs`` and
``created``, as runc's ``specs.State``) on its stdin. As Go's ``exec.Cmd``
under runc: ``args`` is the whole argv (``[path]`` when empty), a missing
``env`` inherits the runtime's environment, stdout and stderr are captured
into the error, and a hook past its ``timeout`` (seconds) is killed
(SIGKILL). Error words are runc's, after the stage's name ("createRuntime:
error running hook #N: error running hook: exit status 1, stdout: ...,
stderr: ...", "... hook ran past specified timeout of 2.0s"), since callers
grep for them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

from client.errors import FailedPrecondition

from .spec import SpecError

__all__ = ["STAGES", "HookFailed", "validate", "has", "state_document", "run"]

STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop")


class HookFailed(FailedPrecondition):
    """A hook exited non-zero, could not be started, or ran past its timeout."""


def validate(spec: dict) -> None:
    """Check ``spec["hooks"]``; raise :class:`SpecError` on the first bad entry.

    A hook's ``path`` must be absolute and its ``timeout``, when given, above
    zero (runtime-spec's MUSTs; runc 1.1 lets a zero timeout through and then
    fails every run of that hook, which helps nobody)."""
    hooks = spec.get("hooks")
    if hooks is None:
        return
    if not isinstance(hooks, dict):
        raise SpecError("hooks must be an object")
    for stage, entries in hooks.items():
        if stage not in STAGES:
            raise SpecError(f"unknown hook stage {stage!r}")
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise SpecError(f"hooks.{stage} must be a list")
        for i, hook in enumerate(entries):
            where = f"hooks.{stage}[{i}]"
            if not isinstance(hook, dict) or not isinstance(hook.get("path"), str) \
                    or not hook["path"].startswith("/"):
                raise SpecError(f"{where} needs an absolute path")
            for key in ("args", "env"):
                value = hook.get(key)
                if value is not None and not (isinstance(value, list)
                                              and all(isinstance(v, str) for v in value)):
                    raise SpecError(f"{where}.{key} must be a list of strings")
            timeout = hook.get("timeout")
            if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)
                                        or timeout <= 0):
                raise SpecError(f"{where}.timeout must be an integer above 0 (seconds)")


def has(spec: dict, *stages: str) -> bool:
    """Whether any of ``stages`` has a hook in ``spec``."""
    hooks = spec.get("hooks") or {}
    return any(hooks.get(stage) for stage in stages)


def state_document(spec: dict, container_id: str, bundle: str, status: str, pid: int) -> dict:
    """The state a hook reads on stdin (runc's ``specs.State``: ``pid`` left
    out when 0, ``annotations`` when empty)."""
    doc: dict = {"ociVersion": spec.get("ociVersion", ""), "id": container_id,
                 "status": status}
    if pid:
        doc["pid"] = pid
    doc["bundle"] = bundle
    if spec.get("annotations"):
        doc["annotations"] = spec["annotations"]
    return doc


def _environment(env: list[str] | None) -> dict[str, str] | None:
    if env is None:
        return None  # exec.Cmd with a nil Env: the runtime's own environment
    out: dict[str, str] = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep:
            out[key] = value
    return out


def _run_one(hook: dict, stdin: bytes) -> None:
    args = hook.get("args") or [hook["path"]]
    timeout = hook.get("timeout")
    try:
        proc = subprocess.Popen(args, executable=hook["path"], env=_environment(hook.get("env")),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, close_fds=True, process_group=0)
    except OSError as exc:
        # Go's words (lower case), as runc reports a hook it cannot start
        raise HookFailed(f"fork/exec {hook['path']}: {(exc.strerror or str(exc)).lower()}") from exc
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        # the hook's group goes (a shell's children would hold its pipes open
        # and keep us waiting as long as they run, as Go's Wait does runc);
        # whatever escaped it gets a second to let the pipes go, then is left
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.kill()
        try:
            proc.communicate(timeout=1)
        except subprocess.TimeoutExpired:
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            proc.wait()
        raise HookFailed(f"hook ran past specified timeout of {exc.timeout:.1f}s") from exc
    if proc.returncode:
        code = proc.returncode
        how = f"exit status {code}" if code > 0 else f"signal: {_signal_name(-code)}"
        raise HookFailed(f"error running hook: {how}, stdout: {out.decode(errors='replace')}, "
                         f"stderr: {err.decode(errors='replace')}")


def _signal_name(signum: int) -> str:
    try:
        # Go's words, lower-case ("signal: bad system call"), which callers grep for
        return (signal.strsignal(signum) or str(signum)).lower()
    except ValueError:
        return str(signum)


def run(spec: dict, stage: str, state: dict) -> None:
    """Run ``stage``'s hooks in order with ``state`` on their stdin; raise
    :class:`HookFailed` ("<stage>: error running hook #<i>: ...", runc's words
    after the stage's name) at the first
    that fails. A stage with no hooks does nothing."""
    stdin = json.dumps(state, separators=(",", ":")).encode()
    for i, hook in enumerate((spec.get("hooks") or {}).get(stage) or ()):
        try:
            _run_one(hook, stdin)
        except HookFailed as exc:
            raise HookFailed(f"{stage}: error running hook #{i}: {exc}") from exc

