"""BG96 socket service commands: AT+QIOPEN, AT+QICLOSE, AT+QISTATE, AT+QISWTMD (§2.1.4-2.1.6, §2.1.10), and the
URCs of opening and accepting (§2.1.4, §2.2.3, §2.2.4)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from ..engine import PENDING, Call, CmdError, Pending, Reply, Service
from ..engine.codes import ID_IN_USE, INVALID_PARAMETERS, NOT_SUPPORTED, PORT_BUSY
from ..engine.params import count, int_param, param, str_param
from ..engine.sockets import LISTENER, TCP, UDP, UDP_SERVICE
from .contexts import context_id, id_range
from .transfer import check_sendable, service

if TYPE_CHECKING:
    from .module import Bg96Module

__all__ = ["connect_id", "incoming", "open_result", "qiclose", "qiopen", "qistate", "qiswtmd"]

OPENABLE = (TCP, UDP, LISTENER, UDP_SERVICE)  # §2.1.4 <service_type>
PORT_MAX = 65535  # §2.1.4
QICLOSE_TIMEOUT_MAX = 65535  # §2.1.5
BUFFER, PUSH, TRANSPARENT = 0, 1, 2


def connect_id(m: Bg96Module, call: Call, index: int = 0) -> int:
    """A <connectID> parameter in the dialect's range."""
    return int_param(call.params, index, m.limits["connect_id_min"], m.limits["connect_id_max"])


