"""--user resolution against a rootfs's passwd/group, and confinement of the reads to the rootfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.runtime.users import ResolvedUser, read_rootfs_file, resolve_user

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
