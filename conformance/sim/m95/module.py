"""The M95 front-end: what a GSM module of the M95 family says, on the shared engine.

The three documents (GSM TCP/IP Application Note V1.1 "AN", GSM TCP/IP Recommended Process V2.0 and V1.1) and the
behaviour spec docs/dialects/m95.md built on them; § are the AN's unless named. The engine does the sockets, the
contexts, data mode and the line discipline; this class holds the M95's data, its command table, the stack of each
context (stack.py), and what it says when the network does something. ASSUMPTION marks what goes beyond the documents.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

from conformance.dialects import m95 as data

from ..engine import (
    Buffered,
    Call,
    Context,
    DataModeTexts,
    Identity,
    Module,
    NetworkProfile,
    Pushed,
    Service,
    SimConfig,
)
from ..engine.delivery import Delivery
from ..engine.module import ControlError
from . import connections, contexts, dns, server, settings, status, transfer
from .connections import CLIENT
from .stack import Stack
from .stack import state as stack_state

__all__ = ["M95Config", "M95Module"]

IDENTITY = Identity(
    manufacturer="Quectel_Ltd",  # ASSUMPTION: ATI as the family's AT manual shows it
    model="Quectel_M95",
    revision="M95FAR02A08",
    full_revision="M95FAR02A08",
    imei="863789020000001",  # ASSUMPTION: made up
)
# ASSUMPTION (family AT manual): the start-up lines with a fixed baud rate, as the dialect data lists them
NETWORK = NetworkProfile(
    registration=("+CREG", "+CGREG"),  # a GSM/GPRS module: no +CEREG
    act=0,  # +COPS <AcT> 0: GSM
    csq="24,0",
    startup=data.M95.startup_lines,
)
# §4 note 1 and recommended process §8.2: the module leaves data mode by itself saying CLOSED or +PDP DEACT;
# ASSUMPTION (V.250): ATO with no connection says NO CARRIER; AT&D2 closes the connection (CLOSED)
TEXTS = DataModeTexts(escaped="OK", lost="CLOSED", hung_up="CLOSED", pdp_lost="+PDP DEACT",
                      no_connection="NO CARRIER")
PUSH_CHUNK = 1460  # ASSUMPTION: one output of received data is at most what one AT+QISEND takes (§3.1)

TCPIP_COMMANDS = frozenset({
    "+QIFGCNT", "+QICSGP", "+QIREGAPP", "+QIACT", "+QILOCIP", "+QIDEACT", "+QIOPEN", "+QICLOSE", "+QISERVER",
    "+QISEND", "+QISACK", "+QIRD", "+QISTAT", "+QISTATE", "+QISSTAT", "+QIDNSCFG", "+QIDNSGIP", "+QIMUX", "+QIMODE",
})


def _key(kind: str, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"kind": kind, "low": low, "high": high}  # how SimConfig checks a key


@dataclass
class M95Config(SimConfig):
    """The configuration keys, with the M95's own."""

    # ASSUMPTION (docs/dialects/m95.md §4): below the 60 s any command has (recommended process V2.0 §9 note 2)
    connect_timeout_s: float = field(default=30.0, metadata=_key("float", 0, 86400))
    # The address of context 1 (AN §7.2: each context has its own). Empty: the address after local_ip when that one
    # is the host's (127.0.0.2 on loopback; the network topology adds 10.213.0.3), else local_ip.
    second_ip: str = field(default="", metadata=_key("ipv4_or_empty"))


