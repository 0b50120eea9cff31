"""The command side of a simulated module: line discipline, echo, dispatch, result codes, prompts, URCs.

Dialect-neutral V.250 behaviour lives here. Handlers (``self.commands``: name -> callable) return a :class:`Reply`,
raise :class:`CmdError`, or return :data:`PENDING` and later call :meth:`AtInterpreter.finish` /
:meth:`AtInterpreter.finish_error`.

Host input is consumed in one of three modes: command lines, a data prompt (``>``, see prompt.py), or transparent
data (:meth:`AtInterpreter.consume_data`, the data mode's). While a command runs, and until its final result has been
written, input is queued with its arrival time and consumed afterwards, as the manuals ask a host to wait for it
(BG96 §1.1 note 1).

The line end a host sends, CR or CR LF, is one line end in every mode: an LF directly after the CR that ended a command
line is swallowed if it arrived before the output that opened the command's new mode (the prompt, ``CONNECT``) was
written, or in the same read as the CR. An LF the host sends after that output is data (a payload may start with
0x0A). Arrival times are those the simulator measured when ``read()`` returned; the output that opens a mode first
collects what has already arrived (output.py), so "before" is exact.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.dialects import Dialect

from ..loop import Loop, Timer, log, log_exception
from .atparse import AtSyntaxError, Call, parse_line
from .output import Output, Port
from .prompt import Outcome, Prompt, consume_prompt
from .timing import TimingProfile

__all__ = ["PENDING", "AtInterpreter", "CmdError", "Mode", "Pending", "Reply"]

CR, LF, BS = 0x0D, 0x0A, 0x08
MAX_LINE = 4096  # ASSUMPTION: longer command lines are answered ERROR (the manuals give no limit)

# V.250 §5.7.1 Table 1: numeric forms of the basic result codes (ATV0)
_NUMERIC_RESULTS = {"OK": "0", "CONNECT": "1", "RING": "2", "NO CARRIER": "3", "ERROR": "4", "NO DIALTONE": "6",
                    "BUSY": "7", "NO ANSWER": "8"}


class Mode(enum.Enum):
    COMMAND = "command"
    PROMPT = "prompt"
    DATA = "data"


class CmdError(Exception):
    """A command fails: ``code`` from the dialect's error table, or None for a plain ``ERROR``."""

    def __init__(self, code: int | None = None) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Reply:
    """A command's success: information lines (str, or bytes for raw data), a final result, then ``after``.

    ``after`` runs once the final result has been written: it opens a mode (data mode after ``CONNECT``) or does
    what must follow the result (a reset after ``AT+CFUN=1,1``'s OK).
    ``delay``: the kind of delay (timing.py) before the response is written; None for none.
    """

    lines: list[str | bytes] = field(default_factory=list)
    final: str | None = "OK"  # None: the response ends without a result code (GSM AT+QILOCIP)
    after: Callable[[], None] | None = None
    delay: str | None = "command"


class Pending:
    """The type of PENDING: a handler took the command over and will finish it itself."""

    def __repr__(self) -> str:
        return "PENDING"


PENDING = Pending()  # the handler will call finish()/finish_error() itself


