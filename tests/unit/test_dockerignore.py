"""client.dockerfile.ignore: Docker's .dockerignore rules.

The cases are facts taken from Docker's documentation (the .dockerignore
section of the Dockerfile reference) and from moby/patternmatcher's tests
(patternmatcher_test.go, ignorefile/ignorefile_test.go); each expectation is
theirs, exactly.
"""

from __future__ import annotations

import pytest

from client.dockerfile.ignore import (
    DockerignoreError,
    IgnoreMatcher,
    IgnorePattern,
    clean_path,
    read_dockerignore,
)
from client.errors import InvalidArgument

EXACT, INEXACT, FAIL = "exact", "inexact", "fail"

# patternmatcher_test.go TestMatches: (pattern, text, result).  "exact": the
# path matches the pattern itself; "inexact": only through a parent dir.
MATCHES = [
    ("**", "file", EXACT),
    ("**", "file/", EXACT),
    ("**/", "file", EXACT),
    ("**/", "file/", EXACT),
    ("**", "/", EXACT),
    ("**/", "/", EXACT),
    ("**", "dir/file", EXACT),
    ("**/", "dir/file", EXACT),
    ("**", "dir/file/", EXACT),
    ("**/", "dir/file/", EXACT),
    ("**/**", "dir/file", EXACT),
    ("**/**", "dir/file/", EXACT),
    ("dir/**", "dir/file", EXACT),
    ("dir/**", "dir/file/", EXACT),
    ("dir/**", "dir/dir2/file", EXACT),
    ("dir/**", "dir/dir2/file/", EXACT),
    ("**/dir", "dir", EXACT),
    ("**/dir", "dir/file", INEXACT),
    ("**/dir2/*", "dir/dir2/file", EXACT),
    ("**/dir2/*", "dir/dir2/file/", INEXACT),
    ("**/dir2/**", "dir/dir2/dir3/file", EXACT),
    ("**/dir2/**", "dir/dir2/dir3/file/", EXACT),
    ("**file", "file", EXACT),
    ("**file", "dir/file", EXACT),
    ("**/file", "dir/file", EXACT),
    ("**file", "dir/dir/file", EXACT),
    ("**/file", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file", EXACT),
    ("**/file*", "dir/dir/file.txt", EXACT),
    ("**/file*txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt", "dir/dir/file.txt", EXACT),
    ("**/file*.txt*", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt", "dir/dir/file.txt", EXACT),
    ("**/**/*.txt2", "dir/dir/file.txt", FAIL),
    ("**/*.txt", "file.txt", EXACT),
    ("**/**/*.txt", "file.txt", EXACT),
    ("a**/*.txt", "a/file.txt", EXACT),
    ("a**/*.txt", "a/dir/file.txt", EXACT),
    ("a**/*.txt", "a/dir/dir/file.txt", EXACT),
    ("a/*.txt", "a/dir/file.txt", FAIL),
    ("a/*.txt", "a/file.txt", EXACT),
    ("a/*.txt**", "a/file.txt", EXACT),
    ("a[b-d]e", "ae", FAIL),
    ("a[b-d]e", "ace", EXACT),
    ("a[b-d]e", "aae", FAIL),
    ("a[^b-d]e", "aze", EXACT),
    (".*", ".foo", EXACT),
    (".*", "foo", FAIL),
    ("abc.def", "abcdef", FAIL),
    ("abc.def", "abc.def", EXACT),
    ("abc.def", "abcZdef", FAIL),
    ("abc?def", "abcZdef", EXACT),
    ("abc?def", "abcdef", FAIL),
    ("**/foo/bar", "foo/bar", EXACT),
    ("**/foo/bar", "dir/foo/bar", EXACT),
    ("**/foo/bar", "dir/dir2/foo/bar", EXACT),
    ("abc/**", "abc", FAIL),
    ("abc/**", "abc/def", EXACT),
    ("abc/**", "abc/def/ghi", EXACT),
    ("**/.foo", ".foo", EXACT),
    ("**/.foo", "bar.foo", FAIL),
    ("a(b)c/def", "a(b)c/def", EXACT),
    ("a(b)c/def", "a(b)c/xyz", FAIL),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", EXACT),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        EXACT,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", EXACT),
    ("a\\\\", "a\\", EXACT),
    ("a\\*b", "a*b", EXACT),
]

# patternmatcher_test.go multiPatternTests: (patterns, text, excluded).
MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (
        ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        False,
    ),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
]

