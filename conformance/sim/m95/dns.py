"""M95 DNS: AT+QIDNSCFG, AT+QIDNSGIP (GSM TCP/IP Application Note §8.2). Names in AT+QIOPEN (AT+QIDNSIP=1, §8.1)
are resolved by the engine through the same servers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine import Call, CmdError, Reply
from ..engine.netops import DnsQuery, ipv4_literal
from ..engine.params import count, str_param
from .stack import (
    CONNECT_OK,
    IP_CLOSE,
    IP_GPRSACT,
    IP_INITIAL,
    IP_PROCESSING,
    IP_START,
    IP_STATUS,
    activation_refused,
    ensure_active,
    require,
)

if TYPE_CHECKING:
    from .module import M95Module

__all__ = ["COMMANDS"]

# ASSUMPTION: AT+QIDNSGIP works wherever the context is active, and from IP INITIAL activates it first (§8.2)
GIP_STATES = (IP_INITIAL, IP_GPRSACT, IP_STATUS, "TCP CONNECTING", "UDP CONNECTING", CONNECT_OK, IP_CLOSE,
              IP_PROCESSING)
NO_SERVER = "0.0.0.0"


def qidnscfg(m: M95Module, call: Call) -> Reply:
    ctx = m.contexts.get(m.fgcnt)
    if call.kind == "test":
        return Reply()
    if call.kind == "read":
        # ASSUMPTION (family AT manual): the servers in use, the network's unless the host set its own
        return Reply([f"PrimaryDns: {ctx.dns[0]}", f"SecondaryDns: {ctx.dns[1]}"])
    if call.kind != "write":
        raise CmdError(None)
    n = count(call, 1, 2)
    servers = [ipv4_literal(str_param(call.params, i)) for i in range(n)]
    if any(s is None for s in servers):
        raise CmdError(None)  # ASSUMPTION: dotted addresses only
    if m.take_injection("+QIDNSCFG") is not None:
        raise CmdError(None)
    # §8.2: any state (ASSUMPTION); they replace what the network negotiated
    ctx.dns = [servers[0] or NO_SERVER, (servers[1] if n == 2 else None) or NO_SERVER]
    ctx.dns_from_network = False
    return Reply()


def qidnsgip(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    ctx = m.contexts.get(stack.context_id)
    if call.kind == "test":
        return Reply()
    if call.kind != "write":
        raise CmdError(None)
    count(call, 1)
    name = str_param(call.params, 0, empty=False)
    require(m, stack, GIP_STATES)
    if ctx.dns_query is not None:
        raise CmdError(None)  # ASSUMPTION: one query at a time
    if stack.phase == IP_INITIAL and activation_refused(m, stack):
        raise CmdError(None)
    injected = m.take_injection("+QIDNSGIP") is not None
    if stack.phase == IP_INITIAL:
        stack.phase = IP_START  # §8.2: "the AT+QIDNSGIP can activate FGCNT automatically"

    def answer(lines: list[str]) -> None:
        # §8.2: OK, then one address per line and no result code; ASSUMPTION: a failure reads ERROR after the OK
        m.unsolicited(m.info_bytes(lines) if lines else m.final_bytes("ERROR"))

    def resolved(err: int, addresses: list[str], ttl: int) -> None:
        ctx.dns_query = None
        lines = [] if err else addresses
        delay = m.timing.delay("dns")
        if delay > 0:
            m.loop.call_later(delay, m.callback(lambda: answer(lines)))
        else:
            answer(lines)

    def lookup(activated: bool) -> None:
        if not activated or injected:
            answer([])
            return
        ctx.dns_query = DnsQuery(m.loop, ctx.dns, m.config.dns_port, name, m.config.dns_timeout_s,
                                 m.callback(resolved))
        ctx.dns_query.start()

    return Reply(after=m.callback(lambda: ensure_active(m, stack, m.callback(lookup))))


COMMANDS = {
    "+QIDNSCFG": qidnscfg,
    "+QIDNSGIP": qidnsgip,
}
