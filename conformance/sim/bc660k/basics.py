"""The BC660K's own commands beyond the TCP/IP note, for bench set-up and for sleep (docs/dialects/bc660k.md §1-§2).

Every form here is an ASSUMPTION after the BC660K-GL AT Commands Manual: ``AT+QSCLK`` (sleep), ``AT+QRST=1``
(reset), ``AT+QCFG="dsevent"`` and ``AT+QNBIOTEVENT`` (sleep indications), ``AT+CGMR`` / ``AT+GMR`` (the revision line
as ``ATI`` shows it), ``AT+CGSN[=<snt>]``. The engine's ``ATO`` is removed (the module has no transparent mode) and so
are the registration commands NB-IoT has no use for (``+CREG``, ``+CGREG``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..engine import Call, CmdError, Reply
from ..engine.cellular import registered
from ..engine.params import count, int_param, str_param

if TYPE_CHECKING:
    from .module import Bc660kModule

__all__ = ["register_basics"]


def register_basics(m: Bc660kModule) -> None:
    """Put the BC660K's own commands in ``m.commands`` and take out what it does not have."""
    c = m.commands
    for name in ("O", "+QGMR", "+CREG", "+CGREG", "+QISDE"):
        c.pop(name, None)
    revision = f"Revision: {m.identity.revision}"
    c["+CGMR"] = c["+GMR"] = lambda call: _exec(call, [revision])
    c["+CGSN"] = lambda call: _cgsn(m, call)
    c["+QSCLK"] = lambda call: _qsclk(m, call)
    c["+QRST"] = lambda call: _qrst(m, call)
    c["+QCFG"] = lambda call: _qcfg(m, call)
    c["+QNBIOTEVENT"] = lambda call: _qnbiotevent(m, call)
    for name in ("+CFUN", "+CGATT"):
        c[name] = _with_pdn(m, c[name])


def _exec(call: Call, lines: list[str]) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    return Reply(lines)


def _cgsn(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+CGSN: (0-3)"])
    if call.kind == "exec":
        return Reply([m.identity.imei])
    if call.kind != "write" or len(call.params) != 1:
        raise CmdError(None)
    if int_param(call.params, 0, 0, 3) != 1:
        return Reply([m.identity.imei])
    return Reply([f"+CGSN: {m.identity.imei}"])  # <snt> 1: the IMEI with its prefix


def _qsclk(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+QSCLK: (0-2)"])
    if call.kind == "read":
        return Reply([f"+QSCLK: {m.power.qsclk}"])
    if call.kind != "write" or len(call.params) != 1:
        raise CmdError(None)
    try:
        m.power.qsclk = int_param(call.params, 0, 0, 2)
    except CmdError:
        raise CmdError(None) from None
    m.power.touch()
    return Reply()


def _qrst(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+QRST: (1)"])
    if call.kind != "write" or len(call.params) != 1 or call.params[0].text != "1":
        raise CmdError(None)
    return Reply(after=lambda: m.restart())  # OK, then the start-up lines


def _qcfg(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(['+QCFG: "dsevent",(0,1)'])
    if call.kind != "write":
        raise CmdError(None)
    try:
        if str_param(call.params, 0).lower() != "dsevent":
            raise CmdError(None)
        if count(call, 1, 2) == 1:
            return Reply([f'+QCFG: "dsevent",{m.power.dsevent}'])
        m.power.dsevent = int_param(call.params, 1, 0, 1)
    except CmdError:
        raise CmdError(None) from None
    return Reply()


def _qnbiotevent(m: Bc660kModule, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+QNBIOTEVENT: (0,1),(1)"])
    if call.kind == "read":
        return Reply([f"+QNBIOTEVENT: {m.power.nbiot_event},1"])
    if call.kind != "write" or len(call.params) != 2:
        raise CmdError(None)
    try:
        enable = int_param(call.params, 0, 0, 1)
        int_param(call.params, 1, 1, 1)  # <event_type> 1: PSM
    except CmdError:
        raise CmdError(None) from None
    m.power.nbiot_event = enable
    return Reply()


def _with_pdn(m: Bc660kModule, handler: Callable[[Call], Reply]) -> Callable[[Call], Reply]:
    """An attach (AT+CFUN=1, AT+CGATT=1) brings the default PDN back up, and says so with +IP after the OK."""

    def wrapped(call: Call) -> Reply:
        reply = handler(call)
        if registered(m) and not m.pdn.active and m.pdn_refused is None:
            earlier = reply.after

            def after() -> None:
                if earlier is not None:
                    earlier()
                m.pdn_up()

            reply.after = after
        return reply

    return wrapped
