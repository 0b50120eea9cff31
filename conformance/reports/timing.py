"""A timing diagram of a case, as SVG: the bytes both ways on a time axis from the flight log, the host's pauses,
the escape sequence's guard windows and the gaps between paced bytes marked.

Drawn for the cases where timing is the point (:func:`wants_diagram`): an escape (``~ pause`` before ``+++``) or
bytes sent with ``[gap ...]``. Plain SVG text, no plotting library: a browser (and Allure) shows it as it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise

from ..dialects import EscapeRules
from ..link import escape_bytes, read_log
from ..link.recorder import Event
from ..transcript import Record
from ..transcript.model import Alternatives, Cleanup, Pause, SendData, Step
from ..transcript.template import Template

__all__ = ["timing_svg", "wants_diagram"]

_W, _LEFT, _RIGHT = 1200, 130, 30
_TX_Y, _RX_Y = 90, 190
_ROWS_Y, _ROW_H = _RX_Y + 45, 22  # the measured windows, three rows per escape sequence
_BURST_NS = 2_000_000  # bytes closer than this are drawn as one burst with one label
_MARGIN_NS = 300_000_000  # shown before the case's first record
_LEAD_NS = 200_000_000  # the diagram starts this long before the host's last write before the first pause
_AFTER_NS = 100_000_000  # and after its last (not the reset that follows the case)
_LABEL_PX = 90  # a burst's label needs this much room after the last label on its lane
_X = Callable[[int], float]  # a time (monotonic ns) to its x coordinate


def wants_diagram(steps: Sequence[Step]) -> bool:
    """True for a case with a ``~ pause`` right before a send of ``+++`` (an escape), or a send with ``[gap ...]``."""
    flat = list(_flatten(steps))
    for before, step in zip([None, *flat], flat):
        if isinstance(step, SendData) and step.timing.gap_s is not None:
            return True
        if isinstance(step, SendData) and isinstance(before, Pause) and b"+++" in _literal(step.payload):
            return True
    return False


@dataclass
class _Burst:
    direction: str
    t0: int
    t1: int
    data: bytes


def timing_svg(log_path: str | os.PathLike[str], records: Sequence[Record], *, escape_rules: EscapeRules | None,
               title: str = "") -> str:
    """The SVG diagram of the part of the flight log at ``log_path`` that the case's ``records`` span."""
    times = [r.t_ns for r in records]
    _, events = read_log(log_path)
    start = min(times) - _MARGIN_NS if times else None
    end = max(times) + _AFTER_NS if times else None
    wire = [e for e in events if e.direction in ("tx", "rx") and e.data and
            (start is None or start <= e.t_ns <= end)]
    timed = [r.t_ns for r in records if isinstance(r.step, Pause) or
             (isinstance(r.step, SendData) and r.step.timing.gap_s is not None)]
    if timed:  # the part that matters: from the host's last write before the first pause or paced send
        before = [e.t_ns for e in wire if e.direction == "tx" and e.t_ns < min(timed)]
        cut = (max(before) if before else min(timed)) - _LEAD_NS
        wire = [e for e in wire if e.t_ns >= cut]
    if not wire:
        return _svg(title, ["<text x='20' y='60'>no bytes in the flight log for this case</text>"], 120)
    t_lo = min(e.t_ns for e in wire) - 100_000_000
    t_hi = max(e.t_ns for e in wire) + 100_000_000
    span = max(t_hi - t_lo, 1)

    def x(t: int) -> float:
        return _LEFT + (t - t_lo) / span * (_W - _LEFT - _RIGHT)

    body: list[str] = [
        f"<text x='10' y='{_TX_Y + 4}' class='lane'>host → module</text>",
        f"<text x='10' y='{_RX_Y + 4}' class='lane'>module → host</text>",
        f"<line x1='{_LEFT}' y1='{_TX_Y}' x2='{_W - _RIGHT}' y2='{_TX_Y}' class='lane-line'/>",
        f"<line x1='{_LEFT}' y1='{_RX_Y}' x2='{_W - _RIGHT}' y2='{_RX_Y}' class='lane-line'/>",
    ]
    body += _pauses(records, x)
    tx = [e for e in wire if e.direction == "tx"]
    windows, rows = _escape_windows(tx, escape_rules, x, t_hi)
    axis_y = _ROWS_Y + max(rows, 1) * _ROW_H + 10
    body += windows
    body += _axis(t_lo, t_hi, x, records[0].t_ns if records else t_lo, axis_y)
    body += _gaps(tx, x)
    last_label = {"tx": -1e9, "rx": -1e9}
    for burst in _bursts(wire):
        labelled = x(burst.t0) - last_label[burst.direction] >= _LABEL_PX  # crowded bursts keep their tooltip only
        if labelled:
            last_label[burst.direction] = x(burst.t0)
        body += _draw_burst(burst, x, labelled)
    return _svg(title, body, axis_y + 40)


