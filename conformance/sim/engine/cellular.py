"""The commands every host driver sends before it touches TCP/IP, answered as a registered module would.

None of these is in the TCP/IP manuals; they follow 3GPP TS 27.007 (``+CFUN``, ``+CPAS``, ``+CGATT``, ``+CGPADDR``,
``+CTZR``, ``+CTZU``, ``+CIMI``, ``+COPS``, ``+CSQ``, ``+CREG``/``+CGREG``/``+CEREG``, ``+CPIN``) and the Quectel
conventions of the family's AT manuals (``+QCCID``, ``+QNWINFO``, ``+QCSQ``). What the SIM and the network say is the
front-end's :class:`NetworkProfile`. The simulated module is always registered on its home network while its radio is
on; ``AT+CFUN=0`` / ``=4`` turn the radio off (contexts deactivated, services gone, not registered) and
``AT+CFUN=1`` back on; ``AT+CFUN=1,1`` resets the module (``OK``, then its start-up lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .atparse import Call
from .interpreter import CmdError, Reply
from .params import int_param

if TYPE_CHECKING:
    from .module import Module

__all__ = ["FULL", "NetworkProfile", "register_cellular"]

MINIMUM, FULL, FLIGHT = 0, 1, 4  # 27.007 +CFUN <fun> values the family supports (BG96: 0, 1, 4)
HOME = 1  # 27.007 <stat>: registered, home network
NOT_REGISTERED = 0  # not registered, not searching


@dataclass(frozen=True)
class NetworkProfile:
    """What the simulated SIM and network say, in the dialect's words. Every value is an ASSUMPTION (made up or
    typical), chosen in the shape 27.007 and the family's AT manuals give."""

    registration: tuple[str, ...] = ("+CREG", "+CGREG", "+CEREG")  # the registration commands the module has
    operator: str = "Test PLMN 1-1"  # the 3GPP test network 001-01
    plmn: str = "00101"
    act: int = 8  # +COPS <AcT> as the family's AT manual numbers it (BG96: 8 = LTE Cat M1)
    csq: str = "24,99"  # +CSQ: <rssi>,<ber>
    qcsq: str = '"eMTC",-65,-95,155,-10'  # +QCSQ: <sysmode>,<rssi>,<rsrp>,<sinr>,<rsrq>
    qcsq_off: str = '"NOSERVICE"'
    qnwinfo: str = '"eMTC","00101","LTE BAND 3",1575'  # +QNWINFO: <act>,<oper>,<band>,<channel>
    qnwinfo_off: str = '"No Service"'
    iccid: str = "89860000000000000019"  # AT+QCCID (made up, with a Luhn check digit)
    imsi: str = "001010000000001"  # AT+CIMI
    startup: tuple[str, ...] = ("RDY", "+CFUN: 1", "+CPIN: READY", "+QIND: SMS DONE", "APP RDY")


def register_cellular(m: Module) -> None:
    """Put the 27.007 / Quectel network commands in ``m.commands``."""
    net = m.network
    c = m.commands
    c["+CPIN"] = lambda call: _read_only(call, ["+CPIN: READY"])
    c["+CFUN"] = lambda call: _cfun(m, call)
    c["+CPAS"] = lambda call: _cpas(call)
    c["+CGATT"] = lambda call: _cgatt(m, call)
    c["+CGPADDR"] = lambda call: _cgpaddr(m, call)
    c["+CTZR"] = lambda call: _setting(m, call, "+CTZR", "ctzr", 2)
    c["+CTZU"] = lambda call: _setting(m, call, "+CTZU", "ctzu", 1)
    c["+QCCID"] = lambda call: _exec_only(call, [f"+QCCID: {net.iccid}"])
    c["+CIMI"] = lambda call: _exec_only(call, [net.imsi])
    c["+COPS"] = lambda call: _cops(m, call)
    c["+CSQ"] = lambda call: _csq(m, call)
    c["+QCSQ"] = lambda call: _exec_only(call, [f"+QCSQ: {net.qcsq if registered(m) else net.qcsq_off}"])
    c["+QNWINFO"] = lambda call: _exec_only(call, [f"+QNWINFO: {net.qnwinfo if registered(m) else net.qnwinfo_off}"])
    for name in net.registration:
        c[name] = lambda call, name=name: _registration(m, call, name)


def registered(m: Module) -> bool:
    """The module is registered (and attached) on its home network."""
    return m.fun == FULL and m.attached


def radio(m: Module, fun: int) -> bool:
    """Set the radio's functionality level (leaving full functionality drops every context and service); True if
    the registration changed."""
    was = registered(m)
    m.fun = fun
    if fun == FULL:
        m.attached = True
    else:
        detach(m)
    return registered(m) != was


def detach(m: Module) -> None:
    """No packet service: contexts deactivated, their services gone (ASSUMPTION: no URCs, the host asked for it)."""
    m.attached = False
    for ctx in m.contexts.table.values():
        if ctx.active or ctx.broken:
            if m.data_mode.service is not None and m.data_mode.service.context_id == ctx.context_id:
                m.data_mode.connection_lost()
            m.contexts.deactivate(ctx)


