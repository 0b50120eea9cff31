"""Text with holes: payload notation, placeholders, byte generators and typed captures.

One notation serves host lines, payloads, peer arguments and expected module lines (see docs/case-format.md):

- literal text; escapes ``\\r \\n \\t \\0 \\\\ \\xNN \\{ \\} \\< \\" \\|``;
- control keys as the manuals write them: ``<Ctrl+Z>`` (0x1A), ``<ESC>`` (0x1B), ``<CR>``, ``<LF>``, any ``<Ctrl+A>``
  ... ``<Ctrl+Z>``;
- placeholders ``{name}`` / ``{peer.attr}`` filled from the case's variables, captures and needed peers, with a
  default after ``|`` (``{bench.apn|internet}``) for a value that may be missing;
- byte generators ``{pattern:1460}``, ``{bytes:0-255}``, ``{repeat:10:1A}``, and ``{hex:...}`` / ``{len:...}`` around
  any of them, a placeholder, or quoted text (``{len:"hello"}``);
- in expected module lines only: typed captures ``<name:int>`` (also ``str``, ``ip``, ``hex``, ``any``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import CaseFileError, Location
from .limits import MAX_GENERATED_BYTES

__all__ = [
    "CAPTURE_TYPES",
    "Capture",
    "Const",
    "Gen",
    "Names",
    "Scope",
    "Template",
    "Var",
    "parse_placeholder",
    "parse_template",
    "placeholder_end",
    "to_bytes",
]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_VAR_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
_CTRL_RE = re.compile(r"ctrl[+-]([a-z\[])", re.IGNORECASE)
_NAMED_KEYS = {"esc": 0x1B, "cr": 0x0D, "lf": 0x0A, "nul": 0x00, "sub": 0x1A, "bs": 0x08, "tab": 0x09}
_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\x00", "\\": b"\\", "{": b"{", "}": b"}", "<": b"<",
            '"': b'"', ">": b">", "|": b"|"}

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
    """A placeholder ``{root.attr...}``, with the bytes to use when it has no value (``{bench.apn|internet}``)."""

    path: tuple[str, ...]
    default: bytes | None = None

    def __str__(self) -> str:
        tail = "" if self.default is None else "|" + self.default.decode("latin-1")
        return "{" + ".".join(self.path) + tail + "}"


@dataclass(frozen=True)
class Const:
    """A value fixed when the case is read: a block's parameter as the case gave it (``id=0``)."""

    value: Any
    name: str = ""

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Gen:
    """A byte generator ``{name:arg}``; ``inner`` is what hex/len wrap: a generator, a placeholder or quoted text."""

    name: str
    arg: str
    inner: Gen | Var | Const | Template | None = None

    def __str__(self) -> str:
        return "{" + f"{self.name}:{self.arg}" + "}"


@dataclass(frozen=True)
class Capture:
    """A typed capture ``<name:type>`` in an expected line."""

    name: str
    type: str


Part = bytes | Var | Const | Gen | Capture


class Names(Protocol):
    """How the names of a text are bound where it is read: a block renames its captures and binds its parameters."""

    def var(self, var: Var) -> Var | Const: ...

    def capture(self, name: str) -> str: ...


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

    def value_of(self, var: Var) -> Any:
        """The value of placeholder ``var``, or its default; KeyError if it has neither."""
        try:
            return self.lookup(var.path)
        except KeyError:
            if var.default is None:
                raise
            return var.default


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
                out += expand(part, scope)
        return bytes(out)

    def render_text(self, scope: Scope) -> str:
        return self.render(scope).decode("latin-1")

    def roots(self) -> set[str]:
        """The first names of every placeholder, to check they can be filled."""
        names: set[str] = set()
        for part in self.parts:
            names |= part_roots(part)
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
                pattern.append(capture_regex(part, scope, groups))
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


def capture_regex(part: Capture, scope: Scope, groups: dict[str, Capture]) -> str:
    """The regular expression for capture ``part``: its bound value, a back-reference, or a new named group."""
    if part.name in groups:
        return f"(?P={part.name})"
    if part.name in scope.values:
        return re.escape(str(scope.values[part.name]))
    groups[part.name] = part
    return f"(?P<{part.name}>{CAPTURE_TYPES[part.type][0]})"


