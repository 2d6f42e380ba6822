"""runc's console-socket consumer (contrib/cmd/recvtty, in Go) for runc's
integration suite, started by the ``recvtty`` wrapper beside it, with its
command line:

    recvtty [--mode single|null] [--pid-file F] [--no-stdin] SOCKET

It listens on the unix socket SOCKET and takes a pty master from each
connection as one SCM_RIGHTS message (the runtime sends the pty's name as the
payload and the fd as ancillary data; more than one fd or none is an error).

* ``single``: one connection only; ONLCR is cleared on the master, then the
  master is copied to stdout and stdin to the master (unless --no-stdin) until
  the pty closes.
* ``null``: any number of connections; each master is read and discarded.

The ``recvtty`` wrapper (Perl, which starts as fast as runc's Go recvtty)
has already written the pid file and bound the socket when this starts: it
passes the listening socket as fd ``$RECVTTY_LISTEN_FD``. Run alone, this
writes the pid file and binds the socket itself, in that order, as runc's does.
It closes every other inherited fd at once, and in ``null`` mode points its
unused stdio at /dev/null: bats hands its TAP stream down as fd 3, and a
recvtty a teardown missed would otherwise hold bats open for ever. Errors go to stderr as ``[recvtty] fatal error: ...`` with exit status 1.
"""

import os
import socket
import sys
import termios
import threading

MAX_NAME = 4096


def bail(msg):
    sys.stderr.write(f"[recvtty] fatal error: {msg}\n")
    sys.exit(1)


def parse(argv):
    mode, pid_file, no_stdin, rest = "single", "", False, []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("--mode", "-mode", "-m", "--pid-file", "-pid-file"):
            if not args:
                bail(f"flag needs an argument: {arg}")
            value = args.pop(0)
            if arg.endswith("pid-file"):
                pid_file = value
            else:
                mode = value
        elif arg.startswith("--mode=") or arg.startswith("--pid-file="):
            key, value = arg.split("=", 1)
            if key == "--mode":
                mode = value
            else:
                pid_file = value
        elif arg in ("--no-stdin", "-no-stdin"):
            no_stdin = True
        elif arg == "--":
            rest.extend(args)
            break
        else:
            rest.append(arg)
    if len(rest) != 1:
        bail("need to specify a single socket path")
    return mode, pid_file, no_stdin, rest[0]


def recv_master(conn):
    """The one fd of the connection's first message (runc's utils.RecvFd)."""
    name, fds, _flags, _addr = socket.recv_fds(conn, MAX_NAME, 2)
    if len(name) >= MAX_NAME or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise OSError(f"recvfd: expected one fd, got {len(fds)} (name {len(name)} bytes)")
    return fds[0]


def pump(src, dst):
    """Copies until EOF or EIO (a pty master reads EIO once its slave is gone)."""
    while True:
        try:
            data = os.read(src, 65536)
        except OSError:
            return
        if not data:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(dst, view):]
        except OSError:
            return


def clear_onlcr(fd):
    attrs = termios.tcgetattr(fd)
    attrs[1] &= ~termios.ONLCR
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def listener(path):
    """The wrapper's listening socket, or a new one bound to ``path``."""
    inherited = os.environ.pop("RECVTTY_LISTEN_FD", "")
    if inherited:
        return socket.socket(fileno=int(inherited))
    ln = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ln.bind(path)
    ln.listen(16)
    return ln


def handle_single(path, no_stdin):
    with listener(path) as ln:
        conn, _ = ln.accept()
    with conn:
        master = recv_master(conn)
    clear_onlcr(master)
    out = threading.Thread(target=pump, args=(master, sys.stdout.fileno()))
    out.start()
    if not no_stdin:
        threading.Thread(target=pump, args=(sys.stdin.fileno(), master), daemon=True).start()
    out.join()
    os.close(master)


def discard(conn):
    with conn:
        try:
            master = recv_master(conn)
        except OSError:
            return
    with open(os.devnull, "wb") as null:
        pump(master, null.fileno())
    os.close(master)


def handle_null(path):
    with listener(path) as ln:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        while True:
            conn, _ = ln.accept()
            threading.Thread(target=discard, args=(conn,), daemon=True).start()


def main():
    mode, pid_file, no_stdin, path = parse(sys.argv[1:])
    keep = int(os.environ.get("RECVTTY_LISTEN_FD", "-1"))
    if keep >= 3:
        os.closerange(3, keep)
    os.closerange(max(keep, 2) + 1, 1 << 16)
    if mode not in ("single", "null"):
        bail(f"need to select a valid mode: {mode}")
    try:
        if pid_file and "RECVTTY_LISTEN_FD" not in os.environ:
            with open(pid_file, "w") as f:
                f.write(f"{os.getpid()}\n")
        if mode == "single":
            handle_single(path, no_stdin)
        else:
            handle_null(path)
    except OSError as exc:
        bail(exc)


if __name__ == "__main__":
    main()
