"""Lines a step did not ask for: URC windows (``<~``), optional lines (``<?``), URCs set aside for later steps, and
what is left over at the end (the case's ``unexpected_urcs`` policy).

A mixin of the :class:`~conformance.transcript.matcher.Runner`: it uses the runner's state (session, dialect, scope,
windows, lines set aside) and its helpers (deadlines, compiling an expected line, binding captures, recording).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import StepFailed
from ..link import escape_bytes
from ..session import Token
from .model import ExpectLine, Step
from .records import Record, described, show

if TYPE_CHECKING:
    from ..dialects import Dialect
    from ..session import Session

__all__ = ["Aside", "UnsolicitedLines", "Window"]


@dataclass
class Window:
    """A ``<~`` or ``<?`` line waiting for its line, in any order with the steps after it."""

    step: ExpectLine
    deadline_ns: int | None  # None: an optional line without [within D] may come until the transcript ends
    ref_ns: int
    satisfied: bool = False


@dataclass
class Aside:
    """A URC no step has claimed yet (and the data that came with it)."""

    token: Token
    payload: Token | None = None


class UnsolicitedLines:
    """The runner's handling of what the module says unasked."""

    session: Session
    dialect: Dialect
    records: list[Record]
    unexpected_urcs: str
    _windows: list[Window]
    _aside: list[Aside]
    _ref_ns: int

    if TYPE_CHECKING:  # the runner's own, used here
        def _add(self, record: Record) -> None: ...
        def _fail(self, step: Step, message: str, *, recorded: bool = False) -> None: ...
        def _deadline(self, step: Step, within: float | None) -> tuple[int, str]: ...
        def _compile(self, step: ExpectLine) -> tuple[re.Pattern[str], dict[str, str]]: ...
        def _bind(self, m: re.Match[str] | None, types: Mapping[str, str]) -> None: ...
        def _waiting_bytes(self) -> str: ...
        def render(self, failed: Step | None = None) -> str: ...

    def finish_windows(self) -> None:
        """Wait for the URC windows still open, each until its deadline (an optional line without one is judged by
        what has come by now)."""
        if any(w.deadline_ns is None for w in self._windows) and self.session.mode == "command":
            for token in self.session.look_ahead():
                if self._claim_by_window(token):
                    self.session.take(token)
        for window in list(self._windows):
            while not window.satisfied:
                token = None
                if window.deadline_ns is not None and self.session.mode == "command":
                    token = self.session.next_token(window.deadline_ns)
                if token is None:
                    self._fail_window(window)
                    break
                self._offer_unasked(token)
        self._windows.clear()

    def unexpected(self) -> list[Token]:
        """URCs set aside that no step claimed."""
        return [a.token for a in self._aside]

    def check_unexpected(self) -> None:
        """Apply the case's policy for unexpected URCs (call after the transcript)."""
        self.session.look_ahead()
        for token in self.session.pending_tokens():
            if token.kind == "line" and self._unsolicited(token):
                self.session.take(token)
                self._set_aside(token)
        left = self.unexpected()
        if left and self.unexpected_urcs == "fail":
            shown = ", ".join(repr(t.text) for t in left)
            raise StepFailed(f"unexpected URC(s): {shown} (the case says unexpected_urcs: fail)",
                             report=self.render())

    def _open_window(self, step: ExpectLine) -> None:
        deadline: int | None
        if step.optional and step.timing.within_s is None:
            deadline = None  # it may come until the transcript ends
        else:
            deadline, _ = self._deadline(step, step.timing.within_s)
        window = Window(step, deadline, self._ref_ns)
        self._add(Record(step, "(optional: may come)" if step.optional else "(window open)", time.monotonic_ns(),
                         "info"))
        for aside in self._aside:
            if self._window_matches(window, aside.token):
                self._aside.remove(aside)
                self._satisfy(window, aside.token)
                return
        self._windows.append(window)

    def _window_matches(self, window: Window, token: Token) -> bool:
        if token.kind != "line":
            return False
        regex, _ = self._compile(window.step)
        return regex.fullmatch(token.text) is not None

    def _satisfy(self, window: Window, token: Token) -> None:
        regex, types = self._compile(window.step)
        elapsed = (token.t_last_ns - window.ref_ns) / 1e9
        nb = window.step.timing.not_before_s
        if nb is not None and elapsed < nb:
            self._add(Record(window.step, show(token), token.t_last_ns, "fail"))
            self._fail(window.step, f"{show(token)!r} came {elapsed:.3f} s after the reference, earlier than "
                       f"not before {nb:g} s", recorded=True)
        window.satisfied = True
        if window in self._windows:
            self._windows.remove(window)
        self._bind(regex.fullmatch(token.text), types)
        self._add(Record(window.step, show(token), token.t_last_ns, "ok",
                         "optional: came" if window.step.optional else "in its window"))
        self.session.link.note(f"step {window.step.location} matched in its window")

    def _claim_by_window(self, token: Token) -> bool:
        for window in list(self._windows):
            if self._window_matches(window, token):
                self._satisfy(window, token)
                return True
        return False

    def _check_windows(self) -> None:
        if not self._windows:
            return
        for token in self.session.look_ahead():
            if self._claim_by_window(token):
                self.session.take(token)
        now = time.monotonic_ns()
        for window in list(self._windows):
            if window.deadline_ns is not None and window.deadline_ns <= now:
                self._fail_window(window)

    def _fail_window(self, window: Window) -> None:
        """A window whose time is up: a failure, or for an optional line the record that it did not come."""
        if window.step.optional:
            self._windows.remove(window)
            self._add(Record(window.step, "(did not come)", time.monotonic_ns(), "info", "optional: did not come"))
            self.session.link.note(f"step {window.step.location}: the optional line did not come")
            return
        assert window.deadline_ns is not None
        within = (window.deadline_ns - window.ref_ns) / 1e9
        self._fail(window.step, f"expected {described(window.step)!r} "
                   f"within {within:g} s of line {window.step.location.line}; it did not come"
                   f"{self._waiting_bytes()}")

    def _offer_unasked(self, token: Token) -> None:
        """A token read while only windows are waiting: a window's, a URC set aside, or unasked output."""
        if token.kind == "echo":
            self._add(Record(None, escape_bytes(token.raw.rstrip(b'\r\n')), token.t_last_ns, "echo"))
        elif self._claim_by_window(token):
            return
        elif token.kind == "line" and self._unsolicited(token):
            self._set_aside(token)
        else:
            self._add(Record(None, show(token), token.t_last_ns, "aside", "output no step asked for"))

    def _set_aside(self, token: Token) -> None:
        payload = None
        if self.dialect.data_length(token.text) is not None:
            payload = self.session.take_payload()
        self._aside.append(Aside(token, payload))
        self._add(Record(None, show(token), token.t_last_ns, "aside", "URC set aside"))
        self.session.link.note(f"URC set aside: {token.text}")
        self._deviation(None, token)

    @property
    def deviations(self) -> list[Record]:
        """What the module did that departs from the standard framing without failing the case (for reports)."""
        return [r for r in self.records if r.status == "warn"]

    def _deviation(self, step: Step | None, token: Token) -> None:
        if token.deviation:
            self._add(Record(step, show(token), token.t_last_ns, "warn", f"deviation: {token.deviation}"))
            self.session.link.note(f"deviation: {token.deviation}: {show(token)!r}")

    def _unsolicited(self, token: Token) -> bool:
        """A line that no step of the command in progress should answer with: a URC of the dialect, a line of the
        module's other subsystems, or an information line of another command (3GPP TS 27.007 §4.1)."""
        return token.kind == "line" and self.dialect.is_unsolicited(token.text, self.session.last_command)
