"""docker cp's path rules (cli/cppaths.py) against moby's pkg/archive/copy.go
cases, and the archive names both sides agree on."""

from __future__ import annotations

import pytest

from cli.cppaths import (
    CopyError,
    CopyInfo,
    archive_name,
    asserts_directory,
    link_target_path,
    prepare_archive_copy,
    preserve_trailing,
    split_cp_arg,
    split_path_dir_entry,
)
from cli.localtar import _rebase as local_rebase
from services.common.safetar.extract import _rebase
from services.runtime.engine.copy import _docker_base
from services.runtime.engine.copy import archive_name as runtime_archive_name


@pytest.mark.parametrize("arg, expected", [
    ("c:/etc/hosts", ("c", "/etc/hosts")),
    ("c:rel", ("c", "rel")),
    ("/abs:path", ("", "/abs:path")),
    ("./c:x", ("", "./c:x")),
    ("local", ("", "local")),
    ("-", ("", "-")),
    ("c:", ("c", "")),
])
def test_split_cp_arg(arg: str, expected: tuple[str, str]) -> None:
    assert split_cp_arg(arg) == expected


@pytest.mark.parametrize("path, expected", [
    ("/a/b", ("/a", "b")),
    ("/a/b/", ("/a", "b")),
    ("/a/b/.", ("/a/b", ".")),
    ("/", ("/", "/")),
    ("/.", ("/", ".")),
    ("b", (".", "b")),
    ("/a//b/../c", ("/a", "c")),
])
def test_split_path_dir_entry(path: str, expected: tuple[str, str]) -> None:
    assert split_path_dir_entry(path) == expected


def test_trailing_dot_and_separator() -> None:
    assert preserve_trailing("/x/d", "d/.") == "/x/d/."
    assert preserve_trailing("/x/d", "d/") == "/x/d/"
    assert preserve_trailing("/x/d", "d") == "/x/d"
    assert asserts_directory("/x/") and asserts_directory("/x/.") and not asserts_directory("/x")


@pytest.mark.parametrize("path, name", [
    ("/etc/hosts", "hosts"), ("/etc/", "etc"), ("/etc/.", "."), ("/", "."), ("", "."), ("rel/dir", "dir"),
])
def test_archive_name_is_the_same_on_both_sides(path: str, name: str) -> None:
    assert archive_name(path) == runtime_archive_name(path) == name


def test_stat_names_as_moby() -> None:
    assert [_docker_base(p) for p in ("/", "/etc/", "/etc/.", "etc/hosts")] == ["/", "etc", ".", "hosts"]


def test_link_target_path() -> None:
    assert link_target_path("/srv/link", "real") == "/srv/real"
    assert link_target_path("/srv/link", "/etc") == "/etc"
    assert link_target_path("/srv/link", "../x/./y") == "/x/y"


def test_prepare_archive_copy_cases() -> None:
    file_src, dir_src = CopyInfo("/s/f", True, False), CopyInfo("/s/d", True, True)
    # into an existing directory: unchanged
    assert prepare_archive_copy(file_src, CopyInfo("/t", True, True)) == ("/t", None)
    assert prepare_archive_copy(dir_src, CopyInfo("/t", True, True)) == ("/t", None)
    # over an existing file: a file renamed, a directory refused
    assert prepare_archive_copy(file_src, CopyInfo("/t/g", True, False)) == ("/t", "g")
    with pytest.raises(CopyError, match="^cannot copy directory$"):
        prepare_archive_copy(dir_src, CopyInfo("/t/g", True, False))
    # to a new name: renamed; a file to a new "dir/" refused
    assert prepare_archive_copy(dir_src, CopyInfo("/t/new")) == ("/t", "new")
    assert prepare_archive_copy(dir_src, CopyInfo("/t/new/")) == ("/t", "new")
    assert prepare_archive_copy(file_src, CopyInfo("/t/new")) == ("/t", "new")
    with pytest.raises(CopyError, match="^no such directory$"):
        prepare_archive_copy(file_src, CopyInfo("/t/new/"))


@pytest.mark.parametrize("name, old, new, expected", [
    (b"hosts", b"hosts", b"h2", b"h2"),
    (b"d/", b"d", b"e", b"e/"),
    (b"d/sub/f", b"d", b"e", b"e/sub/f"),
    (b"./", b".", b"new", b"new"),
    (b"./a/b", b".", b"new", b"new/a/b"),
    (b"other/x", b"d", b"e", b"other/x"),
    (b"/d/x", b"d", b"e", b"e/x"),
])
def test_rebase_both_sides(name: bytes, old: bytes, new: bytes, expected: bytes) -> None:
    assert _rebase(name, old, new) == expected
    local = local_rebase(name.decode(), old.decode(), new.decode())
    assert local.rstrip("/") == expected.decode().rstrip("/")


def test_local_source_links_resolved_as_moby(tmp_path) -> None:
    from cli.cp import _source_info

    (tmp_path / "real" / "dir").mkdir(parents=True)
    (tmp_path / "ln").symlink_to(tmp_path / "real" / "dir")
    followed = _source_info(f"{tmp_path}/ln", True)
    assert (followed.path, followed.is_dir, followed.rebase_name) == (f"{tmp_path}/real/dir", True, "ln")
    kept = _source_info(f"{tmp_path}/ln", False)
    assert (kept.path, kept.is_dir, kept.rebase_name) == (f"{tmp_path}/ln", False, "")
    slash = _source_info(f"{tmp_path}/ln/", False)
    assert (slash.path, slash.is_dir, slash.rebase_name) == (f"{tmp_path}/real/dir/", True, "ln")
    dot = _source_info(f"{tmp_path}/ln/.", False)
    assert (dot.path, dot.is_dir) == (f"{tmp_path}/real/dir/.", True)
