"""What a case's run left (the matcher's records), as rows a report can keep: times, and a normalised text to compare
two runs by.

Normalising keeps what the module chose to say and drops what legitimately changes from run to run:

- in a line a step matched, a placeholder's text (a peer's address or port) becomes ``{name}``, and a captured
  value keeps only its shape: each run of digits becomes ``#`` (``10.77.0.1`` -> ``#.#.#.#``), so a value that
  changes is the same, while a new space, quote or separator in it is not;
- in any other line (a URC set aside, output no step asked for), the run's own values (peer addresses and ports,
  captured values of three characters or more) are replaced the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..link import escape_bytes
from ..transcript import Record, Scope
from ..transcript.model import Action, ExpectLine, SendData, SendLine, Step
from ..transcript.template import CAPTURE_TYPES, Capture, Template

__all__ = ["exchange_rows", "normalise_line", "reference_times", "shape"]

_DIGITS = re.compile(r"\d+")


def shape(value: str) -> str:
    """A captured value with each run of digits as ``#``: ``"10.77.0.1"`` -> ``"#.#.#.#"``."""
    return _DIGITS.sub("#", value)


def reference_times(records: Sequence[Record]) -> list[int | None]:
    """For each record, when what it answers began: the end of the last host write or peer action before it."""
    refs: list[int | None] = []
    ref: int | None = None
    for rec in records:
        refs.append(ref)
        if rec.status == "sent" or (isinstance(rec.step, Action) and rec.status == "ok"):
            ref = rec.t_ns
    return refs


def exchange_rows(records: Sequence[Record], t0_ns: int, scope: Scope | None = None) -> list[dict[str, Any]]:
    """One JSON-ready row per record: the case line, the step as written, what was observed, its status, the time
    since the case started (``t_s``) and since the host's last write or action (``after_s``), and ``normalised``."""
    known = _known_values(scope) if scope is not None else []
    rows = []
    for rec, ref in zip(records, reference_times(records)):
        step = rec.step
        location = getattr(step, "location", None)
        row: dict[str, Any] = {
            "line": getattr(getattr(location, "case_line", location), "line", None),
            "where": str(location) if location is not None else "",
            "step": step.source.strip() if step is not None else "",
            "kind": _kind(rec),
            "observed": rec.observed,
            "status": rec.status,
            "t_s": round((rec.t_ns - t0_ns) / 1e9, 6),
            "after_s": round((rec.t_ns - ref) / 1e9, 6) if ref is not None and rec.status != "sent" else None,
        }
        if rec.detail:
            row["detail"] = rec.detail
        row["normalised"] = normalise_line(rec.observed, step if rec.status in ("ok", "fail") else None, scope,
                                           known)
        rows.append(row)
    return rows


def normalise_line(observed: str, step: Step | None, scope: Scope | None,
                   known: Sequence[tuple[str, str]] = ()) -> str:
    """``observed`` (escaped as the records show it) with the run's own values taken out (see the module's doc)."""
    if isinstance(step, ExpectLine) and step.text is not None and scope is not None:
        done = _by_template(observed, step.text, scope)
        if done is not None:
            return done
    text = observed
    for value, name in known:
        text = text.replace(value, name)
    return text


def _kind(rec: Record) -> str:
    """What a row is, for a reader: ``host`` (sent), ``peer`` (an action), ``module`` (a line or data), ``urc``
    (set aside), ``echo``, ``note``."""
    if rec.status == "sent" or isinstance(rec.step, (SendLine, SendData)):
        return "host"
    if isinstance(rec.step, Action):
        return "peer"
    if rec.status == "echo":
        return "echo"
    if rec.status == "aside":
        return "urc" if "URC" in rec.detail else "module"
    if rec.status == "info":
        return "note"
    return "module"


def _by_template(observed: str, template: Template, scope: Scope) -> str | None:
    """The observed line rebuilt from the expected line's parts: literal text as the module said it, placeholders by
    name, captures by shape; None if the line does not fit the template (then the general rule applies)."""
    pattern: list[str] = []
    names: list[tuple[str, str]] = []  # group -> how it is written in the normalised line ("{x}" or "" for shape)
    for i, part in enumerate(template.parts):
        if isinstance(part, bytes):
            pattern.append(re.escape(escape_bytes(part)))
        elif isinstance(part, Capture):
            pattern.append(f"(?P<g{i}>{CAPTURE_TYPES[part.type][0]})")
            names.append((f"g{i}", ""))
        else:
            try:
                rendered = escape_bytes(Template((part,)).render(scope))
            except (KeyError, ValueError, TypeError):
                return None
            pattern.append(f"(?P<g{i}>{re.escape(rendered)})")
            names.append((f"g{i}", str(part)))
    m = re.fullmatch("".join(pattern), observed, re.DOTALL)
    if m is None:
        return None
    out, pos = [], 0
    for group, written in names:
        start, end = m.span(group)
        out.append(observed[pos:start])
        out.append(written or shape(m.group(group)))
        pos = end
    out.append(observed[pos:])
    return "".join(out)


def _known_values(scope: Scope) -> list[tuple[str, str]]:
    """The run's own values found in the scope (peer addresses and ports, captures), longest first, with the name
    each is shown as. Short values (``0``, ``1``) are left: they are connect IDs and codes more often than not."""
    pairs: dict[str, str] = {}
    for name, value in scope.values.items():
        if name in ("bench", "module"):  # the bench's values (secrets among them) and the module's description
            continue
        for path, item in _scalars(name, value):
            text = escape_bytes(item.encode("latin-1", "replace")) if isinstance(item, str) else str(item)
            if len(text) >= 3:
                pairs.setdefault(text, "{" + path + "}")
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def _scalars(name: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, bool):
        return
    if isinstance(value, (str, int)):
        yield name, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, (str, int)) and not isinstance(item, bool):
                yield f"{name}.{key}", item
    else:  # a peer: its address as a case writes it ({tcp_echo.host}, {tcp_echo.port})
        for attr in ("host", "port"):
            item = getattr(value, attr, None)
            if isinstance(item, (str, int)) and not isinstance(item, bool):
                yield f"{name}.{attr}", item
