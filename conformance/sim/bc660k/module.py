"""The BC660K front-end: what a BC660K-GL says, on the shared engine (BC660K-GL TCP/IP Application Note V1.1, "the
note"; § are its own). The behaviour spec, with the note's ambiguities and the readings chosen, is
docs/dialects/bc660k.md.

The engine does what every module of the family does (sockets on kernel sockets, the line discipline, the prompt).
This class holds the BC660K's data and command table, delivers received data inline on the ``recv`` URC (§1.2, §2.4.2),
keeps the one default PDN (context 0) up as the network does, and gates its URCs through sleep, PSM and DRX
(power.py). Where the note is silent the choice is marked ASSUMPTION.
"""

from __future__ import annotations

import socket
from functools import partial
from typing import TYPE_CHECKING, Any

from conformance.dialects import Dialect

from ..engine import (
    PENDING,
    Call,
    CmdError,
    Context,
    ControlError,
    Identity,
    Module,
    NetworkProfile,
    Pending,
    PromptPolicy,
    Service,
    as_bool,
)
from ..engine.atparse import parse_line
from ..engine.cellular import FULL
from ..engine.codes import NOT_ALLOWED, PDP_BROKEN
from ..engine.delivery import OUTPUT_HIGH_WATER
from ..engine.netops import ipv4_literal
from ..engine.output import Port
from ..engine.sockets import UDP_SERVICE
from ..loop import Loop, log
from . import services, sockets, transfer
from .basics import register_basics
from .config import Bc660kConfig
from .power import Power
from .sendline import parse_qisend

if TYPE_CHECKING:
    from ..engine.delivery import Peer

__all__ = ["Bc660kModule"]

IDENTITY = Identity(  # ASSUMPTION: the AT manual's ATI shape; the revision is a released firmware's name
    manufacturer="Quectel_Ltd",
    model="Quectel_BC660K-GL",
    revision="BC660KGLAAR01A05",
    full_revision="BC660KGLAAR01A05",
    imei="867997030000001",  # made up
)
NETWORK = NetworkProfile(  # ASSUMPTION: made-up values in the AT manual's shapes; NB-IoT registers with +CEREG only
    registration=("+CEREG",),
    act=9,  # 3GPP TS 27.007 <AcT> 9: E-UTRAN (NB-S1 mode)
    qcsq='"NBIoT",-65,-95,155,-10',
    qnwinfo='"NBIoT","00101","LTE BAND 8",3740',
    startup=("RDY", "+CFUN: 1", "+CPIN: READY"),
)
# §2.3.4: Ctrl+Z sends, ESC cancels, "when the input data length reaches the maximum length (1024 bytes)" it is sent
PROMPT_POLICY = PromptPolicy(overflow="send")
TCPIP_COMMANDS = frozenset({"+QIOPEN", "+QICLOSE", "+QISTATE", "+QISEND", "+QPING", "+QNTP", "+QIDNSGIP",
                            "+QIDNSCFG", "+QICFG"})
COMMANDS = {
    "+QIOPEN": sockets.qiopen,
    "+QICLOSE": sockets.qiclose,
    "+QISTATE": sockets.qistate,
    "+QISEND": transfer.qisend,
    "+QPING": services.qping,
    "+QNTP": services.qntp,
    "+QIDNSGIP": services.qidnsgip,
    "+QIDNSCFG": services.qidnscfg,
    "+QICFG": services.qicfg,
}
NETWORK_TYPES = ("ipv4", "ipv6", "ipv4v6")  # the PDN type (§2.3.8 notes 2 and 3)


