"""Printing a flight log for a human: relative times, direction, bytes with the unprintable escaped."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from .recorder import Event, read_log

__all__ = ["escape_bytes", "format_events", "format_log"]

_NAMED = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x1A: "<Ctrl+Z>", 0x1B: "<ESC>", 0x5C: "\\\\"}
_ARROWS = {"rx": "<", "tx": ">", "note": "#"}


def escape_bytes(data: bytes) -> str:
    """``b'OK\\r\\n\\x1a'`` -> ``OK\\r\\n<Ctrl+Z>``: printable ASCII as is, the rest escaped as case files do."""
    out = []
    for b in data:
        if b in _NAMED:
            out.append(_NAMED[b])
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02X}")
    return "".join(out)


def format_events(events: Iterable[Event], t0_ns: int) -> Iterator[str]:
    """One line per event: ``+12.345678  <  \\r\\nOK\\r\\n``; a received line break starts a new output line."""
    for ev in events:
        stamp = f"{(ev.t_ns - t0_ns) / 1e9:+11.6f}"
        arrow = _ARROWS.get(ev.direction, "?")
        if ev.direction == "note":
            yield f"{stamp}  {arrow}  {ev.note}"
            continue
        text = escape_bytes(ev.data)
        yield f"{stamp}  {arrow}  {text}"


def format_log(path: str | os.PathLike[str]) -> Iterator[str]:
    """The whole log at ``path``, header first, events in time order, times relative to the recording's start.

    Raises :class:`~conformance.link.recorder.LogError` if ``path`` is not a flight log.
    """
    header, events = read_log(path)
    t0 = header.get("t0", 0)
    t0 = t0 if isinstance(t0, int) else 0
    described = ", ".join(f"{k}={v}" for k, v in header.items() if k not in ("atlog", "t0"))
    yield f"# {os.fspath(path)}: {described}"
    # a redacting recorder writes a held-back line when it is whole: sorting by time restores the order of events
    yield from format_events(sorted(events, key=lambda e: e.t_ns), t0)
