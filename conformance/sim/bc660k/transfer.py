"""BC660K AT+QISEND: six ways to send, and the query (§2.3.4; docs/dialects/bc660k.md §4.4).

| form | command line | data |
| --- | --- | --- |
| non-data mode | ``AT+QISEND=<id>,<send_length>,<data>[,<rai_mode>]`` | on the line (sendline.py reads it) |
| variable length | ``AT+QISEND=<id>`` | after ``>``, up to Ctrl+Z (ESC cancels), sent at 1024 bytes of input |
| fixed length | ``AT+QISEND=<id>,<send_length>`` | after ``>``, exactly that many bytes (hex: twice as many digits) |
| UDP SERVICE | the three above with ``"<remote_ip>",<remote_port>`` after ``<id>`` | |
| query | ``AT+QISEND=<id>,0`` | ``+QISEND: <sent>,<acked>,<nAcked>`` |

Every send answers ``OK`` and then ``SEND OK`` (the kernel took the data, note 1) or ``SEND FAIL``; an error before
that answers ``ERROR`` alone.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..engine import PENDING, Call, CmdError, Param, Pending, Prompt, Reply, SendFull, Service
from ..engine.codes import CANCEL_SEND, CLOSED, INVALID_PARAMETERS, NOT_ALLOWED, PDP_BROKEN
from ..engine.netops import ipv4_literal
from ..engine.params import int_param, str_param
from ..engine.sockets import CLOSING, CONNECTED, LISTENER, UDP_SERVICE
from .sockets import connect_id

if TYPE_CHECKING:
    from .module import Bc660kModule

__all__ = ["check_sendable", "qisend"]

PORT_MAX = 65535
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")


def check_sendable(svc: Service) -> None:
    """The error a send on ``svc`` gets, if any (docs/dialects/bc660k.md §4.4)."""
    if svc.service_type == LISTENER:
        raise CmdError(NOT_ALLOWED)  # §2.3.4's forms do not include a listener
    if svc.close_reason == "pdp":
        raise CmdError(PDP_BROKEN)
    if svc.close_reason is not None or svc.state == CLOSING:
        raise CmdError(CLOSED)  # after +QIURC: "closed" (§2.4.1)
    if svc.state != CONNECTED or svc.sock is None:
        raise CmdError(NOT_ALLOWED)  # still connecting, or its open failed


def qisend(m: Bc660kModule, call: Call) -> Reply | Pending:
    limits = m.limits
    if call.kind == "test":
        return Reply([f"+QISEND: ({limits['connect_id_min']}-{limits['connect_id_max']}),<remote_ip>,<remote_port>,"
                      f"(0-{limits['send_length_max']}),<data>,({limits['rai_mode_min']}-{limits['rai_mode_max']})"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    params = call.params
    n = len(params)
    svc = m.sockets.get(connect_id(m, call))
    if svc is None:
        raise CmdError(INVALID_PARAMETERS)  # ASSUMPTION: a connect ID that names no socket is an invalid parameter
    if n == 2 and not params[1].quoted and params[1].text == "0":
        return _query(m, svc)
    udp_form = n >= 2 and params[1].quoted
    hex_mode = m.send_data_format == 1
    length_max = limits["send_length_hex_max"] if hex_mode else limits["send_length_max"]
    dest: tuple[str, int] | None = None
    if udp_form:
        if n > 6:
            raise CmdError(INVALID_PARAMETERS)
        address = ipv4_literal(str_param(params, 1))
        if address is None:
            raise CmdError(INVALID_PARAMETERS)
        dest = (address, int_param(params, 2, 1, PORT_MAX))
        length_index = 3
    else:
        if n > 4:
            raise CmdError(INVALID_PARAMETERS)
        length_index = 1
    length = int_param(params, length_index, 1, length_max) if n > length_index else None
    data_index = length_index + 1
    inline = n > data_index
    rai = int_param(params, data_index + 1, limits["rai_mode_min"], limits["rai_mode_max"], default=0)
    if (svc.service_type == UDP_SERVICE) != udp_form and svc.service_type != LISTENER:
        raise CmdError(INVALID_PARAMETERS)  # the plain forms are not a UDP SERVICE's, the address forms only its
    data = _inline_data(params[data_index], hex_mode, length) if inline and length is not None else None
    check_sendable(svc)
    injected = m.take_injection("+QISEND")
    if injected:
        raise CmdError(injected)
    if data is not None:
        m.last_rai_mode = rai  # recorded: release assistance has nothing a laptop could show
        return _send(m, svc, data, dest, typed=False)
    prompt_length = None if length is None else (2 * length if hex_mode else length)
    return m.start_prompt(Prompt(prompt_length, limits["data_mode_input_max"], m.echo,
                                 lambda data, outcome: _typed(m, svc, data, outcome, dest, hex_mode),
                                 policy=m.prompt_policy))


def _query(m: Bc660kModule, svc: Service) -> Reply:
    if svc.service_type == LISTENER:
        raise CmdError(NOT_ALLOWED)
    injected = m.take_injection("+QISEND")
    if injected:
        raise CmdError(injected)
    if not svc.is_tcp:
        return Reply([f"+QISEND: {svc.total_sent},0,0"])  # ASSUMPTION: acked and nAcked are "only ... TCP"
    unacked = m.sockets.unacked(svc)  # what the kernel has not had acknowledged (SIOCOUTQ) and the module holds
    return Reply([f"+QISEND: {svc.total_sent},{svc.total_sent - unacked},{unacked}"])


def _inline_data(p: Param, hex_mode: bool, length: int) -> bytes:
    # note 2: "<send_length> has to equal the length of <data>... half the actual length of a hex <data>"
    if p.omitted:
        raise CmdError(INVALID_PARAMETERS)
    if hex_mode:
        if len(p.text) != 2 * length or not _HEX.fullmatch(p.text):
            raise CmdError(INVALID_PARAMETERS)
        return bytes.fromhex(p.text)
    data = p.text.encode("latin-1")
    if len(data) != length:
        raise CmdError(INVALID_PARAMETERS)
    return data


def _typed(m: Bc660kModule, svc: Service, data: bytes, outcome: str, dest: tuple[str, int] | None,
           hex_mode: bool) -> None:
    """The data after the prompt is in: send it, or say why not."""
    if outcome == "cancel":
        m.finish_error(CANCEL_SEND)  # ambiguity 34: ESC "cancels the sending": ERROR, 571 "Send Canceled"
        return
    if not data:
        m.finish_error(INVALID_PARAMETERS)  # ASSUMPTION: Ctrl+Z alone sends nothing
        return
    if hex_mode:
        text = data.decode("latin-1")
        if not _HEX.fullmatch(text):
            m.finish_error(INVALID_PARAMETERS)
            return
        data = bytes.fromhex(text)
    if m.sockets.get(svc.key) is not svc:
        m.finish_error(CLOSED)  # closed while the host was typing
        return
    try:
        check_sendable(svc)
    except CmdError as e:
        m.finish_error(e.code)
        return
    _send(m, svc, data, dest, typed=True)


def _send(m: Bc660kModule, svc: Service, data: bytes, dest: tuple[str, int] | None, *, typed: bool) -> Pending:
    """Hand ``data`` to the kernel: OK and SEND OK, OK and SEND FAIL (it took none), or ERROR (the socket failed);
    ``typed``: the data came after the prompt (the command already waits for its end)."""
    try:
        code = m.sockets.send(svc, data, dest)
    except SendFull:
        return m.ok_then("SEND FAIL", delay="send")  # "the command is executed successfully but the sending failed"
    if code is None:
        return m.ok_then("SEND OK", delay="send")
    if not typed:
        raise CmdError(code)
    m.finish_error(code)
    return PENDING
