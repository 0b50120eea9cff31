"""V.250 basics and identification, the same on every module of the family (wording from the front-end's Identity).

``ATE``, ``ATV``, ``ATQ``, ``AT&D``, ``ATZ``/``AT&F``, ``ATI``, ``ATO``, ``AT+GMR``/``+CGMR``/``+QGMR``,
``AT+GMM``/``+CGMM``, ``AT+GMI``/``+CGMI``, ``AT+GSN``/``+CGSN``, ``AT+CMEE``, ``AT+CCLK`` (ITU-T V.250, 3GPP
TS 27.007; the TCP/IP manuals assume them without describing them).
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .atparse import Call
from .interpreter import CmdError, Reply
from .params import int_param
from .sockets import CONNECTED, LISTENER

if TYPE_CHECKING:
    from .module import Module

__all__ = ["Identity", "local_time", "register_basics", "zone"]

ZZ_RANGE = (-48, 56)  # quarter hours of the time zone (27.007 +CCLK; BG96 §2.1.12)


@dataclass(frozen=True)
class Identity:
    """What a module says about itself."""

    manufacturer: str
    model: str
    revision: str  # AT+GMR, ATI
    full_revision: str  # AT+QGMR
    imei: str  # AT+GSN


def register_basics(m: Module) -> None:
    """Put the V.250 and identification commands in ``m.commands``."""
    ident = m.identity
    c = m.commands
    c[""] = lambda call: Reply()
    c["E"] = lambda call: _set(m, "echo", bool(_switch(call, "01")))
    # the final result of ATV itself already takes the new format (V.250 §6.2.6)
    c["V"] = lambda call: _set(m, "verbose", bool(_switch(call, "01")))
    c["Q"] = lambda call: _set(m, "quiet", _switch(call, "0"))  # ATQ1 (quiet) is not simulated
    c["&D"] = lambda call: _set(m, "and_d", _switch(call, "012"))
    c["Z"] = c["&F"] = lambda call: _reset(m, call)
    c["I"] = lambda call: _identify(m, call)
    c["O"] = lambda call: _online(m, call)
    for names, text in ((("+GMR", "+CGMR"), ident.revision), (("+QGMR",), ident.full_revision),
                        (("+GMM", "+CGMM"), ident.model), (("+GMI", "+CGMI"), ident.manufacturer),
                        (("+GSN", "+CGSN"), ident.imei)):
        for name in names:
            c[name] = _fixed(text)
    c["+CMEE"] = lambda call: _cmee(m, call)
    c["+CCLK"] = lambda call: _cclk(m, call)


def _switch(call: Call, allowed: str) -> int:
    if call.kind != "exec" or (call.value or "0") not in allowed:
        raise CmdError(None)
    return int(call.value or "0")


def _set(m: Module, attribute: str, value: object) -> Reply:
    setattr(m, attribute, value)
    return Reply()


def _reset(m: Module, call: Call) -> Reply:
    _switch(call, "0")
    m.echo, m.verbose, m.and_d = True, True, 2
    return Reply()


def _identify(m: Module, call: Call) -> Reply:
    _switch(call, "0")
    return Reply([m.identity.manufacturer, m.identity.model, f"Revision: {m.identity.revision}"])


def _online(m: Module, call: Call) -> Reply:
    """ATO: back to data mode on the last data-mode connection (BG96 §1.2 item 5), NO CARRIER if there is none."""
    _switch(call, "0")
    svc = m.sockets.get(m.data_mode.last_key) if m.data_mode.last_key is not None else None
    if svc is None or svc.state != CONNECTED or (svc.sock is None and svc.via is None) or svc.service_type == LISTENER:
        return Reply(final=m.data_mode.texts.no_connection)
    return Reply(final="CONNECT", after=lambda: m.data_mode.enter(svc))


def _fixed(text: str) -> Callable[[Call], Reply]:
    def handler(call: Call) -> Reply:
        if call.kind == "test":
            return Reply()
        if call.kind != "exec":
            raise CmdError(None)
        return Reply([text])

    return handler


def _cmee(m: Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+CMEE: (0-2)"])
    if call.kind == "read":
        return Reply([f"+CMEE: {m.cmee}"])
    if call.kind != "write" or len(call.params) != 1:
        raise CmdError(None)
    try:
        m.cmee = int_param(call.params, 0, 0, 2, default=0)
    except CmdError:
        raise CmdError(None) from None
    return Reply()


# -- the clock ---------------------------------------------------------------------------------------------------

def local_time(m: Module, utc: float | None = None) -> time.struct_time:
    """The module's clock (``utc``, or now) in the network's time zone."""
    if utc is None:
        utc = time.time() + m.clock_offset_s
    return time.gmtime(utc + m.config.timezone_quarters * 900)


def zone(m: Module) -> str:
    """The ``±zz`` of the clock: quarter hours from UTC."""
    return f"{m.config.timezone_quarters:+03d}"


def _cclk(m: Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind == "read":
        return Reply([f'+CCLK: "{time.strftime("%y/%m/%d,%H:%M:%S", local_time(m))}{zone(m)}"'])
    if call.kind != "write" or len(call.params) != 1 or not call.params[0].quoted:
        raise CmdError(None)
    match = re.fullmatch(r"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)", call.params[0].text)
    if not match:
        raise CmdError(None)
    quarters = int(match.group(7))
    if not ZZ_RANGE[0] <= quarters <= ZZ_RANGE[1]:
        raise CmdError(None)
    try:
        local = time.strptime("20" + ",".join(match.groups()[:6]), "%Y,%m,%d,%H,%M,%S")
    except ValueError:
        raise CmdError(None) from None
    m.config.timezone_quarters = quarters
    m.clock_offset_s = calendar.timegm(local) - quarters * 900 - time.time()
    return Reply()
