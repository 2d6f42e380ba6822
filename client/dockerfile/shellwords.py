"""Variable expansion in Dockerfile words, as moby's shell lexer does it.

Follows ``frontend/dockerfile/shell/lex.go`` (``ProcessWord``,
``ProcessWords``): ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR-word}``,
``${VAR:+word}``, ``${VAR+word}``, ``${VAR:?msg}`` and ``${VAR?msg}``;
single quotes are literal, double quotes expand ``$`` and let the escape
token escape only ``"``, ``$`` and itself; outside quotes the escape token
makes the next character literal. The escape token is ``\\`` or `````
(the ``# escape=`` directive). An unset variable expands to the empty string.

This module is pure: it reads only the mapping it is given.
"""

from __future__ import annotations

from typing import List, Mapping, Optional

from client.errors import InvalidArgument

__all__ = ["ExpansionError", "Lexer", "process_word", "process_words"]

# moby's isSpecialParam: a single character name after ``$``.
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class ExpansionError(InvalidArgument):
    """A word could not be expanded (bad substitution, unclosed quote)."""


class _Words:
    """Word splitting as moby's wordsStruct: only unescaped, unquoted
    whitespace (literal or from an unquoted ``$VAR``) separates words."""

    def __init__(self) -> None:
        self.words: List[str] = []
        self.word: List[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word:
                self.words.append("".join(self.word))
                self.word = []
                self.in_word = False
            return
        self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word.append(ch)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        for ch in text:
            self.add_raw_char(ch)

    def result(self) -> List[str]:
        if self.in_word:
            self.words.append("".join(self.word))
            self.word = []
            self.in_word = False
        return self.words


class Lexer:
    """One expansion pass. ``raw_quotes`` / ``raw_escapes`` keep the quote
    and escape characters in the result (the parser uses them to find
    heredoc markers without losing how they were quoted)."""

    def __init__(
        self,
        escape: str = "\\",
        raw_quotes: bool = False,
        raw_escapes: bool = False,
    ) -> None:
        if escape not in ("\\", "`"):
            raise ExpansionError(f"invalid escape token {escape!r}: must be ` or \\")
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        result, _ = _Scan(self, word, env).run()
        return result

    def process_words(self, word: str, env: Mapping[str, str]) -> List[str]:
        _, words = _Scan(self, word, env).run()
        return words


class _Scan:
    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lx = lexer
        self.text = text
        self.pos = 0
        self.env = env

    def peek(self) -> Optional[str]:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def next(self) -> Optional[str]:
        ch = self.peek()
        if ch is not None:
            self.pos += 1
        return ch

    def run(self) -> "tuple[str, List[str]]":
        result, words, _ = self.process_stop_on(None)
        return result, words.result()

    def process_stop_on(self, stop: Optional[str]) -> "tuple[str, _Words, bool]":
        """Scan until ``stop`` (consumed) or the end; the bool says whether
        ``stop`` was found."""
        out: List[str] = []
        words = _Words()
        while True:
            ch = self.next()
            if ch is None:
                return "".join(out), words, stop is None
            if stop is not None and ch == stop:
                return "".join(out), words, True
            if ch == "'":
                tmp = self.single_quote()
                out.append(tmp)
                words.add_raw_string(tmp)
            elif ch == '"':
                tmp = self.double_quote()
                out.append(tmp)
                words.add_raw_string(tmp)
            elif ch == "$":
                tmp = self.dollar()
                out.append(tmp)
                words.add_string(tmp)
            elif ch == self.lx.escape:
                if self.lx.raw_escapes:
                    out.append(ch)
                    words.add_raw_char(ch)
                nxt = self.next()
                if nxt is None:
                    continue
                out.append(nxt)
                words.add_raw_char(nxt)
            else:
                out.append(ch)
                words.add_char(ch)

    def single_quote(self) -> str:
        out = ["'"] if self.lx.raw_quotes else []
        while True:
            ch = self.next()
            if ch is None:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out = ['"'] if self.lx.raw_quotes else []
        while True:
            ch = self.next()
            if ch is None:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            if ch == self.lx.escape:
                nxt = self.peek()
                if nxt is None:
                    continue  # a lone escape before the end is dropped
                if nxt in ('"', "$", self.lx.escape):
                    if self.lx.raw_escapes:
                        out.append(ch)
                    ch = self.next() or ""
            out.append(ch)

    def name(self) -> str:
        first = self.peek()
        if first is None:
            return ""
        if first.isdigit():
            digits = []
            while (c := self.peek()) is not None and c.isdigit():
                digits.append(self.next() or "")
            return "".join(digits)
        if first in _SPECIAL_PARAMS:
            return self.next() or ""
        chars = []
        while (c := self.peek()) is not None and (c.isalnum() or c == "_"):
            chars.append(self.next() or "")
        return "".join(chars)

    def word_until_brace(self) -> str:
        text, _, found = self.process_stop_on("}")
        if not found:
            raise ExpansionError("syntax error: missing '}'")
        return text

    def dollar(self) -> str:
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            return self.env.get(name, "")
        self.next()  # the brace
        if self.peek() is None:
            raise ExpansionError("syntax error: missing '}'")
        if self.peek() in ("{", "}", ":"):
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch is None:
            raise ExpansionError("syntax error: missing '}'")
        if ch == "}":
            return self.env.get(name, "")
        modifier = ch
        colon = ch == ":"
        if colon:
            ch = self.next()
            if ch is None:
                raise ExpansionError("syntax error: missing '}'")
            modifier += ch
        if ch not in ("-", "+", "?"):
            # moby also has the pattern forms ${VAR#pat}, ${VAR%pat} and
            # ${VAR/pat/repl}; barque does not, and says so rather than guess.
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        word = self.word_until_brace()
        value = self.env.get(name)
        # With the colon an empty value counts as unset, as in POSIX sh.
        is_set = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if is_set and value is not None else word
        if ch == "+":
            return word if is_set else ""
        if value is None:
            raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
        if not is_set:
            raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
        return value


def process_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expand ``word`` into one string, quotes removed, nothing split."""
    return Lexer(escape).process_word(word, env)


def process_words(word: str, env: Mapping[str, str], escape: str = "\\") -> List[str]:
    """Expand ``word`` and split it on unquoted whitespace (moby's
    ProcessWords, used for e.g. the arguments of a shell-form instruction)."""
    return Lexer(escape).process_words(word, env)
