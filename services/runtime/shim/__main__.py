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

from .options import UsageError, parse_args  # noqa: E402
from .runtime import RuntimeFailed  # noqa: E402
from .supervisor import Supervisor, set_child_subreaper  # noqa: E402

__all__ = ["main"]

_CRASH_LOG = "shim.log"


def main(argv: list[str] | None = None) -> int:
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        sys.stderr.write(f"barque-shim: {exc}\n")
        return 2
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        # first process: report whether the shim came up, then leave it to init
        os.close(ready_w)
        if os.read(ready_r, 1) == b"1":
            return 0
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) or 1
    os.close(ready_r)
    try:
        _serve(opts, ready_w)
    except BaseException:
        _record_crash(opts.state_dir)
        os._exit(1)
    os._exit(0)


def _serve(opts, ready_w: int) -> None:
    set_child_subreaper()
    sup = Supervisor(opts)
    sup.prepare()
    os.write(ready_w, b"1")
    os.close(ready_w)
    try:
        sup.create()
        if opts.wait_attach:
            sup.wait_for_attach()
        sup.start()
        sup.supervise()
    except RuntimeFailed as exc:
        sup.fail(exc)
    sup.finish()


def _record_crash(state_dir: str) -> None:
    """The shim's stderr is /dev/null: leave the traceback next to its state."""
    import traceback

    try:
        with open(os.path.join(state_dir, _CRASH_LOG), "a") as f:
            traceback.print_exc(file=f)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
