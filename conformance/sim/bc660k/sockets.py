"""BC660K socket services: AT+QIOPEN, AT+QICLOSE, AT+QISTATE (§2.3.1-§2.3.3), opening and accepting (§2.4.3).

§ numbers are the BC660K-GL TCP/IP Application Note V1.1's. Readings of the note are those of docs/dialects/bc660k.md
§4.1-§4.3; each choice beyond the text says ASSUMPTION.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from ..engine import Call, CmdError, Pending, Reply, Service
from ..engine.codes import ID_IN_USE, INVALID_PARAMETERS, NOT_SUPPORTED, PORT_BUSY
from ..engine.params import count, int_param, param, str_param
from ..engine.sockets import CLOSING, INCOMING, INITIAL, LISTENER, LISTENING, OPENING, TCP, UDP, UDP_SERVICE
from ..loop import log

if TYPE_CHECKING:
    from .module import Bc660kModule

__all__ = ["connect_id", "context_id", "incoming", "open_result", "qiclose", "qiopen", "qistate"]

OPENABLE = (TCP, UDP, LISTENER, UDP_SERVICE)  # §2.3.1 <service_type>
SERVERS = (LISTENER, UDP_SERVICE)
PUSH = 1  # §1.2: the only access mode, "specified or not"
PORT_MAX = 65535
CLOSED_BY_NETWORK = 3  # §2.3.3 "Closing"; the engine's CLOSING (4) is the note's "Remote Closing"


def context_id(m: Bc660kModule, call: Call, index: int) -> int:
    """A <contextID>: 0-10, of which only 0 is served (note 1 of §2.3.1, §2.3.3, §2.3.5-§2.3.8).

    ASSUMPTION: 1-10 are in the range but not supported: 555 "Operation not supported"; past the range: 552.
    """
    value = int_param(call.params, index, m.limits["context_id_min"], m.limits["context_id_max"])
    if value != m.limits["context_id_supported"]:
        raise CmdError(NOT_SUPPORTED)
    return value


def connect_id(m: Bc660kModule, call: Call, index: int = 0) -> int:
    """A <connectID> in 0-4 (§2.3.1)."""
    return int_param(call.params, index, m.limits["connect_id_min"], m.limits["connect_id_max"])


def _range(m: Bc660kModule, low: str, high: str) -> str:
    return f"({m.limits[low]}-{m.limits[high]})"


def host_param(m: Bc660kModule, call: Call, index: int) -> str:
    """A <host>/<server>/<hostname>: a quoted IP address or domain name of 1-150 bytes."""
    host = str_param(call.params, index, empty=False)
    if len(host.encode("latin-1")) > m.limits["host_max"]:
        raise CmdError(INVALID_PARAMETERS)
    return host


# -- AT+QIOPEN (§2.3.1) ------------------------------------------------------------------------------------------

def qiopen(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        # ASSUMPTION: the note shows placeholders only; the ranges filled in, <host> as a name
        return Reply([f"+QIOPEN: {_range(m, 'context_id_min', 'context_id_max')},"
                      f"{_range(m, 'connect_id_min', 'connect_id_max')},"
                      f'"TCP/UDP/TCP LISTENER/UDP SERVICE",<host>,'
                      f"({m.limits['remote_port_min']}-{m.limits['remote_port_max']}),"
                      f"({m.limits['local_port_min']}-{m.limits['local_port_max']}),({PUSH})"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 5, 6, 7)
    ctx_id = context_id(m, call, 0)
    cid = connect_id(m, call, 1)
    service_type = str_param(call.params, 2).upper()  # ASSUMPTION: in any letter case
    if service_type not in OPENABLE:
        raise CmdError(INVALID_PARAMETERS)
    host = host_param(m, call, 3)
    server = service_type in SERVERS
    # ambiguity 4: "Range: 1-65535", but §4.3.1 gives a listener 0 and §4.2.1 a UDP service 1: ignored for servers
    remote_port = int_param(call.params, 4, 0 if server else m.limits["remote_port_min"], m.limits["remote_port_max"])
    local_port = int_param(call.params, 5, 1 if server else 0, m.limits["local_port_max"], default=0)
    if server and param(call.params, 5) is None:
        raise CmdError(INVALID_PARAMETERS)  # "If <service_type> is "TCP LISTENER" or "UDP SERVICE", ... must"
    int_param(call.params, 6, 0, 2, default=PUSH)  # ambiguity 5: 0-2 taken, and always direct push (§1.2)
    if m.sockets.get(cid) is not None:
        raise CmdError(ID_IN_USE)  # ASSUMPTION: refused before OK, the ID stays as it is
    m.require_pdn()
    svc = Service(cid, cid, ctx_id, service_type, PUSH, server_id=cid, host=host, delivery=m.push_delivery,
                  remote_port=0 if service_type == LISTENER else remote_port, requested_local_port=local_port)
    m.sockets.add(svc)  # §2.3.1 note 3: from the OK on the ID is taken, whatever the result
    injected = m.take_injection("+QIOPEN")
    if injected:
        return _fail_after_ok(m, svc, injected)
    if local_port and m.sockets.port_in_use(local_port, service_type in (TCP, LISTENER)):
        return _fail_after_ok(m, svc, PORT_BUSY)
    if server:
        code = m.sockets.open_server(svc, m.config.local_ip)
        if code:
            return _fail_after_ok(m, svc, code)
        m.loop.call_soon(m.callback(lambda: _report(m, cid, 0)))
        return Reply()
    m.sockets.open_client(svc, m.pdn.dns)
    return Reply()


def _fail_after_ok(m: Bc660kModule, svc: Service, code: int) -> Reply:
    _keep_failed(m, svc)
    m.loop.call_soon(m.callback(lambda: _report(m, svc.connect_id, code)))
    return Reply()


def _keep_failed(m: Bc660kModule, svc: Service) -> None:
    # §2.3.1 note 3: "If the connection fails, AT+QICLOSE=<connectID> should be executed": the ID stays taken, in
    # state 0 "Initial", with no socket
    if svc.sock is not None or svc.resolver is not None:
        m.sockets.drop(svc)
    svc.state = INITIAL
    svc.local_port = 0
    m.sockets.add(svc)


def _report(m: Bc660kModule, cid: int, code: int) -> None:
    m.urc(f"+QIOPEN: {cid},{code}")  # §2.3.1


def open_result(m: Bc660kModule, svc: Service, code: int) -> None:
    """The engine's result of a client's open (resolving, connecting)."""
    if code:
        _keep_failed(m, svc)
    _report(m, svc.connect_id, code)


def incoming(m: Bc660kModule, listener: Service, conn: socket.socket, peer: tuple[str, int]) -> None:
    """§2.4.3: a client connected to a "TCP LISTENER"; it gets a free <connectID> and is "TCP INCOMING"."""
    # ASSUMPTION: the lowest free ID (§4.3.1 shows 1 after a listener on 0)
    cid = next((i for i in range(m.limits["connect_id_min"], m.limits["connect_id_max"] + 1)
                if m.sockets.get(i) is None), None)
    if cid is None:
        # ASSUMPTION: the note has no "incoming full": the connection is accepted and closed (FIN), without a URC
        log(f"incoming connection from {peer[0]}:{peer[1]} on listener {listener.connect_id}: no free connect ID")
        conn.close()
        return
    svc = m.sockets.adopt(conn, peer, key=cid, connect_id=cid, listener=listener, access_mode=PUSH,
                          delivery=m.push_delivery)
    svc.host = peer[0]
    m.urc(f'+QIURC: "incoming",{cid},{listener.connect_id},"{peer[0]}",{peer[1]}')


# -- AT+QICLOSE (§2.3.2) -----------------------------------------------------------------------------------------

def qiclose(m: Bc660kModule, call: Call) -> Reply | Pending:
    if call.kind == "test":
        return Reply([f"+QICLOSE: {_range(m, 'connect_id_min', 'connect_id_max')}"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 1)
    svc = m.sockets.get(connect_id(m, call))
    injected = m.take_injection("+QICLOSE")
    if injected:
        raise CmdError(injected)
    if svc is None:
        raise CmdError(INVALID_PARAMETERS)  # ambiguity 31: "If there is any error: ERROR"
    if svc.service_type == LISTENER:
        # §4.3.4: after the listener's close AT+QISTATE? lists nothing: its incoming connections go with it, silently
        for conn in [s for s in m.sockets.services.values()
                     if s.service_type == INCOMING and s.server_id == svc.connect_id]:
            m.sockets.hang_up(conn)
    # ASSUMPTION: a TCP connection is closed with a FIN and not held open for the peer's; one still opening is
    # abandoned (no +QIOPEN follows)
    m.sockets.hang_up(svc)
    return m.ok_then("CLOSE OK", delay="command")  # §2.3.2: OK, then CLOSE OK


# -- AT+QISTATE (§2.3.3) ------------------------------------------------------------------------------------------

def qistate(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QISTATE: 0,{_range(m, 'context_id_min', 'context_id_max')}",
                      f"+QISTATE: 1,{_range(m, 'connect_id_min', 'connect_id_max')}"])
    chosen = list(m.sockets.services.values())
    if call.kind == "write":
        count(call, 2)
        if int_param(call.params, 0, 0, 1) == 0:
            ctx_id = context_id(m, call, 1)
            chosen = [s for s in chosen if s.context_id == ctx_id]
        else:
            cid = connect_id(m, call, 1)
            chosen = [s for s in chosen if s.connect_id == cid]
    elif call.kind != "read":
        raise CmdError(INVALID_PARAMETERS)
    injected = m.take_injection("+QISTATE")
    if injected:
        raise CmdError(injected)
    # note 2: "If no list of +QISTATE: is displayed in the response, there is no connection"
    return Reply([state_line(s) for s in sorted(chosen, key=lambda s: s.connect_id)])


def state_line(svc: Service) -> str:
    """One +QISTATE line (§2.3.3); <host> and <remote_port> as AT+QIOPEN gave them (ambiguities 7 and 8)."""
    host = svc.remote_ip if svc.service_type == INCOMING else svc.host
    # ambiguity 8: as given (§4.1.1 shows 0 for an automatic port); an incoming connection shows its listener's
    local_port = svc.local_port if svc.service_type == INCOMING else svc.requested_local_port
    return (f'+QISTATE: {svc.connect_id},"{svc.service_type}","{host}",{svc.remote_port},{local_port},'
            f"{shown_state(svc)},{svc.context_id},{svc.access_mode}")


def shown_state(svc: Service) -> int:
    """<socket_state> in the note's numbering (§2.3.3 and ambiguities 9, 10)."""
    if svc.state == INITIAL:
        return 0
    if svc.state == OPENING:
        return 1
    if svc.state == LISTENING:
        return 2  # §4.3.1 shows a listening "TCP LISTENER" as 2
    if svc.close_reason == "pdp":
        return CLOSED_BY_NETWORK
    if svc.state == CLOSING:
        return 4  # "Remote Closing": the peer closed or reset it (§2.4.1)
    return svc.state
