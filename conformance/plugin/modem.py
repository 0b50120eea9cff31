"""A module under test as Python tests and the plugin see it: commands, transcripts, URCs, and a way back to a clean
state after every case.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dialects import Dialect
from ..errors import NonConformance, StepFailed
from ..link import FlightRecorder, Link, hold_silence
from ..redact import Redactor
from ..session import Session
from ..transcript import Runner, Scope
from ..transcript.blocks import BlockLibrary
from ..transcript.parser import BUILTIN_ROOTS, parse_transcript

__all__ = ["Modem", "ModemWedged", "Response", "make_redactor"]

_ESCAPE_ANSWER_S = 2.0  # after the escape's guard time, how long its OK may take


class ModemWedged(NonConformance):
    """The module did not get back to its start state, or does not answer and could not be brought back (a power
    cycle, its port reopened: :mod:`conformance.strategy`)."""


@dataclass
class Response:
    """What a command got back: the lines before the final result, the final result, and when it ended.

    ``final`` is ``""`` for a command the dialect answers with no result code at all (M95 ``AT+QILOCIP``: its
    address alone, in ``lines``). ``completion`` is the line that ended a response going on after ``OK`` (BC660K
    ``AT+QICLOSE``: ``CLOSE OK``; M95 ``AT+QIOPEN``: ``CONNECT OK`` or ``CONNECT FAIL``).
    """

    command: str
    lines: list[str]
    final: str
    t_ns: int
    completion: str = ""

    @property
    def ok(self) -> bool:
        return self.final in ("OK", "")


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
        bare = self.dialect.bare_result(text)  # answered with no result code (M95 AT+QILOCIP)
        after_ok = self.dialect.ends_after_ok(text)  # goes on after OK (BC660K AT+QICLOSE: CLOSE OK)
        lines: list[str] = []
        final = ""
        while True:
            token = self.session.next_token(deadline)
            if token is None:
                waited = f"{after_ok.pattern!r} after OK" if final else "final result"
                raise StepFailed(f"{text}: no {waited} within {limit:g} s; lines so far: {lines!r}; "
                                 f"unparsed: {self.session.unconsumed()[:80]!r}")
            if token.kind in ("echo", "data"):
                continue
            if token.kind == "prompt":
                return Response(text, lines, ">", token.t_last_ns)
            if final and after_ok is not None:
                if after_ok.fullmatch(token.text):
                    return Response(text, lines, final, token.t_last_ns, completion=token.text)
                if self.dialect.is_final(token.text) and token.text != "OK":  # an error ends it as always
                    return Response(text, lines, token.text, token.t_last_ns)
            elif bare is not None and bare.fullmatch(token.text):
                return Response(text, [*lines, token.text], "", token.t_last_ns)
            elif self.dialect.is_final(token.text):
                if token.text == "OK" and after_ok is not None:
                    final = "OK"
                    continue
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
            blocks: str | Path | None = None, **variables: Any) -> dict[str, Any]:
        """Run ``transcript`` (case-file transcript notation) through the same matcher as case files.

        Returns the captures. ``context`` names peers and other action targets; ``variables`` fill placeholders;
        ``blocks`` is a blocks file for ``= name`` lines (their 'finally' steps do not run: the fixture resets the
        module). Failures name ``where`` (default: the calling file and line) and the line within the transcript.
        """
        if where is None:
            caller = inspect.stack(context=0)[1]
            where = f"{caller.filename}:{caller.lineno}, transcript line"
        values = {**variables, **(context or {})}
        library = BlockLibrary.load(Path(blocks)) if blocks is not None else None
        steps, _ = parse_transcript(transcript, (where, 1), set(values) | BUILTIN_ROOTS, blocks=library)
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

    def escape(self) -> bool:
        """Leave transparent (data) mode with the dialect's guarded escape sequence; True if the module said OK."""
        rules = self.dialect.escape
        if rules is None:
            return False
        self.link.note("teardown: escape from data mode")
        hold_silence(rules.guard_before_s + 0.1)
        self.session.send_data(rules.sequence, echo=False)
        deadline = time.monotonic_ns() + int((rules.guard_after_s + _ESCAPE_ANSWER_S) * 1e9)
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
        """Put a synchronised module back in the state a case starts from: nothing open, no context active, every
        setting at its default (the dialect's cleanup and reset commands, each given its documented time).

        Raises :class:`StepFailed` if a command gets no answer in time; see :mod:`conformance.strategy` for getting a
        module to answer at all.
        """
        self.link.note("reset to the start state")
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
        """Model and firmware revision, for reports: from ``ATI``, ``AT+GMR`` and ``AT+QGMR``, each given its
        documented time (a late answer would otherwise be taken for the next command's).

        ``model`` is ATI's line that the dialect's ``identify`` patterns match (else its first line that is not the
        manufacturer's); ``revision`` ATI's ``Revision:`` (else AT+GMR's answer); ``firmware`` AT+QGMR's answer, the
        revision with its build, where the module has the command.
        """
        found: dict[str, str] = {}
        ati = self._probe("ATI")
        if ati:
            found["ati"] = " / ".join(ati)
        for line in ati:
            if line.startswith("Revision:"):
                found.setdefault("revision", line.split(":", 1)[1].strip())
        named = [line for line in ati if line and not line.startswith("Revision:")]
        model = next((line for line in named if any(re.fullmatch(p, line) for p in self.dialect.identify)), None)
        model = model or next((line for line in named if not line.lower().startswith("quectel")), None)
        if model:
            found["model"] = model
        if "revision" not in found:
            gmr = self._probe("AT+GMR")
            if gmr:
                found["revision"] = gmr[0].removeprefix("Revision:").strip()
        qgmr = self._probe("AT+QGMR")
        if qgmr and qgmr[0] != found.get("revision"):
            found["firmware"] = qgmr[0]
        gsn = self._probe("AT+GSN")  # the IMEI (3GPP TS 27.007 §5.4); reports show its last 4 digits only
        if gsn and gsn[0].strip().isdigit():
            found["imei"] = gsn[0].strip()
        return found

    def _probe(self, command: str) -> list[str]:
        """The information lines of ``command``'s answer; none if it fails or gets no answer in its documented time."""
        try:
            response = self.command(command)
        except StepFailed:
            return []
        return [line for line in response.lines if line] if response.ok else []

    def attach(self, link: Link) -> None:
        """Speak to the module over a new link (its port opened again): a new session, the host's line end kept.

        The session starts at the link's first byte, so what the module said as the port opened is read too.
        """
        line_end = self.session.line_end
        self.link = link
        self.session = Session(link, self.dialect)
        self.session.line_end = line_end
        self.session.cursor = 0
        self.urcs.clear()

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
