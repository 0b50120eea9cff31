"""M95 connections: AT+QIOPEN, AT+QICLOSE, and what the module says when a connection opens, fails or is closed by
the peer (GSM TCP/IP Application Note §3, §4, §5.4; recommended process §3, §8). The listener is server.py's.

Connections are keyed ``(context, "client")`` and ``(context, "server")`` in single-connection mode (the connection
the module opened, and the client its listener accepted: AT+QISRVC 1 / 2), ``(context, <index>)`` for the MUX
profiles 0-5, and ``(context, "listener")`` for the listener of AT+QISERVER.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from ..engine import Call, CmdError, Reply, Service
from ..engine.netops import ipv4_literal
from ..engine.params import int_param, str_param
from ..engine.sockets import CONNECTED, TCP, UDP
from .stack import (
    CONNECT_OK,
    IP_CLOSE,
    IP_INITIAL,
    IP_START,
    MUX_OPEN_STATES,
    OPEN_STATES,
    Stack,
    activation_refused,
    ensure_active,
    require,
    state,
)

if TYPE_CHECKING:
    from .module import M95Module

__all__ = ["CLIENT", "COMMANDS", "SERVER", "closed_by_peer", "free", "listener_of", "live", "open_result", "prefix",
           "profile_key", "profile_room", "selected"]

PORT_MAX = 65535
CLIENT, SERVER = 1, 2  # the module's role in a connection (+QIRDI <sc>)


def profile_key(stack: Stack, index: int | None, role: int = CLIENT) -> Hashable:
    """The table key of a connection: MUX profile ``index``, or the single mode's client / server connection."""
    if stack.mux:
        return (stack.context_id, index)
    return (stack.context_id, "client" if role == CLIENT else "server")


def listener_of(m: M95Module, stack: Stack) -> Service | None:
    return m.sockets.get((stack.context_id, "listener"))


def live(svc: Service | None) -> Service | None:
    """``svc`` unless it is gone (closed by the peer, kept only for its unread data)."""
    return svc if svc is not None and svc.close_reason is None else None


def selected(m: M95Module, stack: Stack) -> Service | None:
    """The connection a single-mode AT+QISEND / AT+QISACK / AT+QICLOSE acts on: the data-mode connection in
    transparent mode (A19), else the one AT+QISRVC selects (§3.2)."""
    if stack.mode == 1 and m.data_mode.last_key is not None:
        svc = live(m.sockets.get(m.data_mode.last_key))
        if svc is not None and svc.context_id == stack.context_id:
            return svc
    return live(m.sockets.get(profile_key(stack, None, m.qisrvc)))


def prefix(stack: Stack, svc: Service) -> str:
    return f"{svc.connect_id}, " if stack.mux else ""  # §3.3: "0, CONNECT OK"


def _profiles_in_use(m: M95Module, stack: Stack) -> int:
    return sum(1 for s in m.live_services(stack.context_id) if s.key != (stack.context_id, "listener"))


def profile_room(m: M95Module, stack: Stack) -> bool:
    # §2.1 / §3.4 (A5): six profiles; with a listener n + m <= 5 (the listener takes the sixth)
    total = m.limits["mux_clients_max"] - (1 if listener_of(m, stack) is not None else 0)
    return _profiles_in_use(m, stack) < total


def _port(call: Call, index: int) -> int:
    # A12: the port quoted (recommended process "8063") or not (AN 7007)
    p = call.params[index]
    if not p.text.isdigit() or len(p.text) > 5 or not 1 <= int(p.text) <= PORT_MAX:
        raise CmdError(None)
    return int(p.text)


# -- AT+QIOPEN ------------------------------------------------------------------------------------------------

