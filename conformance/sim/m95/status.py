"""M95 status queries: AT+QISTAT, AT+QISTATE, AT+QISSTAT (GSM TCP/IP Application Note §5.6.2). Each answers OK
first, then its lines."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from conformance.dialects import m95 as data

from ..engine import Call, CmdError, Reply, Service
from ..engine.sockets import CONNECTED, OPENING
from .connections import listener_of
from .stack import state

if TYPE_CHECKING:
    from .module import M95Module

__all__ = ["COMMANDS"]

LISTENING = "LISTENNING"  # §5.6.2, the document's spelling
NOT_LISTENING = "INITIAL"  # ASSUMPTION


def _after_ok(m: M95Module, lines: list[str]) -> Callable[[], None]:
    # §5.6.2: "OK" comes first, the status lines after it, in the same answer
    return lambda: m.emit(m.info_bytes(lines))


def qistat(m: M95Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    _injected(m, "+QISTAT")
    # ASSUMPTION: in MUX mode too (the stack's state, IP PROCESSING while connections exist)
    return Reply(after=_after_ok(m, [f"STATE: {state(m, m.fg())}"]))


def qistate(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply()
    if call.kind != "exec" or not stack.mux:
        raise CmdError(None)  # ASSUMPTION: a MUX command (§5.6.2 uses it with AT+QIMUX=1 only)
    _injected(m, "+QISTATE")
    lines = [f"STATE: {state(m, stack)}"]
    for index in range(m.limits["mux_index_min"], m.limits["mux_index_max"] + 1):
        svc = m.sockets.get((stack.context_id, index))
        if svc is None:
            lines.append(data.QISTATE_LINE.format(index=index, protocol="", ip="", state="INITIAL"))
        else:
            lines.append(data.QISTATE_LINE.format(index=index, protocol="TCP" if svc.is_tcp else "UDP",
                                                  ip=svc.remote_ip or svc.host, state=_connection_state(svc)))
    return Reply(after=_after_ok(m, lines))


def _connection_state(svc: Service) -> str:
    # ASSUMPTION (family AT manual): only "INITIAL" is documented
    if svc.close_reason is not None:
        return "CLOSED"
    if svc.closing:
        return "CLOSING"
    if svc.state == OPENING:
        return "CONNECTING"
    return "CONNECTED" if svc.state == CONNECTED else "CLOSING"


def qisstat(m: M95Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    listener = listener_of(m, m.fg())
    listening = listener is not None and listener.sock is not None
    return Reply(after=_after_ok(m, [f"S: {LISTENING if listening else NOT_LISTENING}"]))


def _injected(m: M95Module, name: str) -> None:
    if m.take_injection(name) is not None:
        raise CmdError(None)


COMMANDS = {
    "+QISTAT": qistat,
    "+QISTATE": qistate,
    "+QISSTAT": qisstat,
}