def _flatten(steps: Sequence[Step]) -> list[Step]:
    out: list[Step] = []
    for step in steps:
        if isinstance(step, Alternatives):
            for branch in step.branches:
                out += _flatten(branch)
        elif isinstance(step, Cleanup):
            out += _flatten(step.steps)
        else:
            out.append(step)
    return out


def _literal(template: Template) -> bytes:
    return b"".join(p for p in template.parts if isinstance(p, bytes))


def _bursts(events: Sequence[Event]) -> list[_Burst]:
    """Consecutive events of one direction close in time, joined."""
    out: list[_Burst] = []
    for ev in sorted(events, key=lambda e: e.t_ns):
        last = out[-1] if out else None
        if last is not None and last.direction == ev.direction and ev.t_ns - last.t1 < _BURST_NS:
            last.t1, last.data = ev.t_ns, last.data + ev.data
        else:
            out.append(_Burst(ev.direction, ev.t_ns, ev.t_ns, ev.data))
    return out


def _draw_burst(burst: _Burst, x: _X, labelled: bool) -> list[str]:
    y = _TX_Y if burst.direction == "tx" else _RX_Y
    x0, x1 = x(burst.t0), max(x(burst.t1), x(burst.t0) + 3)
    label = escape_bytes(burst.data)
    label = label if len(label) <= 18 else label[:16] + "…"
    cls = "tx" if burst.direction == "tx" else "rx"
    ty = y - 14 if burst.direction == "tx" else y + 24
    out = [f"<rect x='{x0:.1f}' y='{y - 8}' width='{x1 - x0:.1f}' height='16' class='{cls}'>"
           f"<title>{escape(escape_bytes(burst.data))} ({len(burst.data)} bytes)</title></rect>"]
    if labelled:
        out.append(f"<text x='{x0:.1f}' y='{ty}' class='byte' transform='rotate(-20 {x0:.1f} {ty})'>"
                   f"{escape(label)}</text>")
    return out


def _pauses(records: Sequence[Record], x: _X) -> list[str]:
    """The host's ``~ pause`` intervals, shaded on the host's lane."""
    out = []
    for rec in records:
        if isinstance(rec.step, Pause):
            x0, x1 = max(x(rec.t_ns), _LEFT), x(rec.t_ns + int(rec.step.seconds * 1e9))
            if x1 <= x0:
                continue
            out.append(f"<rect x='{x0:.1f}' y='{_TX_Y - 40}' width='{x1 - x0:.1f}' height='30' class='pause'/>")
            out.append(f"<text x='{(x0 + x1) / 2:.1f}' y='{_TX_Y - 30}' class='note' text-anchor='middle'>"
                       f"~ pause {rec.step.seconds:g} s</text>")
    return out


def _escape_windows(tx: Sequence[Event], rules: EscapeRules | None, x: _X,
                    t_end: int) -> tuple[list[str], int]:
    """For each escape sequence the host sent: the silence before it, its own length, and the silence after it,
    each measured and held against the dialect's rules (green: kept, red: not)."""
    if rules is None:
        return [], 0
    out: list[str] = []
    rows = 0
    seq = rules.sequence
    # (time, byte, whether its write held escape bytes only): "+++" inside a write of data is data, not an escape
    flat = [(ev.t_ns, bytes([b]), set(ev.data) <= set(seq)) for ev in tx for b in ev.data]
    i = 0
    while i <= len(flat) - len(seq):
        window = flat[i:i + len(seq)]
        if b"".join(b for _, b, _ in window) != seq or not all(pure for _, _, pure in window):
            i += 1
            continue
        first, last = flat[i][0], flat[i + len(seq) - 1][0]
        before = flat[i - 1][0] if i > 0 else None
        after = flat[i + len(seq)][0] if i + len(seq) < len(flat) else None
        y = _ROWS_Y + rows * _ROW_H
        rows += 3
        if before is not None:
            gap = (first - before) / 1e9
            out += _window(x(before), x(first), y, f"guard before {gap:.3f} s (≥ {rules.guard_before_s:g} s)",
                           gap >= rules.guard_before_s)
        length = (last - first) / 1e9
        out += _window(x(first), max(x(last), x(first) + 2), y + _ROW_H,
                       f"{escape_bytes(seq)} in {length:.3f} s (≤ {rules.max_sequence_s:g} s)",
                       length <= rules.max_sequence_s)
        quiet_to = after if after is not None else t_end
        quiet = (quiet_to - last) / 1e9
        kept = quiet >= rules.guard_after_s
        text = (f"guard after {quiet:.3f} s (≥ {rules.guard_after_s:g} s)" if after is not None
                else f"guard after: no host input for the rest ({quiet:.3f} s shown)")
        shown_to = min(quiet_to, last + int(max(rules.guard_after_s, quiet) * 1e9))
        out += _window(x(last), x(shown_to), y + 2 * _ROW_H, text, kept)
        i += len(seq)
    return out, rows


