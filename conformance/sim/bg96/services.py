"""BG96 network services and settings: AT+QPING, AT+QNTP, AT+QIDNSCFG, AT+QIDNSGIP, AT+QICFG, AT+QISDE,
AT+QIGETERROR (§2.1.11-2.1.17)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine import Call, CmdError, Reply, local_time, zone
from ..engine.codes import DNS_BUSY, INVALID_PARAMETERS, OPERATION_BUSY
from ..engine.netops import DnsQuery, NtpQuery, PingReply, PingSession, ipv4_literal
from ..engine.params import count, int_param, str_param
from .contexts import context_id, id_range

if TYPE_CHECKING:
    from .module import Bg96Module

__all__ = ["qicfg", "qidnscfg", "qidnsgip", "qigeterror", "qisde", "qntp", "qping"]

PORT_MAX = 65535
QPING_TIMEOUT_MAX = 255  # §2.1.11
QPING_COUNT_MAX = 10  # §2.1.11
NTP_DEFAULT_PORT = 123  # §2.1.12: AT+QNTP <port> is optional


def _lookup(m: Bg96Module, servers: list[str], host: str, on_done: Callable[[int, list[str], int], None]) -> DnsQuery:
    """A DNS lookup on the real network whose answer is reported after the timing profile's DNS delay."""

    def answered(err: int, addresses: list[str], ttl: int) -> None:
        delay = m.timing.delay("dns")
        report = m.callback(lambda: on_done(err, addresses, ttl))
        if delay > 0:
            m.loop.call_later(delay, report)
        else:
            report()

    query = DnsQuery(m.loop, servers, m.config.dns_port, host, m.config.dns_timeout_s, m.callback(answered))
    query.start()
    return query


# -- AT+QPING (§2.1.11) ------------------------------------------------------------------------------------------

def qping(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QPING: {id_range(m, 'context_id_min', 'context_id_max')},<host>,"
                      f"(1-{QPING_TIMEOUT_MAX}),(1-{QPING_COUNT_MAX})"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 2, 3, 4)
    ctx = m.contexts.get(context_id(m, call))
    host = str_param(call.params, 1, empty=False)
    timeout = int_param(call.params, 2, 1, QPING_TIMEOUT_MAX, default=m.limits["qping_timeout_default_s"])
    ping_count = int_param(call.params, 3, 1, QPING_COUNT_MAX, default=m.limits["qping_count_default"])
    m.require_active(ctx)
    if m.ping_busy is not None:
        raise CmdError(OPERATION_BUSY)  # ASSUMPTION: one AT+QPING at a time
    injected = m.take_injection("+QPING")
    if injected:
        m.loop.call_soon(m.callback(lambda: _ping_final(m, injected)))
        return Reply()
    times: list[int] = []

    def on_reply(reply: PingReply | None) -> None:
        if reply is None:
            m.urc("+QPING: 569")  # ASSUMPTION: a lost request reports the timeout code
            return
        times.append(reply.time_ms)
        m.urc(f'+QPING: 0,"{reply.address}",{reply.size},{reply.time_ms},{reply.ttl}')

    def on_done(err: int, sent: int, received: int) -> None:
        m.ping_busy = None
        if err:
            _ping_final(m, err)
            return
        low, high = (min(times), max(times)) if times else (0, 0)
        average = sum(times) // len(times) if times else 0
        m.last_error = 0
        m.urc(f"+QPING: 0,{sent},{received},{sent - received},{low},{high},{average}")

    def on_resolved(err: int, addresses: list[str], ttl: int) -> None:
        if err:
            m.ping_busy = None
            _ping_final(m, err)
            return
        m.ping_busy = PingSession(m.loop, addresses[0], ping_count, timeout, m.callback(on_reply),
                                  m.callback(on_done))
        m.ping_busy.start()

    m.ping_busy = _lookup(m, ctx.dns, host, on_resolved)
    return Reply()


def _ping_final(m: Bg96Module, code: int) -> None:
    m.last_error = code
    m.urc(f"+QPING: {code}")


# -- AT+QNTP (§2.1.12) -------------------------------------------------------------------------------------------

def qntp(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QNTP: {id_range(m, 'context_id_min', 'context_id_max')},<server>,(1-{PORT_MAX}),(0,1)"])
    if call.kind == "read":
        return Reply([f'+QNTP: "{m.ntp_target[0]}",{m.ntp_target[1]}'] if m.ntp_target else [])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 2, 3, 4)
    ctx = m.contexts.get(context_id(m, call))
    server = str_param(call.params, 1, empty=False)
    port = int_param(call.params, 2, 1, PORT_MAX, default=NTP_DEFAULT_PORT)
    autoset = int_param(call.params, 3, 0, 1, default=1)
    m.require_active(ctx)
    if m.ntp_target is not None:
        raise CmdError(OPERATION_BUSY)  # ASSUMPTION: one synchronisation at a time
    injected = m.take_injection("+QNTP")
    if injected:
        m.loop.call_soon(m.callback(lambda: _ntp_final(m, injected, "")))
        return Reply()
    m.ntp_target = (server, port)

    def on_time(err: int, unix_time: float) -> None:
        m.ntp_busy = None
        if err:
            _ntp_final(m, err, "")
            return
        if autoset:
            m.clock_offset_s = unix_time - time.time()
        _ntp_final(m, 0, time.strftime("%Y/%m/%d,%H:%M:%S", local_time(m, unix_time)) + zone(m))

    def on_resolved(err: int, addresses: list[str], ttl: int) -> None:
        if err:
            m.ntp_busy = None
            _ntp_final(m, err, "")
            return
        m.ntp_busy = NtpQuery(m.loop, addresses[0], port, m.config.ntp_timeout_s, m.callback(on_time))
        m.ntp_busy.start()

    m.ntp_busy = _lookup(m, ctx.dns, server, on_resolved)
    return Reply()


