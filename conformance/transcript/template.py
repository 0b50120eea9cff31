"""Text with holes: payload notation, placeholders, byte generators and typed captures.

One notation serves host lines, payloads, peer arguments and expected module lines (see docs/case-format.md):

- literal text; escapes ``\\r \\n \\t \\0 \\\\ \\xNN \\{ \\} \\< \\"``;
- control keys as the manuals write them: ``<Ctrl+Z>`` (0x1A), ``<ESC>`` (0x1B), ``<CR>``, ``<LF>``, any ``<Ctrl+A>``
  ... ``<Ctrl+Z>``;
- placeholders ``{name}`` / ``{peer.attr}`` filled from the case's variables, captures and needed peers;
- byte generators ``{pattern:1460}``, ``{bytes:0-255}``, ``{repeat:10:1A}``, and ``{hex:...}`` / ``{len:...}`` around
  any of them or a placeholder;
- in expected module lines only: typed captures ``<name:int>`` (also ``str``, ``ip``, ``hex``, ``any``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CaseFileError, Location

__all__ = [
    "CAPTURE_TYPES",
    "Capture",
    "Gen",
    "Scope",
    "Template",
    "Var",
    "parse_template",
    "to_bytes",
]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_VAR_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
_CTRL_RE = re.compile(r"ctrl[+-]([a-z\[])", re.IGNORECASE)
_NAMED_KEYS = {"esc": 0x1B, "cr": 0x0D, "lf": 0x0A, "nul": 0x00, "sub": 0x1A, "bs": 0x08, "tab": 0x09}
_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\x00", "\\": b"\\", "{": b"{", "}": b"}", "<": b"<",
            '"': b'"', ">": b">"}

# What a typed capture matches, in the manual's own notation <name:type>.
CAPTURE_TYPES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "int": (r"[+-]?\d+", int),
    "str": (r"[^\",\r\n]*", str),
    "ip": (r"\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+", str),
    "hex": (r"[0-9A-Fa-f]+", str),
    "any": (r".*?", str),
}


@dataclass(frozen=True)
class Var:
    """A placeholder ``{root.attr...}``."""

    path: tuple[str, ...]

    def __str__(self) -> str:
        return "{" + ".".join(self.path) + "}"


@dataclass(frozen=True)
class Gen:
    """A byte generator ``{name:arg}``; ``inner`` is the generator or placeholder that hex/len wrap."""

    name: str
    arg: str
    inner: Gen | Var | None = None

    def __str__(self) -> str:
        return "{" + f"{self.name}:{self.arg}" + "}"


@dataclass(frozen=True)
class Capture:
    """A typed capture ``<name:type>`` in an expected line."""

    name: str
    type: str


Part = bytes | Var | Gen | Capture


class Scope:
    """Where placeholders get their values: captures, case variables, and objects such as peers."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})

    def lookup(self, path: tuple[str, ...]) -> Any:
        """The value at ``path``; KeyError with the whole dotted name if any part is missing."""
        name = ".".join(path)
        if path[0] not in self.values:
            raise KeyError(name)
        value = self.values[path[0]]
        for attr in path[1:]:
            if isinstance(value, Mapping):
                if attr not in value:
                    raise KeyError(name)
                value = value[attr]
            elif hasattr(value, attr):
                value = getattr(value, attr)
            else:
                raise KeyError(name)
        return value


@dataclass(frozen=True)
class Template:
    """Parsed text with holes, and where it was written."""

    parts: tuple[Part, ...]
    location: Location | None = None

    def render(self, scope: Scope) -> bytes:
        """The bytes this template stands for in ``scope`` (captures render as their captured value)."""
        out = bytearray()
        for part in self.parts:
            if isinstance(part, bytes):
                out += part
            elif isinstance(part, Capture):
                out += to_bytes(scope.lookup((part.name,)))
            else:
                out += _expand(part, scope)
        return bytes(out)

    def render_text(self, scope: Scope) -> str:
        return self.render(scope).decode("latin-1")

    def roots(self) -> set[str]:
        """The first names of every placeholder, to check they can be filled."""
        names: set[str] = set()
        for part in self.parts:
            var = part.inner if isinstance(part, Gen) else part
            while isinstance(var, Gen):
                var = var.inner
            if isinstance(var, Var):
                names.add(var.path[0])
        return names

    def captures(self) -> list[Capture]:
        return [p for p in self.parts if isinstance(p, Capture)]

    def to_regex(self, scope: Scope) -> tuple[re.Pattern[str], dict[str, Capture]]:
        """A regular expression matching a whole line, with a named group per new capture.

        A capture whose name is already bound in ``scope`` must match its earlier value exactly.
        """
        pattern: list[str] = []
        groups: dict[str, Capture] = {}
        for part in self.parts:
            if isinstance(part, Capture):
                if part.name in scope.values or part.name in groups:
                    bound = scope.values.get(part.name)
                    pattern.append(re.escape(str(bound)) if part.name not in groups else f"(?P={part.name})")
                else:
                    groups[part.name] = part
                    pattern.append(f"(?P<{part.name}>{CAPTURE_TYPES[part.type][0]})")
            else:
                pattern.append(re.escape(Template((part,)).render(scope).decode("latin-1")))
        return re.compile("".join(pattern), re.DOTALL), groups

    def __str__(self) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, bytes):
                out.append(part.decode("latin-1"))
            elif isinstance(part, Capture):
                out.append(f"<{part.name}:{part.type}>")
            else:
                out.append(str(part))
        return "".join(out)


