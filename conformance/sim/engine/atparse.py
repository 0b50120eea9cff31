"""Parsing one AT command line into calls, after ITU-T V.250 §5.2 (the syntax every module's manual builds on).

A line is ``AT`` followed by commands: basic ones (``E0``, ``V1``, ``&D1``, ``I``, ``O``) may follow each other
directly; extended ones (``+QIOPEN=...``) end at ``;`` or at the end of the line. Each extended command is a test
(``=?``), read (``?``), write (``=<params>``) or execution (no suffix) command. Spaces outside quotes are ignored.
Parameters are kept as written (quoted or not); the command handler checks their types and ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["AtSyntaxError", "Call", "Param", "parse_line", "split_params"]


class AtSyntaxError(ValueError):
    """The line is not well-formed AT syntax; ``name`` is the command where parsing stopped ('' if none)."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Param:
    """One parameter as written: ``text`` without the quotes; an omitted parameter is unquoted empty text."""

    text: str
    quoted: bool = False

    @property
    def omitted(self) -> bool:
        return not self.quoted and self.text == ""


@dataclass(frozen=True)
class Call:
    """One command of a line: ``name`` is ``+QIOPEN``, ``E``, ``&D``, ``S3`` or ``""`` (a bare ``AT``)."""

    name: str
    kind: str  # "test", "read", "write", "exec"
    params: tuple[Param, ...] = ()
    value: str = ""  # a basic command's digits: "1" for ATE1, "" for ATE

    def __str__(self) -> str:
        suffix = {"test": "=?", "read": "?", "exec": ""}.get(self.kind)
        if suffix is None:
            suffix = "=" + ",".join(f'"{p.text}"' if p.quoted else p.text for p in self.params)
        return f"AT{self.name}{self.value}{suffix}"


_EXTENDED_NAME = re.compile(r"[A-Z0-9!%\-./:_]+", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]*")


def parse_line(line: str) -> list[Call]:
    """Split a command line (without its CR) into calls; raise :class:`AtSyntaxError` if it is malformed."""
    text = _strip_spaces(line)
    if text[:2].upper() != "AT":
        raise AtSyntaxError("a command line starts with AT")
    body = text[2:]
    calls: list[Call] = []
    i = 0
    if not body:
        return [Call("", "exec")]
    while i < len(body):
        c = body[i]
        if c == ";":
            i += 1
            continue
        if c == "+":
            call, i = _parse_extended(body, i)
        elif c == "&" or c.isalpha():
            call, i = _parse_basic(body, i)
        else:
            raise AtSyntaxError(f"unexpected {c!r} at column {i + 3}")
        calls.append(call)
    return calls


def split_params(text: str, name: str = "") -> tuple[Param, ...]:
    """Split a write command's parameter text at commas outside double quotes."""
    params: list[Param] = []
    current: list[str] = []
    quoted = False
    in_quotes = False
    closed = False  # a quoted parameter ended: only a comma may follow
    for c in text:
        if in_quotes:
            if c == '"':
                in_quotes = False
                closed = True
            else:
                current.append(c)
        elif c == '"':
            if current or closed:
                raise AtSyntaxError("a quote in the middle of a parameter", name)
            in_quotes = quoted = True
        elif c == ",":
            params.append(Param("".join(current), quoted))
            current, quoted, closed = [], False, False
        else:
            if closed:
                raise AtSyntaxError("text after a closing quote", name)
            current.append(c)
    if in_quotes:
        raise AtSyntaxError("unterminated string", name)
    params.append(Param("".join(current), quoted))
    return tuple(params)


def _strip_spaces(line: str) -> str:
    # V.250 §5.1: spaces are ignored outside string constants
    out: list[str] = []
    in_quotes = False
    for c in line:
        if c == '"':
            in_quotes = not in_quotes
        if in_quotes or c not in " \t":
            out.append(c)
    return "".join(out)


def _parse_extended(body: str, i: int) -> tuple[Call, int]:
    m = _EXTENDED_NAME.match(body, i + 1)
    if not m:
        raise AtSyntaxError("an extended command needs a name")
    name = "+" + m.group(0).upper()
    i = m.end()
    if body.startswith("=?", i):
        return Call(name, "test"), _expect_end(body, i + 2, name)
    if body.startswith("?", i):
        return Call(name, "read"), _expect_end(body, i + 1, name)
    if body.startswith("=", i):
        end = _find_semicolon(body, i + 1, name)
        return Call(name, "write", split_params(body[i + 1:end], name)), end
    return Call(name, "exec"), _expect_end(body, i, name)


def _parse_basic(body: str, i: int) -> tuple[Call, int]:
    if body[i] == "&":
        if i + 1 >= len(body) or not body[i + 1].isalpha():
            raise AtSyntaxError("& needs a letter")
        name = "&" + body[i + 1].upper()
        i += 2
    else:
        name = body[i].upper()
        i += 1
    digits = _DIGITS.match(body, i)
    value = digits.group(0) if digits else ""
    i += len(value)
    if name == "S":
        # S-parameters: ATS3=13, ATS3?
        name, value = f"S{value}", ""
        if body.startswith("=?", i):
            return Call(name, "test"), i + 2
        if body.startswith("?", i):
            return Call(name, "read"), i + 1
        if body.startswith("=", i):
            v = _DIGITS.match(body, i + 1)
            assert v is not None
            return Call(name, "write", (Param(v.group(0)),)), v.end()
        return Call(name, "exec"), i
    if body.startswith("?", i):
        return Call(name, "read"), i + 1
    if body.startswith("=?", i):
        return Call(name, "test"), i + 2
    return Call(name, "exec", value=value), i


def _find_semicolon(body: str, i: int, name: str) -> int:
    in_quotes = False
    while i < len(body):
        c = body[i]
        if c == '"':
            in_quotes = not in_quotes
        elif c == ";" and not in_quotes:
            return i
        i += 1
    if in_quotes:
        raise AtSyntaxError("unterminated string", name)
    return i


def _expect_end(body: str, i: int, name: str) -> int:
    if i < len(body) and body[i] != ";":
        raise AtSyntaxError(f"unexpected {body[i]!r} after {name}", name)
    return i
