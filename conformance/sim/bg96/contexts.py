"""BG96 PDP context commands: AT+QICSGP, AT+QIACT, AT+QIDEACT (§2.1.1-2.1.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine import PENDING, Call, CmdError, Pending, Reply
from ..engine.codes import INVALID_PARAMETERS
from ..engine.params import count, int_param, str_param

if TYPE_CHECKING:
    from .module import Bg96Module

CONTEXT_TYPES = (1, 2)  # §2.1.1: 1 IPV4, 2 IPV6 (under development)
AUTHENTICATION_MAX = 3  # §2.1.1


def context_id(m: Bg96Module, call: Call, index: int = 0) -> int:
    """A <contextID> parameter in the dialect's range."""
    return int_param(call.params, index, m.limits["context_id_min"], m.limits["context_id_max"])


def id_range(m: Bg96Module, low: str, high: str) -> str:
    """``(1-16)``: a range of the dialect's limits, as test commands show it."""
    return f"({m.limits[low]}-{m.limits[high]})"


def qicsgp(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QICSGP: {id_range(m, 'context_id_min', 'context_id_max')},(1,2),<APN>,<username>,"
                      f"<password>,(0-{AUTHENTICATION_MAX})"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    n = count(call, 1, 3, 5, 6)
    ctx = m.contexts.get(context_id(m, call))
    if n == 1:
        return Reply([f'+QICSGP: {ctx.context_type},"{ctx.apn}","{ctx.username}","{ctx.password}",'
                      f"{ctx.authentication}"])
    context_type = int_param(call.params, 1, min(CONTEXT_TYPES), max(CONTEXT_TYPES))
    apn = str_param(call.params, 2)
    username = str_param(call.params, 3) if n >= 5 else ""
    if n == 5 and not call.params[4].quoted:
        # §2.1.1 / §3.1.1: the manual's own example AT+QICSGP=1,1,"UNINET","",1 gives <authentication> with the
        # password left out; read an unquoted fifth parameter so (ASSUMPTION: the syntax line is garbled there)
        password, authentication = "", int_param(call.params, 4, 0, AUTHENTICATION_MAX)
    else:
        password = str_param(call.params, 4) if n >= 5 else ""
        authentication = int_param(call.params, 5, 0, AUTHENTICATION_MAX, default=0) if n == 6 else 0
    injected = m.take_injection("+QICSGP")
    if injected:
        raise CmdError(injected)
    ctx.context_type, ctx.apn, ctx.username, ctx.password = context_type, apn, username, password
    ctx.authentication = authentication
    ctx.configured = True
    return Reply()


def qiact(m: Bg96Module, call: Call) -> Reply | Pending:
    if call.kind == "test":
        return Reply([f"+QIACT: {id_range(m, 'context_id_min', 'context_id_max')}"])
    if call.kind == "read":
        # §2.1.2: +QIACT: <contextID>,<context_state>,<context_type>[,<IP_address>]; ASSUMPTION: on a dual-stack
        # network, type 3 followed by the IPv4 and the IPv6 address
        return Reply([",".join([f"+QIACT: {c.context_id},1,{m.contexts.shown_type(c)}",
                                *(f'"{a}"' for a in m.contexts.addresses(c))])
                      for c in m.contexts.active()])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 1)
    ctx = m.contexts.get(context_id(m, call))
    injected = m.take_injection("+QIACT")
    if injected:
        raise CmdError(injected)
    # An empty or never configured APN activates: the network supplies its default (as real networks do).
    code = m.contexts.activate(ctx, m.callback(lambda result: _activated(m, result)))
    if code is None:
        return PENDING  # §2.1.2: the port is busy until the network answers
    if code:
        raise CmdError(code)
    return Reply()


def _activated(m: Bg96Module, code: int) -> None:
    if code:
        m.finish_error(code)
    else:
        m.finish()


def qideact(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QIDEACT: {id_range(m, 'context_id_min', 'context_id_max')}"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 1)
    ctx = m.contexts.get(context_id(m, call))
    injected = m.take_injection("+QIDEACT")
    if injected:
        raise CmdError(injected)
    m.contexts.deactivate(ctx)  # §2.1.3: closes every connection of the context; inactive already: OK
    return Reply(delay="deactivate")
