"""Deviations that did not fail a case: shown on the case as warnings, and counted in the summary.

Kinds (each a ``{"kind", "text", "line"}`` row of ``results.json``):

- ``result code without its line end`` and the session's other framing deviations, as the matcher recorded them;
- ``unexpected URC``: a line of one of the dialect's URC shapes that no step claimed; ``unknown URC``: an unsolicited
  line of no URC shape the dialect knows (another subsystem's, another command's information line). Not warned
  where the case says ``unexpected_urcs: ignore``, and a failure, not a warning, where it says ``fail``;
- ``plain ERROR where +CME ERROR is expected``: a step offering both (``< +CME ERROR: 552 | ERROR``) took ``ERROR``;
- ``slower than typical``: a response within its documented maximum, but slower than the typical time below.

Typical time (ASSUMPTION: the manuals give maximum response times only). For a command the dialect gives a documented
maximum (AT+QIOPEN 150 s, AT+QIACT 150 s, AT+QICLOSE <timeout> ...), typical is :data:`TYPICAL_FRACTION` of it; for any
other command, :data:`UNTIMED_TYPICAL_S` (Quectel's AT command manuals give 300 ms as the maximum response time of
their basic commands). Only responses timed by the documented maximum are judged: a step with its own ``[within ...]``
or ``[not before ...]``, a URC window and a polled answer say their own timing, and so does a result URC of a command
without a documented time (``+QPING: ...`` arrives as the pings do).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..dialects import Dialect, command_name
from ..transcript import Record
from ..transcript.model import Alternatives, Cleanup, ExpectLine, ExpectPrompt, Step
from .exchanges import reference_times

__all__ = ["TYPICAL_FRACTION", "UNTIMED_TYPICAL_S", "case_warnings", "typical_s"]

TYPICAL_FRACTION = 0.1  # of a documented maximum response time
UNTIMED_TYPICAL_S = 0.3  # for a command without a documented time of its own
_LINE_END = ("\\r", "\\n")


def typical_s(dialect: Dialect, command: str) -> tuple[float, float, str]:
    """(typical, documented maximum, where the maximum comes from) for the command line ``command``."""
    timing = dialect.response_time(command)
    maximum = timing.for_command(command)
    if any(t.command == timing.command for t in dialect.timings) and command_name(command):
        return TYPICAL_FRACTION * maximum, maximum, timing.source
    return min(UNTIMED_TYPICAL_S, maximum), maximum, dialect.default_response_source


def case_warnings(records: Sequence[Record], dialect: Dialect, *, steps: Sequence[Step] = (),
                  unexpected: Sequence[str] = (), unexpected_policy: str = "record") -> list[dict[str, Any]]:
    """The warnings of one case's run: ``records`` (the matcher's), the case's ``steps`` (for alternatives), the
    URCs left set aside (``unexpected``) and the case's ``unexpected_urcs`` policy."""
    out: list[dict[str, Any]] = []
    for rec in records:
        if rec.status == "warn":
            kind, _, why = (rec.detail.removeprefix("deviation: ") or "framing deviation").partition(" (")
            out.append(_warning(kind, f"{rec.observed!r}" + (f" ({why}" if why else ""), rec.step))
    if unexpected_policy == "record":
        for text in unexpected:
            kind = "unexpected URC" if dialect.is_urc(text) else "unknown URC"
            out.append(_warning(kind, text, None))
    out.extend(_plain_errors(records, steps))
    out.extend(_slow_answers(records, dialect))
    return out


def _warning(kind: str, text: str, step: Step | None, **extra: Any) -> dict[str, Any]:
    location = getattr(step, "location", None)
    line = getattr(getattr(location, "case_line", location), "line", None)
    return {"kind": kind, "text": text, "line": line, **extra}


def _plain_errors(records: Sequence[Record], steps: Sequence[Step]) -> Iterator[dict[str, Any]]:
    """A plain ``ERROR`` taken by alternatives that offered ``+CME ERROR`` too."""
    offered_cme = {id(branch[0]) for alt in _alternatives(steps) for branch in alt.branches
                   if any(_is_cme(b[0]) for b in alt.branches)}
    for rec in records:
        if rec.status == "ok" and rec.observed == "ERROR" and id(rec.step) in offered_cme:
            yield _warning("plain ERROR where +CME ERROR is expected", rec.observed, rec.step)


def _is_cme(step: Step) -> bool:
    return isinstance(step, ExpectLine) and step.source.split(" ", 1)[-1].strip().startswith("+CME ERROR")


def _alternatives(steps: Sequence[Step]) -> Iterator[Alternatives]:
    for step in steps:
        if isinstance(step, Alternatives):
            yield step
            for branch in step.branches:
                yield from _alternatives(branch)
        elif isinstance(step, Cleanup):
            yield from _alternatives(step.steps)


def _slow_answers(records: Sequence[Record], dialect: Dialect) -> Iterator[dict[str, Any]]:
    command = ""
    for rec, ref in zip(records, reference_times(records)):
        if rec.status == "sent":
            command = rec.observed
            while command.endswith(_LINE_END):
                command = command[:-2]
            if not command.upper().startswith("AT"):
                command = ""  # data after a prompt: the answer is timed by the command that asked for it
            continue
        step = rec.step
        if rec.status != "ok" or ref is None or not command or not isinstance(step, (ExpectLine, ExpectPrompt)):
            continue
        timing = step.timing
        if timing.within_s is not None or timing.not_before_s is not None or timing.until_s is not None or \
                getattr(step, "window", False):
            continue
        typical, maximum, source = typical_s(dialect, command)
        own_time = any(t.command == command_name(command) for t in dialect.timings)
        if isinstance(step, ExpectLine) and not dialect.is_final(rec.observed) and not own_time:
            continue  # a result URC of a command without a documented time comes when it comes
        after = (rec.t_ns - ref) / 1e9
        if typical < after <= maximum:
            yield _warning("slower than typical",
                           f"{rec.observed!r} {after:.3f} s after {command!r}: typical up to {typical:g} s, "
                           f"documented maximum {maximum:g} s ({source})", step, seconds=round(after, 6))