# patternmatcher_test.go matchTests (Go's filepath.Match cases): (pattern,
# path, matches); None for ErrBadPattern.
GO_MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a\u263ab", True),
    ("a[^a]b", "a\u263ab", True),
    ("a???b", "a\u263ab", False),
    ("a[^a][^a][^a]b", "a\u263ab", False),
    ("[a-\u03b6]*", "\u03b1", True),
    ("*[a-\u03b6]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[x-]", "-", None),
    ("[x-]", "z", None),
    ("[-x]", "x", None),
    ("[-x]", "-", None),
    ("[-x]", "a", None),
    ("\\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
    ("a[", "ab", None),
    ("*x", "xxx", True),
]


@pytest.mark.parametrize(("pattern", "text", "result"), MATCHES)
def test_pattern_matches(pattern: str, text: str, result: str) -> None:
    assert IgnoreMatcher([pattern]).is_excluded(text) is (result != FAIL)
    assert IgnorePattern.parse(pattern).matches(text) is (result == EXACT)


@pytest.mark.parametrize(("patterns", "text", "excluded"), MULTI)
def test_later_patterns_override_earlier(
    patterns: list[str], text: str, excluded: bool
) -> None:
    assert IgnoreMatcher(patterns).is_excluded(text) is excluded


@pytest.mark.parametrize(("pattern", "path", "result"), GO_MATCH)
def test_go_filepath_match_syntax(pattern: str, path: str, result: bool | None) -> None:
    if result is None:
        with pytest.raises(DockerignoreError):
            IgnoreMatcher([pattern])
    else:
        assert IgnoreMatcher([pattern]).is_excluded(path) is result


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*"], "fileutils.go", True),
        (["*.go"], "fileutils.go", True),
        (["!fileutils.go", "*.go"], "fileutils.go", True),
        (["docs", "!docs/README.md"], "docs/README.md", False),
        (["docs/", "!docs/README.md"], "docs/README.md", False),
        (["docs/*", "!docs/README.md"], "docs/README.md", False),
        (["*.go", "!fileutils.go"], "fileutils.go", False),
        (["*.go"], ".", False),
        ([], "/any/path/there", False),
    ],
)
def test_patternmatcher_simple_cases(
    patterns: list[str], path: str, excluded: bool
) -> None:
    assert IgnoreMatcher(patterns).is_excluded(path) is excluded


def test_lone_exclamation_is_an_error() -> None:
    with pytest.raises(DockerignoreError, match="illegal exception"):
        IgnoreMatcher(["!"])
    assert issubclass(DockerignoreError, InvalidArgument)


def test_malformed_pattern_is_an_error() -> None:
    with pytest.raises(DockerignoreError):
        IgnoreMatcher(["["])
    with pytest.raises(DockerignoreError):
        IgnoreMatcher(["[Local-Only]/"])


def test_patterns_are_trimmed_and_empty_ones_dropped() -> None:
    matcher = IgnoreMatcher(["docs", "config", ""])
    assert [p.text for p in matcher.patterns] == ["docs", "config"]
    assert not matcher.has_exceptions
    assert IgnoreMatcher(["docs", "  !docs/README.md"]).has_exceptions
    assert IgnoreMatcher(["docs", "!docs/README.md  "]).has_exceptions


def test_read_dockerignore_as_ignorefile_readall() -> None:
    content = (
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
        "! /inverted/abs/path\n!\n! "
    )
    assert read_dockerignore(content) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]
    assert read_dockerignore("") == []


def test_read_dockerignore_bom_crlf_and_clean() -> None:
    text = "\ufeff# c\r\n  foo/../bar//baz/  \r\n\t!./x/./y\r\n/\n"
    assert read_dockerignore(text) == ["bar/baz", "!x/y", "/"]