def qiopen(m: Bg96Module, call: Call) -> Reply | Pending:
    if call.kind == "test":
        return Reply([f"+QIOPEN: {id_range(m, 'context_id_min', 'context_id_max')},"
                      f"{id_range(m, 'connect_id_min', 'connect_id_max')},"
                      '"TCP/UDP/TCP LISTENER/UDP SERVICE","<IP_address>/<domain_name>",<remote_port>,'
                      "<local_port>,(0-2)"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 5, 6, 7)
    ctx_id = context_id(m, call, 0)
    cid = connect_id(m, call, 1)
    service_type = str_param(call.params, 2).upper()
    if service_type not in OPENABLE:
        raise CmdError(INVALID_PARAMETERS)
    host = str_param(call.params, 3)
    remote_port = int_param(call.params, 4, 0, PORT_MAX)
    local_port = int_param(call.params, 5, 0, PORT_MAX, default=0)
    access_mode = int_param(call.params, 6, 0, 2, default=BUFFER)
    if service_type in (LISTENER, UDP_SERVICE) and param(call.params, 5) is None:
        raise CmdError(INVALID_PARAMETERS)  # §2.1.4: <local_port> must be given for a server
    if service_type in (TCP, UDP) and not host:
        raise CmdError(INVALID_PARAMETERS)
    # ASSUMPTION: a listener cannot enter data mode itself; it answers OK / +QIOPEN like buffer mode.
    transparent = access_mode == TRANSPARENT and service_type != LISTENER

    def fail(code: int) -> Reply:
        # §2.1.4: errors found after the parameters: OK + "+QIOPEN: <id>,<err>", or ERROR in transparent mode
        if transparent:
            raise CmdError(code)
        m.loop.call_soon(m.callback(lambda: _report_open(m, cid, code)))
        return Reply()

    injected = m.take_injection("+QIOPEN")
    if injected:
        return fail(injected)
    if m.sockets.get(cid) is not None:
        return fail(ID_IN_USE)
    ctx = m.contexts.get(ctx_id)
    try:
        m.require_active(ctx)
    except CmdError as e:
        assert e.code is not None
        return fail(e.code)
    if local_port and m.sockets.port_in_use(local_port, service_type in (TCP, LISTENER)):
        return fail(PORT_BUSY)
    delivery_mode = access_mode if access_mode != TRANSPARENT else BUFFER
    svc = Service(cid, cid, ctx_id, service_type, access_mode, server_id=cid, host=host,
                  delivery=m.delivery(delivery_mode), remote_port=remote_port if service_type in (TCP, UDP) else 0,
                  requested_local_port=local_port, waiting_command=transparent)
    m.sockets.add(svc)
    if service_type in (LISTENER, UDP_SERVICE):
        code = m.sockets.open_server(svc, m.config.local_ip)
        if code:
            m.sockets.drop(svc)
            return fail(code)
        if transparent:
            svc.waiting_command = False
            return Reply(final="CONNECT", after=lambda: m.data_mode.enter(svc))
        m.loop.call_soon(m.callback(lambda: _report_open(m, cid, 0)))
        return Reply()
    m.sockets.open_client(svc, ctx.dns)
    return PENDING if transparent else Reply()


def _report_open(m: Bg96Module, cid: int, code: int) -> None:
    m.last_error = code
    m.urc(f"+QIOPEN: {cid},{code}")  # §2.1.4


def open_result(m: Bg96Module, svc: Service, code: int) -> None:
    """The engine's result of an open: the URC, or the transparent open's CONNECT / ERROR."""
    if svc.waiting_command:
        svc.waiting_command = False
        if code:
            m.finish_error(code)
        else:
            m.finish("CONNECT", after=lambda: m.data_mode.enter(svc))
        return
    _report_open(m, svc.connect_id, code)


def incoming(m: Bg96Module, listener: Service, conn: socket.socket, peer: tuple[str, int]) -> None:
    """A client connected to a listener (§2.2.4)."""
    cid = _free_connect_id(m)
    if cid is None:
        # §2.2.3: no connect ID left; ASSUMPTION: the connection is accepted, then closed (the client sees FIN)
        conn.close()
        m.urc('+QIURC: "incoming full"')
        return
    # §2.1.4 item 1: the listener's access mode; §2.2.4 says buffer mode: ASSUMPTION, both hold unless the listener
    # is transparent (an incoming connection does not seize the port unasked).
    mode = listener.access_mode if listener.access_mode != TRANSPARENT else BUFFER
    m.sockets.adopt(conn, peer, key=cid, connect_id=cid, listener=listener, access_mode=mode,
                    delivery=m.delivery(mode))
    m.urc(f'+QIURC: "incoming",{cid},{listener.connect_id},"{peer[0]}",{peer[1]}')


def _free_connect_id(m: Bg96Module) -> int | None:
    # ASSUMPTION: the highest free ID first, as §3.5.2's listener on ID 1 gets its first client as ID 11
    for cid in range(m.limits["connect_id_max"], m.limits["connect_id_min"] - 1, -1):
        if m.sockets.get(cid) is None:
            return cid
    return None


def qiclose(m: Bg96Module, call: Call) -> Reply | Pending:
    if call.kind == "test":
        return Reply([f"+QICLOSE: {id_range(m, 'connect_id_min', 'connect_id_max')},(0-{QICLOSE_TIMEOUT_MAX})"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 1, 2)
    cid = connect_id(m, call)
    timeout = int_param(call.params, 1, 1, QICLOSE_TIMEOUT_MAX, default=m.limits["qiclose_timeout_default_s"])
    injected = m.take_injection("+QICLOSE")
    if injected:
        raise CmdError(injected)
    svc = m.sockets.get(cid)
    if svc is None:
        return Reply()  # ASSUMPTION: closing a connect ID that is not open is OK
    # §2.1.5: FIN, wait for the peer's, force the close after <timeout>
    if m.sockets.close(svc, timeout, m.callback(lambda: m.finish())):
        return PENDING
    return Reply()


def qistate(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply()
    chosen = list(m.sockets.services.values())
    if call.kind == "write":
        count(call, 2)
        if int_param(call.params, 0, 0, 1) == 0:
            ctx_id = context_id(m, call, 1)
            chosen = [s for s in chosen if s.context_id == ctx_id]
        else:
            cid = connect_id(m, call, 1)
            chosen = [s for s in chosen if s.connect_id == cid]
    elif call.kind not in ("read", "exec"):
        raise CmdError(INVALID_PARAMETERS)
    return Reply([_state_line(s) for s in sorted(chosen, key=lambda s: s.connect_id)])


def _state_line(svc: Service) -> str:
    # §2.1.6; ASSUMPTION: a client still resolving shows the address as given
    ip = svc.remote_ip or svc.host
    return (f'+QISTATE: {svc.connect_id},"{svc.service_type}","{ip}",{svc.remote_port},{svc.local_port},'
            f'{svc.state},{svc.context_id},{svc.server_id},{svc.access_mode},"usbmodem"')


def qiswtmd(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QISWTMD: {id_range(m, 'connect_id_min', 'connect_id_max')},(0-2)"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 2)
    svc = service(m, connect_id(m, call))
    access_mode = int_param(call.params, 1, 0, 2)
    injected = m.take_injection("+QISWTMD")
    if injected:
        raise CmdError(injected)
    if svc.service_type == LISTENER:
        if access_mode == TRANSPARENT:
            raise CmdError(NOT_SUPPORTED)
        svc.access_mode = access_mode  # for its future connections
        return Reply()
    if access_mode == TRANSPARENT:
        check_sendable(svc)
        return Reply(final="CONNECT", after=lambda: m.data_mode.enter(svc))
    previous, svc.access_mode = svc.access_mode, access_mode
    svc.delivery = m.delivery(access_mode)
    if access_mode == PUSH and previous == BUFFER and svc.unread:
        # ASSUMPTION: what the buffer holds is pushed out at once, right after the OK
        return Reply(after=m.callback(lambda: m.sockets.redeliver(svc)))
    if access_mode == BUFFER:
        svc.notify_armed = svc.unread == 0
    return Reply()

