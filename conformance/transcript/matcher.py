"""The matcher: runs a transcript's steps against a session, each with a deadline, and keeps what it saw.

Rules, in the order a received line is offered:

1. the step being waited for (an ordered ``<`` line, or ``< >`` the prompt, or one of alternatives);
2. a URC window still open (``<~``, or ``<?`` for a line that may come or not);
3. a line shaped like one of the dialect's URCs is set aside: a later step or window may still claim it, and what is
   left at the end is reported as unexpected (failing the case only where it says ``unexpected_urcs: fail``);
4. anything else is a mismatch, and the case fails at that step.

An echo of what the host sent is recorded and passed over. Timing is measured from the end of the last host write (or
the last peer action): ``within`` defaults to the documented maximum response time of the last command sent.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..dialects import Dialect
from ..errors import ActionFailed, ConformanceError, LinkClosed, ModuleFlooded, StepFailed
from ..link import escape_bytes, hold_silence
from ..session import Session, Token
from .model import (
    Action,
    Alternatives,
    Check,
    Cleanup,
    ExpectData,
    ExpectLine,
    ExpectPrompt,
    LineControl,
    Pause,
    SendData,
    SendLine,
    Silence,
    Step,
    UseBlock,
)
from .records import Record, show
from .records import described as described_step
from .template import CAPTURE_TYPES, Scope, Template
from .unsolicited import Aside, UnsolicitedLines, Window

__all__ = ["DEFAULT_ACTION_S", "ActionTarget", "Record", "Runner"]

DEFAULT_ACTION_S = 10.0  # how long a peer action may wait for what it checks, unless the line says [within D]
DEFAULT_POLL_S = 0.2  # how far apart a polled command is sent again, unless the line says [every D]
SILENCE_LINE_NS = 50_000_000  # during a silence, how long the rest of a line a window may claim has to come


class ActionTarget(Protocol):
    """What a peer or the network offers to ``!`` lines (implemented by the peers and network layers)."""

    def perform(self, verb: str, args: Sequence[object], *, deadline: float,
                context: Mapping[str, object]) -> str | None: ...


@dataclass
class Runner(UnsolicitedLines):
    """Runs steps against ``session``; ``scope`` holds variables and captures, ``context`` the action targets."""

    session: Session
    scope: Scope
    context: Mapping[str, Any] = field(default_factory=dict)
    unexpected_urcs: str = "record"
    flight_log: str = ""
    records: list[Record] = field(default_factory=list)
    t0_ns: int = field(default_factory=time.monotonic_ns)
    on_record: Callable[[Record], None] | None = None
    redact: Callable[[str], str] | None = None  # masks secrets in what is shown (rows, messages); matching sees all

    def __post_init__(self) -> None:
        self.dialect: Dialect = self.session.dialect
        self._ref_ns = self.session.last_tx_ns
        self._response_s = self.dialect.default_response_s
        self._response_why = self.dialect.default_response_source
        self._windows: list[Window] = []
        self._aside: list[Aside] = []
        self._payload: Token | None = None  # the data after the last matched data header, for a following <<
        self._line_end: bytes | None = None  # the line end of the last command, for a poll sending it again
        self._result_s: float | None = None  # the last command's wait for its result URC after its final result
        self._final_seen = False  # the last command's final result has come
        self._started: set[int] = set()  # the block uses reached, whose 'finally' steps are due

    # -- public ----------------------------------------------------------------------------------------------------

    def run(self, steps: Sequence[Step]) -> None:
        """Run ``steps`` in order; raise :class:`StepFailed` at the first unmet expectation.

        Blocks' 'finally' steps (:class:`Cleanup`) among them run even after a failure (each whose use was reached);
        the first failure is raised once they are done.
        """
        failure: ConformanceError | None = None
        for step in steps:
            if isinstance(step, Cleanup):
                failure = self._cleanup(step, failure)
                continue
            if failure is not None:
                continue
            try:
                self._check_windows()
                self._run_step(step)
            except ConformanceError as exc:
                failure = exc
        if failure is None:
            self.finish_windows()
        if failure is not None:
            raise failure

    def _cleanup(self, step: Cleanup, failure: ConformanceError | None) -> ConformanceError | None:
        """A block's 'finally' steps, if its use was reached; a failure here is kept unless one came first."""
        if step.use not in self._started:
            return failure
        self._add(Record(step, f"(finally of block {step.block})", time.monotonic_ns(), "info"))
        try:
            for inner in step.steps:
                self._check_windows()
                self._run_step(inner)
            self.finish_windows()
        except ConformanceError as exc:
            self._windows.clear()
            return failure or exc
        return failure

    def render(self, failed: Step | None = None) -> str:
        """The expected-vs-observed table of everything so far."""
        from .diff import render_records

        return render_records(self.records, self.t0_ns, failed=failed, flight_log=self.flight_log)

    # -- steps -----------------------------------------------------------------------------------------------------

    def _run_step(self, step: Step) -> None:
        try:
            if isinstance(step, SendLine):
                self._send_line(step)
            elif isinstance(step, SendData):
                self._send_data(step)
            elif isinstance(step, ExpectPrompt):
                self._expect(step, lambda tok: tok.kind == "prompt", "the data prompt '> '")
            elif isinstance(step, ExpectLine):
                if step.window:
                    self._open_window(step)
                else:
                    self._expect_line(step)
            elif isinstance(step, Alternatives):
                self._alternatives(step)
            elif isinstance(step, UseBlock):
                self._started.add(step.use)
                where = f", {Path(step.defined_at.path).name}:{step.defined_at.line}" if step.defined_at else ""
                self._add(Record(step, f"(block {step.block}{where})", time.monotonic_ns(), "info"))
            elif isinstance(step, ExpectData):
                self._expect_data(step)
            elif isinstance(step, Pause):
                self._add(Record(step, f"(host idle {step.seconds:g} s)", time.monotonic_ns(), "info"))
                hold_silence(step.seconds)
            elif isinstance(step, Silence):
                self._silence(step)
            elif isinstance(step, LineControl):
                (self.session.link.set_dtr if step.line == "dtr" else self.session.link.set_rts)(step.level)
                self._add(Record(step, f"({step.line.upper()} {'on' if step.level else 'off'})", time.monotonic_ns(),
                                 "sent"))
            elif isinstance(step, Action):
                self._action(step)
            elif isinstance(step, Check):
                self._check(step)
            else:  # pragma: no cover - the parser makes no other steps
                raise TypeError(step)
        except LinkClosed as exc:
            self._fail(step, f"the link closed: {exc.message}")
        except ModuleFlooded as exc:
            self._fail(step, exc.message)
        except KeyError as exc:
            self._fail(step, f"placeholder {{{exc.args[0]}}} has no value here (did the step that captures it run?)")

    def _send_line(self, step: SendLine) -> None:
        text = step.text.render_text(self.scope)
        self._line_end = step.timing.line_end
        self._send_line_text(text, step, gap_s=step.timing.gap_s, line_rate=step.timing.line_rate)

    def _send_line_text(self, text: str, step: Step | None = None, **pacing: Any) -> None:
        end = self.session.send_command(text, line_end=self._line_end, **pacing)
        self._ref_ns = end
        timing = self.dialect.response_time(text)
        self._response_s = timing.for_command(text)
        self._response_why = f"{timing.source} ({timing.command or 'default'} {self._response_s:g} s)"
        self._result_s = timing.result_s  # the wait for a result URC once the final result has come
        self._final_seen = False
        self._payload = None
        line_end = self._line_end if self._line_end is not None else self.session.line_end
        self._add(Record(step, text + escape_bytes(line_end), end, "sent"))
        self.session.link.note(f"step {step.location} sent" if step else f"poll: sent {text}")

    def _send_data(self, step: SendData) -> None:
        payload = step.payload.render(self.scope)
        end = self.session.send_data(payload, gap_s=step.timing.gap_s, line_rate=step.timing.line_rate)
        self._ref_ns = end
        self._payload = None
        self._add(Record(step, escape_bytes(payload), end, "sent"))
        self.session.link.note(f"step {step.location} sent {len(payload)} bytes")

    def _deadline(self, step: Step, within: float | None) -> tuple[int, str]:
        if within is not None:
            return self._ref_ns + int(within * 1e9), f"within {within:g} s (the case's own)"
        if self._final_seen and self._result_s is not None:  # a result URC after OK (BC660K +QIOPEN: 60 s)
            return (self._ref_ns + int(self._result_s * 1e9),
                    f"within {self._result_s:g} s, {self._response_why} and its result URC")
        return self._ref_ns + int(self._response_s * 1e9), f"within {self._response_s:g} s, {self._response_why}"

    def _expect_line(self, step: ExpectLine) -> None:
        regex, types = self._compile(step)
        described = repr(described_step(step))

        def matches(tok: Token) -> bool:
            return tok.kind == "line" and regex.fullmatch(tok.text) is not None

        if step.timing.until_s is not None:
            token = self._poll(step, matches, described)
        else:
            kind = self._kind_regex(step)
            token = self._expect(step, matches, described, kind.fullmatch if kind is not None else None)
        self._bind(regex.fullmatch(token.text), types)

    def _alternatives(self, step: Alternatives) -> None:
        """One of several answers: the first branch whose first line matches is taken, and the rest of it runs."""
        firsts = [branch[0] for branch in step.branches]

        def chosen(token: Token) -> int | None:
            for i, first in enumerate(firsts):
                if isinstance(first, ExpectPrompt):
                    if token.kind == "prompt":
                        return i
                elif isinstance(first, ExpectLine) and token.kind == "line" and \
                        self._compile(first)[0].fullmatch(token.text) is not None:
                    return i
            return None

        kinds = [k for k in (self._kind_regex(f) for f in firsts if isinstance(f, ExpectLine)) if k is not None]
        described = "one of " + ", ".join(repr(described_step(f)) for f in firsts)
        token = self._expect(step, lambda tok: chosen(tok) is not None, described,
                             lambda text: any(k.fullmatch(text) for k in kinds),
                             accept_as=lambda tok: firsts[chosen(tok) or 0])
        branch = step.branches[chosen(token) or 0]
        first = branch[0]
        if isinstance(first, ExpectLine):
            regex, types = self._compile(first)
            self._bind(regex.fullmatch(token.text), types)
        if len(step.branches) > 1:
            self.session.link.note(f"step {step.location}: alternative {step.branches.index(branch) + 1} of "
                                   f"{len(step.branches)} taken")
        for inner in branch[1:]:
            self._check_windows()
            self._run_step(inner)

    def _poll(self, step: ExpectLine, matches: Callable[[Token], bool], described: str) -> Token:
        """``[until D]``: read the answer; while it is not the expected line, let the response finish and send the
        last command again (as a host polls AT+QISEND=<id>,0 until nothing is unacknowledged)."""
        assert step.timing.until_s is not None
        end = self._ref_ns + int(step.timing.until_s * 1e9)
        every = step.timing.every_s if step.timing.every_s is not None else DEFAULT_POLL_S
        command = self.session.last_command
        polls = 1
        last = "(nothing)"
        while True:
            deadline, _ = self._deadline(step, None)
            token = self._next_line(min(deadline, end))
            if token is None:
                self._fail(step, f"expected {described}; no answer to poll {polls} of {command!r}"
                           f"{self._waiting_bytes()}")
            if matches(token):
                return self._accept(step, token, None)
            last = show(token)
            self._add(Record(step, last, token.t_last_ns, "info", f"poll {polls}: not yet"))
            if not self.dialect.is_final(token.text):
                self._finish_response(end)
            if time.monotonic_ns() + int(every * 1e9) >= end:
                self._fail(step, f"expected {described} within {step.timing.until_s:g} s of polling "
                           f"{command!r} ({polls} polls, every {every:g} s); the last answer was {last!r}")
            hold_silence(every)
            self._send_line_text(command, step)
            polls += 1

    def _next_line(self, deadline: int) -> Token | None:
        """The next line the module says that is not an echo, a window's URC or a URC set aside."""
        while (token := self.session.next_token(deadline)) is not None:
            if token.kind == "echo":
                self._add(Record(None, escape_bytes(token.raw.rstrip(b"\r\n")), token.t_last_ns, "echo"))
            elif token.kind == "data" or self._claim_by_window(token):
                continue
            elif token.kind == "line" and self._unsolicited(token):
                self._set_aside(token)
            else:
                return token
        return None

    def _finish_response(self, deadline: int) -> None:
        """Read the rest of a response up to its final result code."""
        while (token := self._next_line(deadline)) is not None:
            if token.kind == "line" and self.dialect.is_final(token.text):
                return

    def _expect(self, step: ExpectLine | ExpectPrompt | Alternatives, matches: Callable[[Token], bool],
                described: str, kind: Callable[[str], bool] | None = None,
                accept_as: Callable[[Token], Step] | None = None) -> Token:
        """Read until a token ``matches``; ``accept_as`` names the step that takes it (a branch of alternatives)."""
        deadline, why = self._deadline(step, step.timing.within_s)
        taker = accept_as or (lambda _token: step)
        for aside in self._aside:
            if matches(aside.token):
                self._aside.remove(aside)
                return self._accept(taker(aside.token), aside.token, aside.payload)
        while True:
            token = self.session.next_token(deadline)
            if token is None:
                self._fail(step, f"expected {described} {why}; nothing matching came"
                           f"{self._waiting_bytes()}")
            if token.kind == "echo":
                self._add(Record(None, escape_bytes(token.raw.rstrip(b'\r\n')), token.t_last_ns, "echo"))
                continue
            if token.kind == "data":
                self._add(Record(None, escape_bytes(token.raw), token.t_last_ns, "aside",
                                 "data no step checked"))
                continue
            if matches(token):
                return self._accept(taker(token), token, None)
            if self._claim_by_window(token):
                continue
            same_kind = kind is not None and kind(token.text.split(",", 1)[0])
            if token.kind == "line" and self._unsolicited(token) and not same_kind:
                self._set_aside(token)
                continue
            self._add(Record(step, show(token), token.t_last_ns, "fail"))
            self._fail(step, f"expected {described}, the module said {show(token)!r}", recorded=True)

    def _accept(self, step: Step, token: Token, payload: Token | None) -> Token:
        elapsed = (token.t_last_ns - self._ref_ns) / 1e9
        timing = getattr(step, "timing", None)
        if timing is not None and timing.not_before_s is not None and elapsed < timing.not_before_s:
            self._add(Record(step, show(token), token.t_last_ns, "fail"))
            self._fail(step, f"{show(token)!r} came {elapsed:.3f} s after the reference, earlier than "
                       f"not before {timing.not_before_s:g} s", recorded=True)
        if timing is not None and timing.within_s is not None and elapsed > timing.within_s:
            self._add(Record(step, show(token), token.t_last_ns, "fail"))
            self._fail(step, f"{show(token)!r} came {elapsed:.3f} s after the reference, later than "
                       f"within {timing.within_s:g} s", recorded=True)
        self._add(Record(step, show(token), token.t_last_ns, "ok"))
        self.session.link.note(f"step {step.location} matched")
        if token.kind == "line" and self.dialect.is_final(token.text):
            self._final_seen = True
        self._deviation(step, token)
        if token.kind == "line" and self.dialect.data_length(token.text) is not None:
            self._payload = payload if payload is not None else self.session.take_payload()
        return token

    def _expect_data(self, step: ExpectData) -> None:
        expected = step.payload.render(self.scope)
        deadline, why = self._deadline(step, step.timing.within_s)
        token = self._payload
        self._payload = None
        if token is None:
            token = self.session.read_data(len(expected), deadline)
        if token is None:
            got = self.session.unconsumed()
            self._fail(step, f"expected {len(expected)} bytes {escape_bytes(expected[:64])!r} {why}; "
                       f"{len(got)} came: {escape_bytes(got[:64])!r}")
        if token.raw != expected:
            self._add(Record(step, escape_bytes(token.raw), token.t_last_ns, "fail"))
            self._fail(step, _bytes_mismatch(expected, token.raw), recorded=True)
        self._accept(step, token, None)

    def _silence(self, step: Silence) -> None:
        """The module sends nothing for the step's time, but the lines open ``<~`` windows wait for: a window says its
        line may come in any order with the steps after it."""
        link = self.session.link
        watched = link.size
        t0 = time.monotonic_ns()
        end = t0 + int(step.seconds * 1e9)
        while link.wait_for_size(watched + 1, end):
            t = link.time_at(watched)
            if watched == self.session.cursor and self.session.absorb_late_lf():
                watched += 1  # the end of the line before the silence, written a moment after the rest of it
                continue
            if self._windows_took_all(t):
                watched = link.size
                continue
            link.wait_for_size(watched + 64, time.monotonic_ns() + 20_000_000)  # show a little more of what came
            got = link.data(watched, watched + 64)
            self._add(Record(step, escape_bytes(got), t, "fail"))
            self._fail(step, f"expected {step.seconds:g} s of silence; after {(t - t0) / 1e9:.3f} s the module "
                       f"sent {escape_bytes(got)!r}", recorded=True)
        self._add(Record(step, "(silent)", time.monotonic_ns(), "ok"))

    def _windows_took_all(self, since_ns: int) -> bool:
        """True if what arrived during a silence is whole lines the open windows claimed (the rest of a line has
        :data:`SILENCE_LINE_NS` to come)."""
        if not self._windows or self.session.mode != "command":
            return False
        link = self.session.link
        while True:
            for token in self.session.look_ahead():
                if self._claim_by_window(token):
                    self.session.take(token)
            if self.session.pending_tokens():
                return False  # a whole line no window wanted
            if not self.session.unconsumed().strip(b"\r\n"):
                return True
            if not link.wait_for_size(link.size + 1, since_ns + SILENCE_LINE_NS):
                return False  # a line that never ended

    def _action(self, step: Action) -> None:
        target = self.context.get(step.target)
        if target is None or not hasattr(target, "perform"):
            self._fail(step, f"no action target {step.target!r} on this bench")
        args = [self._arg(a) for a in step.args]
        within = step.timing.within_s if step.timing.within_s is not None else DEFAULT_ACTION_S
        t = time.monotonic_ns()
        try:
            note = target.perform(step.verb, args, deadline=time.monotonic() + within, context=self.context)
        except ActionFailed as exc:
            self._add(Record(step, exc.message, time.monotonic_ns(), "fail"))
            self._fail(step, exc.message, recorded=True)
        except ConformanceError:
            raise
        self._ref_ns = time.monotonic_ns()
        self._response_s = self.dialect.default_response_s
        self._response_why = self.dialect.default_response_source
        self._add(Record(step, note or "done", t, "ok"))
        self.session.link.note(f"step {step.location} {step.target} {step.verb}: {note or 'done'}")

    def _check(self, step: Check) -> None:
        left, right = step.left.render_text(self.scope), step.right.render_text(self.scope)
        a, b = _number(left), _number(right)
        ok = _OPS[step.op](a, b) if a is not None and b is not None else _OPS[step.op](left, right)
        shown = f"{left} {step.op} {right}"
        self._add(Record(step, shown, time.monotonic_ns(), "ok" if ok else "fail"))
        if not ok:
            self._fail(step, f"check failed: {shown}", recorded=True)

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _compile(self, step: ExpectLine) -> tuple[re.Pattern[str], dict[str, str]]:
        if step.regex is not None:
            return step.regex.compile(self.scope)
        assert step.text is not None
        regex, groups = step.text.to_regex(self.scope)
        return regex, {name: cap.type for name, cap in groups.items()}

    def _kind_regex(self, step: ExpectLine) -> re.Pattern[str] | None:
        """The expected line up to its first comma (``+QIOPEN: <id:int>``): a URC of that kind with other values is
        a wrong answer, not an unrelated URC to set aside."""
        if step.text is None:
            return None
        parts: list[Any] = []
        for part in step.text.parts:
            if isinstance(part, bytes) and b"," in part:
                parts.append(part.split(b",", 1)[0])
                break
            parts.append(part)
        regex, _ = Template(tuple(parts)).to_regex(self.scope)
        return regex

    def _bind(self, m: re.Match[str] | None, types: Mapping[str, str]) -> None:
        if m is None:
            return
        for name, value in m.groupdict().items():
            if value is None:
                continue
            convert = CAPTURE_TYPES[types[name]][1] if name in types else str
            self.scope.values[name] = convert(value)

    def _arg(self, arg: Template | int | float | str) -> object:
        if not isinstance(arg, Template):
            return arg
        if len(arg.parts) == 1 and not isinstance(arg.parts[0], bytes) and getattr(arg.parts[0], "path", None):
            return self.scope.lookup(arg.parts[0].path)  # type: ignore[union-attr]  # a lone {x}: its value as is
        return arg.render(self.scope)

    def _waiting_bytes(self) -> str:
        pending = self.session.pending_tokens()
        rest = self.session.unconsumed()
        bits = [repr(show(t)) for t in pending[:3]]
        if rest:
            bits.append(f"unparsed bytes {escape_bytes(rest[:80])!r}")
        aside = [repr(a.token.text) for a in self._aside]
        text = ""
        if bits:
            text += "; waiting in the buffer: " + ", ".join(bits)
        if aside:
            text += "; URCs set aside: " + ", ".join(aside)
        return text

    def _add(self, record: Record) -> None:
        if self.redact is not None:
            record.observed, record.detail = self.redact(record.observed), self.redact(record.detail)
        self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)

    def _fail(self, step: Step, message: str, *, recorded: bool = False) -> None:
        if not recorded:
            self._add(Record(step, "(nothing)", time.monotonic_ns(), "fail"))
        self.session.link.note(f"step {step.location} FAILED: {message}")
        if self.redact is not None:
            message = self.redact(message)
        raise StepFailed(message, step.location, report=self.render(failed=step))


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _bytes_mismatch(expected: bytes, got: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    lo = max(0, at - 16)
    return (f"data differs at byte {at} (of {len(expected)} expected, {len(got)} received): "
            f"expected ...{escape_bytes(expected[lo:at + 16])!r}, got ...{escape_bytes(got[lo:at + 16])!r}")
