""".dockerignore: reading the file and matching build-context paths.

Behaviour follows Docker (moby/patternmatcher and its ``ignorefile``
reader, as used by docker/cli and buildkit to filter a build context):

* the file is read line by line; a line whose first character is ``#`` is a
  comment, other lines are trimmed of surrounding whitespace and dropped when
  empty; a leading ``!`` marks an exception (re-inclusion); each pattern is
  cleaned with Go's ``filepath.Clean`` and a leading ``/`` is dropped, so
  patterns are relative to the context root (``/foo/bar`` == ``foo/bar``);
* patterns use Go's ``filepath.Match`` syntax (``*`` and ``?`` never match
  ``/``, ``[...]`` classes with ``^`` negation and ranges, ``\\`` escapes) plus
  ``**``, which matches any number of directories, zero included;
* a pattern that matches a directory also matches everything below it, and
  the last pattern that matches a path decides: an inclusion excludes it, an
  exception (``!``) sends it.

The caller's rule, not enforced here: the Dockerfile and the .dockerignore
file are always sent to the builder even when a pattern excludes them.

Deliberate departures, each on a malformed or pathological pattern only:
syntax errors (including an inverted range such as ``[z-a]``) are reported
when the matcher is built, where Docker reports some of them on first use;
``\\x`` always means a literal ``x`` (Docker hands it to a regexp, where
``\\d`` would be a digit class); ``*`` and ``?`` inside ``[...]`` are literal
members of the class.  The exclusion result is the "last matching pattern
wins" rule of ``MatchesOrParentMatches``; Docker's walk uses an incremental
variant that can disagree when one pattern repeats after an exception
(docker/buildx#850).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from client.errors import InvalidArgument

__all__ = [
    "DockerignoreError",
    "IgnorePattern",
    "IgnoreMatcher",
    "clean_path",
    "go_class",
    "read_dockerignore",
]


class DockerignoreError(InvalidArgument):
    """A .dockerignore pattern is malformed."""


# Go's unicode.IsSpace set, which strings.TrimSpace trims; Python's
# str.strip() would also trim U+001C..U+001F, which Go keeps.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
) + "\u2028\u2029\u202f\u205f\u3000"

_BOM = "\ufeff"


def clean_path(path: str) -> str:
    """Go's ``filepath.Clean`` for slash-separated paths.

    Repeated slashes collapse, ``.`` elements go, ``..`` eats the element
    before it (and is dropped at the root), trailing slashes go, and the
    empty result is ``"."``.
    """
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    body = "/".join(out)
    if rooted:
        return "/" + body
    return body or "."


def read_dockerignore(text: str) -> list[str]:
    """The patterns of a .dockerignore file, in order (ignorefile.ReadAll).

    Comments and blank lines are dropped, the rest trimmed and cleaned; an
    exception keeps its ``!`` directly before the cleaned pattern.  A lone
    ``!`` is kept as ``"!"``: building an :class:`IgnoreMatcher` rejects it.
    """
    patterns: list[str] = []
    for _, pattern in _read_lines(text):
        patterns.append(pattern)
    return patterns


def _read_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, cleaned pattern) for each pattern line."""
    if text.startswith(_BOM):
        text = text[len(_BOM):]
    result: list[tuple[int, str]] = []
    # bufio.Scanner's line split: on "\n" only, one trailing "\r" dropped.
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        # The comment test comes before trimming, as Docker's: " # x" is a
        # pattern, not a comment.
        if line.startswith("#"):
            continue
        pattern = line.strip(_GO_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_GO_SPACE)
        if pattern:
            pattern = clean_path(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        result.append((number, "!" + pattern if invert else pattern))
    return result


# How a compiled pattern is tested, as patternmatcher's fast paths: the
# choice is observable (``**file`` is a plain suffix test, so it matches
# "xfile"), hence kept.
_EXACT, _PREFIX, _SUFFIX, _REGEXP = "exact", "prefix", "suffix", "regexp"


def go_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate the ``[...]`` class opening at ``start`` to a Python class.

    Returns the regexp text and the index after the closing ``]``.  Syntax
    is Go's filepath.Match: optional ``^``, then one or more ``lo`` or
    ``lo-hi`` ranges whose ends may be ``\\``-escaped; an unescaped ``-`` or
    ``]`` where a range end is expected is an error, as is a missing ``]``.
    """
    i = start + 1
    negate = i < len(pattern) and pattern[i] == "^"
    if negate:
        i += 1
    members: list[str] = []

    def end_char() -> str:
        nonlocal i
        if i >= len(pattern) or pattern[i] in "-]":
            raise ValueError("bad range")
        if pattern[i] == "\\":
            i += 1
            if i >= len(pattern):
                raise ValueError("bad escape")
        ch = pattern[i]
        i += 1
        return ch

    while True:
        if i < len(pattern) and pattern[i] == "]" and members:
            i += 1
            break
        lo = end_char()
        if i < len(pattern) and pattern[i] == "-":
            i += 1
            hi = end_char()
            if lo > hi:
                raise ValueError("inverted range")
            members.append(re.escape(lo) + "-" + re.escape(hi))
        else:
            members.append(re.escape(lo))
    return "[" + ("^" if negate else "") + "".join(members) + "]", i


def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """patternmatcher's compile: the match type, and the regexp if any."""
    out = ["^"]
    kind = _EXACT
    i = 0
    token = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1  # "**/" is "**"
                if i >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        out.append(".*")
                        kind = _REGEXP
                else:
                    out.append("(.*/)?")
                    kind = _REGEXP
                if token == 0:
                    kind = _SUFFIX
            else:
                out.append("[^/]*")
                kind = _REGEXP
        elif ch == "?":
            out.append("[^/]")
            kind = _REGEXP
        elif ch == "\\":
            if i >= n:
                raise ValueError("trailing backslash")
            out.append(re.escape(pattern[i]))
            i += 1
            kind = _REGEXP
        elif ch == "[":
            text, i = go_class(pattern, i - 1)
            out.append(text)
            kind = _REGEXP
        elif ch == "]":
            # Go's Match takes a stray "]" literally.
            out.append(re.escape(ch))
            kind = _REGEXP
        else:
            out.append(re.escape(ch))
        token += 1
    if kind == _REGEXP:
        # Go's "$" is the end of text; Python's would also match before a
        # final newline.
        out.append(r"\Z")
        return kind, re.compile("".join(out))
    return kind, None


