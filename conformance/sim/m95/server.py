"""M95 server: AT+QISERVER, and the clients its listener accepts (GSM TCP/IP Application Note §3.2, §3.4, §4.2, §5.1).

The listener is keyed ``(context, "listener")``; its clients take the single mode's server connection or a MUX profile
(connections.py). A UDP listener's clients are connections of their own without a socket: each is announced at its
first datagram and answered through the listener's socket (``Service.via``).
"""

from __future__ import annotations

import socket
from collections.abc import Hashable
from typing import TYPE_CHECKING

from ..engine import Call, CmdError, Reply, Service
from ..engine.params import int_param
from ..engine.sockets import CONNECTED, LISTENER, TCP, UDP, UDP_SERVICE
from ..loop import log
from .connections import SERVER, free, listener_of, live, prefix, profile_room
from .stack import (
    CONNECT_OK,
    IP_CLOSE,
    IP_INITIAL,
    IP_START,
    IP_STATUS,
    MUX_OPEN_STATES,
    Stack,
    activation_refused,
    ensure_active,
    require,
)

if TYPE_CHECKING:
    from .module import M95Module

__all__ = ["COMMANDS", "UdpPeers", "incoming"]

SERVER_TYPES = (TCP, UDP)  # AT+QISERVER=<type>: 0 TCP, 1 UDP (§3.2)
# single mode: AT+QISERVER in these states (IP INITIAL activates first, §3); ASSUMPTION: ERROR elsewhere
SERVER_STATES = (IP_INITIAL, IP_STATUS, IP_CLOSE, CONNECT_OK)
MUX_SERVER_STATES = MUX_OPEN_STATES