def _report_registration(m: Module) -> None:
    # 27.007 7.2: +CREG: <stat> when the registration changes and the host asked for it (n >= 1). ASSUMPTION: the
    # location fields of n = 2 are left out.
    stat = HOME if registered(m) else NOT_REGISTERED
    for name, n in m.registration_urc.items():
        if n:
            m.urc(f"{name}: {stat}")


def _read_only(call: Call, lines: list[str]) -> Reply:
    if call.kind != "read":
        raise CmdError(None)
    return Reply(lines)


def _exec_only(call: Call, lines: list[str]) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    return Reply(lines)


def _cfun(m: Module, call: Call) -> Reply:
    if call.kind == "read":
        return Reply([f"+CFUN: {m.fun}"])
    if call.kind == "test":
        return Reply(["+CFUN: (0,1,4),(0,1)"])  # exactly the forms accepted below
    if call.kind != "write" or len(call.params) not in (1, 2):
        raise CmdError(None)
    try:
        fun = int_param(call.params, 0, 0, 4)
        reset = int_param(call.params, 1, 0, 1, default=0)
    except CmdError:
        raise CmdError(None) from None
    if fun not in (MINIMUM, FULL, FLIGHT):
        raise CmdError(None)
    if reset:
        # 27.007: reset the MT before setting it to <fun>; OK first, then the start-up lines
        return Reply(after=lambda: m.restart(fun))
    return _changed(m, radio(m, fun))


def _changed(m: Module, registration_changed: bool) -> Reply:
    # the registration URCs follow the command's OK
    return Reply(after=(lambda: _report_registration(m)) if registration_changed else None)


def _cpas(call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+CPAS: (0,3,4)"])
    if call.kind != "exec":
        raise CmdError(None)
    return Reply(["+CPAS: 0"])  # ready


def _cgatt(m: Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+CGATT: (0,1)"])
    if call.kind == "read":
        return Reply([f"+CGATT: {int(registered(m))}"])
    if call.kind != "write" or len(call.params) != 1:
        raise CmdError(None)
    try:
        state = int_param(call.params, 0, 0, 1)
    except CmdError:
        raise CmdError(None) from None
    if state and m.fun != FULL:
        raise CmdError(None)  # no radio, no attach
    was = registered(m)
    if state:
        m.attached = True
    else:
        detach(m)
    return _changed(m, registered(m) != was)


def _cgpaddr(m: Module, call: Call) -> Reply:
    ids = m.contexts.ids
    if call.kind == "test":
        return Reply([f"+CGPADDR: ({ids[0]}-{ids[-1]})"])
    if call.kind == "exec":
        chosen = [c for c in m.contexts.table.values() if c.configured or c.active]
    elif call.kind == "write":
        try:
            chosen = [m.contexts.get(int_param(call.params, i, ids[0], ids[-1])) for i in range(len(call.params))]
        except CmdError:
            raise CmdError(None) from None
    else:
        raise CmdError(None)
    lines = []
    for ctx in chosen:
        # 27.007 10.1.14: the address is omitted while none is assigned; quoted, IPv6 after IPv4 (dual stack)
        addresses = m.contexts.addresses(ctx) if ctx.active else []
        lines.append(",".join([f"+CGPADDR: {ctx.context_id}", *(f'"{a}"' for a in addresses)]))
    return Reply(lines)


def _setting(m: Module, call: Call, name: str, attribute: str, high: int) -> Reply:
    if call.kind == "test":
        return Reply([f"{name}: (0-{high})"])
    if call.kind == "read":
        return Reply([f"{name}: {getattr(m, attribute)}"])
    if call.kind != "write" or len(call.params) != 1:
        raise CmdError(None)
    try:
        setattr(m, attribute, int_param(call.params, 0, 0, high))
    except CmdError:
        raise CmdError(None) from None
    return Reply()


def _cops(m: Module, call: Call) -> Reply:
    net = m.network
    if call.kind == "test":
        return Reply([f'+COPS: (1,"{net.operator}","{net.operator}","{net.plmn}",{net.act}),,(0-4),(0-2)'])
    if call.kind == "read":
        if not registered(m):
            return Reply(["+COPS: 0"])  # 27.007 7.3: only <mode> while not registered
        return Reply([f'+COPS: 0,0,"{net.operator}",{net.act}'])
    if call.kind == "write" and call.params and call.params[0].text == "0" and len(call.params) <= 2:
        return Reply()  # automatic selection: what the module does anyway
    raise CmdError(None)


def _csq(m: Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+CSQ: (0-31,99),(0-7,99)"])
    if call.kind != "exec":
        raise CmdError(None)
    return Reply([f"+CSQ: {m.network.csq if registered(m) else '99,99'}"])


def _registration(m: Module, call: Call, name: str) -> Reply:
    if call.kind == "test":
        return Reply([f"{name}: (0-2)"])
    if call.kind == "read":
        stat = HOME if registered(m) else NOT_REGISTERED
        return Reply([f"{name}: {m.registration_urc[name]},{stat}"])
    if call.kind != "write" or len(call.params) != 1:
        raise CmdError(None)
    try:
        m.registration_urc[name] = int_param(call.params, 0, 0, 2)
    except CmdError:
        raise CmdError(None) from None
    return Reply()
