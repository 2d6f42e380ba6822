"""Variable expansion as moby's shell lexer (frontend/dockerfile/shell)."""

import pytest

from client.dockerfile.shellwords import ExpansionError, process_word, process_words
from client.errors import InvalidArgument

ENV = {"foo": "bar", "empty": "", "spaced": "a b", "PWD": "/home"}


@pytest.mark.parametrize(
    "word, expected",
    [
        ("$foo", "bar"),
        ("${foo}", "bar"),
        ("${foo}_x", "bar_x"),
        ("$foo_x", ""),  # the name runs to the last word character
        ("$unset", ""),
        ("${unset}", ""),
        ("${foo:-d}", "bar"),
        ("${unset:-d}", "d"),
        ("${empty:-d}", "d"),
        ("${empty-d}", ""),
        ("${unset-d}", "d"),
        ("${foo:+alt}", "alt"),
        ("${empty:+alt}", ""),
        ("${empty+alt}", "alt"),
        ("${unset+alt}", ""),
        ("${unset:-$foo}", "bar"),
        ("${unset:-'a b'}", "a b"),
        ("${foo:?msg}", "bar"),
        ("'$foo'", "$foo"),
        ('"$foo"', "bar"),
        ("\\$foo", "$foo"),
        ('"\\$foo"', "$foo"),
        ('"\\a"', "\\a"),  # inside "…" only " $ and \ are escapable
        ('"a\\"b"', 'a"b'),
        ("a\\ b", "a b"),
        ("'a\\b'", "a\\b"),
        ("$", "$"),
        ("a$", "a$"),
        ("$ x", "$ x"),
        ("$1", ""),
        ("hello\\", "hello"),  # a lone trailing escape is dropped
        ("${PWD}/x", "/home/x"),
    ],
)
def test_process_word(word, expected):
    assert process_word(word, ENV) == expected


def test_docker_reference_examples():
    # Dockerfile reference, "Environment replacement"
    env = {"FOO": "/bar"}
    assert process_word("${FOO}", env) == "/bar"
    assert process_word("\\$FOO", env) == "$FOO"
    assert process_word("\\${FOO}", env) == "${FOO}"
    assert process_word("${variable:-word}", {}) == "word"
    assert process_word("${variable:+word}", {"variable": "x"}) == "word"
    assert process_word("${variable:+word}", {}) == ""


@pytest.mark.parametrize(
    "word, expected",
    [
        ("a b  c", ["a", "b", "c"]),
        ("$spaced", ["a", "b"]),
        ('"$spaced"', ["a b"]),
        ("x$spaced", ["xa", "b"]),
        ("a\\ b c", ["a b", "c"]),
        ("'a b' \"c d\"", ["a b", "c d"]),
        ("", []),
        ("  ", []),
    ],
)
def test_process_words(word, expected):
    assert process_words(word, ENV) == expected


def test_backtick_escape():
    assert process_word("`$foo", ENV, escape="`") == "$foo"
    assert process_word("c:\\dir", ENV, escape="`") == "c:\\dir"
    assert process_word('"`"x"', ENV, escape="`") == '"x'
    assert process_words("a` b", ENV, escape="`") == ["a b"]


@pytest.mark.parametrize(
    "word, message",
    [
        ("'abc", "matching single-quote"),
        ('"abc', "matching double-quote"),
        ("${foo", "missing '}'"),
        ("${foo:-x", "missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:x}", "syntax error: bad substitution"),
        ("${", "missing '}'"),
        ("${foo:", "missing '}'"),
        ("${foo:!x}", "unsupported modifier (:!)"),
        ("${foo!}", "unsupported modifier (!)"),
        ("${unset:?is required}", "unset: is required"),
        ("${empty:?}", "empty: is not allowed to be empty"),
        ("${unset?}", "unset: is not allowed to be unset"),
    ],
)
def test_expansion_errors(word, message):
    with pytest.raises(ExpansionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        process_word(word, ENV)


def test_empty_not_error_without_colon():
    assert process_word("${empty?x}", ENV) == ""


def test_errors_are_invalid_argument():
    assert issubclass(ExpansionError, InvalidArgument)


def test_bad_escape_token():
    with pytest.raises(ExpansionError):
        process_word("x", {}, escape="/")