class M95Module(Module):
    """A module of the M95 family (GSM/GPRS, the AT+QI... stack of the three GSM documents) on one port."""

    identity = IDENTITY
    network = NETWORK
    data_mode_texts = TEXTS
    tcpip_commands = TCPIP_COMMANDS
    config_class = M95Config
    ipr = 115200  # AT+IPR, kept over a restart (ASSUMPTION: a fixed rate, as the recommended process §2 sets it)
    # recommended process §5.1 note: "some timeout processing is carried out to avoid the received data from
    # separating a complete AT command" (ASSUMPTION: 100 ms of the host's silence ends a line being typed)
    hold_urcs_while_typing_s = 0.1

    def register_commands(self) -> None:
        for module in (contexts, settings, connections, server, transfer, status, dns):
            for name, handler in module.COMMANDS.items():
                self.commands[name] = partial(handler, self)
        for name in ("+QCSQ", "+QNWINFO", "+QGMR"):
            self.commands.pop(name, None)  # not commands of this family
        self.commands["+GMR"] = lambda call: settings.gmr(self, call)
        settings.wrap_registration(self)

    # -- the engine's questions --------------------------------------------------------------------------------

    def context_ids(self) -> range:
        return range(self.limits["context_min"], self.limits["context_max"] + 1)  # §7: contexts 0 and 1

    def active_contexts_max(self) -> int:
        return len(self.context_ids())  # §7.1: both contexts may be active at once

    def startup_lines(self) -> tuple[str, ...]:
        # ASSUMPTION (family AT manual): with autobauding (AT+IPR=0) the module says nothing until it has seen AT
        return self.network.startup if self.ipr else ()

    def escape_enabled(self) -> bool:
        return self.qitcfg[3] == 1  # §4: AT+QITCFG <esc> 1 "enable to escape data mode with '+++'"

    def packet_size(self) -> int:
        return self.qitcfg[2]  # §4: a packet goes once <size> bytes are buffered (A14)

    def packet_wait_s(self) -> float:
        return self.qitcfg[1] * self.limits["qitcfg_wait_unit_ms"] / 1000  # §4: <wait> × 100 ms after the input (A15)

    def dialect_power_on(self) -> None:
        self.fgcnt = 0  # ASSUMPTION: context 0 is the foreground context at power-on
        self.stacks = {i: Stack(i, lport_tcp=self.limits["qilport_tcp_example"],
                                lport_udp=self.limits["qilport_udp_example"]) for i in self.context_ids()}
        for ctx in self.contexts.table.values():
            ctx.apn = "CMNET"  # recommended process V1.1 §2: GPRS with APN "CMNET" is the power-on setting
        self.qisrvc = CLIENT  # §3.2
        self.qindi = 0  # §5.3.2: "not supported by default"
        self.qihead = self.qishowra = self.qishowla = self.qishowpt = 0  # §5.3.1: "without any information"
        self.qiautos = (0, self.limits["qiautos_period_example_s"])  # §5.2.1.3
        self.qitcfg = (self.limits["qitcfg_retries_example"], self.limits["qitcfg_wait_example"],
                       self.limits["qitcfg_size_example"], 1)  # §4 (ASSUMPTION: the example is the default)
        self.qsclk = 0
        self.registration_stat = 1  # 27.007 <stat>: 1 home, 5 roaming (control "registration")
        self._pdp_said_in_data_mode = False

    # -- stacks and addresses ----------------------------------------------------------------------------------

    def fg(self) -> Stack:
        """The foreground context's stack: every TCP/IP command acts on it (§7.2, AT+QIFGCNT)."""
        return self.stacks[self.fgcnt]

    def address(self, context_id: int) -> str:
        """The address the network gave ``context_id``; context 1 gets its own (§7.2)."""
        local = self.config.local_ip
        if context_id == self.context_ids()[0]:
            return local
        if self.config.second_ip:
            return self.config.second_ip
        parts = local.split(".")
        if parts[3] != "254":
            following = ".".join([*parts[:3], str(int(parts[3]) + 1)])
            if _is_local(following):
                return following  # the next address, where it is one of the host's (all of 127/8 is)
        return local  # ASSUMPTION: no second address here: both contexts share the one the network has

    def live_services(self, context_id: int) -> list[Service]:
        """The context's connections and listener that are not gone (a connection the peer closed may stay only
        for its unread data)."""
        return [s for s in self.sockets.of_context(context_id) if s.close_reason is None]

    # -- receiving (§5.3) --------------------------------------------------------------------------------------

    def delivery(self, stack: Stack) -> Delivery:
        """How a new connection's received data reaches the host: kept for the data mode (transparent), announced
        with +QIRDI (AT+QINDI=1), or output at once with the headers of AT+QIHEAD ... (§5.3.1)."""
        if stack.mode == 1:
            return Buffered()  # §4: output once the port is in data mode
        if self.qindi:
            return Notified(self._notify)
        return Pushed(self._push, PUSH_CHUNK)

    def _notify(self, svc: Service) -> None:
        # §5.3.2: +QIRDI: <id>,<sc>,<sid>; the recommended process V2.0 writes a space after the colon (A11)
        self.urc(data.QIRDI.format(context=svc.context_id, role=svc.extra["role"], index=svc.connect_id))

    def _push(self, svc: Service, payload: bytes, peer: tuple[str, int] | None) -> None:
        stack = self.stacks[svc.context_id]
        prefix = data.receive_prefix(
            length=len(payload), protocol="TCP" if svc.is_tcp else "UDP",
            remote=peer or (svc.remote_ip, svc.remote_port), local=self.address(svc.context_id),
            mux_index=svc.connect_id if stack.mux else None, qihead=bool(self.qihead),
            qishowra=bool(self.qishowra), qishowla=bool(self.qishowla), qishowpt=bool(self.qishowpt))
        # ASSUMPTION: a header starts on a line of its own (CR LF before it, as every URC); no line end after the data
        self.unsolicited((b"\r\n" + prefix if prefix else b"") + payload)

    # -- what the network does ---------------------------------------------------------------------------------

    def open_result(self, svc: Service, code: int) -> None:
        connections.open_result(self, svc, code)

    def incoming(self, listener: Service, conn: socket.socket, peer: tuple[str, int]) -> None:
        server.incoming(self, listener, conn, peer)

    def connection_closed(self, svc: Service, reason: str, *, in_data_mode: bool) -> None:
        connections.closed_by_peer(self, svc, in_data_mode=in_data_mode)

    def service_dropped(self, svc: Service) -> None:
        super().service_dropped(svc)
        stack = self.stacks[svc.context_id]
        if not stack.mux and svc.extra.get("role") == CLIENT and stack.client == "CONNECT OK":
            stack.client = "IP CLOSE"  # gone without AT+QICLOSE (AT&D2 and DTR): the connection is closed

    def data_mode_left(self, svc: Service) -> None:
        svc.delivery = Buffered()  # §4: in command mode received data is kept, output after ATO

    def network_deactivate(self, context_id: int) -> None:
        svc = self.data_mode.service
        self._pdp_said_in_data_mode = svc is not None and svc.context_id == context_id
        super().network_deactivate(context_id)

    def context_lost(self, ctx: Context) -> None:
        # §6.3: +PDP DEACT; the connections are gone (no CLOSED lines, ASSUMPTION); the state is PDP DEACT
        for svc in self.sockets.of_context(ctx.context_id):
            self.sockets.drop(svc)
        stack = self.stacks[ctx.context_id]
        stack.phase, stack.client = "PDP DEACT", None
        if not self._pdp_said_in_data_mode:
            self.urc("+PDP DEACT")
        self._pdp_said_in_data_mode = False

    def enter_data_mode(self, svc: Service, before: str | None = None) -> None:
        """Open data mode on ``svc`` without a command running (AT+QIOPEN's CONNECT comes after its OK, §4.1; an
        accepted client's after REMOTE IP, §5.1): ``CONNECT`` once the port is idle, then the pipe."""

        def go() -> None:
            if self.sockets.get(svc.key) is not svc or svc.close_reason is not None:
                return  # gone before the port was free: its CLOSED has been said
            if before:
                self.emit(f"\r\n{before}\r\n".encode("latin-1"))
            self.respond_unprompted("CONNECT", after=lambda: self.data_mode.enter(svc))

        self.when_idle(go)

    def parse(self, line: str) -> list[Call]:
        # ASSUMPTION (V.250 modems scan for the "AT" prefix): what precedes it on the line is ignored. AN §6.3 and
        # recommended process §8.2 rely on it: "+++" typed in command mode is only echoed, then AT+QIDEACT follows.
        at = line.upper().find("AT")
        return super().parse(line[at:] if at > 0 else line)

    # -- the documents have no error codes ---------------------------------------------------------------------

    def error_text(self, code: int | None) -> str:
        return "ERROR"  # every refusal is a plain ERROR (docs/dialects/m95.md §15); +CMEE changes nothing here

    def _error_code(self, code: Any) -> int | None:
        # no error table: a control request's code only says "fail" (ERROR, CONNECT FAIL ...)
        if code in (None, 0, "0", "null", "none"):
            return None
        return int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else 1

    def _control_inject_error(self, command: Any, code: Any = 1) -> dict[str, Any]:
        return super()._control_inject_error(command, code or 1)

    def _control_ring(self) -> None:
        self.urc("RING")  # §4 note 2: an incoming call (held in data mode until the host leaves it)

    def _control_sms(self, index: Any = 1) -> None:
        if isinstance(index, str) and index.isdigit():
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ControlError("index must be a message index")
        self.urc(f'+CMTI: "SM",{index}')  # §4 note 2: a new short message

    def _control_registration(self, stat: Any) -> None:
        settings.registration_changed(self, stat)

    def state_extras(self) -> dict[str, Any]:
        return {
            "fgcnt": self.fgcnt,
            "stacks": {i: {"state": stack_state(self, s), "phase": s.phase, "mux": s.mux,
                           "mode": s.mode, "dnsip": s.dnsip, "lport": [s.lport_tcp, s.lport_udp],
                           "address": self.address(i)} for i, s in self.stacks.items()},
            "qisrvc": self.qisrvc, "qindi": self.qindi,
            "headers": {"qihead": self.qihead, "qishowra": self.qishowra, "qishowla": self.qishowla,
                        "qishowpt": self.qishowpt},
            "qiautos": list(self.qiautos), "qitcfg": list(self.qitcfg), "qsclk": self.qsclk, "ipr": self.ipr,
            "ignored_while_asleep": self.slow_clock.ignored,
        }


@cache
def _is_local(address: str) -> bool:
    """True if ``address`` is one of this host's (network namespace's) addresses: a socket can bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


class Notified(Buffered):
    """AT+QINDI=1: kept until AT+QIRD, announced once with +QIRDI; a UDP connection keeps its datagrams apart
    (ASSUMPTION: one AT+QIRD returns one datagram)."""

    def deliver(self, module: Module, svc: Service, payload: bytes, peer: tuple[str, int] | None) -> None:
        if peer is None and not svc.is_tcp:
            peer = (svc.remote_ip, svc.remote_port)
        super().deliver(module, svc, payload, peer)
