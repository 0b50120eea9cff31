"""M95 settings: how received data is shown (AT+QINDI, AT+QIHEAD, AT+QISHOWRA, AT+QISHOWLA, AT+QISHOWPT), which
connection commands act on (AT+QISRVC), sending and transparent mode (AT+QIAUTOS, AT+QITCFG), the listening ports
(AT+QILPORT), the slow clock (AT+QSCLK), the serial port (AT+IPR, AT&W) and the start-up checks of the recommended
process (AT+QINISTAT, registration). GSM TCP/IP Application Note §3.2, §4, §5.2.1.3, §5.3, §9; recommended process
§2, §9."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine import Call, CmdError, Reply
from ..engine.cellular import registered
from ..engine.module import ControlError
from ..engine.params import count, int_param, str_param

if TYPE_CHECKING:
    from .module import M95Module

__all__ = ["COMMANDS", "gmr", "registration_changed", "wrap_registration"]

PORT_MAX = 65535
QIAUTOS_PERIOD = (1, 100)  # ASSUMPTION (family AT manual): <time> in seconds
# ASSUMPTION (family AT manual): the rates AT+IPR takes; 0 is autobauding
BAUD_RATES = (0, 300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 28800, 38400, 57600, 115200)
REGISTRATION_STATS = (0, 1, 2, 3, 4, 5)  # 27.007 <stat>; recommended process §2: 1 home, 5 roaming
SIM_READY = 3  # AT+QINISTAT: the SIM is initialised (ASSUMPTION, family AT manual; recommended process V1.1 §9)


def _switch(attribute: str, name: str, values: tuple[int, ...] = (0, 1)) -> Callable[[M95Module, Call], Reply]:
    """A setting of the module taking one of ``values`` (read form ``+NAME: <n>``, ASSUMPTION of its shape)."""

    def handler(m: M95Module, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"{name}: ({','.join(str(v) for v in values)})"])
        if call.kind == "read":
            return Reply([f"{name}: {getattr(m, attribute)}"])
        if call.kind != "write":
            raise CmdError(None)
        count(call, 1)
        value = int_param(call.params, 0, min(values), max(values))
        if value not in values:
            raise CmdError(None)
        setattr(m, attribute, value)
        return Reply()

    return handler


def qitcfg(m: M95Module, call: Call) -> Reply:
    lim = m.limits
    if call.kind == "test":
        return Reply([f"+QITCFG: ({lim['qitcfg_retries_min']}-{lim['qitcfg_retries_max']}),"
                      f"({lim['qitcfg_wait_min']}-{lim['qitcfg_wait_max']}),"
                      f"({lim['qitcfg_size_min']}-{lim['qitcfg_size_max']}),(0,1)"])
    if call.kind == "read":
        return Reply(["+QITCFG: " + ",".join(str(v) for v in m.qitcfg)])
    if call.kind != "write":
        raise CmdError(None)
    count(call, 4)
    # §4: <retries> "doesn't have an obvious influence" (kept); <wait> × 100 ms; <size> bytes; <esc> '+++' on/off
    m.qitcfg = (int_param(call.params, 0, lim["qitcfg_retries_min"], lim["qitcfg_retries_max"]),
                int_param(call.params, 1, lim["qitcfg_wait_min"], lim["qitcfg_wait_max"]),
                int_param(call.params, 2, lim["qitcfg_size_min"], lim["qitcfg_size_max"]),
                int_param(call.params, 3, 0, 1))
    return Reply()


def qiautos(m: M95Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply([f"+QIAUTOS: (0,1),({QIAUTOS_PERIOD[0]}-{QIAUTOS_PERIOD[1]})"])
    if call.kind == "read":
        return Reply([f"+QIAUTOS: {m.qiautos[0]},{m.qiautos[1]}"])
    if call.kind != "write":
        raise CmdError(None)
    count(call, 1, 2)
    mode = int_param(call.params, 0, 0, 1)
    # §5.2.1.3: AT+QIAUTOS=1,<period>; ASSUMPTION: without <period> the last one (power-on: the example's 10 s)
    period = int_param(call.params, 1, *QIAUTOS_PERIOD, default=m.qiautos[1])
    m.qiautos = (mode, period)
    return Reply()


def qilport(m: M95Module, call: Call) -> Reply:
    stack = m.fg()
    if call.kind == "test":
        return Reply([f'+QILPORT: ("TCP","UDP"),(0-{PORT_MAX})'])
    if call.kind == "read":
        return Reply([f"TCP: {_port_in_use(m, 'TCP', stack.lport_tcp)}",
                      f"UDP: {_port_in_use(m, 'UDP', stack.lport_udp)}"])  # §3.2
    if call.kind != "write":
        raise CmdError(None)
    count(call, 2)
    protocol = str_param(call.params, 0).upper()
    # ASSUMPTION: 0 asks the kernel for any free port (a simulator's convenience for parallel runs on one host);
    # AT+QILPORT? then shows the port the listener got
    port = int_param(call.params, 1, 0, PORT_MAX)
    if protocol == "TCP":
        stack.lport_tcp = port
    elif protocol == "UDP":
        stack.lport_udp = port
    else:
        raise CmdError(None)
    return Reply()


def _port_in_use(m: M95Module, protocol: str, configured: int) -> int:
    listener = m.sockets.get((m.fgcnt, "listener"))
    if configured == 0 and listener is not None and listener.local_port and listener.extra.get("protocol") == protocol:
        return listener.local_port
    return configured


def qsclk(m: M95Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply(["+QSCLK: (0,1)"])
    if call.kind == "read":
        return Reply([f"+QSCLK: {m.qsclk}"])
    if call.kind != "write":
        raise CmdError(None)
    count(call, 1)
    m.qsclk = int_param(call.params, 0, 0, 1)
    m.slow_clock.set_enabled(m.qsclk == 1)  # §9: sleep allowed while DTR is HIGH and nothing happens
    return Reply()


def ipr(m: M95Module, call: Call) -> Reply:
    """AT+IPR=<rate>[&W] (recommended process §2: "AT+IPR=115200&W"). A pty has no baud rate: the value is kept, and
    decides whether the module says its start-up lines (ASSUMPTION: 0, autobauding, says none)."""
    if call.kind == "test":
        return Reply(["+IPR: (0,300,600,1200,2400,4800,9600,14400,19200,28800,38400,57600,115200)"])
    if call.kind == "read":
        return Reply([f"+IPR: {m.ipr}"])
    if call.kind != "write" or len(call.params) != 1 or call.params[0].quoted:
        raise CmdError(None)
    text = call.params[0].text.upper()
    text = text.removesuffix("&W")  # the parser keeps a basic command after an extended one in its parameter
    if not text.isdigit() or int(text) not in BAUD_RATES:
        raise CmdError(None)
    m.ipr = int(text)
    return Reply()


def store(m: M95Module, call: Call) -> Reply:
    if call.kind != "exec" or call.value not in ("", "0"):
        raise CmdError(None)
    return Reply()  # AT&W: the settings are kept (a simulated module keeps AT+IPR over a restart anyway)


def qinistat(m: M95Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    return Reply([f"+QINISTAT: {SIM_READY}"])


def gmr(m: M95Module, call: Call) -> Reply:
    if call.kind == "test":
        return Reply()
    if call.kind != "exec":
        raise CmdError(None)
    return Reply([f"Revision: {m.identity.revision}"])  # ASSUMPTION (family AT manual): as ATI shows it


def wrap_registration(m: M95Module) -> None:
    """+CREG? / +CGREG? report the network's registration state (1 home, 5 roaming: control ``registration``)."""
    for name in m.network.registration:
        engine_handler = m.commands[name]

        def handler(call: Call, name: str = name, engine_handler: Any = engine_handler) -> Reply:
            if call.kind == "read":
                return Reply([f"{name}: {m.registration_urc[name]},{_stat(m)}"])  # recommended process §2: "+CREG: 0,1"
            return engine_handler(call)

        m.commands[name] = handler


