"""runc's ``tmpcopyup``: a new tmpfs filled with a copy of the directory it
covers, every name opened relative to its parent's fd and never followed."""

from __future__ import annotations

import os
import shutil
import stat

from client.errors import FailedPrecondition

__all__ = ["copy_tree"]

_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_tree(src: int, dst: int) -> None:
    """Copy the contents of directory fd ``src`` (readable) into directory fd
    ``dst``, keeping modes, owners and symlinks (``cp -a`` of the children).
    Every name is opened relative to its parent's fd, never followed."""
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            sub_src = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=src)
            try:
                sub_dst = os.open(name, _O_PATH | os.O_DIRECTORY, dir_fd=dst)
                try:
                    copy_tree(sub_src, sub_dst)
                finally:
                    os.close(sub_dst)
            finally:
                os.close(sub_src)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(src, dst, name)
        else:
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)


def _copy_file(src: int, dst: int, name: str) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=src)
    with open(fd, "rb") as reader:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FailedPrecondition(f"copy-up: {name!r} changed while being copied")
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o600, dir_fd=dst)
        with open(out, "wb") as writer:
            shutil.copyfileobj(reader, writer)
