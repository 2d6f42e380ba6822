"""Entry point of the shim (see the package docstring).

Runs as ``python -m services.runtime.shim`` or, to skip site-packages and
runpy (less memory per container), as ``python -I -S .../shim/__main__.py``:
then the directory holding the ``services`` package is put on ``sys.path``,
the one import path this file needs.
"""

import os
import sys

if not __package__:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))))
    __package__ = "services.runtime.shim"  # noqa: A001 - lets the relative imports below work

from .ocirun import OciFailed, set_child_subreaper  # noqa: E402
from .options import UsageError, parse_args  # noqa: E402
from .statedir import record_crash  # noqa: E402
from .supervisor import Supervisor  # noqa: E402

__all__ = ["main"]

#: internal: the re-executed shim finds its readiness pipe here
_READY_FLAG = "--internal-ready-fd"


def main() -> int:
    """Two stages, both in this file. The first (spawned by the service)
    forks; the child makes itself a child subreaper, which survives execve,
    and re-executes this interpreter with the same flags, so the long-lived
    shim never loads ctypes (about 0.3 MiB per container). The first stage
    exits 0 once the shim reports it is listening, non-zero if it died."""
    args = sys.argv[1:]
    ready_fd = -1
    if args[:1] == [_READY_FLAG] and len(args) > 1 and args[1].isdigit():
        ready_fd, args = int(args[1]), args[2:]
    try:
        opts = parse_args(args)
    except UsageError as exc:
        sys.stderr.write(f"barque-shim: {exc}\n")
        return 2
    if ready_fd < 0:
        return _launch(args)
    try:
        _serve(opts, ready_fd)
    except BaseException:
        record_crash(opts.state_dir)
        os._exit(1)
    os._exit(0)


def _launch(args: list[str]) -> int:
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            set_child_subreaper()
            os.set_inheritable(ready_w, True)
            interpreter = sys.orig_argv[1:len(sys.orig_argv) - len(sys.argv) + 1]
            os.execv(sys.executable,
                     [sys.executable, *interpreter, _READY_FLAG, str(ready_w), *args])
        finally:
            os._exit(127)
    os.close(ready_w)
    if os.read(ready_r, 1) == b"1":
        return 0
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) or 1


def _serve(opts, ready_fd: int) -> None:
    os.set_inheritable(ready_fd, False)
    sup = Supervisor(opts)
    sup.prepare()
    os.write(ready_fd, b"1")
    os.close(ready_fd)
    try:
        sup.create()
        if opts.wait_attach:
            sup.wait_for_attach()
        sup.start()
        sup.supervise()
    except OciFailed as exc:
        sup.fail(exc)
    sup.finish()


if __name__ == "__main__":
    sys.exit(main())