def _stat(m: M95Module) -> int:
    return m.registration_stat if registered(m) else 0


def registration_changed(m: M95Module, stat: Any) -> None:
    """The network changes the registration (control ``registration stat=5``): +CREG: <stat> / +CGREG: <stat> where
    the host asked for them (recommended process §2)."""
    if isinstance(stat, str) and stat.isdigit():
        stat = int(stat)
    if stat not in REGISTRATION_STATS or isinstance(stat, bool):
        raise ControlError(f"stat must be one of {REGISTRATION_STATS}")
    if stat == m.registration_stat:
        return
    m.registration_stat = stat
    for name, n in m.registration_urc.items():
        if n:
            m.urc(f"{name}: {_stat(m)}")


COMMANDS = {
    "+QINDI": _switch("qindi", "+QINDI"),
    "+QIHEAD": _switch("qihead", "+QIHEAD"),
    "+QISHOWRA": _switch("qishowra", "+QISHOWRA"),
    "+QISHOWLA": _switch("qishowla", "+QISHOWLA"),
    "+QISHOWPT": _switch("qishowpt", "+QISHOWPT"),
    "+QISRVC": _switch("qisrvc", "+QISRVC", (1, 2)),
    "+QITCFG": qitcfg,
    "+QIAUTOS": qiautos,
    "+QILPORT": qilport,
    "+QSCLK": qsclk,
    "+IPR": ipr,
    "&W": store,
    "+QINISTAT": qinistat,
}
