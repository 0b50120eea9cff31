"""The M95's TCP/IP stack, one per context: its settings and its state machine (AT+QISTAT).

GSM TCP/IP Application Note (AN) §5.6.1 names the states; the figures with the transitions are lost, so the moves
are those of docs/dialects/m95.md §2.2 (AN §3, §5.5; recommended process §3). The stack keeps the phase of its
context (``IP INITIAL`` ... ``IP STATUS``, ``PDP DEACT``); in single-connection mode the state of the client
connection (``TCP CONNECTING`` ... ``IP CLOSE``) stands for it once the context is up; in MUX mode ``IP PROCESSING``
does while a connection or a listener exists (ASSUMPTION, A27).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..engine import CmdError

if TYPE_CHECKING:
    from .module import M95Module

__all__ = [
    "CONNECT_OK", "IP_CLOSE", "IP_CONFIG", "IP_GPRSACT", "IP_IND", "IP_INITIAL", "IP_PROCESSING", "IP_START",
    "IP_STATUS", "MUX_OPEN_STATES", "OPEN_STATES", "PDP_DEACT", "Stack", "activate", "activation_refused",
    "ensure_active", "require", "state",
]

IP_INITIAL, IP_START, IP_CONFIG, IP_IND = "IP INITIAL", "IP START", "IP CONFIG", "IP IND"
IP_GPRSACT, IP_STATUS, PDP_DEACT = "IP GPRSACT", "IP STATUS", "PDP DEACT"
CONNECT_OK, IP_CLOSE, IP_PROCESSING = "CONNECT OK", "IP CLOSE", "IP PROCESSING"
OPEN_STATES = (IP_INITIAL, IP_STATUS, IP_CLOSE)  # recommended process §3.1: AT+QIOPEN allowed (single)
MUX_OPEN_STATES = (IP_INITIAL, IP_STATUS, IP_PROCESSING)  # ASSUMPTION: the MUX counterpart
UP_PHASES = (IP_GPRSACT, IP_STATUS)  # the context is active


@dataclass
class Stack:
    """One context's TCP/IP stack (AN §7: each context has its own settings)."""

    context_id: int
    phase: str = IP_INITIAL
    client: str | None = None  # single mode: TCP/UDP CONNECTING, CONNECT OK, IP CLOSE (the client connection)
    mux: int = 0  # AT+QIMUX
    mode: int = 0  # AT+QIMODE: 0 non-transparent, 1 transparent
    dnsip: int = 0  # AT+QIDNSIP: 0 addresses, 1 domain names
    lport_tcp: int = 2020  # AT+QILPORT (ASSUMPTION: the AN §3.2 example as the power-on value)
    lport_udp: int = 3030
    waiting: Callable[[bool], None] | None = None  # what an implicit activation goes on with (True: activated)


def state(m: M95Module, stack: Stack) -> str:
    """What AT+QISTAT reports for ``stack``."""
    ctx = m.contexts.get(stack.context_id)
    if stack.phase == PDP_DEACT or ctx.broken:
        return PDP_DEACT
    if stack.phase in UP_PHASES and not ctx.active:
        return PDP_DEACT  # ASSUMPTION: the radio or the attach went away under it (AT+CFUN=0, AT+CGATT=0)
    if stack.phase != IP_STATUS:
        return stack.phase
    if stack.mux:
        return IP_PROCESSING if m.live_services(stack.context_id) else IP_STATUS
    return stack.client or IP_STATUS


def require(m: M95Module, stack: Stack, allowed: tuple[str, ...]) -> str:
    """The stack's state, or ERROR if it is not one of ``allowed``."""
    current = state(m, stack)
    if current not in allowed:
        raise CmdError(None)
    return current


def activation_refused(m: M95Module, stack: Stack) -> bool:
    """AN §7.2: no transparent mode with two contexts on one UART (ASSUMPTION: activating a second context is ERROR
    while either of the two is transparent)."""
    others = [other for other in m.stacks.values() if other is not stack and other.phase != IP_INITIAL]
    return bool(others) and (stack.mode == 1 or any(other.mode == 1 for other in others))


def activate(m: M95Module, stack: Stack, on_done: Callable[[bool], None], *, implicit: bool) -> bool | None:
    """Ask the network for the stack's context: True/False now, or None and ``on_done(activated)`` later.

    The phase passes IP CONFIG and shows IP IND while the network answers (ASSUMPTION: IP CONFIG is passed at once);
    then IP GPRSACT (AT+QIACT) or IP STATUS (an implicit activation, which also gets the address, AN §3); a refusal
    leaves PDP DEACT (recommended process §3.1: "usually caused by the failure of GPRS context activation").
    """
    if activation_refused(m, stack):
        return False
    ctx = m.contexts.get(stack.context_id)
    stack.phase = IP_CONFIG

    def answered(code: int) -> None:
        if stack.phase != IP_IND:
            return  # deactivated meanwhile
        on_done(_settle(stack, code, implicit))

    code = m.contexts.activate(ctx, m.callback(answered))
    if code is None:
        stack.phase = IP_IND
        return None
    return _settle(stack, code, implicit)


def _settle(stack: Stack, code: int, implicit: bool) -> bool:
    if code:
        stack.phase = PDP_DEACT
        return False
    stack.phase = IP_STATUS if implicit else IP_GPRSACT
    return True


def ensure_active(m: M95Module, stack: Stack, then: Callable[[bool], None]) -> None:
    """Go on with ``then(activated)`` once the context is active, activating it first from IP INITIAL / IP START
    (AN §3: AT+QIOPEN, AT+QISERVER and AT+QIDNSGIP activate the FGCNT themselves)."""
    if stack.phase not in (IP_INITIAL, IP_START):
        then(stack.phase in UP_PHASES and m.contexts.get(stack.context_id).active)
        return
    stack.waiting = then

    def done(activated: bool) -> None:
        waiting, stack.waiting = stack.waiting, None
        if waiting is not None:
            waiting(activated)

    result = activate(m, stack, done, implicit=True)
    if result is not None:
        done(result)