class AtInterpreter:
    """V.250 command interpreter on a port; the engine's Module adds what every module of the family shares."""

    tcpip_commands: frozenset[str] = frozenset()  # commands whose outcome AT+QIGETERROR-like commands report
    # URCs and pushed data wait while the host is typing a command line, until it ends or the host has been silent
    # this long (GSM recommended process §5.1 note: received data does not split a command); None: never
    hold_urcs_while_typing_s: float | None = None
    ignored_command_bytes: bytes = b""  # bytes a dialect's command parser drops unseen (not echoed, not in the line)

    def __init__(self, loop: Loop, port: Port, dialect: Dialect, timing: TimingProfile | None = None) -> None:
        self.loop = loop
        self.port = port
        self.dialect = dialect
        self.timing = timing or TimingProfile()
        self.output = Output(loop, port, self.timing)
        self.commands: dict[str, Callable[[Call], Reply | Pending]] = {}
        self.mode = Mode.COMMAND
        self.busy = False  # a command runs, or its response is not written yet
        self.last_error = 0
        self.echo = True
        self.verbose = True
        self.cmee = 0
        self._line = bytearray()
        self._line_overflow = False
        self._lf_after_cr = False  # the last command line ended with CR: an LF next may be its line end
        self._opened_ns: int | None = None  # when the output that opened the current mode was written
        self._input: deque[tuple[bytes, int]] = deque()
        self._processing = False
        self._calls: deque[Call] = deque()
        self._current = ""
        self._prompt: Prompt | None = None
        self._prompt_timer: Timer | None = None
        self._responding = False  # a final result is scheduled and not yet written
        self._response_timer: Timer | None = None
        self._owned = False  # a prompt or data mode owns the port until the final result ending it is written
        self._held_urcs: list[bytes] = []
        self._idle_waiters: list[Callable[[], None]] = []  # run once no command, prompt or data mode holds the port
        self._opening = False  # a result is on its way out whose follow-up (CONNECT: data mode begins) has not run
        self._switch_waiters: list[Callable[[], None]] = []  # run once that result is written and its follow-up ran
        self._last_input_ns = 0  # when the host's latest bytes arrived
        self._typing_timer: Timer | None = None

    # -- host input ---------------------------------------------------------------------------------------------

    def on_host_input(self, data: bytes, t_ns: int) -> None:
        """Bytes from the host, read at monotonic time ``t_ns``."""
        self._input.append((data, t_ns))
        self._last_input_ns = t_ns
        self._process_input()
        if self._typing():
            self._arm_typing_release()

    def consume_data(self, data: bytes, i: int, t_ns: int) -> int:
        """Transparent data mode: consume ``data[i:]``; return the index consumption stopped at."""
        raise NotImplementedError

    def clear_input(self) -> None:
        """Forget queued input, the partial command line and every pending response (a module restarting)."""
        self._input.clear()
        self._line.clear()
        self._line_overflow = False
        self._lf_after_cr = False
        self._opened_ns = None
        self._calls.clear()
        self._prompt = None
        for timer in (self._prompt_timer, self._response_timer):
            if timer is not None:
                timer.cancel()
        self._prompt_timer = self._response_timer = None
        self._responding = False
        self._owned = False
        self._held_urcs.clear()
        self._idle_waiters.clear()
        self._opening = False
        self._switch_waiters.clear()
        if self._typing_timer is not None:
            self._typing_timer.cancel()
            self._typing_timer = None
        self.output.discard()

    def _process_input(self) -> None:
        if self._processing:
            return  # re-entered from a handler: the outer loop carries on
        self._processing = True
        try:
            while self._input and self._can_consume():
                data, t_ns = self._input.popleft()
                rest = self._consume(data, t_ns)
                if rest:
                    self._input.appendleft((rest, t_ns))
        finally:
            self._processing = False

    def _can_consume(self) -> bool:
        return not self.busy or (self.mode is Mode.PROMPT and not self._responding)

    def _consume(self, data: bytes, t_ns: int) -> bytes:
        i = 0
        while i < len(data) and self._can_consume():
            if self._lf_after_cr:
                self._lf_after_cr = False
                if data[i] == LF and self._lf_ends_the_line(t_ns):
                    i += 1  # the LF of the host's CR LF: part of the line end, neither echoed nor data
                    continue
            if self.mode is Mode.COMMAND:
                i = self._consume_command(data, i)
            elif self.mode is Mode.PROMPT:
                i = self._consume_prompt(data, i)
            else:
                i = self.consume_data(data, i, t_ns)
        return data[i:]

    def _lf_ends_the_line(self, t_ns: int) -> bool:
        if self.mode is Mode.COMMAND or self._opened_ns is None:
            return True
        return t_ns < self._opened_ns  # it arrived before the prompt / CONNECT was written

    def _consume_command(self, data: bytes, i: int) -> int:
        echo = bytearray()
        while i < len(data):
            b = data[i]
            i += 1
            if b in (CR, LF):
                if self.echo:
                    echo.append(b)
                self.emit(bytes(echo))
                line, overflow = self._line.decode("latin-1"), self._line_overflow
                self._line.clear()
                self._line_overflow = False
                self._lf_after_cr = b == CR
                self._opened_ns = None
                self._execute_line(line, overflow)
                return i
            if b in self.ignored_command_bytes:
                continue
            if b == BS:
                if self._line:
                    self._line.pop()
            elif len(self._line) < MAX_LINE:
                self._line.append(b)
            else:
                self._line_overflow = True
            if self.echo:
                echo.append(b)
        self.emit(bytes(echo))
        return i

    # -- the prompt ---------------------------------------------------------------------------------------------

    def start_prompt(self, prompt: Prompt) -> Pending:
        """Show the prompt and collect data for the running command (return the result to the dispatcher)."""
        self._prompt = prompt
        self._owned = True
        self.mode = Mode.PROMPT
        self.output.write(prompt.text, opens_mode=True, on_written=self._mode_opened)
        if prompt.timeout_s is not None:
            self._prompt_timer = self.loop.call_later(prompt.timeout_s, lambda: self._prompt_timeout(prompt))
        return PENDING

    def _mode_opened(self, t_ns: int) -> None:
        self._opened_ns = t_ns

    def _consume_prompt(self, data: bytes, i: int) -> int:
        prompt = self._prompt
        assert prompt is not None
        i, outcome = consume_prompt(prompt, data, i, self.emit)
        if outcome is not None:
            self._end_prompt(prompt, outcome)
        return i

    def _prompt_timeout(self, prompt: Prompt) -> None:
        self._prompt_timer = None
        if self._prompt is prompt:
            self._end_prompt(prompt, "timeout")

    def _end_prompt(self, prompt: Prompt, outcome: Outcome) -> None:
        self._prompt = None
        if self._prompt_timer is not None:
            self._prompt_timer.cancel()
            self._prompt_timer = None
        self.mode = Mode.COMMAND
        try:
            prompt.on_done(bytes(prompt.data), outcome)
        except Exception:
            log_exception(f"{self._current}: after the prompt")
            if self.busy:
                self.finish_error(550)

    # -- dispatch -----------------------------------------------------------------------------------------------

    def _execute_line(self, line: str, overflow: bool) -> None:
        if overflow:
            self._write_error("", None)
            return
        if not line.strip(" \t"):
            return  # an empty line gets no answer
        try:
            calls = self.parse(line)
        except AtSyntaxError as e:
            log(f"syntax error in {line!r}: {e}", key="syntax error")
            self._write_error(e.name, 552 if e.name in self.tcpip_commands else None)
            return
        self._calls = deque(calls)
        self._run_calls()

    def parse(self, line: str) -> list[Call]:
        """Split a command line into calls (V.250 syntax); a dialect whose commands carry free text overrides it."""
        return parse_line(line)

    def _run_calls(self) -> None:
        block = bytearray()
        while self._calls:
            call = self._calls.popleft()
            self.busy = True
            self._current = call.name
            try:
                result = self._invoke(call)
            except CmdError as e:
                self._calls.clear()
                self._write_error(call.name, e.code, bytes(block))
                return
            if result is PENDING:
                self._calls.clear()  # ASSUMPTION: commands chained after one that waits are dropped
                if block:
                    self.output.write(bytes(block), chunk=True)
                return
            assert isinstance(result, Reply)
            if result.lines:
                block += self.info_bytes(result.lines)
            if call.name in self.tcpip_commands:
                self.last_error = 0
            if result.final != "OK" or not self._calls:
                self._calls.clear()
                if result.final is not None:
                    block += self.final_bytes(result.final)
                delay = self.timing.delay(result.delay) if result.delay else 0.0
                self._respond(bytes(block), delay, result.after)
                return

    def _invoke(self, call: Call) -> Reply | Pending:
        handler = self.commands.get(call.name)
        if handler is None:
            log(f"unknown command {call}", key="unknown command")
            raise CmdError(None)
        try:
            return handler(call)
        except CmdError:
            raise
        except Exception:
            log_exception(f"handler of {call}")
            raise CmdError(550) from None

    def finish(self, final: str = "OK", lines: list[str | bytes] | None = None,
               after: Callable[[], None] | None = None, *, delay: str | None = None) -> None:
        """End the running (PENDING) command with information lines and a final result."""
        if not self.busy or self._responding:
            log(f"finish({final!r}) with no command waiting for it")
            return
        if self._current in self.tcpip_commands:
            self.last_error = 0
        out = (self.info_bytes(lines) if lines else b"") + self.final_bytes(final)
        self._respond(out, self.timing.delay(delay) if delay else 0.0, after)

    def finish_error(self, code: int | None, *, delay: str | None = None) -> None:
        """End the running (PENDING) command with an error."""
        if not self.busy or self._responding:
            log(f"finish_error({code}) with no command waiting for it")
            return
        self._write_error(self._current, code, delay_s=self.timing.delay(delay) if delay else 0.0)

    def _write_error(self, name: str, code: int | None, before: bytes = b"", delay_s: float | None = None) -> None:
        if code is not None and (name in self.tcpip_commands or code == 550):
            self.last_error = code
        if delay_s is None:
            delay_s = self.timing.delay("command")
        self._respond(before + self.final_bytes(self.error_text(code)), delay_s, None)

    def _respond(self, out: bytes, delay_s: float, after: Callable[[], None] | None, at_ns: int | None = None) -> None:
        """Write a response block ending in a final result, ``delay_s`` from now or at ``at_ns``; the port is busy
        (input queued) until it is written."""
        self.busy = True
        self._responding = True
        self._opening = after is not None

        def write() -> None:
            self._response_timer = None
            self.output.write(out, chunk=True, opens_mode=after is not None, on_written=written)

        def written(t_ns: int) -> None:
            self.busy = False
            self._responding = False
            self._owned = False
            if after is not None:
                self._opened_ns = t_ns
                after()
                self._opening = False
                while self._switch_waiters:
                    self._switch_waiters.pop(0)()
            self._release_held_urcs()
            self._run_idle_waiters()
            self.loop.call_soon(self._process_input)

        if at_ns is not None and at_ns > time.monotonic_ns():
            self._response_timer = self.loop.call_at(at_ns, write)
        elif delay_s > 0:
            self._response_timer = self.loop.call_later(delay_s, write)
        else:
            write()

    def end_mode(self, final: str, *, not_before_ns: int | None = None) -> None:
        """Leave a prompt or data mode with a final result (written no earlier than ``not_before_ns``)."""
        self.mode = Mode.COMMAND
        self._respond(self.final_bytes(final), 0.0, None, at_ns=not_before_ns)

    def respond_unprompted(self, final: str, after: Callable[[], None] | None = None) -> None:
        """A result the module gives with no command running (GSM: ``CONNECT`` some time after ``AT+QIOPEN``'s OK),
        written like a response (input waits until it is out), then ``after`` (e.g. entering data mode). Call it when
        the port is idle (:meth:`when_idle`)."""
        self._respond(self.final_bytes(final), 0.0, after)

    def idle(self) -> bool:
        """True when no command runs and no prompt or data mode holds the port."""
        return not self.busy and self.mode is Mode.COMMAND and not self._owned

    def when_idle(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` now if the port is idle, else as soon as the response or mode holding it has ended."""
        if self.idle():
            callback()
        else:
            self._idle_waiters.append(callback)

    def after_mode_switch(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` now, or, while a result with a follow-up is still being written (``CONNECT``, whose
        follow-up enters data mode), once it is out and the follow-up has run. An event that depends on the mode (a
        connection lost in data mode or in command mode) must not be judged in between: the host has been told of the
        mode, the module is not in it yet.
        """
        if self._opening:
            self._switch_waiters.append(callback)
        else:
            callback()

    def _run_idle_waiters(self) -> None:
        while self._idle_waiters and self.idle():
            self._idle_waiters.pop(0)()

    def enter_mode(self, mode: Mode) -> None:
        """A prompt or data mode owns the port now: URCs are held until the final result that ends it."""
        self.mode = mode
        self._owned = True

    # -- output -------------------------------------------------------------------------------------------------

    def emit(self, data: bytes) -> None:
        """Raw bytes to the host (echo, received data), in order with everything else."""
        if data:
            self.output.write(data)

    def error_text(self, code: int | None) -> str:
        """``ERROR`` or, after AT+CMEE=1/2, ``+CME ERROR: <code>`` / ``+CME ERROR: <meaning>``."""
        if code is None or self.cmee == 0:
            return "ERROR"
        if self.cmee == 1:
            return f"+CME ERROR: {code}"
        try:
            return f"+CME ERROR: {self.dialect.error(code).meaning}"
        except KeyError:
            return f"+CME ERROR: {code}"

    def info_bytes(self, lines: list[str | bytes]) -> bytes:
        """Information text: each line framed by CR LF (ATV1), or ended by CR LF (ATV0)."""
        encoded = [x if isinstance(x, bytes) else x.encode("latin-1") for x in lines]
        if self.verbose:
            return b"\r\n" + b"\r\n".join(encoded) + b"\r\n"
        return b"".join(x + b"\r\n" for x in encoded)

    def final_bytes(self, text: str) -> bytes:
        """A final result code: ``<CR><LF>OK<CR><LF>`` (ATV1) or ``0<CR>`` (ATV0)."""
        if self.verbose:
            return b"\r\n" + text.encode("latin-1") + b"\r\n"
        numeric = _NUMERIC_RESULTS.get(text)
        if numeric is not None:
            return numeric.encode() + b"\r"
        return text.encode("latin-1") + b"\r\n"

    def urc(self, text: str, data: bytes | None = None, *, data_separator: bytes = b"\r\n") -> None:
        """An unsolicited result code, optionally followed by raw data; held while a prompt or data mode owns the
        port, and written, in order, right after the final result that ends it."""
        out = b"\r\n" + text.encode("latin-1")
        if data is not None:
            out += data_separator + data
        out += b"\r\n"
        self.unsolicited(out)

    def unsolicited(self, out: bytes) -> None:
        """Bytes the module sends on its own (an already framed URC): held like a URC."""
        if self.urcs_held():
            self._held_urcs.append(out)
            if not self._owned:
                self._arm_typing_release()
        else:
            self.output.write(out)

    def urcs_held(self) -> bool:
        """True while URCs are held back (a prompt or data mode owns the port, or the host is typing a line)."""
        return self._owned or self._typing()

    def _typing(self) -> bool:
        hold_s = self.hold_urcs_while_typing_s
        if hold_s is None or not self._line or self.mode is not Mode.COMMAND or self.busy:
            return False
        return time.monotonic_ns() - self._last_input_ns < hold_s * 1e9

    def _arm_typing_release(self) -> None:
        if self._typing_timer is None and self.hold_urcs_while_typing_s is not None:
            self._typing_timer = self.loop.call_later(self.hold_urcs_while_typing_s, self._typing_release)

    def _typing_release(self) -> None:
        # the host finished its line or stopped typing: what waited goes out (the loop then reads sockets again)
        self._typing_timer = None
        if self._typing():
            self._arm_typing_release()
        elif not self._owned:
            self._release_held_urcs()

    def _release_held_urcs(self) -> None:
        if self._owned:
            return
        held, self._held_urcs = self._held_urcs, []
        for out in held:
            self.output.write(out)
