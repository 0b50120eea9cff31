"""M95 data commands: AT+QISEND in its three ways, AT+QISACK, AT+QIRD (GSM TCP/IP Application Note §5.2, §5.3.2;
recommended process §4, §5.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.dialects import m95 as data

from ..engine import Call, CmdError, Pending, Prompt, PromptPolicy, Reply, SendFull, Service
from ..engine.params import count, int_param
from ..engine.prompt import CTRL_Z, ESC
from ..engine.sockets import CONNECTED
from .connections import live, selected

if TYPE_CHECKING:
    from .module import M95Module

__all__ = ["COMMANDS"]

# §5.2.1.1, recommended process §4.1: Ctrl+Z sends, ESC cancels, 0x08 deletes the last byte, data beyond 1460 bytes
# is omitted; a fixed length takes every byte as data (A2)
CHANGEABLE = PromptPolicy(submit=CTRL_Z, cancel=ESC, backspace_deletes=True, overflow="omit")
# §5.2.1.3 note: timed sending with a fixed length "can be escaped through inputting <ESC> before sending out"
FIXED_TIMED = PromptPolicy(submit=CTRL_Z, cancel=ESC, backspace_deletes=True, overflow="omit", fixed_cancel=ESC)
READ_LENGTH = (1, 1500)  # ASSUMPTION: AT+QIRD <len>; the examples read 1024 and 1500 (§5.3.2, process V2.0 §5.2)


def _connection(m: M95Module, call: Call) -> tuple[Service | None, int | None]:
    """The connection a send names, and the fixed length if one is given: single ``AT+QISEND[=<length>]``, MUX
    ``AT+QISEND=<index>[,<length>]`` (§5.2.1)."""
    stack = m.fg()
    limit = m.limits["send_length_max"]
    if stack.mux:
        if call.kind != "write":
            raise CmdError(None)
        n = count(call, 1, 2)
        index = int_param(call.params, 0, m.limits["mux_index_min"], m.limits["mux_index_max"])
        length = int_param(call.params, 1, 1, limit) if n == 2 else None
        return live(m.sockets.get((stack.context_id, index))), length
    if call.kind == "write":
        count(call, 1)
        return selected(m, stack), int_param(call.params, 0, 1, limit)  # ASSUMPTION: 0 or above 1460 is ERROR
    if call.kind != "exec":
        raise CmdError(None)
    return selected(m, stack), None


def qisend(m: M95Module, call: Call) -> Reply | Pending:
    if call.kind == "test":
        return Reply()
    svc, length = _connection(m, call)
    if svc is None or svc.state != CONNECTED:
        raise CmdError(None)  # ASSUMPTION (family manual): no connection, or still connecting
    if m.take_injection("+QISEND") is not None:
        raise CmdError(None)
    timed = m.qiautos[0] == 1  # §5.2.1.3: the timer starts with the prompt
    return m.start_prompt(Prompt(
        length, m.limits["send_length_max"], m.echo, lambda typed, outcome: _typed(m, svc, typed, outcome),
        policy=FIXED_TIMED if timed and length is not None else CHANGEABLE,
        timeout_s=float(m.qiautos[1]) if timed else None))


def _typed(m: M95Module, svc: Service, typed: bytes, outcome: str) -> None:
    if outcome == "cancel":
        m.finish("OK")  # ASSUMPTION: ESC leaves the send with OK, nothing sent (cases accept OK or ERROR)
        return
    if m.sockets.get(svc.key) is not svc or svc.close_reason is not None or not typed:
        # §5.2.1.3: nothing typed before the timer: SEND FAIL; ASSUMPTION: also a connection broken meanwhile
        m.finish("SEND FAIL", delay="send")
        return
    if svc.is_tcp and m.sockets.unacked(svc) + len(typed) > m.limits["send_buffer_bytes"]:
        # recommended process §4.1 note 1: the send buffer holds 7300 bytes (ASSUMPTION of the answer)
        m.finish("SEND FAIL", delay="send")
        return
    try:
        failed = m.sockets.send(svc, typed)
    except SendFull:
        failed = 1
    # recommended process §4.1: SEND OK means handed to TCP, not acknowledged
    m.finish("SEND FAIL" if failed is not None else "SEND OK", delay="send")


def qisack(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply()
    if stack.mux:
        if call.kind != "write":
            raise CmdError(None)
        count(call, 1)
        index = int_param(call.params, 0, m.limits["mux_index_min"], m.limits["mux_index_max"])
        svc = live(m.sockets.get((stack.context_id, index)))  # §6.2 note: AT+QISACK=<index>
    elif call.kind == "exec":
        svc = selected(m, stack)
    else:
        raise CmdError(None)
    if svc is None or svc.state != CONNECTED:
        raise CmdError(None)
    if m.take_injection("+QISACK") is not None:
        raise CmdError(None)
    sent = svc.total_sent
    # §5.2.2: what the kernel has not had acknowledged (SIOCOUTQ, plus what the module still holds); UDP: sent, 0, 0
    unacked = m.sockets.unacked(svc) if svc.is_tcp else 0
    acked = sent - unacked if svc.is_tcp else 0
    return Reply([data.QISACK.format(sent=sent, acked=acked, unacked=unacked)])


def qird(m: M95Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind != "write":
        raise CmdError(None)
    count(call, 4)
    ids = m.context_ids()
    context_id = int_param(call.params, 0, ids[0], ids[-1])
    role = int_param(call.params, 1, 1, 2)  # 1 the module is the client, 2 the server (§5.3.2)
    index = int_param(call.params, 2, m.limits["mux_index_min"], m.limits["mux_index_max"])
    length = int_param(call.params, 3, *READ_LENGTH)
    stack = m.stacks[context_id]
    if stack.mux:
        svc = m.sockets.get((context_id, index))
    elif index == 0:
        svc = m.sockets.get((context_id, "client" if role == 1 else "server"))
    else:
        svc = None
    if svc is None or svc.extra.get("role") != role:
        raise CmdError(None)  # ASSUMPTION: no such connection
    if m.take_injection("+QIRD") is not None:
        raise CmdError(None)
    if svc.datagrams:
        payload, ip, port = m.sockets.read_datagram(svc, length) or (b"", "", 0)
    else:
        payload, ip, port = m.sockets.read_stream(svc, length), svc.remote_ip, svc.remote_port
    after = None
    if svc.close_reason is not None and not svc.buffered:
        after = m.callback(lambda: m.sockets.drop(svc) if m.sockets.get(svc.key) is svc else None)
    if not payload:
        return Reply(after=after)  # ASSUMPTION: nothing buffered: OK alone
    header = data.QIRD_HEADER.format(ip=ip, port=port, protocol="TCP" if svc.is_tcp else "UDP",
                                     length=len(payload)).rstrip("\r\n")
    return Reply([header, payload], after=after)  # recommended process V2.0 §5.2: the data, then OK (A10)


COMMANDS = {
    "+QISEND": qisend,
    "+QISACK": qisack,
    "+QIRD": qird,
}
