"""The command side of a simulated module: line editing, echo, dispatch, result codes, prompts, URCs.

Dialect-neutral V.250 behaviour lives here; a module family subclasses :class:`AtInterpreter` and fills
``self.commands`` with its handlers. A handler returns a :class:`Reply`, raises :class:`CmdError`, or returns
:data:`PENDING` and later calls :meth:`AtInterpreter.finish` / :meth:`AtInterpreter.finish_error`.

Host input is consumed in one of three modes: command lines, a data prompt (``>``: fixed length or up to Ctrl+Z),
or transparent data (the subclass's :meth:`AtInterpreter.consume_data`). While a command runs, input is queued with
its arrival time and consumed after the final result, as the manual asks a host to wait for it (BG96 §1.1 note 1).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from conformance.dialects import Dialect

from .atparse import AtSyntaxError, Call, parse_line
from .loop import Loop, log, log_exception

__all__ = ["PENDING", "AtInterpreter", "CmdError", "Mode", "Pending", "Port", "Prompt", "Reply"]

CR, LF, BS, CTRL_Z, ESC = 0x0D, 0x0A, 0x08, 0x1A, 0x1B
MAX_LINE = 4096  # ASSUMPTION: longer command lines are answered ERROR (the manuals give no limit)

# V.250 §5.7.1 Table 1: numeric forms of the basic result codes (ATV0)
_NUMERIC_RESULTS = {"OK": "0", "CONNECT": "1", "RING": "2", "NO CARRIER": "3", "ERROR": "4", "NO DIALTONE": "6",
                    "BUSY": "7", "NO ANSWER": "8"}


class Port(Protocol):
    """What the interpreter needs of the serial side (a pty in the simulator, a fake in unit tests)."""

    def write(self, data: bytes) -> None: ...

    def pending_output(self) -> int: ...

    def set_input_paused(self, paused: bool) -> None: ...

    def discard_output(self) -> None: ...


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
    """A command's success: information lines (str, or bytes for raw data), a final result, then ``after``."""

    lines: list[str | bytes] = field(default_factory=list)
    final: str = "OK"
    after: Callable[[], None] | None = None


class Pending:
    """The type of PENDING: a handler took the command over and will finish it itself."""

    def __repr__(self) -> str:
        return "PENDING"


PENDING = Pending()  # the handler will call finish()/finish_error() itself


@dataclass
class Prompt:
    """An open data prompt: ``length`` bytes exactly, or (None) anything up to Ctrl+Z, ESC cancelling.

    ``on_done(data, outcome)`` with outcome ``"data"``, ``"cancel"`` (ESC) or ``"overflow"`` (more than ``limit``).
    """

    length: int | None
    limit: int
    echo: bool
    on_done: Callable[[bytes, str], None]
    data: bytearray = field(default_factory=bytearray)
    overflow: bool = False