@dataclass(frozen=True)
class IgnorePattern:
    """One cleaned pattern; ``exception`` for a ``!`` line (re-inclusion)."""

    text: str
    exception: bool
    _kind: str = field(repr=False, compare=False)
    _regexp: re.Pattern[str] | None = field(repr=False, compare=False)

    @classmethod
    def parse(cls, raw: str) -> IgnorePattern:
        """Build from one pattern as patternmatcher.New takes it.

        Raises ValueError (the caller adds where the pattern came from).
        """
        text = clean_path(raw.strip(_GO_SPACE))
        exception = text.startswith("!")
        if exception:
            if len(text) == 1:
                raise ValueError('illegal exception pattern "!"')
            text = text[1:]
        kind, regexp = _compile(text)
        return cls(text, exception, kind, regexp)

    def matches(self, path: str) -> bool:
        """Whether ``path`` (slash-separated, used as given) matches this
        pattern itself, with no parent-directory rule."""
        if self._kind == _EXACT:
            return path == self.text
        if self._kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self._kind == _SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self._regexp is not None
        return self._regexp.match(path) is not None

    def matches_or_parent(self, path: str) -> bool:
        """Whether ``path`` or one of its parent directories matches."""
        if self.matches(path):
            return True
        parts = path.split("/")[:-1]
        return any(
            self.matches("/".join(parts[: k + 1])) for k in range(len(parts))
        )

    def could_match_below(self, directory: str) -> bool:
        """Conservatively, whether some path strictly below ``directory``
        could match this pattern itself.  True whenever unsure (``**``, a
        negated class, an escape): a False lets the walk skip the tree."""
        if "**" in self.text or "[^" in self.text or "\\" in self.text:
            return True
        segments = self.text.split("/")
        dirs = directory.split("/")
        if len(segments) <= len(dirs):
            return False
        for seg, name in zip(segments, dirs):
            try:
                one = IgnorePattern.parse(seg)
            except ValueError:
                return True  # a class split by "/": cannot tell
            if not one.matches(name):
                return False
        return True


class IgnoreMatcher:
    """An ordered .dockerignore pattern list, ready to filter a context.

    Build with :meth:`from_dockerignore` (errors name the file's line) or
    from a list of patterns (errors name the pattern).  A malformed pattern
    raises :class:`DockerignoreError`.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self._patterns: list[IgnorePattern] = []
        for raw in patterns:
            if not raw.strip(_GO_SPACE):
                continue
            try:
                self._patterns.append(IgnorePattern.parse(raw))
            except ValueError as exc:
                raise DockerignoreError(
                    f"invalid .dockerignore pattern {raw!r}: {exc}"
                ) from None

    @classmethod
    def from_dockerignore(cls, text: str) -> IgnoreMatcher:
        """Read a .dockerignore file's text and build its matcher."""
        matcher = cls([])
        for number, raw in _read_lines(text):
            try:
                matcher._patterns.append(IgnorePattern.parse(raw))
            except ValueError as exc:
                raise DockerignoreError(
                    f".dockerignore line {number}: invalid pattern {raw!r}: {exc}"
                ) from None
        return matcher

    @property
    def patterns(self) -> tuple[IgnorePattern, ...]:
        return tuple(self._patterns)

    @property
    def has_exceptions(self) -> bool:
        return any(p.exception for p in self._patterns)

    def is_excluded(self, path: str) -> bool:
        """Whether ``path`` (relative to the context root, slash-separated)
        is left out of the build context.

        The path is cleaned first; the context root itself (``.``) is never
        excluded.  The last pattern matching the path or one of its parents
        decides.
        """
        path = clean_path(path)
        if path == ".":
            return False
        excluded = False
        for pattern in self._patterns:
            # A pattern that cannot change the verdict needs no test.
            if pattern.exception != excluded:
                continue
            if pattern.matches_or_parent(path):
                excluded = not pattern.exception
        return excluded

    def can_skip_dir(self, path: str) -> bool:
        """Whether the walk may skip directory ``path`` and all below it.

        True only when the directory is excluded and no exception pattern
        could re-include anything beneath it.
        """
        path = clean_path(path)
        if not self.is_excluded(path):
            return False
        return not any(
            p.exception and p.could_match_below(path) for p in self._patterns
        )
