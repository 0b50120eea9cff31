"""BG96 data commands: AT+QISEND, AT+QIRD, AT+QISENDEX (§2.1.7-2.1.9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine import Call, CmdError, Pending, Prompt, Reply, SendFull, Service
from ..engine.codes import (
    CANCEL_SEND,
    CLOSED,
    INVALID_PARAMETERS,
    NOT_ALLOWED,
    NOT_SUPPORTED,
    PDP_BROKEN,
    WRITE_FAILED,
)
from ..engine.netops import ipv4_literal
from ..engine.params import count, int_param, param, str_param
from ..engine.sockets import CLOSING, CONNECTED, LISTENER, UDP_SERVICE

if TYPE_CHECKING:
    from .module import Bg96Module

__all__ = ["check_sendable", "qird", "qisend", "qisendex", "service"]

PORT_MAX = 65535


def service(m: Bg96Module, connect_id: int) -> Service:
    """The service of ``connect_id``; ASSUMPTION: a connect ID that names none is an invalid parameter (552)."""
    svc = m.sockets.get(connect_id)
    if svc is None:
        raise CmdError(INVALID_PARAMETERS)
    return svc


def check_sendable(svc: Service) -> None:
    """The error a send on ``svc`` gets, if any (§2.1.7 and the error table's meanings)."""
    if svc.service_type == LISTENER:
        raise CmdError(NOT_SUPPORTED)
    if svc.close_reason == "pdp":
        raise CmdError(PDP_BROKEN)
    if svc.close_reason == "reset" or (svc.close_reason and svc.reset_seen):
        raise CmdError(WRITE_FAILED)
    if svc.close_reason == "fin" or svc.state == CLOSING:
        raise CmdError(CLOSED)
    if svc.state != CONNECTED or svc.sock is None:
        raise CmdError(NOT_ALLOWED)  # ASSUMPTION: still opening: operation not allowed


def _connect_id(m: Bg96Module, call: Call, index: int = 0) -> int:
    return int_param(call.params, index, m.limits["connect_id_min"], m.limits["connect_id_max"])


def qisend(m: Bg96Module, call: Call) -> Reply | Pending:
    send_max = m.limits["send_length_max"]
    if call.kind == "test":
        return Reply([f"+QISEND: ({m.limits['connect_id_min']}-{m.limits['connect_id_max']}),(0-{send_max})"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    n = count(call, 1, 2, 4)
    svc = service(m, _connect_id(m, call))
    if n == 2 and int_param(call.params, 1, 0, send_max) == 0:
        # §2.1.7: <total_send_length>,<ackedbytes>,<unackedbytes>, unacked as the kernel counts it (SIOCOUTQ)
        if svc.service_type == LISTENER:
            raise CmdError(NOT_SUPPORTED)
        injected = m.take_injection("+QISEND")
        if injected:
            raise CmdError(injected)
        unacked = m.sockets.unacked(svc)
        return Reply([f"+QISEND: {svc.total_sent},{svc.total_sent - unacked},{unacked}"])
    dest: tuple[str, int] | None = None
    length: int | None = None
    if n == 4:
        length = int_param(call.params, 1, 1, send_max)
        address = ipv4_literal(str_param(call.params, 2))
        if address is None or svc.service_type != UDP_SERVICE:
            raise CmdError(INVALID_PARAMETERS)  # §2.1.7: dotted format, and only for a UDP service
        dest = (address, int_param(call.params, 3, 0, PORT_MAX))
    else:
        if svc.service_type == UDP_SERVICE:
            raise CmdError(INVALID_PARAMETERS)  # a UDP service needs the remote address
        if n == 2:
            length = int_param(call.params, 1, 1, send_max)
    check_sendable(svc)
    injected = m.take_injection("+QISEND")
    if injected:
        raise CmdError(injected)
    hex_mode = m.send_data_format == 1  # §2.1.15 dataformat: the host types hex
    prompt_length = None if length is None else (2 * length if hex_mode else length)
    limit = 2 * send_max if hex_mode else send_max
    return m.start_prompt(Prompt(prompt_length, limit, bool(m.qisde),
                                 lambda data, outcome: _prompt_done(m, svc, data, outcome, dest),
                                 policy=m.prompt_policy))


def _prompt_done(m: Bg96Module, svc: Service, data: bytes, outcome: str, dest: tuple[str, int] | None) -> None:
    if outcome == "cancel":
        m.finish_error(CANCEL_SEND)  # ASSUMPTION: <ESC> answers ERROR, AT+QIGETERROR says 571 (cancel send)
        return
    if outcome == "overflow":
        m.finish_error(INVALID_PARAMETERS)  # ASSUMPTION: more than 1460 bytes before <Ctrl+Z>: ERROR, nothing sent
        return
    if m.send_data_format == 1:
        try:
            data = bytes.fromhex(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            m.finish_error(INVALID_PARAMETERS)
            return
    if m.sockets.get(svc.key) is not svc:
        m.finish_error(CLOSED)  # closed while the host was typing
        return
    try:
        check_sendable(svc)
    except CmdError as e:
        m.finish_error(e.code)
        return
    _send(m, svc, data, dest, lambda final: m.finish(final, delay="send"), m.finish_error)


def _send(m: Bg96Module, svc: Service, data: bytes, dest: tuple[str, int] | None, ok, fail) -> None:
    # §2.1.7: SEND OK when the module took the data; SEND FAIL when its buffer is full; ERROR for a broken socket
    try:
        code = m.sockets.send(svc, data, dest)
    except SendFull:
        ok("SEND FAIL")
        return
    if code is not None:
        fail(code)
    else:
        ok("SEND OK")


def qisendex(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QISENDEX: ({m.limits['connect_id_min']}-{m.limits['connect_id_max']}),<hex_string>"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 2)
    svc = service(m, _connect_id(m, call))
    hex_string = str_param(call.params, 1)
    # ASSUMPTION: "max length is 512 bytes" counts the characters of the hex string (256 data bytes).
    if len(hex_string) > m.limits["hex_string_max"] or len(hex_string) % 2:
        raise CmdError(INVALID_PARAMETERS)
    try:
        data = bytes.fromhex(hex_string)
    except ValueError:
        raise CmdError(INVALID_PARAMETERS) from None
    if svc.service_type in (LISTENER, UDP_SERVICE):
        raise CmdError(NOT_SUPPORTED)  # §2.1.9
    check_sendable(svc)
    injected = m.take_injection("+QISENDEX")
    if injected:
        raise CmdError(injected)
    result: list[Reply] = []

    def fail(code: int | None) -> None:
        raise CmdError(code)

    _send(m, svc, data, None, lambda final: result.append(Reply(final=final, delay="send")), fail)
    return result[0]  # §2.1.9: an empty string is "no data": SEND FAIL


def _data_lines(m: Bg96Module, header: str, data: bytes) -> list[str | bytes]:
    # §2.1.15 viewmode: 0 = header<CR><LF>data, 1 = header,data
    if m.view_mode == 1:
        return [header.encode("latin-1") + b"," + m.format_data(data)]
    return [header, m.format_data(data)]


def qird(m: Bg96Module, call: Call) -> Reply:
    read_max = m.limits["read_length_max"]
    if call.kind == "test":
        return Reply([f"+QIRD: ({m.limits['connect_id_min']}-{m.limits['connect_id_max']}),(0-{read_max})"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 1, 2)
    svc = service(m, _connect_id(m, call))
    read_length = int_param(call.params, 1, 0, read_max, default=read_max)  # §2.1.8: up to 1500 without it
    if svc.service_type == LISTENER:
        raise CmdError(NOT_SUPPORTED)
    injected = m.take_injection("+QIRD")
    if injected:
        raise CmdError(injected)
    if param(call.params, 1) is not None and read_length == 0:
        return Reply([f"+QIRD: {svc.total_received},{svc.have_read},{svc.unread}"])
    if svc.service_type == UDP_SERVICE:
        datagram = m.sockets.read_datagram(svc, read_length)  # §2.1.8: one datagram per read
        if datagram is None:
            return Reply(["+QIRD: 0"])
        data, ip, port = datagram
        return Reply(_data_lines(m, f'+QIRD: {len(data)},"{ip}",{port}', data))
    data = m.sockets.read_stream(svc, read_length)  # ASSUMPTION: a UDP client's datagrams read as a byte stream
    if not data:
        return Reply(["+QIRD: 0"])
    return Reply(_data_lines(m, f"+QIRD: {len(data)}", data))