def to_bytes(value: Any) -> bytes:
    """A placeholder's value as bytes: bytes as they are, text as latin-1, anything else as its ``str``."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("latin-1")
    return str(value).encode("latin-1")


def parse_template(text: str, location: Location | None = None, *, keys: bool = True,
                   captures: bool = False) -> Template:
    """Parse ``text``: ``keys`` allows ``<Ctrl+Z>``-style keys, ``captures`` allows ``<name:type>`` captures.

    Raises :class:`CaseFileError` naming the column and what is wrong.
    """
    parts: list[Part] = []
    lit = bytearray()

    def fail(msg: str) -> CaseFileError:
        return CaseFileError(msg, location)

    def flush() -> None:
        if lit:
            parts.append(bytes(lit))
            lit.clear()

    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise fail("a lone '\\' at the end: write '\\\\' for a backslash")
            e = text[i + 1]
            if e == "x":
                hexdigits = text[i + 2:i + 4]
                if not re.fullmatch(r"[0-9A-Fa-f]{2}", hexdigits):
                    raise fail(f"'\\x{hexdigits}' is not a byte: write \\x and two hex digits, e.g. \\x1A")
                lit.append(int(hexdigits, 16))
                i += 4
                continue
            if e not in _ESCAPES:
                raise fail(f"unknown escape '\\{e}' (known: \\r \\n \\t \\0 \\\\ \\xNN \\{{ \\}} \\< \\\")")
            lit += _ESCAPES[e]
            i += 2
        elif c == "{":
            close = text.find("}", i)
            if close < 0:
                raise fail(f"'{{' at column {i + 1} is not closed: write \\{{ for a literal brace")
            flush()
            parts.append(_parse_placeholder(text[i + 1:close], fail))
            i = close + 1
        elif c == "}":
            raise fail(f"'}}' at column {i + 1} closes nothing: write \\}} for a literal brace")
        elif c == "<" and (keys or captures):
            close = text.find(">", i)
            inner = text[i + 1:close] if close > 0 else ""
            key = _key_byte(inner) if keys and close > 0 else None
            if key is not None:
                lit.append(key)
                i = close + 1
                continue
            m = re.fullmatch(rf"({_IDENT}):({_IDENT})", inner) if close > 0 else None
            if captures and m:
                if m.group(2) not in CAPTURE_TYPES:
                    raise fail(f"capture <{inner}>: unknown type {m.group(2)!r} "
                               f"(known: {', '.join(CAPTURE_TYPES)})")
                flush()
                parts.append(Capture(m.group(1), m.group(2)))
                i = close + 1
                continue
            if close > 0 and re.fullmatch(_IDENT, inner):
                hint = f"write <{inner}:int> (or str, ip, hex, any) to capture it" if captures else \
                    "keys are <Ctrl+Z>, <ESC>, <CR>, <LF>, <Ctrl+A>...; write \\< for a literal '<'"
                raise fail(f"<{inner}> is neither a key nor a capture: {hint}")
            lit += b"<"
            i += 1
        else:
            try:
                lit += c.encode("latin-1")
            except UnicodeEncodeError:
                raise fail(f"character {c!r} is not a byte: write it as \\xNN") from None
            i += 1
    flush()
    return Template(tuple(parts), location)


GENERATORS = ("pattern", "bytes", "repeat", "hex", "len")
_PATTERN_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _parse_placeholder(body: str, fail: Callable[[str], CaseFileError]) -> Var | Gen:
    name, sep, arg = body.partition(":")
    if sep and name in GENERATORS:
        if name in ("hex", "len"):
            return Gen(name, arg, _parse_placeholder(arg, fail))
        _check_generator(name, arg, fail)
        return Gen(name, arg)
    if _VAR_RE.fullmatch(body):
        return Var(tuple(body.split(".")))
    if sep:
        raise fail(f"{{{body}}}: unknown generator {name!r} (known: {', '.join(GENERATORS)})")
    raise fail(f"{{{body}}} is not a placeholder: use a name such as {{tcp_echo.port}}, or \\{{ for a literal brace")


def _check_generator(name: str, arg: str, fail: Callable[[str], CaseFileError]) -> None:
    if name == "pattern" and not re.fullmatch(r"\d+", arg):
        raise fail(f"{{pattern:{arg}}}: give a byte count, e.g. {{pattern:1460}}")
    if name == "bytes":
        m = re.fullmatch(r"(0x[0-9A-Fa-f]+|\d+)-(0x[0-9A-Fa-f]+|\d+)", arg)
        if not m or not 0 <= int(m.group(1), 0) <= int(m.group(2), 0) <= 255:
            raise fail(f"{{bytes:{arg}}}: give a range of byte values, e.g. {{bytes:0-255}}")
    if name == "repeat" and not re.fullmatch(r"\d+:[0-9A-Fa-f]{2}", arg):
        raise fail(f"{{repeat:{arg}}}: give a count and a hex byte, e.g. {{repeat:10:1A}}")


def _expand(part: Var | Gen, scope: Scope) -> bytes:
    if isinstance(part, Var):
        return to_bytes(scope.lookup(part.path))
    if part.name == "pattern":
        count = int(part.arg)
        reps = count // len(_PATTERN_ALPHABET) + 1
        return (_PATTERN_ALPHABET * reps)[:count]
    if part.name == "bytes":
        lo, hi = (int(x, 0) for x in part.arg.split("-"))
        return bytes(range(lo, hi + 1))
    if part.name == "repeat":
        count, byte = part.arg.split(":")
        return bytes([int(byte, 16)]) * int(count)
    assert part.inner is not None
    inner = _expand(part.inner, scope)
    if part.name == "hex":
        return inner.hex().upper().encode("ascii")
    return str(len(inner)).encode("ascii")  # len


def _key_byte(inner: str) -> int | None:
    m = _CTRL_RE.fullmatch(inner)
    if m:
        ch = m.group(1).upper()
        return 0x1B if ch == "[" else ord(ch) - 0x40
    return _NAMED_KEYS.get(inner.lower())
