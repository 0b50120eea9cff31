"""A module under test as Python tests and the plugin see it: commands, transcripts, URCs, and a way back to a clean
state after every case.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..dialects import Dialect
from ..errors import ConformanceError, LinkClosed, StepFailed
from ..link import FlightRecorder, Link, hold_silence
from ..redact import Redactor
from ..session import Session
from ..transcript import Runner, Scope
from ..transcript.parser import BUILTIN_ROOTS, parse_transcript

__all__ = ["Modem", "ModemWedged", "Response", "make_redactor"]

_PROBE_S = 2.0  # how long "AT" may take to answer before the module counts as not answering


class ModemWedged(ConformanceError):
    """The module answers nothing, even after leaving data mode: it needs a power cycle."""


@dataclass
class Response:
    """What a command got back: the lines before the final result, the final result, and when it ended."""

    command: str
    lines: list[str]
    final: str
    t_ns: int

    @property
    def ok(self) -> bool:
        return self.final == "OK"


@dataclass
class Modem:
    """One module (real or simulated) behind a link, spoken to in its dialect."""

    url: str
    dialect: Dialect
    link: Link
    session: Session
    info: dict[str, Any] = field(default_factory=dict)  # model, revision, pty, pid ... (shown in reports)
    urcs: list[str] = field(default_factory=list)  # URCs seen by command() / wait_urc() that nobody waited for
    home_recorder: FlightRecorder | None = None  # the module's own log: what arrives between cases goes there

    # -- the Python API --------------------------------------------------------------------------------------------

    def command(self, text: str, *, timeout: float | None = None) -> Response:
        """Send ``text``, return its response when the final result code comes (ERROR is a response, not an error).

        ``timeout`` defaults to the documented maximum response time of the command. URCs that arrive meanwhile go to
        :attr:`urcs`.
        """
        self.session.send_command(text)
        limit = timeout if timeout is not None else self.dialect.response_time(text).for_command(text)
        deadline = self.session.last_tx_ns + int(limit * 1e9)
        lines: list[str] = []
        while True:
            token = self.session.next_token(deadline)
            if token is None:
                raise StepFailed(f"{text}: no final result within {limit:g} s; lines so far: {lines!r}; "
                                 f"unparsed: {self.session.unconsumed()[:80]!r}")
            if token.kind in ("echo", "data"):
                continue
            if token.kind == "prompt":
                return Response(text, lines, ">", token.t_last_ns)
            if self.dialect.is_final(token.text):
                return Response(text, lines, token.text, token.t_last_ns)
            if self.dialect.is_unsolicited(token.text, text) and not _answers(text, token.text):
                self.urcs.append(token.text)
                continue
            lines.append(token.text)

    def wait_urc(self, pattern: str, *, timeout: float) -> str:
        """The first line matching the regular expression ``pattern`` (whole line) within ``timeout`` seconds.

        Earlier lines that match are taken from :attr:`urcs` first.
        """
        regex = re.compile(pattern)
        for seen in self.urcs:
            if regex.fullmatch(seen):
                self.urcs.remove(seen)
                return seen
        deadline = time.monotonic_ns() + int(timeout * 1e9)
        while True:
            token = self.session.next_token(deadline)
            if token is None:
                raise StepFailed(f"no line matching /{pattern}/ within {timeout:g} s (other URCs: {self.urcs!r})")
            if token.kind == "line":
                if regex.fullmatch(token.text):
                    return token.text
                self.urcs.append(token.text)

    def run(self, transcript: str, *, context: Mapping[str, Any] | None = None, where: str | None = None,
            **variables: Any) -> dict[str, Any]:
        """Run ``transcript`` (case-file transcript notation) through the same matcher as case files.

        Returns the captures. ``context`` names peers and other action targets; ``variables`` fill placeholders.
        Failures name ``where`` (default: the calling file and line) and the line within the transcript.
        """
        if where is None:
            caller = inspect.stack(context=0)[1]
            where = f"{caller.filename}:{caller.lineno}, transcript line"
        values = {**variables, **(context or {})}
        steps, _ = parse_transcript(transcript, (where, 1), set(values) | BUILTIN_ROOTS)
        log = str(self.link.recorder.path) if self.link.recorder is not None else ""
        redact = self.link.recorder.redactor.text if self.link.recorder is not None else None
        runner = Runner(self.session, Scope({**values, "module": self.info}), dict(context or {}), flight_log=log,
                        redact=redact)
        runner.run(steps)
        return {k: v for k, v in runner.scope.values.items() if k not in values and k != "module"}

    def write(self, data: bytes, **pacing: Any) -> int:
        """Send raw bytes (data mode, or a deliberately broken command); returns when the last byte went out."""
        return self.session.send_data(data, **pacing)

    # -- getting back to a clean state -----------------------------------------------------------------------------

    def answers(self, within: float = _PROBE_S) -> bool:
        """True if ``AT`` gets ``OK`` within ``within`` seconds (what was pending is dropped first)."""
        self.drain()
        try:
            return self.command("AT", timeout=within).ok
        except StepFailed:
            return False

    def escape(self) -> bool:
        """Leave transparent (data) mode with the dialect's guarded escape sequence; True if the module said OK."""
        rules = self.dialect.escape
        if rules is None:
            return False
        self.link.note("teardown: escape from data mode")
        hold_silence(rules.guard_before_s + 0.1)
        self.session.send_data(rules.sequence, echo=False)
        deadline = time.monotonic_ns() + int((rules.guard_after_s + _PROBE_S) * 1e9)
        while (token := self.session.next_token(deadline)) is not None:
            if token.kind == "line" and token.text == "OK":
                return True
        return False

    def drain(self) -> bytes:
        """Drop what has arrived and not been read (it is in the flight log); return it."""
        self.session.look_ahead()
        dropped = b"".join(t.raw for t in self.session.pending_tokens()) + self.session.unconsumed()
        self.session._ahead.clear()
        self.session.cursor = self.link.size
        self.session.expect_no_echo()
        self.session.mode = "command"
        return dropped

    def reset(self) -> None:
        """Bring the module back to the state a case starts from: command mode, nothing open, default settings.

        Raises :class:`ModemWedged` if it does not answer even after an escape from data mode.
        """
        self.link.note("teardown: reset to the start state")
        escaped = self.answers() or (self.escape() and self.answers()) or self.answers(within=_PROBE_S * 2)
        if not escaped:
            raise ModemWedged(f"{self.url}: no answer to AT, not even after the escape sequence")
        for step in self.dialect.cleanup:
            regex = re.compile(step.pattern)
            response = self.command(step.query)
            for line in response.lines:
                m = regex.fullmatch(line)
                if m:
                    self.command(step.command.format(id=m.group("id")))
        for command in self.dialect.reset_commands:
            self.command(command)
        self.drain()
        self.urcs.clear()

    def identify(self) -> dict[str, str]:
        """Model and revision from ``ATI`` (and ``AT+GMR``), for reports."""
        found: dict[str, str] = {}
        try:
            lines = self.command("ATI", timeout=_PROBE_S).lines
        except (StepFailed, LinkClosed):
            return found
        found["ati"] = " / ".join(lines)
        for line in lines:
            if line.startswith("Revision:"):
                found["revision"] = line.split(":", 1)[1].strip()
            elif line and line not in ("Quectel",) and "model" not in found:
                found["model"] = line
        return found

    def record_to(self, recorder: FlightRecorder | None) -> None:
        """Send the flight log to ``recorder`` (a case's), or back to the module's own log with None."""
        self.link.recorder = recorder if recorder is not None else self.home_recorder

    def close(self) -> None:
        self.link.close()
        if self.home_recorder is not None:
            self.home_recorder.close()


def _answers(command: str, line: str) -> bool:
    """True if a URC-shaped ``line`` is the response of ``command`` itself (``AT+QPING`` -> ``+QPING: ...``)."""
    m = re.match(r"AT(\+[A-Z]+)", command, re.IGNORECASE)
    return bool(m) and line.upper().startswith(m.group(1).upper() + ":")



def make_redactor(dialect: Dialect | None, secrets: list[str]) -> Redactor:
    """What blanks every secret: the bench's listed secrets, and the dialect's patterns (an APN password in
    AT+QICSGP, a PIN in AT+CPIN). Callable on bytes; ``.text`` for text (see :mod:`conformance.redact`).
    """
    return Redactor(secrets, dialect.secrets if dialect else ())