def _ntp_final(m: Bg96Module, code: int, stamp: str) -> None:
    m.ntp_target = None
    m.last_error = code
    m.urc(f'+QNTP: 0,"{stamp}"' if code == 0 else f"+QNTP: {code}")


# -- DNS (§2.1.13, §2.1.14) ----------------------------------------------------------------------------------------

def qidnscfg(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QIDNSCFG: {id_range(m, 'context_id_min', 'context_id_max')},<pridnsaddr>,<secdnsaddr>"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    n = count(call, 1, 2, 3)
    ctx = m.contexts.get(context_id(m, call))
    if n == 1:
        return Reply([f'+QIDNSCFG: {ctx.context_id},"{ctx.dns[0]}","{ctx.dns[1]}"'])
    primary = ipv4_literal(str_param(call.params, 1))
    secondary = ipv4_literal(str_param(call.params, 2)) if n == 3 else "0.0.0.0"
    if primary is None or secondary is None:
        raise CmdError(INVALID_PARAMETERS)
    m.require_active(ctx)  # §2.1.13: activate the context first
    injected = m.take_injection("+QIDNSCFG")
    if injected:
        raise CmdError(injected)
    ctx.dns = [primary, secondary]
    ctx.dns_from_network = False
    return Reply()


def qidnsgip(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QIDNSGIP: {id_range(m, 'context_id_min', 'context_id_max')},<hostname>"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 2)
    ctx = m.contexts.get(context_id(m, call))
    hostname = str_param(call.params, 1, empty=False)
    m.require_active(ctx)
    if ctx.dns_query is not None:
        raise CmdError(DNS_BUSY)  # ASSUMPTION: ERROR, not a URC
    injected = m.take_injection("+QIDNSGIP")
    if injected:
        m.loop.call_soon(m.callback(lambda: _dnsgip_result(m, injected, [], 0)))
        return Reply()

    def on_done(err: int, addresses: list[str], ttl: int) -> None:
        ctx.dns_query = None
        _dnsgip_result(m, err, addresses, ttl)

    ctx.dns_query = _lookup(m, ctx.dns, hostname, on_done)
    return Reply()


def _dnsgip_result(m: Bg96Module, err: int, addresses: list[str], ttl: int) -> None:
    m.last_error = err
    if err:
        m.urc(f'+QIURC: "dnsgip",{err}')
        return
    m.urc(f'+QIURC: "dnsgip",0,{len(addresses)},{ttl}')
    for address in addresses:
        m.urc(f'+QIURC: "dnsgip","{address}"')


# -- settings (§2.1.15-2.1.17) -------------------------------------------------------------------------------------

def qicfg(m: Bg96Module, call: Call) -> Reply:
    from .module import RETRANS_BACKOFFS, RETRANS_RTO

    limits = m.limits
    if call.kind == "test":
        return Reply([
            f'+QICFG: "transpktsize",({limits["transpktsize_min"]}-{limits["transpktsize_max"]})',
            f'+QICFG: "transwaittm",(0-{limits["transwaittm_max"]})',
            '+QICFG: "dataformat",(0,1),(0,1)',
            '+QICFG: "viewmode",(0,1)',
            f'+QICFG: "tcp/retranscfg",({RETRANS_BACKOFFS[0]}-{RETRANS_BACKOFFS[1]}),'
            f"({RETRANS_RTO[0]}-{RETRANS_RTO[1]})",
        ])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    key = str_param(call.params, 0).lower()
    injected = m.take_injection("+QICFG")
    if injected:
        raise CmdError(injected)
    # key -> (parameter count when written, the settings with their ranges, the attributes they set)
    table: dict[str, tuple[list[tuple[int, int]], list[str]]] = {
        "transpktsize": ([(limits["transpktsize_min"], limits["transpktsize_max"])], ["transpktsize"]),
        "transwaittm": ([(0, limits["transwaittm_max"])], ["transwaittm"]),
        "dataformat": ([(0, 1), (0, 1)], ["send_data_format", "recv_data_format"]),
        "viewmode": ([(0, 1)], ["view_mode"]),
        "tcp/retranscfg": ([RETRANS_BACKOFFS[:2], RETRANS_RTO[:2]], ["max_backoffs", "max_rto"]),
    }
    if key not in table:
        raise CmdError(INVALID_PARAMETERS)
    ranges, attributes = table[key]
    if count(call, 1, 1 + len(ranges)) == 1:
        values = ",".join(str(getattr(m, a)) for a in attributes)
        return Reply([f'+QICFG: "{key}",{values}'])
    new: list[Any] = [int_param(call.params, 1 + i, low, high) for i, (low, high) in enumerate(ranges)]
    if key == "tcp/retranscfg":
        m.set_retransmission(new[0], new[1])  # §2.1.15 note: it takes effect on all TCP sockets
    else:
        for attribute, value in zip(attributes, new):
            setattr(m, attribute, value)
    return Reply()


def qisde(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+QISDE: (0,1)"])
    if call.kind == "read":
        return Reply([f"+QISDE: {m.qisde}"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 1)
    m.qisde = int_param(call.params, 0, 0, 1)
    return Reply()


def qigeterror(m: Bg96Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    # §3.9 shows the description after a comma and a space, in lower case
    return Reply([f"+QIGETERROR: {m.last_error}, {m.meaning(m.last_error)}"])
