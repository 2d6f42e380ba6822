"""--user resolution against a rootfs's passwd/group, and confinement of the reads to the rootfs."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.errors import InvalidArgument
from services.runtime.spec.users import MAX_DB_BYTES, ResolvedUser, process_user, read_rootfs_file, resolve_user
from tests.support.host import IN_OPEN, watch_opens

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
other:x:1001:1001::/home/other:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
GROUP = """\
root:x:0:
daemon:x:1:
staff:x:50:app
wheel:x:10:other,app
app:x:1000:
other:x:1001:
nogroup:x:65534:
"""

# Both resolution strategies must agree on ordinary files.
MODES = [pytest.param(True, id="openat2"), pytest.param(False, id="nofollow-walk")]


def make_rootfs(base: Path, passwd: str | None = PASSWD, group: str | None = GROUP) -> Path:
    rootfs = base / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    if passwd is not None:
        (rootfs / "etc" / "passwd").write_text(passwd)
    if group is not None:
        (rootfs / "etc" / "group").write_text(group)
    return rootfs


@pytest.mark.parametrize("openat2", MODES)
@pytest.mark.parametrize("spec,expected", [
    ("", ResolvedUser(0, 0, [], "/root")),
    ("root", ResolvedUser(0, 0, [], "/root")),
    ("app", ResolvedUser(1000, 1000, [50, 10], "/home/app")),
    ("1000", ResolvedUser(1000, 1000, [50, 10], "/home/app")),
    ("1000:50", ResolvedUser(1000, 50, [], "/home/app")),
    ("app:staff", ResolvedUser(1000, 50, [], "/home/app")),
    ("app:50", ResolvedUser(1000, 50, [], "/home/app")),
    ("app:4242", ResolvedUser(1000, 4242, [], "/home/app")),
    ("nobody", ResolvedUser(65534, 65534, [], "/nonexistent")),
    ("other", ResolvedUser(1001, 1001, [10], "/home/other")),
    ("4242", ResolvedUser(4242, 0, [], "/")),
    ("4242:4243", ResolvedUser(4242, 4243, [], "/")),
    ("4242:staff", ResolvedUser(4242, 50, [], "/")),
])
def test_resolve_user_docker_semantics(tmp_path: Path, openat2, spec, expected):
    assert resolve_user(make_rootfs(tmp_path), spec, use_openat2=openat2) == expected


def test_supplementary_groups_of_app_from_staff_line(tmp_path: Path):
    rootfs = make_rootfs(tmp_path, group="staff:x:50:app\n")
    assert resolve_user(rootfs, "app").additional_gids == [50]


# moby getUser (daemon/oci_linux.go): AdditionalGids = [gid] + Sgids, for every user
# (GHSA-rc4r-wh2q-q6c4); moby's own tests expect `-u 0` -> groups=0(root),10(wheel),
# `7777:` -> groups=0(root), `:7777` -> groups=7777.
@pytest.mark.parametrize("spec,expected", [
    ("1234:5678", (1234, 5678, [5678])),        # not in passwd: the primary gid alone
    ("4242", (4242, 0, [0])),                    # not in passwd, no group: gid 0
    ("7777:", (7777, 0, [0])),
    (":7777", (0, 7777, [7777])),
    ("", (0, 0, [0])),                           # root, a member of no group here
    ("app", (1000, 1000, [1000, 50, 10])),       # in passwd: own gid, then /etc/group memberships
    ("other", (1001, 1001, [1001, 10])),
    ("app:staff", (1000, 50, [50])),             # explicit group: no memberships, the group itself
    ("app:4242", (1000, 4242, [4242])),
    ("4242:staff", (4242, 50, [50])),
])
def test_process_user_has_the_primary_gid_among_additional_gids(tmp_path: Path, spec, expected):
    uid, gid, additional = expected
    assert process_user(resolve_user(make_rootfs(tmp_path), spec)) == {
        "uid": uid, "gid": gid, "additionalGids": additional}


def test_process_user_keeps_a_primary_gid_also_listed_in_group(tmp_path: Path):
    rootfs = make_rootfs(tmp_path, group="app:x:1000:app\nstaff:x:50:app\n")
    assert process_user(resolve_user(rootfs, "app"))["additionalGids"] == [1000, 1000, 50]   # as moby


@pytest.mark.parametrize("spec,message", [
    ("ghost", "unable to find user ghost: no matching entries in passwd file"),
    ("app:ghosts", "unable to find group ghosts: no matching entries in group file"),
    ("ghost:staff", "unable to find user ghost"),
])
def test_unknown_names_are_errors(tmp_path: Path, spec, message):
    with pytest.raises(InvalidArgument, match=message):
        resolve_user(make_rootfs(tmp_path), spec)


@pytest.mark.parametrize("spec", ["2147483648", "-1", "0:2147483648", "0:-5", "99999999999999999999"])
def test_ids_out_of_range_are_refused(tmp_path: Path, spec):
    with pytest.raises(InvalidArgument, match="out of range"):
        resolve_user(make_rootfs(tmp_path), spec)


def test_huge_uid_in_passwd_is_refused_not_wrapped(tmp_path: Path):
    # CVE-2024-40635: 4294967296 would wrap to uid 0 in a 32-bit consumer.
    rootfs = make_rootfs(tmp_path, passwd="evil:x:4294967296:0::/:/bin/sh\n")
    with pytest.raises(InvalidArgument, match="out of range"):
        resolve_user(rootfs, "evil")


def test_malformed_uid_in_passwd_is_refused_not_root(tmp_path: Path):
    rootfs = make_rootfs(tmp_path, passwd="evil:x:abc:0::/:/bin/sh\n")
    with pytest.raises(InvalidArgument, match="invalid uid"):
        resolve_user(rootfs, "evil")


def test_missing_files_allow_numeric_ids_only(tmp_path: Path):
    rootfs = make_rootfs(tmp_path, passwd=None, group=None)
    assert resolve_user(rootfs, "") == ResolvedUser(0, 0, [], "/")
    assert resolve_user(rootfs, "1000:1000") == ResolvedUser(1000, 1000, [], "/")
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        resolve_user(rootfs, "app")
    with pytest.raises(InvalidArgument, match="unable to find group staff"):
        resolve_user(rootfs, "1000:staff")


def test_no_etc_at_all(tmp_path: Path):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    assert resolve_user(rootfs, "123") == ResolvedUser(123, 0, [], "/")


def test_first_matching_entry_wins_and_blank_lines_are_skipped(tmp_path: Path):
    rootfs = make_rootfs(tmp_path, passwd="\n  \napp:x:1000:1000::/first:/bin/sh\napp:x:2000:2000::/second:/bin/sh\n")
    assert resolve_user(rootfs, "app") == ResolvedUser(1000, 1000, [50, 10], "/first")


@pytest.mark.parametrize("openat2", MODES)
def test_etc_symlink_to_host_etc_is_not_followed(tmp_path: Path, openat2):
    # The host's /etc/passwd has "daemon" (uid 1) and "root"; an image whose
    # /etc points at the host's /etc must never resolve through it.
    assert "daemon:" in Path("/etc/passwd").read_text()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "etc").symlink_to("/etc")
    with pytest.raises(InvalidArgument, match="cannot read /etc/passwd"):
        resolve_user(rootfs, "daemon", use_openat2=openat2)
    with pytest.raises(InvalidArgument, match="cannot read /etc/passwd"):
        resolve_user(rootfs, "", use_openat2=openat2)


@pytest.mark.parametrize("openat2", MODES)
def test_passwd_symlink_to_host_file_is_not_followed(tmp_path: Path, openat2):
    rootfs = make_rootfs(tmp_path, passwd=None)
    (rootfs / "etc" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InvalidArgument):
        resolve_user(rootfs, "daemon", use_openat2=openat2)


def test_relative_escape_is_clamped_to_the_rootfs(tmp_path: Path):
    # ../../../../etc resolves to <rootfs>/etc under RESOLVE_IN_ROOT: here a
    # decoy outside the rootfs must not be read either.
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("decoy:x:4242:4242::/decoy:/bin/sh\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "real").mkdir(parents=True)
    (rootfs / "real" / "passwd").write_text("inside:x:7:7::/in:/bin/sh\n")
    (rootfs / "etc").symlink_to("../../../../../real")
    assert resolve_user(rootfs, "inside") == ResolvedUser(7, 7, [], "/in")
    with pytest.raises(InvalidArgument, match="unable to find user decoy"):
        resolve_user(rootfs, "decoy")


def test_absolute_symlink_inside_rootfs_resolves_in_scope(tmp_path: Path):
    # Docker's FollowSymlinkInScope semantics: /etc/passwd -> /lib/passwd means
    # <rootfs>/lib/passwd.
    rootfs = make_rootfs(tmp_path, passwd=None)
    (rootfs / "lib").mkdir()
    (rootfs / "lib" / "passwd").write_text("scoped:x:12:12::/s:/bin/sh\n")
    (rootfs / "etc" / "passwd").symlink_to("/lib/passwd")
    assert resolve_user(rootfs, "scoped") == ResolvedUser(12, 12, [], "/s")
    with pytest.raises(InvalidArgument, match="cannot read /etc/passwd"):
        resolve_user(rootfs, "scoped", use_openat2=False)


def test_fifo_passwd_is_refused_without_blocking(tmp_path: Path):
    rootfs = make_rootfs(tmp_path, passwd=None)
    os.mkfifo(rootfs / "etc" / "passwd")
    for openat2 in (True, False):
        with pytest.raises(InvalidArgument, match="not a regular file"):
            resolve_user(rootfs, "app", use_openat2=openat2)


def test_oversized_file_is_refused(tmp_path: Path):
    rootfs = make_rootfs(tmp_path)
    with pytest.raises(InvalidArgument, match="larger than"):
        read_rootfs_file(rootfs, "etc/passwd", limit=10)
    assert read_rootfs_file(rootfs, "etc/passwd") == PASSWD
    assert read_rootfs_file(rootfs, "etc/shadow") is None


def test_read_leaves_no_open_descriptors(tmp_path: Path):
    rootfs = make_rootfs(tmp_path)

    def into_rootfs() -> set[str]:
        # other threads of the test process may open fds meanwhile: count only ours
        out = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith(str(tmp_path)):
                out.add(target)
        return out

    for openat2 in (True, False):
        resolve_user(rootfs, "app", use_openat2=openat2)
        with pytest.raises(InvalidArgument):
            resolve_user(rootfs, "ghost", use_openat2=openat2)
    assert into_rootfs() == set()


# --- nothing but a bounded regular file is ever opened -------------------
# inotify reports IN_OPEN for every real open(2) of a watched inode, and none
# for an O_PATH open: the observable of "looked at, never opened"
# (tests/support/host.py's watch_opens). A device node as /etc/passwd needs
# mknod, hence root: tests/kernel/test_users_device_node.py.

@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Turn a call that blocks (a FIFO open) into a TimeoutError."""
    def expired(_sig, _frame):
        raise TimeoutError(f"blocked for more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_watch_opens_sees_a_real_open(tmp_path: Path):
    # the observable the tests below rely on
    rootfs = make_rootfs(tmp_path)
    with watch_opens(rootfs / "etc" / "passwd") as seen:
        assert read_rootfs_file(rootfs, "etc/passwd") == PASSWD
    assert seen and seen[0] & IN_OPEN


@pytest.mark.parametrize("openat2", MODES)
def test_fifo_passwd_is_never_opened(tmp_path: Path, openat2):
    rootfs = make_rootfs(tmp_path, passwd=None)
    fifo = rootfs / "etc" / "passwd"
    os.mkfifo(fifo)
    with watch_opens(fifo) as seen, deadline(10):
        with pytest.raises(InvalidArgument, match="/etc/passwd inside the container rootfs is not a regular file"):
            resolve_user(rootfs, "app", use_openat2=openat2)
    assert seen == [], "the FIFO was opened"


@pytest.mark.parametrize("openat2", MODES)
def test_oversized_passwd_is_refused_without_being_read(tmp_path: Path, openat2):
    rootfs = make_rootfs(tmp_path)
    big = rootfs / "etc" / "group"
    with open(big, "wb") as f:
        f.truncate(MAX_DB_BYTES + 1)  # sparse: costs no disk
    with watch_opens(big) as seen:
        with pytest.raises(InvalidArgument, match=f"/etc/group inside the container rootfs is larger than {MAX_DB_BYTES}"):
            resolve_user(rootfs, "app", use_openat2=openat2)
    assert seen == [], "the oversized file was opened"
    assert MAX_DB_BYTES <= 4 * 1024 * 1024


def test_absolute_symlink_to_a_host_path_resolves_inside_the_root(tmp_path: Path):
    # /etc/passwd -> <an absolute path that exists on the host>: the same path
    # below the rootfs is read, never the host's file.
    host_file = tmp_path / "host" / "passwd"
    host_file.parent.mkdir()
    host_file.write_text("decoy:x:4242:4242::/decoy:/bin/sh\n")
    rootfs = make_rootfs(tmp_path, passwd=None)
    inside = rootfs / str(host_file).lstrip("/")
    inside.parent.mkdir(parents=True)
    inside.write_text("inside:x:7:7::/in:/bin/sh\n")
    (rootfs / "etc" / "passwd").symlink_to(host_file)
    with watch_opens(host_file) as seen:
        assert resolve_user(rootfs, "inside") == ResolvedUser(7, 7, [], "/in")
        with pytest.raises(InvalidArgument, match="unable to find user decoy"):
            resolve_user(rootfs, "decoy")
        with pytest.raises(InvalidArgument, match="symlink in path refused"):
            resolve_user(rootfs, "inside", use_openat2=False)
    assert seen == [], "the host's file was opened"


def test_passwd_symlink_to_host_shadow_stays_inside(tmp_path: Path):
    # the host has /etc/shadow (with "daemon"); the rootfs has none
    assert Path("/etc/shadow").exists()
    rootfs = make_rootfs(tmp_path, passwd=None)
    (rootfs / "etc" / "passwd").symlink_to("/etc/shadow")
    with pytest.raises(InvalidArgument, match="unable to find user daemon"):
        resolve_user(rootfs, "daemon")