def qiopen(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply(['+QIOPEN: ("TCP","UDP"),("(0-255).(0-255).(0-255).(0-255)","DOMAIN NAME"),(1-65535)'])
    if call.kind != "write":
        raise CmdError(None)
    # recommended process §3.1 ERROR reason 1: the single form with MUX on, the MUX form with MUX off (A16)
    if len(call.params) != (4 if stack.mux else 3):
        raise CmdError(None)
    index = int_param(call.params, 0, m.limits["mux_index_min"], m.limits["mux_index_max"]) if stack.mux else None
    first = 1 if stack.mux else 0
    protocol = str_param(call.params, first).upper()
    host = str_param(call.params, first + 1, empty=False)
    port = _port(call, first + 2)
    if protocol not in (TCP, UDP):
        raise CmdError(None)
    if stack.dnsip == 0 and ipv4_literal(host) is None:
        raise CmdError(None)  # ASSUMPTION: a name while AT+QIDNSIP=0 is a format error
    key = profile_key(stack, index)
    if stack.mux:
        require(m, stack, MUX_OPEN_STATES)
        if live(m.sockets.get(key)) is not None:
            return Reply(final=f"{index}, ALREADY CONNECT")  # ASSUMPTION of the MUX form
        if not profile_room(m, stack):
            raise CmdError(None)
    else:
        if state(m, stack) == CONNECT_OK and live(m.sockets.get(key)) is not None:
            return Reply(final="ALREADY CONNECT")  # recommended process §3.1, instead of OK
        require(m, stack, OPEN_STATES)  # recommended process §3.1 ERROR reason 2
    if stack.phase == IP_INITIAL and activation_refused(m, stack):
        raise CmdError(None)
    injected = m.take_injection("+QIOPEN") is not None
    free(m, key)
    svc = Service(key, index or 0, stack.context_id, protocol, stack.mode, server_id=index or 0, host=host,
                  remote_port=port, delivery=m.delivery(stack))
    svc.extra["role"] = CLIENT
    m.sockets.add(svc)
    if not stack.mux:
        stack.client = f"{protocol} CONNECTING"
    if stack.phase == IP_INITIAL:
        stack.phase = IP_START  # AN §3: AT+QIOPEN registers the stack and activates the context itself

    def start() -> None:
        if injected:
            m.sockets.drop(svc)
            open_result(m, svc, 1)  # control inject_error: the open fails (CONNECT FAIL)
            return
        ensure_active(m, stack, m.callback(connect))

    def connect(activated: bool) -> None:
        if m.sockets.get(key) is not svc:
            return  # closed or deactivated meanwhile
        if not activated:
            m.sockets.drop(svc)
            stack.client = None
            open_result(m, svc, 1)  # the activation failed: CONNECT FAIL, state PDP DEACT
            return
        m.sockets.open_client(svc, m.contexts.get(stack.context_id).dns)

    return Reply(after=m.callback(start))  # §3.1: OK, then the connection's result


def open_result(m: M95Module, svc: Service, code: int) -> None:
    """The engine's result of an open (0 or a failure): CONNECT OK / CONNECT / CONNECT FAIL (§3.1, §4.1; recommended
    process §3.1)."""
    stack = m.stacks[svc.context_id]
    if code:
        if not stack.mux and stack.client is not None:
            stack.client = f"{svc.service_type} CONNECTING"  # A17: AT+QISTAT then says TCP CONNECTING
        m.urc(f"{prefix(stack, svc)}CONNECT FAIL")
        return
    if not stack.mux:
        stack.client = CONNECT_OK
    if stack.mode == 1:
        m.enter_data_mode(svc)  # §4.1: OK, then CONNECT and data mode
        return
    m.urc(f"{prefix(stack, svc)}CONNECT OK")


def free(m: M95Module, key: Hashable) -> None:
    old = m.sockets.get(key)
    if old is not None:
        m.sockets.drop(old)  # a connection the peer closed, kept for its unread data: the profile is reused

# -- closing --------------------------------------------------------------------------------------------------

def closed_by_peer(m: M95Module, svc: Service, *, in_data_mode: bool) -> None:
    """The peer closed or reset a connection: CLOSED (§6.3; MUX ``<i>, CLOSED``, ASSUMPTION); in data mode the
    engine has said it already. Its unread data stays readable (ASSUMPTION); the state is IP CLOSE."""
    stack = m.stacks[svc.context_id]
    if not stack.mux and svc.extra.get("role") == CLIENT:
        stack.client = IP_CLOSE
    if not in_data_mode:
        m.urc(f"{prefix(stack, svc)}CLOSED")
    if not svc.buffered:
        m.sockets.drop(svc)


def qiclose(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply()
    if call.kind == "write" and stack.mux and len(call.params) == 1:
        index = int_param(call.params, 0, m.limits["mux_index_min"], m.limits["mux_index_max"])
        svc = live(m.sockets.get((stack.context_id, index)))
        if svc is None:
            raise CmdError(None)  # ASSUMPTION: nothing to close
        _injected(m)
        _close(m, stack, svc)
        return Reply(final=f"{index}, CLOSE OK")  # §5.4 (A4)
    if call.kind != "exec":
        raise CmdError(None)
    if stack.mux:
        # §3.4 step 4: with AT+QISRVC=2, AT+QICLOSE closes the listener; ASSUMPTION: ERROR with AT+QISRVC=1
        target = listener_of(m, stack) if m.qisrvc == SERVER else None
    elif stack.mode == 1 and selected(m, stack) is not None:
        target = selected(m, stack)  # A19: in transparent mode the data connection, whatever AT+QISRVC says
    elif m.qisrvc == SERVER:
        # §3.2 step 4: the accepted client first, then the listener
        target = live(m.sockets.get((stack.context_id, "server"))) or listener_of(m, stack)
    else:
        target = live(m.sockets.get((stack.context_id, "client")))
        if target is None and stack.client in ("TCP CONNECTING", "UDP CONNECTING"):
            _injected(m)
            stack.client = IP_CLOSE  # recommended process §3.1: close the failed attempt; the context stays active
            return Reply(final="CLOSE OK")
    if target is None:
        raise CmdError(None)
    _injected(m)
    _close(m, stack, target)
    return Reply(final="CLOSE OK")  # §3.1 (the recommended process V2.0 §9: within 300 ms)


def _close(m: M95Module, stack: Stack, svc: Service) -> None:
    # ASSUMPTION: CLOSE OK once the FIN is sent, without waiting for the peer's (300 ms at most, V2.0 §9 note 3)
    if svc.key == (stack.context_id, "listener"):
        for peer in [s for s in m.sockets.of_context(stack.context_id) if s.via is svc]:
            m.sockets.drop(peer)  # a UDP listener's clients have no socket of their own
        m.sockets.drop(svc)
        return
    if svc.is_tcp and svc.state == CONNECTED and svc.sock is not None:
        m.sockets.hang_up(svc)
    else:
        m.sockets.drop(svc)  # still connecting (aborted), or UDP
    if not stack.mux and svc.extra.get("role") == CLIENT:
        stack.client = IP_CLOSE


def _injected(m: M95Module) -> None:
    if m.take_injection("+QICLOSE") is not None:
        raise CmdError(None)


COMMANDS = {
    "+QIOPEN": qiopen,
    "+QICLOSE": qiclose,
}