class AtInterpreter:
    """V.250 command interpreter on a port; subclasses add the commands of one module family."""

    tcpip_commands: frozenset[str] = frozenset()  # commands whose outcome AT+QIGETERROR-like commands report

    def __init__(self, loop: Loop, port: Port, dialect: Dialect) -> None:
        self.loop = loop
        self.port = port
        self.dialect = dialect
        self.commands: dict[str, Callable[[Call], Reply | Pending]] = {}
        self.mode = Mode.COMMAND
        self.busy = False
        self.last_error = 0
        self.echo = True
        self.verbose = True
        self.cmee = 0
        self._line = bytearray()
        self._line_overflow = False
        self._after_cr = False
        self._input: deque[tuple[bytes, int]] = deque()
        self._processing = False
        self._calls: deque[Call] = deque()
        self._current = ""
        self._prompt: Prompt | None = None
        self._held_urcs: list[bytes] = []

    # -- host input ---------------------------------------------------------------------------------------------

    def on_host_input(self, data: bytes, t_ns: int) -> None:
        """Bytes from the host, read at monotonic time ``t_ns``."""
        self._input.append((data, t_ns))
        self._process_input()

    def consume_data(self, data: bytes, i: int, t_ns: int) -> int:
        """Transparent data mode: consume ``data[i:]``; return the index consumption stopped at."""
        raise NotImplementedError

    def clear_input(self) -> None:
        """Forget queued input and the partial command line (a module restarting)."""
        self._input.clear()
        self._line.clear()
        self._line_overflow = False
        self._after_cr = False
        self._calls.clear()
        self._prompt = None
        self._held_urcs.clear()

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
        return not self.busy or self.mode is Mode.PROMPT

    def _consume(self, data: bytes, t_ns: int) -> bytes:
        i = 0
        while i < len(data) and self._can_consume():
            if self.mode is Mode.COMMAND:
                i = self._consume_command(data, i)
            elif self.mode is Mode.PROMPT:
                i = self._consume_prompt(data, i)
            else:
                i = self.consume_data(data, i, t_ns)
        return data[i:]

    def _consume_command(self, data: bytes, i: int) -> int:
        echo = bytearray()
        while i < len(data):
            b = data[i]
            i += 1
            if b == LF and self._after_cr:
                self._after_cr = False  # the LF of a CR LF line end: swallowed, not echoed
                continue
            self._after_cr = False
            if b in (CR, LF):
                if self.echo:
                    echo.append(b)
                self.emit(bytes(echo))
                line, overflow = self._line.decode("latin-1"), self._line_overflow
                self._line.clear()
                self._line_overflow = False
                self._after_cr = b == CR
                self._execute_line(line, overflow)
                return i
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

    def _consume_prompt(self, data: bytes, i: int) -> int:
        prompt = self._prompt
        assert prompt is not None
        if prompt.length is not None:
            n = min(len(data) - i, prompt.length - len(prompt.data))
            chunk = data[i:i + n]
            prompt.data += chunk
            if prompt.echo:
                self.emit(chunk)
            i += n
            if len(prompt.data) >= prompt.length:
                self._end_prompt(prompt, "data")
            return i
        j = i
        while j < len(data) and data[j] not in (CTRL_Z, ESC):
            j += 1
        chunk = data[i:j]
        room = prompt.limit - len(prompt.data)
        if len(chunk) > room:
            prompt.overflow = True
        prompt.data += chunk[:max(0, room)]
        if prompt.echo:
            self.emit(chunk)
        if j < len(data):
            outcome = "cancel" if data[j] == ESC else "overflow" if prompt.overflow else "data"
            self._end_prompt(prompt, outcome)
            return j + 1
        return j

    def start_prompt(self, prompt: Prompt) -> Pending:
        """Show ``> `` and collect data for the running command (return the result to the dispatcher)."""
        self._prompt = prompt
        self.set_mode(Mode.PROMPT)
        self.emit(b"\r\n> ")
        return PENDING

    def _end_prompt(self, prompt: Prompt, outcome: str) -> None:
        self._prompt = None
        self.set_mode(Mode.COMMAND)
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
            calls = parse_line(line)
        except AtSyntaxError as e:
            log(f"syntax error in {line!r}: {e}")
            self._write_error(e.name, 552 if e.name in self.tcpip_commands else None)
            return
        self._calls = deque(calls)
        self._run_calls()

    def _run_calls(self) -> None:
        while self._calls:
            call = self._calls.popleft()
            self.busy = True
            self._current = call.name
            try:
                result = self._invoke(call)
            except CmdError as e:
                self._calls.clear()
                self._write_error(call.name, e.code)
                return
            if result is PENDING:
                self._calls.clear()  # ASSUMPTION: commands chained after one that waits are dropped
                return
            assert isinstance(result, Reply)
            if result.lines:
                self.emit(self.info_bytes(result.lines))
            if call.name in self.tcpip_commands:
                self.last_error = 0
            if result.final != "OK" or not self._calls:
                self._calls.clear()
                self._complete(result.final, result.after)
                return

    def _invoke(self, call: Call) -> Reply | Pending:
        handler = self.commands.get(call.name)
        if handler is None:
            log(f"unknown command {call}")
            raise CmdError(None)
        try:
            return handler(call)
        except CmdError:
            raise
        except Exception:
            log_exception(f"handler of {call}")
            raise CmdError(550) from None

    def finish(self, final: str = "OK", lines: list[str | bytes] | None = None,
               after: Callable[[], None] | None = None) -> None:
        """End the running (PENDING) command with information lines and a final result."""
        if not self.busy:
            log(f"finish({final!r}) with no command running")
            return
        if lines:
            self.emit(self.info_bytes(lines))
        if self._current in self.tcpip_commands:
            self.last_error = 0
        self._complete(final, after)

    def finish_error(self, code: int | None) -> None:
        """End the running (PENDING) command with an error."""
        if not self.busy:
            log(f"finish_error({code}) with no command running")
            return
        self._write_error(self._current, code)

    def _complete(self, final: str, after: Callable[[], None] | None) -> None:
        self.emit(self.final_bytes(final))
        self.busy = False
        if after is not None:
            after()
        self.loop.call_soon(self._process_input)

    def _write_error(self, name: str, code: int | None) -> None:
        if code is not None and (name in self.tcpip_commands or code == 550):
            self.last_error = code
        self.emit(self.final_bytes(self.error_text(code)))
        self.busy = False
        self.loop.call_soon(self._process_input)

    # -- output -------------------------------------------------------------------------------------------------

    def emit(self, data: bytes) -> None:
        """Raw bytes to the host."""
        if data:
            self.port.write(data)

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
        """An unsolicited result code, optionally followed by raw data; held while a prompt or data mode is open."""
        out = b"\r\n" + text.encode("latin-1")
        if data is not None:
            out += data_separator + data
        out += b"\r\n"
        if self.mode is Mode.COMMAND:
            self.emit(out)
        else:
            self._held_urcs.append(out)

    def urcs_held(self) -> bool:
        """True while URCs are held back (a prompt or data mode owns the port)."""
        return self.mode is not Mode.COMMAND

    def set_mode(self, mode: Mode) -> None:
        """Switch the input mode; URCs held back are released once the port is back in command mode."""
        self.mode = mode
        if mode is Mode.COMMAND and self._held_urcs:
            self.loop.call_soon(self._release_held_urcs)

    def _release_held_urcs(self) -> None:
        if self.mode is not Mode.COMMAND:
            return
        held, self._held_urcs = self._held_urcs, []
        for out in held:
            self.emit(out)
