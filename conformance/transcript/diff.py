"""The failure report: expected and observed side by side, with times relative to the case's start."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .model import BlockLocation

if TYPE_CHECKING:
    from .model import Step
    from .records import Record

__all__ = ["render_records"]

_WIDTH = 52
_STATUS = {"ok": "  ", "fail": ">>", "sent": "  ", "echo": "  ", "aside": " ?", "info": "  ", "warn": " !"}


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def render_records(records: Sequence[Record], t0_ns: int, *, failed: Step | None = None,
                   flight_log: str = "") -> str:
    """A table with a row per record: file line, expected (the case's line), observed, time, and a note.

    Rows the module produced that no step asked for (echoes, URCs set aside) have no expected side. The failing row
    is marked ``>>``; ``?`` marks output set aside; ``!`` a deviation that did not fail the case. A block's steps show
    their own file and line (``blocks.yaml:12``) after the row of the case line that used the block.
    """
    rows = [("", "line", "expected (case file)", "observed (module / peer)", "time", "")]
    for rec in records:
        if rec.step is not None:
            where = rec.step.location
            # a block's line is in its own file: name it (the failing step's full location is printed below)
            line = f"{Path(where.path).name}:{where.line}" if isinstance(where, BlockLocation) else str(where.line)
            expected = rec.step.source if rec.status != "echo" else ""
        else:
            line, expected = "", ""
        observed = {"echo": f"(echo) {rec.observed}", "aside": rec.observed}.get(rec.status, rec.observed)
        note = rec.detail or ("FAILED" if rec.status == "fail" else "")
        rows.append((_STATUS.get(rec.status, "  "), line, _cut(expected, _WIDTH), _cut(observed, _WIDTH),
                     f"{(rec.t_ns - t0_ns) / 1e9:+.3f}s", note))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = []
    for r in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)) + ("  " + r[5] if r[5] else ""))
    if failed is not None:
        out.append(f"failing step: {failed.location}: {failed.source}")
    if flight_log:
        out.append(f"flight log: {flight_log}  (read it with: conformance log {flight_log})")
    return "\n".join(line.rstrip() for line in out)