def _window(x0: float, x1: float, y: int, text: str, kept: bool) -> list[str]:
    cls = "kept" if kept else "broken"
    return [f"<line x1='{x0:.1f}' y1='{y}' x2='{x1:.1f}' y2='{y}' class='{cls}' marker-start='url(#tick)' "
            f"marker-end='url(#tick)'/>",
            f"<text x='{x0 + 4:.1f}' y='{y - 4}' class='note {cls}-text'>{escape(text)}</text>"]


def _gaps(tx: Sequence[Event], x: _X) -> list[str]:
    """The time between single host bytes written apart (``[gap ...]``, or a paced line rate), above the lane."""
    out = []
    singles = [ev for ev in tx if len(ev.data) == 1]
    for a, b in pairwise(singles):
        gap = (b.t_ns - a.t_ns) / 1e9
        if 0.005 <= gap <= 5:  # spaced on purpose, not two unrelated writes
            out.append(f"<text x='{(x(a.t_ns) + x(b.t_ns)) / 2:.1f}' y='{_TX_Y + 26}' class='gap' "
                       f"text-anchor='middle'>{gap * 1000:.0f} ms</text>")
    return out


def _axis(t_lo: int, t_hi: int, x: _X, t0: int, y: int) -> list[str]:
    """A time axis in seconds from the case's first record, ticks at a round step."""
    span_s = (t_hi - t_lo) / 1e9
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 60, 120, 300, 1e9) if span_s / s <= 14)
    out = [f"<line x1='{_LEFT}' y1='{y}' x2='{_W - _RIGHT}' y2='{y}' class='axis'/>"]
    first = int((t_lo - t0) / 1e9 / step) * step
    tick = first
    while tick * 1e9 + t0 <= t_hi:
        t = t0 + int(tick * 1e9)
        if t >= t_lo:
            out.append(f"<line x1='{x(t):.1f}' y1='{y}' x2='{x(t):.1f}' y2='{y + 6}' class='axis'/>")
            out.append(f"<text x='{x(t):.1f}' y='{y + 20}' class='tick' text-anchor='middle'>{tick:g} s</text>")
        tick = round(tick + step, 6)
    return out


_STYLE = """
text { font-family: monospace; font-size: 11px; fill: #222; }
.lane { font-weight: bold; } .title { font-size: 13px; font-weight: bold; }
.lane-line, .axis { stroke: #888; stroke-width: 1; }
.tx { fill: #3b6fd8; } .rx { fill: #2a9d5c; }
.pause { fill: #f2e6b3; stroke: #d8c26a; }
.kept { stroke: #2a9d5c; stroke-width: 2; } .broken { stroke: #d33; stroke-width: 2; }
.kept-text { fill: #1e6e40; } .broken-text { fill: #c22; font-weight: bold; }
.note { font-size: 11px; } .gap { font-size: 10px; fill: #555; } .tick { font-size: 10px; fill: #555; }
"""


def _svg(title: str, body: list[str], height: int) -> str:
    head = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{height}' viewBox='0 0 {_W} {height}'>"
            f"<style>{_STYLE}</style><defs><marker id='tick' markerWidth='2' markerHeight='10' refX='1' refY='5'>"
            "<line x1='1' y1='0' x2='1' y2='10' stroke='#555'/></marker></defs>"
            f"<rect width='100%' height='100%' fill='white'/><text x='10' y='20' class='title'>{escape(title)}</text>")
    return "\n".join([head, *body, "</svg>"]) + "\n"