def qiserver(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply([f"+QISERVER: (0,1),(1-{m.limits['server_clients_max']})"])
    if call.kind == "read":
        listener = listener_of(m, stack)
        if listener is None:
            return Reply()
        return Reply([f"+QISERVER: {SERVER_TYPES.index(listener.extra['protocol'])},{listener.extra['max']}"])
    if call.kind == "exec":
        protocol, most = TCP, m.limits["server_clients_max"]
    elif call.kind == "write" and len(call.params) in (1, 2):
        protocol = SERVER_TYPES[int_param(call.params, 0, 0, 1)]
        # §3.4: the maximum number of clients (ASSUMPTION: 1-5; single mode takes one client whatever it says)
        most = int_param(call.params, 1, 1, m.limits["server_clients_max"], default=m.limits["server_clients_max"])
    else:
        raise CmdError(None)
    require(m, stack, MUX_SERVER_STATES if stack.mux else SERVER_STATES)
    if listener_of(m, stack) is not None:
        raise CmdError(None)  # ASSUMPTION: already listening
    if stack.phase == IP_INITIAL and activation_refused(m, stack):
        raise CmdError(None)
    injected = m.take_injection("+QISERVER") is not None
    key = (stack.context_id, "listener")
    port = stack.lport_tcp if protocol == TCP else stack.lport_udp
    listener = Service(key, 0, stack.context_id, LISTENER if protocol == TCP else UDP_SERVICE, stack.mode,
                       server_id=0, requested_local_port=port)
    listener.extra.update(protocol=protocol, max=most if stack.mux else 1)
    if protocol == UDP:
        listener.delivery = UdpPeers()
    m.sockets.add(listener)
    if stack.phase == IP_INITIAL:
        stack.phase = IP_START

    def start() -> None:
        if injected:
            m.sockets.drop(listener)
            m.urc("ERROR")
            return
        ensure_active(m, stack, m.callback(listen))

    def listen(activated: bool) -> None:
        if m.sockets.get(key) is not listener:
            return
        code = m.sockets.open_server(listener, m.address(stack.context_id)) if activated else 1
        if code:
            m.sockets.drop(listener)
            # ASSUMPTION: the documents show no failure; a refused activation or port reads OK, then ERROR
            m.urc("ERROR")
            return
        m.urc("SERVER OK")  # §3.2: OK, then SERVER OK once listening

    return Reply(after=m.callback(start))


def incoming(m: M95Module, listener: Service, conn: socket.socket, peer: tuple[str, int]) -> None:
    """A TCP client connected to the listener (§3.2, §3.4, §5.1)."""
    stack = m.stacks[listener.context_id]
    key = _server_key(m, stack, listener)
    if key is None:
        # ASSUMPTION: a client beyond the limit is closed at once (the peer sees its connection closed)
        log(f"listener of context {stack.context_id}: no room for {peer[0]}:{peer[1]}, closed")
        conn.close()
        return
    free(m, key)
    svc = m.sockets.adopt(conn, peer, key=key, connect_id=key[1] if stack.mux else 0, listener=listener,
                          access_mode=stack.mode, delivery=m.delivery(stack))
    _accepted(m, stack, svc)


def _server_key(m: M95Module, stack: Stack, listener: Service) -> Hashable | None:
    if stack.mux:
        accepted = [s for s in m.live_services(stack.context_id) if s.extra.get("role") == SERVER]
        if len(accepted) >= listener.extra["max"] or not profile_room(m, stack):
            return None
        for index in range(m.limits["mux_index_min"], m.limits["mux_index_max"] + 1):
            if live(m.sockets.get((stack.context_id, index))) is None:
                return (stack.context_id, index)  # ASSUMPTION: the lowest free profile (AN §3.4 shows 0)
        return None
    if live(m.sockets.get((stack.context_id, "server"))) is not None:
        return None  # single mode: one client (§3)
    if stack.mode == 1 and m.data_mode.service is not None:
        return None  # transparent mode: one connection on the port (§4)
    return (stack.context_id, "server")


def _accepted(m: M95Module, stack: Stack, svc: Service) -> None:
    svc.extra["role"] = SERVER
    line = f"{prefix(stack, svc)}REMOTE IP: {svc.remote_ip}"  # §3.2, §3.4, §5.1
    if stack.mode == 1:
        m.enter_data_mode(svc, before=line)  # §4.2, §5.1: REMOTE IP, then CONNECT and data mode
    else:
        m.urc(line)


class UdpPeers:
    """The delivery of a UDP listener (AT+QISERVER=1): each client is a connection of its own, announced with
    REMOTE IP at its first datagram (§3.2), which it then gets as received data; the module answers it through the
    listener's socket (ASSUMPTION)."""

    def read_size(self, module: M95Module, svc: Service) -> int:
        return 65536  # datagrams are read as they come (UDP has no flow control)

    def deliver(self, module: M95Module, listener: Service, payload: bytes, peer: tuple[str, int] | None) -> None:
        if peer is None:
            return
        stack = module.stacks[listener.context_id]
        conn = next((s for s in module.sockets.of_context(listener.context_id)
                     if s.via is listener and (s.remote_ip, s.remote_port) == peer and s.close_reason is None), None)
        if conn is None:
            key = _server_key(module, stack, listener)
            if key is None:
                log(f"UDP listener of context {stack.context_id}: no room for {peer[0]}:{peer[1]}, datagram dropped",
                    key="udp server full")
                return
            free(module, key)
            conn = Service(key, key[1] if stack.mux else 0, listener.context_id, UDP, stack.mode, server_id=0,
                           delivery=module.delivery(stack), remote_ip=peer[0], remote_port=peer[1], state=CONNECTED,
                           local_port=listener.local_port, via=listener)
            module.sockets.add(conn)
            _accepted(module, stack, conn)
        conn.total_received += len(payload)
        if conn is module.data_mode.service:
            conn.have_read += len(payload)
            module.emit(payload)
            return
        conn.delivery.deliver(module, conn, payload, peer)


COMMANDS = {
    "+QISERVER": qiserver,
}