def part_roots(part: Part | Template | None) -> set[str]:
    """The first names of the placeholders in ``part``."""
    if isinstance(part, Var):
        return {part.path[0]}
    if isinstance(part, Gen):
        return part_roots(part.inner)
    if isinstance(part, Template):
        return part.roots()
    return set()


def to_bytes(value: Any) -> bytes:
    """A placeholder's value as bytes: bytes as they are, text as latin-1, anything else as its ``str``."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("latin-1")
    return str(value).encode("latin-1")


def parse_template(text: str, location: Location | None = None, *, keys: bool = True,
                   captures: bool = False, names: Names | None = None) -> Template:
    """Parse ``text``: ``keys`` allows ``<Ctrl+Z>``-style keys, ``captures`` allows ``<name:type>`` captures;
    ``names`` binds placeholders and renames captures (inside a block).

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
                raise fail(f"unknown escape '\\{e}' (known: \\r \\n \\t \\0 \\\\ \\xNN \\{{ \\}} \\< \\\" \\|)")
            lit += _ESCAPES[e]
            i += 2
        elif c == "{":
            close = placeholder_end(text, i, fail)
            flush()
            part = parse_placeholder(text[i + 1:close], fail, location, names)
            if isinstance(part, Const):
                lit += to_bytes(part.value)  # a parameter's literal value is text like any other
            else:
                parts.append(part)
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
                parts.append(Capture(names.capture(m.group(1)) if names else m.group(1), m.group(2)))
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


def placeholder_end(text: str, start: int, fail: Callable[[str], CaseFileError]) -> int:
    """The index of the ``}`` closing the placeholder opened at ``text[start]``; quoted text (``{len:"a}b"}``) and
    escapes inside are passed over."""
    i, n = start + 1, len(text)
    quoted = re.match(r"\{(?:hex|len):\"", text[start:start + 6]) is not None
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"' and quoted:
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                raise fail(f"the quoted text of {text[start:start + 6]}... at column {start + 1} is not closed")
            i += 1
            continue
        if c == "}":
            return i
        if c == "{":
            break
        i += 1
    raise fail(f"'{{' at column {start + 1} is not closed: write \\{{ for a literal brace")


def parse_placeholder(body: str, fail: Callable[[str], CaseFileError], location: Location | None = None,
                      names: Names | None = None) -> Var | Const | Gen:
    """One placeholder's ``body`` (between the braces): a generator, or a name with an optional ``|default``."""
    name, sep, arg = body.partition(":")
    if sep and name in GENERATORS:
        if name in ("hex", "len"):
            if len(arg) >= 2 and arg.startswith('"') and arg.endswith('"'):
                return Gen(name, arg, parse_template(arg[1:-1], location, names=names))
            return Gen(name, arg, parse_placeholder(arg, fail, location, names))
        _check_generator(name, arg, fail)
        return Gen(name, arg)
    ref, bar, default = body.partition("|")
    if _VAR_RE.fullmatch(ref):
        fallback = None
        if bar:
            if "{" in default or "<" in default:
                raise fail(f"{{{body}}}: a default is plain text (no placeholder, key or capture in it)")
            fallback = parse_template(default, location, keys=False).render(Scope())
        var = Var(tuple(ref.split(".")), fallback)
        if names is None:
            return var
        try:
            return names.var(var)
        except CaseFileError as exc:
            if exc.location is None:
                raise fail(exc.message) from None
            raise
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
    if name in ("pattern", "repeat"):
        count = arg.split(":", 1)[0]
        if len(count) > 9 or int(count) > MAX_GENERATED_BYTES:
            raise fail(f"{{{name}:{arg}}}: {count} bytes is more than a generator makes (at most "
                       f"{MAX_GENERATED_BYTES})")


def expand(part: Var | Const | Gen | Template, scope: Scope) -> bytes:
    """The bytes of a placeholder, constant, generator or quoted text in ``scope``."""
    if isinstance(part, Var):
        return to_bytes(scope.value_of(part))
    if isinstance(part, Const):
        return to_bytes(part.value)
    if isinstance(part, Template):
        return part.render(scope)
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
    inner = expand(part.inner, scope)
    if part.name == "hex":
        return inner.hex().upper().encode("ascii")
    return str(len(inner)).encode("ascii")  # len


def _key_byte(inner: str) -> int | None:
    m = _CTRL_RE.fullmatch(inner)
    if m:
        ch = m.group(1).upper()
        return 0x1B if ch == "[" else ord(ch) - 0x40
    return _NAMED_KEYS.get(inner.lower())