def test_from_dockerignore_names_the_line() -> None:
    with pytest.raises(DockerignoreError, match="line 3"):
        IgnoreMatcher.from_dockerignore("a\n# c\n!\n")
    with pytest.raises(DockerignoreError, match="line 2"):
        IgnoreMatcher.from_dockerignore("a\n[z\n")


def test_clean_path_as_go_filepath_clean() -> None:
    cases = {
        "": ".",
        ".": ".",
        "a/b/": "a/b",
        "a//b": "a/b",
        "a/./b": "a/b",
        "a/../b": "b",
        "../a": "../a",
        "a/../..": "..",
        "/..": "/",
        "//a": "/a",
        "/": "/",
    }
    for given, want in cases.items():
        assert clean_path(given) == want, given


DOCS_EXAMPLE = "# comment\n*/temp*\n*/*/temp*\ntemp?\n"


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("somedir/temporary.txt", True),
        ("somedir/temp", True),
        ("somedir/subdir/temporary.txt", True),
        ("tempa", True),
        ("tempb", True),
        ("temporary.txt", False),
        ("temp", False),
    ],
)
def test_docs_example(path: str, excluded: bool) -> None:
    assert IgnoreMatcher.from_dockerignore(DOCS_EXAMPLE).is_excluded(path) is excluded


def test_docs_root_is_working_and_root_directory() -> None:
    for text in ("/foo/bar", "foo/bar"):
        matcher = IgnoreMatcher.from_dockerignore(text)
        assert matcher.is_excluded("foo/bar")
        assert matcher.is_excluded("foo/bar/inner")
        assert not matcher.is_excluded("foo/baz")


def test_docs_double_star_go_files() -> None:
    matcher = IgnoreMatcher.from_dockerignore("**/*.go\n")
    assert matcher.is_excluded("main.go")
    assert matcher.is_excluded("a/b/c/x.go")
    assert not matcher.is_excluded("a/b/c/x.gox")


def test_docs_exceptions() -> None:
    m = IgnoreMatcher.from_dockerignore("*.md\n!README.md\n")
    assert m.is_excluded("CHANGES.md") and not m.is_excluded("README.md")

    m = IgnoreMatcher.from_dockerignore("*.md\n!README*.md\nREADME-secret.md\n")
    assert m.is_excluded("CHANGES.md")
    assert not m.is_excluded("README.md")
    assert not m.is_excluded("README-public.md")
    assert m.is_excluded("README-secret.md")

    m = IgnoreMatcher.from_dockerignore("*.md\nREADME-secret.md\n!README*.md\n")
    assert m.is_excluded("CHANGES.md")
    assert not m.is_excluded("README.md")
    assert not m.is_excluded("README-secret.md")


def test_can_skip_dir() -> None:
    m = IgnoreMatcher(["docs"])
    assert m.can_skip_dir("docs")
    assert not m.can_skip_dir("src")  # not excluded: walk into it

    m = IgnoreMatcher(["docs", "!docs/README.md"])
    assert not m.can_skip_dir("docs")
    assert m.can_skip_dir("docs/sub")  # the exception cannot reach below it

    m = IgnoreMatcher(["vendor", "node_modules", "!vendor/keep"])
    assert m.can_skip_dir("node_modules")
    assert not m.can_skip_dir("vendor")

    # An exception that could only match the directory's siblings or
    # ancestors does not pin it.
    m = IgnoreMatcher(["a", "!b/c", "!a", "a"])
    assert m.can_skip_dir("a")

    # Wildcards in an exception are honoured, "**" conservatively.
    m = IgnoreMatcher(["*", "!*/keep"])
    assert not m.can_skip_dir("x")
    m = IgnoreMatcher(["build", "!**/*.go"])
    assert not m.can_skip_dir("build")
    m = IgnoreMatcher(["build", "!src/*.go"])
    assert m.can_skip_dir("build")


def test_a_final_newline_is_part_of_the_name() -> None:
    # Go's regexp "$" ends the text; a name ending in a newline is another
    # name.
    assert not IgnoreMatcher(["*.txt"]).is_excluded("a.txt\n")
    assert IgnoreMatcher(["*.txt"]).is_excluded("a.txt")
