"""M95 context and stack commands: AT+QIFGCNT, AT+QICSGP, AT+QIMUX, AT+QIMODE, AT+QIDNSIP, AT+QIREGAPP, AT+QIACT,
AT+QILOCIP, AT+QIDEACT (GSM TCP/IP Application Note §3, §5.5, §7; recommended process §2, §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine import PENDING, Call, CmdError, Pending, Reply
from ..engine.params import count, int_param, str_param
from .stack import (
    CONNECT_OK,
    IP_CLOSE,
    IP_GPRSACT,
    IP_INITIAL,
    IP_PROCESSING,
    IP_START,
    IP_STATUS,
    activate,
    activation_refused,
    require,
    state,
)

if TYPE_CHECKING:
    from .module import M95Module

__all__ = ["COMMANDS"]

GPRS = 1  # AT+QICSGP <mode>: 1 GPRS, 0 CSD ("CSD is not supported at present" in the family manual: ERROR)
# AN §5.6.1 / docs/dialects/m95.md §2.2: where AT+QILOCIP answers (from IP GPRSACT it moves to IP STATUS)
LOCIP_STATES = (IP_GPRSACT, IP_STATUS, "TCP CONNECTING", "UDP CONNECTING", CONNECT_OK, IP_CLOSE, IP_PROCESSING)


def _settable(m: M95Module) -> None:
    # ASSUMPTION (family AT manual): the stack's settings change only in IP INITIAL
    require(m, m.fg(), (IP_INITIAL,))


def _switch_value(call: Call, high: int = 1) -> int:
    count(call, 1)
    return int_param(call.params, 0, 0, high)


def qifgcnt(m: M95Module, call: Call) -> Reply:
    ids = m.context_ids()
    if call.kind == "test":
        return Reply([f"+QIFGCNT: ({ids[0]},{ids[-1]})"])
    if call.kind == "read":
        return Reply([f"+QIFGCNT: {m.fgcnt}"])
    if call.kind != "write":
        raise CmdError(None)
    count(call, 1)
    m.fgcnt = int_param(call.params, 0, ids[0], ids[-1])  # §7.2: every later TCP/IP command acts on it
    return Reply()


def qicsgp(m: M95Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(['+QICSGP: (0,1),"APN","USER","PWD"'])
    if call.kind != "write":
        raise CmdError(None)
    n = count(call, 2, 3, 4)
    mode = int_param(call.params, 0, 0, 1)
    apn = str_param(call.params, 1)
    user = str_param(call.params, 2) if n >= 3 else ""
    password = str_param(call.params, 3) if n == 4 else ""
    if mode != GPRS:
        raise CmdError(None)  # §7.1: the contexts are GPRS
    _settable(m)
    _injected(m, "+QICSGP")
    ctx = m.contexts.get(m.fgcnt)
    ctx.apn, ctx.username, ctx.password, ctx.configured = apn, user, password, True
    return Reply()


def qimux(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply(["+QIMUX: (0,1)"])
    if call.kind == "read":
        return Reply([f"+QIMUX: {stack.mux}"])  # recommended process §3.1
    if call.kind != "write":
        raise CmdError(None)
    value = _switch_value(call)
    _settable(m)
    if value and stack.mode == 1:
        raise CmdError(None)  # §3.3: MUX only in non-transparent mode
    _injected(m, "+QIMUX")
    stack.mux = value
    return Reply()


def qimode(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply(["+QIMODE: (0,1)"])
    if call.kind == "read":
        return Reply([f"+QIMODE: {stack.mode}"])
    if call.kind != "write":
        raise CmdError(None)
    value = _switch_value(call)
    _settable(m)
    if value and stack.mux:
        raise CmdError(None)  # §4: transparent mode is single connection only
    if value and any(other.phase != IP_INITIAL for other in m.stacks.values() if other is not stack):
        raise CmdError(None)  # §7.2: no transparent mode while the other context is in use
    _injected(m, "+QIMODE")
    stack.mode = value
    return Reply()


def qidnsip(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply(["+QIDNSIP: (0,1)"])
    if call.kind == "read":
        return Reply([f"+QIDNSIP: {stack.dnsip}"])
    if call.kind != "write":
        raise CmdError(None)
    stack.dnsip = _switch_value(call)  # §8.1, recommended process §2
    return Reply()


def qiregapp(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    ctx = m.contexts.get(stack.context_id)
    if call.kind == "test":
        return Reply(['+QIREGAPP: "APN","USER","PWD"'])
    if call.kind == "read":
        # ASSUMPTION (family AT manual); the password is redacted in artifacts (dialect secrets)
        return Reply([f'+QIREGAPP: "{ctx.apn}","{ctx.username}","{ctx.password}"'])
    if call.kind == "write":
        n = count(call, 1, 2, 3)
        values = [str_param(call.params, i) for i in range(n)] + ["", ""]
    elif call.kind != "exec":
        raise CmdError(None)
    require(m, stack, (IP_INITIAL,))  # §5.6.1: IP INITIAL -> IP START
    _injected(m, "+QIREGAPP")
    if call.kind == "write":
        ctx.apn, ctx.username, ctx.password, ctx.configured = values[0], values[1], values[2], True
    stack.phase = IP_START
    return Reply()


def qiact(m: M95Module, call: Call) -> Reply | Pending:
    stack = m.fg()
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    require(m, stack, (IP_START,))  # ASSUMPTION: from IP INITIAL AT+QIREGAPP comes first (AN §3)
    _injected(m, "+QIACT")
    if activation_refused(m, stack):
        raise CmdError(None)

    def answered(activated: bool) -> None:
        if activated:
            m.finish()
        else:
            m.finish_error(None)

    result = activate(m, stack, m.callback(answered), implicit=False)
    if result is None:
        return PENDING  # IP CONFIG, IP IND: the port is busy until the network answers (V2.0 §9: 150 s at most)
    if not result:
        raise CmdError(None)
    return Reply()


def qilocip(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    require(m, stack, LOCIP_STATES)
    _injected(m, "+QILOCIP")
    if stack.phase == IP_GPRSACT:
        stack.phase = IP_STATUS  # §5.6.1: "The local IP address has been gotten by the command AT+QILOCIP"
    return Reply([m.address(stack.context_id)], final=None)  # §3: the address alone, no result code


def qideact(m: M95Module, call: Call) -> Reply | Pending:
    stack = m.fg()
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    if state(m, stack) == IP_INITIAL:
        raise CmdError(None)  # ASSUMPTION (family manual): nothing to deactivate
    _injected(m, "+QIDEACT")
    ctx = m.contexts.get(stack.context_id)
    # §5.5: every connection and listener of the context goes (ASSUMPTION: without CLOSED lines), then IP INITIAL
    m.contexts.deactivate(ctx)
    # ASSUMPTION: the DNS servers of AT+QIDNSCFG go with the context; the next activation negotiates them (AN §8.2)
    ctx.dns_from_network, ctx.dns = True, ["0.0.0.0", "0.0.0.0"]
    stack.phase, stack.client, stack.waiting = IP_INITIAL, None, None
    delay_s = m.config.deactivation_delay_s
    if delay_s > 0:
        m.loop.call_later(delay_s, m.callback(lambda: m.finish("DEACT OK", delay="deactivate")))
        return PENDING  # §5.5: "normally ... about 2-5 seconds" (a configured network delay)
    return Reply(final="DEACT OK", delay="deactivate")


def _injected(m: M95Module, name: str) -> None:
    if m.take_injection(name) is not None:
        raise CmdError(None)  # control inject_error: the command fails the way it can (ERROR)


COMMANDS = {
    "+QIFGCNT": qifgcnt,
    "+QICSGP": qicsgp,
    "+QIMUX": qimux,
    "+QIMODE": qimode,
    "+QIDNSIP": qidnsip,
    "+QIREGAPP": qiregapp,
    "+QIACT": qiact,
    "+QILOCIP": qilocip,
    "+QIDEACT": qideact,
}