class InlinePush:
    """Direct push (§1.2): received data goes to the host on the ``recv`` URC itself, at most 1024 bytes a URC
    (512 in hex; §2.4 note 5), a longer packet in several URCs in order."""

    def read_size(self, module: Bc660kModule, svc: Service) -> int:
        m = module
        if m.power.psm:
            return m.recv_chunk() if m.power.downlink == "drop" else 0  # held: the network keeps it in PSM
        if m.urcs_held() or m.output.pending() >= OUTPUT_HIGH_WATER:
            return 0  # it waits in the kernel while a prompt owns the port or the host is not reading
        return m.recv_chunk()

    def deliver(self, module: Bc660kModule, svc: Service, data: bytes, peer: Peer) -> None:
        m = module
        svc.have_read += len(data)
        if m.power.psm:
            log(f"PSM: {len(data)} bytes for connect ID {svc.connect_id} dropped (psm_downlink drop)")
            return
        chunk = m.recv_chunk()
        for start in range(0, len(data), chunk):
            m.push(svc, data[start:start + chunk], peer)


class Bc660kModule(Module):
    """The BC660K-GL of the TCP/IP Application Note V1.1, serving one port."""

    identity = IDENTITY
    network = NETWORK
    tcpip_commands = TCPIP_COMMANDS
    config_class = Bc660kConfig
    prompt_policy = PROMPT_POLICY
    # ASSUMPTION: Ctrl+Z and ESC mean nothing in command mode and are dropped (a Ctrl+Z after a send that the
    # 1024-byte limit already ended must not spoil the next command line)
    ignored_command_bytes = b"\x1a\x1b"
    config: Bc660kConfig

    def __init__(self, loop: Loop, port: Port, dialect: Dialect, config: dict[str, Any] | None = None) -> None:
        # what the simulated network does, which no reboot changes (the control channel sets it)
        self.network_type = "ipv4"
        self.pdn_refused: int | None = None  # the network refuses the default PDN: AT+QIOPEN answers this code
        self.lose_held_urcs = False
        self.push_delivery = InlinePush()
        self._powered = False  # power_on() ran once: what NVRAM holds survives the next
        super().__init__(loop, port, dialect, config)

    # -- commands -------------------------------------------------------------------------------------------------

    def register_commands(self) -> None:
        for name, handler in COMMANDS.items():
            self.commands[name] = partial(handler, self)
        register_basics(self)

    def parse(self, line: str) -> list[Call]:
        return parse_qisend(line) or parse_line(line)  # AT+QISEND's <data> is free text (§2.3.4 note 3)

    def ok_then(self, final: str, *, delay: str) -> Pending:
        """Answer the running command ``OK``, then ``final`` (``SEND OK``, ``CLOSE OK``) after ``delay``: one
        response, during which the port takes no command (its input is kept)."""

        def ok() -> None:
            self.emit(self.final_bytes("OK"))
            self.finish(final, delay=delay)

        first = self.timing.delay("command")
        if first > 0:
            self.loop.call_later(first, self.callback(ok))
        else:
            self.loop.call_soon(self.callback(ok))
        return PENDING

    # -- state ----------------------------------------------------------------------------------------------------

    def context_ids(self) -> range:
        return range(0, 1)  # §2.3.1 note 1: only <contextID> 0, the default PDN

    @property
    def pdn(self) -> Context:
        """The default PDN: context 0, the only one (§2.3.1 note 1)."""
        return self.contexts.get(0)

    def power_on(self) -> None:
        kept = self._nvram_values() if self._powered else None
        super().power_on()
        if kept is not None:
            self.echo, self.cmee, self.send_data_format, self.recv_data_format, self.show_ra, cereg = kept
            self.registration_urc["+CEREG"] = cereg
        self._powered = True

    def _nvram_values(self) -> tuple[Any, ...]:
        # ASSUMPTION, AT manual: ATE, AT+CMEE and AT+CEREG are saved; §2.3.9: AT+QICFG "saved to NVRAM automatically"
        return (self.echo, self.cmee, self.send_data_format, self.recv_data_format, self.show_ra,
                self.registration_urc.get("+CEREG", 0))

    def dialect_power_on(self) -> None:
        self.send_data_format = 0  # ambiguity 28: text both ways, showRA 0 (the underline is lost)
        self.recv_data_format = 0
        self.show_ra = 0
        self.last_rai_mode = 0
        self.last_rai_enable = 0
        self.dns_v6 = ["::", "::"]  # ASSUMPTION: the simulated network issues no IPv6 DNS server
        self.ping_busy: Any = None
        self.ntp_busy: Any = None
        first = not self._powered
        if first:
            self.power = Power(self)
        self.power.power_on(first=first)
        if self.pdn_refused is not None:
            self.pdn.active = False

    def restart(self, fun: int = FULL) -> None:
        super().restart(fun)  # RDY, +CFUN: 1, +CPIN: READY
        if self.registration_urc.get("+CEREG"):
            self.emit(f"\r\n+CEREG: {1 if self.pdn.active else 0}\r\n".encode())
        if self.pdn.active:
            self.emit(f"\r\n+IP: {self.config.local_ip}\r\n".encode())  # §2.3.1 note 4

    def shutdown(self) -> None:
        for op in (self.ping_busy, self.ntp_busy):
            if op is not None:
                op.cancel()
        self.ping_busy = self.ntp_busy = None
        self.power.cancel()
        super().shutdown()

    def require_pdn(self) -> None:
        """Raise the error of a network operation while the default PDN is not up (docs/dialects/bc660k.md §6)."""
        if self.pdn.broken:
            raise CmdError(PDP_BROKEN)
        if not self.pdn.active:
            raise CmdError(self.pdn_refused or NOT_ALLOWED)

    def pdn_up(self) -> None:
        """The network (re)establishes the default PDN: sockets work again, ``+IP`` says so (§2.3.1 note 4)."""
        ctx = self.pdn
        ctx.active, ctx.broken = True, False
        if ctx.dns_from_network:
            ctx.dns = self.contexts.network_dns()
        self.urc(f"+IP: {self.config.local_ip}")

    # -- the host's bytes and the module's URCs ------------------------------------------------------------------

    def on_host_input(self, data: bytes, t_ns: int) -> None:
        if self.power.lost(data, t_ns):
            return  # a sleeping UART: the bytes that wake it are lost
        super().on_host_input(data, t_ns)

    def unsolicited(self, out: bytes) -> None:
        self.power.send(out)  # PSM holds URCs, DRX delays them (§2.4 notes 1-3)

    def release_urc(self, out: bytes) -> None:
        """A URC the sleep state lets out now: held during a prompt (or lost, if the control channel says so)."""
        if self.lose_held_urcs and self.urcs_held():
            log(f"URC lost during the prompt: {out.strip()[:60]!r}", key="urc lost")
            return
        super().unsolicited(out)

    def recv_chunk(self) -> int:
        """The most data bytes one ``recv`` URC carries (§2.4 note 5; hex: ambiguity 18)."""
        return self.limits["recv_chunk_hex_max" if self.recv_data_format else "recv_chunk_max"]

    def push(self, svc: Service, data: bytes, peer: Peer) -> None:
        """One ``recv`` URC (§2.4.2): the sender's address for a UDP SERVICE or with showRA 1, the data quoted, raw
        or upper-case hex (ambiguities 15, 16)."""
        header = f'+QIURC: "recv",{svc.connect_id},{len(data)}'
        if svc.service_type == UDP_SERVICE or self.show_ra:
            ip, port = peer if peer is not None else (svc.remote_ip, svc.remote_port)
            header += f',"{ip}",{port}'
        body = data.hex().upper().encode() if self.recv_data_format else data
        self.unsolicited(b"\r\n" + header.encode() + b',"' + body + b'"\r\n')

    # -- what the network does ------------------------------------------------------------------------------------

    def open_result(self, svc: Service, code: int) -> None:
        sockets.open_result(self, svc, code)

    def incoming(self, listener: Service, conn: socket.socket, peer: tuple[str, int]) -> None:
        sockets.incoming(self, listener, conn, peer)

    def connection_closed(self, svc: Service, reason: str, *, in_data_mode: bool) -> None:
        if svc.is_tcp:
            self.urc(f'+QIURC: "closed",{svc.connect_id}')  # §2.4.1; ambiguity 33: TCP only

    def context_lost(self, ctx: Context) -> None:
        # the PDN broke down: every TCP connection says "closed" and shows state 3 "Closing" (§2.4.1: "due to
        # network error"); sends and opens answer 570 until the network brings the PDN back (control registration)
        for svc in sorted(self.sockets.of_context(ctx.context_id), key=lambda s: s.connect_id):
            if svc.is_tcp and svc.close_reason == "pdp":
                self.urc(f'+QIURC: "closed",{svc.connect_id}')

    # -- the control channel --------------------------------------------------------------------------------------

    def _control_sleep(self, mode: Any = "light") -> dict[str, Any]:
        return self.power.control_sleep(mode)

    def _control_psm(self, action: Any) -> dict[str, Any]:
        return self.power.control_psm(action)

    def _control_psm_downlink(self, mode: Any) -> dict[str, Any]:
        return self.power.control_psm_downlink(mode)

    def _control_drx(self, cycle_s: Any) -> dict[str, Any]:
        return self.power.control_drx(cycle_s)

    def _control_network(self, type: Any) -> dict[str, Any]:
        if type not in NETWORK_TYPES:
            raise ControlError(f"network: type must be one of {', '.join(NETWORK_TYPES)}")
        self.network_type = type
        return {"network": type}

    def _control_dns_issued(self, servers: Any = "") -> dict[str, Any]:
        addresses = [s for s in str(servers).split(",") if s] if not isinstance(servers, list) else servers
        if not all(isinstance(a, str) and ipv4_literal(a) for a in addresses):
            raise ControlError("dns_issued: servers must be IPv4 addresses, comma separated (empty: none)")
        self.config.update({"dns_servers": addresses[:2]})
        self.pdn.dns_from_network = True  # ASSUMPTION: servers the network issues anew replace configured ones
        self.contexts.dns_changed()  # §2.3.8 note 5: none issued is "0.0.0.0"
        return {"dns": list(self.pdn.dns)}

    def _control_registration(self, state: Any, code: Any = None) -> dict[str, Any]:
        if as_bool(state, "state"):
            self.pdn_refused = None
            if not self.pdn.active:
                self.pdn_up()
            return {"pdn": "up"}
        refused = self._error_code(code) if code not in (None, "") else NOT_ALLOWED
        self.pdn_refused = refused or NOT_ALLOWED
        ctx = self.pdn
        for svc in self.sockets.of_context(ctx.context_id):
            self.sockets.drop(svc)  # ASSUMPTION: the host asked nothing: no URC, the IDs are free
        ctx.active = ctx.broken = False
        return {"pdn": "down", "code": self.pdn_refused}

    def _control_pdn_broken(self) -> dict[str, Any]:
        self.network_deactivate(0)
        return {"pdn": "broken"}

    def _control_urcs_in_prompt(self, mode: Any) -> dict[str, Any]:
        if mode not in ("hold", "lose"):
            raise ControlError("urcs_in_prompt: mode must be hold or lose")
        self.lose_held_urcs = mode == "lose"
        return {"urcs_in_prompt": mode}

    def state_extras(self) -> dict[str, Any]:
        return {
            **self.power.state(),
            "network": self.network_type,
            "pdn_refused": self.pdn_refused,
            "last_rai_mode": self.last_rai_mode,
            "last_rai_enable": self.last_rai_enable,
            "urcs_in_prompt": "lose" if self.lose_held_urcs else "hold",
            "qicfg": {"dataformat": [self.send_data_format, self.recv_data_format], "showRA": self.show_ra},
            "dns_v6": list(self.dns_v6),
        }
