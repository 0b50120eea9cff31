"""Regular-expression lines with holes: ``< /\\+QIACT: 1,1,[13],"<ip:ip>"(,"[0-9A-Fa-f:]+")?/``.

Inside ``/.../`` the text is a Python regular expression matched against the whole line, and two things of the case
notation keep their meaning: a placeholder ``{name}`` (``{peer.host}``, a capture made earlier, ``{x|default}``)
stands for its value, matched literally; a typed capture ``<name:type>`` captures as on any expected line. A regex's
own braces stay what they are: ``{3}`` and ``{1,3}`` are repetitions, ``\\{`` a brace. Named groups ``(?P<name>...)``
capture text as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import CaseFileError, Location
from .template import (
    CAPTURE_TYPES,
    Capture,
    Const,
    Gen,
    Names,
    Scope,
    Var,
    capture_regex,
    expand,
    parse_placeholder,
    part_roots,
    placeholder_end,
)

__all__ = ["Pattern", "parse_pattern"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_QUANTIFIER = re.compile(r"\{\d*(?:,\d*)?\}")
_CAPTURE = re.compile(rf"<({_IDENT}):({_IDENT})>")
_GROUP = re.compile(rf"\(\?P(<|=)({_IDENT})([>)])")

PatternPart = str | Var | Const | Gen | Capture  # str: regular-expression text as written


@dataclass(frozen=True)
class Pattern:
    """A regular expression with placeholders and typed captures, completed at match time."""

    parts: tuple[PatternPart, ...]
    location: Location | None = None

    def compile(self, scope: Scope) -> tuple[re.Pattern[str], dict[str, str]]:
        """The expression with every placeholder's value (escaped) in place, and the type of each capture it makes
        (``str`` for a named group)."""
        out: list[str] = []
        groups: dict[str, Capture] = {}
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Capture):
                out.append(capture_regex(part, scope, groups))
            else:
                out.append(re.escape(expand(part, scope).decode("latin-1")))
        regex = re.compile("".join(out))
        return regex, {name: groups[name].type if name in groups else "str" for name in regex.groupindex}

    def roots(self) -> set[str]:
        names: set[str] = set()
        for part in self.parts:
            if not isinstance(part, (str, Capture)):
                names |= part_roots(part)
        return names

    def captures(self) -> set[str]:
        """The names this expression binds: typed captures and named groups."""
        names = {p.name for p in self.parts if isinstance(p, Capture)}
        for part in self.parts:
            if isinstance(part, str):
                names |= {m.group(2) for m in _GROUP.finditer(part) if m.group(1) == "<"}
        return names

    def __str__(self) -> str:
        return "/" + "".join(p if isinstance(p, str) else f"<{p.name}:{p.type}>" if isinstance(p, Capture)
                             else str(p) for p in self.parts) + "/"


def parse_pattern(body: str, location: Location | None = None, names: Names | None = None) -> Pattern:
    """Parse the text between the slashes of a regular-expression line; check it compiles."""

    def fail(msg: str) -> CaseFileError:
        return CaseFileError(msg, location)

    parts: list[PatternPart] = []
    raw: list[str] = []

    def flush() -> None:
        if raw:
            parts.append(_rename_groups("".join(raw), names))
            raw.clear()

    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == "\\":
            raw.append(body[i:i + 2])
            i += 2
        elif c == "{" and not _QUANTIFIER.match(body, i) and re.match(rf"\{{(?:{_IDENT})", body[i:]):
            close = placeholder_end(body, i, fail)
            flush()
            parts.append(parse_placeholder(body[i + 1:close], fail, location, names))
            i = close + 1
        elif c == "<" and (m := _CAPTURE.match(body, i)) is not None and not body[:i].endswith("(?P"):
            if m.group(2) not in CAPTURE_TYPES:
                raise fail(f"capture <{m.group(1)}:{m.group(2)}>: unknown type {m.group(2)!r} "
                           f"(known: {', '.join(CAPTURE_TYPES)})")
            flush()
            parts.append(Capture(names.capture(m.group(1)) if names else m.group(1), m.group(2)))
            i = m.end()
        else:
            raw.append(c)
            i += 1
    flush()
    pattern = Pattern(tuple(parts), location)
    _check_compiles(pattern, body, fail)
    return pattern


def _rename_groups(text: str, names: Names | None) -> str:
    """Named groups and back-references renamed as the block reading them says."""
    if names is None:
        return text
    return _GROUP.sub(lambda m: f"(?P{m.group(1)}{names.capture(m.group(2))}{m.group(3)}", text)


def _check_compiles(pattern: Pattern, body: str, fail: object) -> None:
    probe = []
    seen: set[str] = set()
    for part in pattern.parts:
        if isinstance(part, str):
            probe.append(part)
        elif isinstance(part, Capture):
            probe.append(f"(?P={part.name})" if part.name in seen else f"(?P<{part.name}>x)")
            seen.add(part.name)
        else:
            probe.append("x")  # any value, escaped, is a plain sequence of characters
    try:
        re.compile("".join(probe))
    except re.error as exc:
        raise fail(f"/{body}/: not a regular expression: {exc}") from None  # type: ignore[operator]
