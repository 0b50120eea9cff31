"""What the documented procedures need of a module, and the two AT exchanges every one of them uses.

A procedure talks to anything with the three methods of :class:`AtPort`. The suite's
:class:`conformance.plugin.modem.Modem` has them (a Python conformance test passes its ``modem`` fixture), and
:func:`open_module` opens one on any port outside pytest: ``/dev/ttyUSB2``, ``rfc2217://bench:4001``, ``sim:m95``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..plugin.modem import Modem

__all__ = [
    "SYSTEM_CLOCK",
    "AckState",
    "AtPort",
    "Clock",
    "ProcedureError",
    "Reply",
    "completion",
    "open_module",
    "query_ack",
    "send",
]

# Recommended process V2.0 §4.1 writes "+QISACK: 4,4,0", the application note and V1.1 "+QISACK: 4, 4, 0".
_QISACK = re.compile(r"\+QISACK: ?(\d+), ?(\d+), ?(\d+)")
_SEND_RESULT = r"SEND OK|SEND FAIL|ERROR"
SEND_RESULT_S = 60.0  # recommended process §9 note 2: any command answers within 60 s


class Reply(Protocol):
    """A command's answer: its information lines and its final result (``OK``, ``ERROR``, ``>`` for a prompt).

    A port that reads on past ``OK`` to the line that completes the response (``AT+QIOPEN``: ``CONNECT OK``;
    ``AT+QISTAT``: ``STATE: ...``) gives that line as ``completion``; one that stops at ``OK`` lets the procedure wait
    for it with ``wait_urc``. Both work.
    """

    lines: list[str]
    final: str


class AtPort(Protocol):
    """An AT command port of a module of the M95 family (what :class:`~conformance.plugin.modem.Modem` offers)."""

    def command(self, text: str, *, timeout: float | None = None) -> Reply:
        """Send a command line; return its answer once the final result (or a ``>`` prompt) came."""
        ...

    def write(self, data: bytes) -> int:
        """Send raw bytes (the data after a ``>`` prompt)."""
        ...

    def wait_urc(self, pattern: str, *, timeout: float) -> str:
        """The next line matching the regular expression ``pattern`` (whole line) within ``timeout`` seconds."""
        ...


class Clock(Protocol):
    """Where a procedure reads the time and waits (a test gives one that does not really wait)."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait that long."""
        ...


class _SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK: Clock = _SystemClock()


class ProcedureError(Exception):
    """The module answered a step of a procedure in a way the documents do not allow (``ERROR`` to ``AT+QISACK``,
    no prompt after ``AT+QISEND``). The message names the command and the answer."""


@dataclass(frozen=True)
class AckState:
    """One answer of ``AT+QISACK``: bytes sent, acknowledged, not yet acknowledged (application note §5.2.2)."""

    sent: int
    acked: int
    unacked: int
    t: float  # when it was asked, on the procedure's clock, from the procedure's start


def completion(port: AtPort, reply: Reply, pattern: str, *, timeout: float) -> str:
    """The line completing a response that goes on after ``OK``: the reply's own ``completion`` if the port read it
    (and it matches ``pattern``), else one of its lines that matches, else the next such line from the port."""
    done = getattr(reply, "completion", "")
    if done and re.fullmatch(pattern, done):
        return done
    for line in reply.lines:
        if re.fullmatch(pattern, line):
            return line
    return port.wait_urc(pattern, timeout=timeout)


def query_ack(port: AtPort, *, index: int | None = None, t: float = 0.0) -> AckState:
    """``AT+QISACK`` (single connection) or ``AT+QISACK=<index>`` (``AT+QIMUX=1``, application note §6.2 note)."""
    command = "AT+QISACK" if index is None else f"AT+QISACK={index}"
    reply = port.command(command)
    for line in reply.lines:
        m = _QISACK.fullmatch(line.strip())
        if m and reply.final == "OK":
            return AckState(int(m.group(1)), int(m.group(2)), int(m.group(3)), t)
    raise ProcedureError(f"{command}: expected '+QISACK: <sent>, <acked>, <nAcked>' and OK, got "
                         f"{[*reply.lines, reply.final]!r}")


def send(port: AtPort, data: bytes, *, index: int | None = None) -> str:
    """Send ``data`` with a fixed length (``AT+QISEND=<length>``, MUX ``AT+QISEND=<index>,<length>``).

    A fixed length carries any byte, 0x08, 0x1A and 0x1B included (recommended process §4.1 note 2, §4.2). Returns
    the result, ``SEND OK`` or ``SEND FAIL`` (the send buffer is full, or the connection broke); raises
    :class:`ProcedureError` when the module refuses the command (``ERROR``: no connection).
    """
    if not 1 <= len(data) <= 1460:  # application note §3.1: "The maximum length of the data is 1460"
        raise ValueError(f"send: {len(data)} bytes; one AT+QISEND carries 1 to 1460")
    command = f"AT+QISEND={len(data)}" if index is None else f"AT+QISEND={index},{len(data)}"
    reply = port.command(command)
    if reply.final != ">":
        raise ProcedureError(f"{command}: expected the '>' prompt, got {[*reply.lines, reply.final]!r}")
    port.write(data)
    result = port.wait_urc(_SEND_RESULT, timeout=SEND_RESULT_S)
    if result == "ERROR":
        raise ProcedureError(f"{command}: the data was answered with ERROR")
    return result


def open_module(url: str, *, dialect: str = "m95", line_end: bytes = b"\r", baudrate: int = 115200) -> Modem:
    """Open the module at ``url`` for the procedures, outside pytest: a :class:`~conformance.plugin.modem.Modem`
    speaking ``dialect``, in whatever state the module is (nothing is reset). Close it with ``.close()``.

    ``line_end`` ends every command line (``b"\\r"``, or ``b"\\r\\n"`` as many host drivers send).
    """
    from .. import dialects
    from ..link import Link
    from ..plugin.modem import Modem
    from ..session import Session

    if url.startswith("sim:"):
        from .. import sim  # noqa: F401  (registers the sim: scheme)
    spoken = dialects.get(dialect)
    link = Link.open(url, baudrate=baudrate)
    session = Session(link, spoken)
    session.line_end = line_end
    return Modem(url, spoken, link, session)


def describe(states: Sequence[AckState]) -> str:
    """The polls as a reader wants them: ``+5.0s 1491/1491/0, ...``."""
    return ", ".join(f"+{s.t:.1f}s {s.sent}/{s.acked}/{s.unacked}" for s in states)
