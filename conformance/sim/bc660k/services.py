"""BC660K network services and settings: AT+QPING, AT+QNTP, AT+QIDNSGIP, AT+QIDNSCFG, AT+QICFG (§2.3.5-§2.3.9).

Each network operation answers ``OK`` at once and its result URCs when the real network has answered
(docs/dialects/bc660k.md §4.5-§4.9).
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING

from ..engine import Call, CmdError, Reply
from ..engine.codes import DNS_BUSY, INVALID_PARAMETERS, OPERATION_BUSY
from ..engine.netops import NtpQuery, PingReply, PingSession
from ..engine.params import count, int_param, str_param
from .sockets import context_id, host_param

if TYPE_CHECKING:
    from .module import Bc660kModule

__all__ = ["qicfg", "qidnscfg", "qidnsgip", "qntp", "qping"]

PORT_MAX = 65535
CONTEXTS = "(0-10)"  # ambiguity 6: the parameter's range, though only 0 is served


# -- AT+QPING (§2.3.5) ---------------------------------------------------------------------------------------------

def qping(m: Bc660kModule, call: Call) -> Reply:
    lim = m.limits
    if call.kind == "test":
        return Reply([f"+QPING: {CONTEXTS},<host>,({lim['qping_timeout_min_s']}-{lim['qping_timeout_max_s']}),"
                      f"({lim['qping_count_min']}-{lim['qping_count_max']}),"
                      f"({lim['qping_size_min']}-{lim['qping_size_max']}),(0,{lim['qping_rai_max']})"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 2, 3, 4, 5, 6)
    context_id(m, call, 0)
    host = host_param(m, call, 1)
    timeout = int_param(call.params, 2, lim["qping_timeout_min_s"], lim["qping_timeout_max_s"],
                        default=lim["qping_timeout_default_s"])
    pings = int_param(call.params, 3, lim["qping_count_min"], lim["qping_count_max"],
                      default=lim["qping_count_default"])
    size = int_param(call.params, 4, lim["qping_size_min"], lim["qping_size_max"], default=lim["qping_size_default"])
    m.last_rai_enable = int_param(call.params, 5, 0, lim["qping_rai_max"], default=0)  # recorded only
    m.require_pdn()
    if m.ping_busy is not None:
        raise CmdError(OPERATION_BUSY)  # ASSUMPTION: one AT+QPING at a time
    injected = m.take_injection("+QPING")
    if injected:
        m.loop.call_soon(m.callback(lambda: m.urc(f"+QPING: {injected}")))
        return Reply()
    times: list[int] = []

    def on_reply(reply: PingReply | None) -> None:
        if reply is None:
            m.urc("+QPING: 569")  # a request unanswered within <time_out>: "Operation timeout"
            return
        times.append(reply.time_ms)
        m.urc(f'+QPING: 0,"{reply.address}",{reply.size},{reply.time_ms},{reply.ttl}')

    def on_done(err: int, sent: int, received: int) -> None:
        m.ping_busy = None
        if err:
            m.urc(f"+QPING: {err}")
            return
        # ambiguity 19: counts of requests (§4.4 shows 4,4,0); ambiguity 21: the average rounded down
        low, high = (min(times), max(times)) if times else (0, 0)
        average = sum(times) // len(times) if times else 0
        m.urc(f"+QPING: 0,{sent},{received},{sent - received},{low},{high},{average}")

    def on_resolved(err: int, addresses: list[str], ttl: int) -> None:
        if err:
            m.ping_busy = None
            m.urc(f"+QPING: {err}")  # the name does not resolve: the final result alone
            return
        m.ping_busy = PingSession(m.loop, addresses[0], pings, timeout, m.callback(on_reply), m.callback(on_done),
                                  size=size)
        m.ping_busy.start()

    m.ping_busy = m.lookup(m.pdn.dns, host, on_resolved)  # note 2: a domain name goes through the DNS server
    return Reply()


# -- AT+QNTP (§2.3.6) ----------------------------------------------------------------------------------------------

def qntp(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QNTP: {CONTEXTS},<server>,(1-{PORT_MAX}),(0,1)"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 2, 3, 4)
    context_id(m, call, 0)
    server = host_param(m, call, 1)
    port = int_param(call.params, 2, 1, PORT_MAX, default=m.limits["qntp_port_default"])
    autoset = int_param(call.params, 3, 0, 1, default=1)  # ambiguity 28: the default's underline is lost
    m.require_pdn()
    if m.ntp_busy is not None:
        raise CmdError(OPERATION_BUSY)  # ASSUMPTION: one synchronisation at a time
    injected = m.take_injection("+QNTP")
    if injected:
        m.loop.call_soon(m.callback(lambda: m.urc(f"+QNTP: {injected}")))
        return Reply()

    def on_time(err: int, unix_time: float) -> None:
        m.ntp_busy = None
        if err:
            m.urc(f"+QNTP: {err}")
            return
        if autoset:
            m.clock_offset_s = unix_time - time.time()  # note 2: AT+CCLK? shows it
        # ambiguity 22: the four-digit year of §4.5's example; the UTC time, as the server gives it
        m.urc(f'+QNTP: 0,"{time.strftime("%Y/%m/%d,%H:%M:%S", time.gmtime(unix_time))}"')

    def on_resolved(err: int, addresses: list[str], ttl: int) -> None:
        if err:
            m.ntp_busy = None
            m.urc(f"+QNTP: {err}")
            return
        m.ntp_busy = NtpQuery(m.loop, addresses[0], port, m.config.ntp_timeout_s, m.callback(on_time))
        m.ntp_busy.start()

    m.ntp_busy = m.lookup(m.pdn.dns, server, on_resolved)
    return Reply()


# -- AT+QIDNSGIP (§2.3.7) ------------------------------------------------------------------------------------------

def qidnsgip(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QIDNSGIP: {CONTEXTS},<hostname>"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    count(call, 2)
    context_id(m, call, 0)
    hostname = host_param(m, call, 1)
    m.require_pdn()
    ctx = m.pdn
    if ctx.dns_query is not None:
        raise CmdError(DNS_BUSY)  # ASSUMPTION: ERROR, not a result URC
    injected = m.take_injection("+QIDNSGIP")
    if injected:
        m.loop.call_soon(m.callback(lambda: m.urc(f"+QIDNSGIP: {injected},0,0")))
        return Reply()

    def on_done(err: int, addresses: list[str], ttl: int) -> None:
        ctx.dns_query = None
        if err:
            m.urc(f"+QIDNSGIP: {err},0,0")  # ASSUMPTION: the shape of a failure
            return
        # ambiguity 25: the count the server returned; note 3: the first address only; ambiguity 26: unquoted
        m.urc(f"+QIDNSGIP: 0,{len(addresses)},{ttl}")
        m.urc(f"+QIDNSGIP: {addresses[0]}")

    ctx.dns_query = m.lookup(ctx.dns, hostname, on_done)
    return Reply()


# -- AT+QIDNSCFG (§2.3.8) ------------------------------------------------------------------------------------------

def qidnscfg(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QIDNSCFG: {CONTEXTS},<pridnsaddr>,<secdnsaddr>"])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    n = count(call, 1, 2, 3)
    ctx_id = context_id(m, call, 0)
    injected = m.take_injection("+QIDNSCFG")
    if injected:
        raise CmdError(injected)
    v4, v6 = m.pdn.dns, m.dns_v6
    if n == 1:
        # ambiguity 24: two fields in an IPv4 or an IPv6 network, four in a dual-stack one
        pairs = {"ipv4": [v4], "ipv6": [v6], "ipv4v6": [v4, v6]}[m.network_type]
        return Reply([f"+QIDNSCFG: {ctx_id}," + ",".join(f'"{a}"' for pair in pairs for a in pair)])
    primary = _dns_address(m, str_param(call.params, 1))
    secondary = _dns_address(m, str_param(call.params, 2)) if n == 3 else None
    if secondary is not None and secondary.version != primary.version:
        raise CmdError(INVALID_PARAMETERS)
    target = v4 if primary.version == 4 else v6
    # §2.1.1: the secondary left out keeps its previous value
    target[:] = [str(primary), str(secondary) if secondary is not None else target[1]]
    if primary.version == 4:
        m.pdn.dns_from_network = False  # until a reboot ("will not be saved to NVRAM")
    return Reply()


def _dns_address(m: Bc660kModule, text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A DNS server address the network type allows (notes 2 and 3), at most 64 bytes."""
    if len(text) > m.limits["dns_address_max"]:
        raise CmdError(INVALID_PARAMETERS)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise CmdError(INVALID_PARAMETERS) from None
    allowed = {"ipv4": (4,), "ipv6": (6,), "ipv4v6": (4, 6)}[m.network_type]
    if address.version not in allowed:
        raise CmdError(INVALID_PARAMETERS)
    return address


# -- AT+QICFG (§2.3.9) ---------------------------------------------------------------------------------------------

def qicfg(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(['+QICFG: "dataformat",(0,1),(0,1)', '+QICFG: "showRA",(0,1)'])
    if call.kind != "write":
        raise CmdError(INVALID_PARAMETERS)
    key = str_param(call.params, 0).lower()  # ASSUMPTION: the name in any letter case
    injected = m.take_injection("+QICFG")
    if injected:
        raise CmdError(injected)
    if key == "dataformat":
        n = count(call, 1, 2, 3)
        if n == 1:
            return Reply([f'+QICFG: "dataformat",{m.send_data_format},{m.recv_data_format}'])
        send = int_param(call.params, 1, 0, 1)
        recv = int_param(call.params, 2, 0, 1, default=m.recv_data_format)  # ambiguity 27
        m.send_data_format, m.recv_data_format = send, recv
        return Reply()
    if key == "showra":
        if count(call, 1, 2) == 1:
            return Reply([f'+QICFG: "showRA",{m.show_ra}'])
        m.show_ra = int_param(call.params, 1, 0, 1)
        return Reply()
    raise CmdError(INVALID_PARAMETERS)
