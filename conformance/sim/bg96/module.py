"""The BG96 front-end: what a BG96 says, on the shared engine (BG96 TCP/IP AT Commands Manual V1.0; § are its own).

The engine (conformance/sim/engine) does the work every module of the family does: sockets, contexts, data mode,
the line discipline. This class holds the BG96's data, its command table, and the wording of what it tells the
host when the network does something. Where the manual is silent, the choice is marked ASSUMPTION and listed in
docs/simulator.md.
"""

from __future__ import annotations

import socket
from functools import partial
from typing import Any

from ..engine import Buffered, Context, Identity, Module, NetworkProfile, PromptPolicy, Pushed, Service
from ..engine.delivery import Delivery
from . import contexts, services, sockets, transfer

__all__ = ["Bg96Module"]

IDENTITY = Identity(
    manufacturer="Quectel",
    model="BG96",
    revision="BG96MAR02A07M1G",
    full_revision="BG96MAR02A07M1G_01.016.01.016",  # ASSUMPTION: AT+QGMR adds an application build suffix
    imei="866425030000001",  # ASSUMPTION: made up
)
AT_PORT = "usbmodem"  # §2.1.6: the <at_port> of the manual's examples
BUFFER, PUSH, TRANSPARENT = 0, 1, 2  # §1.2 access modes
# §2.1.7: Ctrl+Z sends, ESC cancels; ASSUMPTION: backspace is data, more than 1460 bytes before Ctrl+Z is an error
PROMPT_POLICY = PromptPolicy(backspace_deletes=False, overflow="error")
RETRANS_BACKOFFS = (3, 20, 8)  # §2.1.15 tcp/retranscfg <max_backoffs>: min, max, default
RETRANS_RTO = (5, 1000, 600)  # §2.1.15 tcp/retranscfg <max_rto> (100 ms): min, max, default

TCPIP_COMMANDS = frozenset({
    "+QICSGP", "+QIACT", "+QIDEACT", "+QIOPEN", "+QICLOSE", "+QISTATE", "+QISEND", "+QIRD", "+QISENDEX",
    "+QISWTMD", "+QPING", "+QNTP", "+QIDNSCFG", "+QIDNSGIP", "+QICFG", "+QISDE",
})

COMMANDS = {
    "+QICSGP": contexts.qicsgp,
    "+QIACT": contexts.qiact,
    "+QIDEACT": contexts.qideact,
    "+QIOPEN": sockets.qiopen,
    "+QICLOSE": sockets.qiclose,
    "+QISTATE": sockets.qistate,
    "+QISWTMD": sockets.qiswtmd,
    "+QISEND": transfer.qisend,
    "+QIRD": transfer.qird,
    "+QISENDEX": transfer.qisendex,
    "+QPING": services.qping,
    "+QNTP": services.qntp,
    "+QIDNSCFG": services.qidnscfg,
    "+QIDNSGIP": services.qidnsgip,
    "+QICFG": services.qicfg,
    "+QISDE": services.qisde,
    "+QIGETERROR": services.qigeterror,
}


class Bg96Module(Module):
    """The BG96 of the TCP/IP AT Commands Manual V1.0, serving one port."""

    identity = IDENTITY
    network = NetworkProfile()  # the engine's defaults are the BG96's (eMTC)
    tcpip_commands = TCPIP_COMMANDS
    prompt_policy = PROMPT_POLICY

    def register_commands(self) -> None:
        for name, handler in COMMANDS.items():
            self.commands[name] = partial(handler, self)

    def dialect_power_on(self) -> None:
        self.qisde = 1  # §2.1.16: echo the data by default
        self.transpktsize = self.limits["transpktsize_default"]
        self.transwaittm = self.limits["transwaittm_default"]
        self.send_data_format = 0
        self.recv_data_format = 0
        self.view_mode = 0
        self.set_retransmission(RETRANS_BACKOFFS[2], RETRANS_RTO[2])
        self.ping_busy: Any = None  # the AT+QPING in progress (lookup or session)
        self.ntp_busy: Any = None  # the AT+QNTP in progress
        self.ntp_target: tuple[str, int] | None = None

    def set_retransmission(self, backoffs: int, rto: int) -> None:
        """§2.1.15 tcp/retranscfg: kept, and applied to every TCP socket as the kernel can take it."""
        self.max_backoffs, self.max_rto = backoffs, rto
        self.sockets.set_retransmission(backoffs, rto / 10)

    def shutdown(self) -> None:
        for op in (self.ping_busy, self.ntp_busy):
            if op is not None:
                op.cancel()
        super().shutdown()

    # -- data mode (§1.2) -------------------------------------------------------------------------------------

    def packet_size(self) -> int:
        return self.transpktsize  # §2.1.15 transpktsize

    def packet_wait_s(self) -> float:
        return self.transwaittm / 10  # §2.1.15 transwaittm, in 100 ms

    def data_mode_entered(self, svc: Service) -> None:
        svc.access_mode = TRANSPARENT

    def data_mode_left(self, svc: Service) -> None:
        # §1.2 item 3 and note 2: after the escape, DTR or a lost connection, the socket is in buffer access mode
        svc.access_mode = BUFFER
        svc.delivery = self.delivery(BUFFER)
        svc.notify_armed = svc.unread == 0

    # -- receive delivery (§2.2.2) ----------------------------------------------------------------------------

    def delivery(self, access_mode: int) -> Delivery:
        """How received data reaches the host in ``access_mode`` (transparent: the data mode's, raw)."""
        if access_mode == PUSH:
            return Pushed(self._push, self.limits["read_length_max"])  # one URC carries what one AT+QIRD could
        return Buffered(self._notify)

    def _notify(self, svc: Service) -> None:
        self.urc(f'+QIURC: "recv",{svc.connect_id}')  # buffer access mode: one URC until read empty

    def _push(self, svc: Service, data: bytes, peer: tuple[str, int] | None) -> None:
        header = f'+QIURC: "recv",{svc.connect_id},{len(data)}'
        if peer is not None:
            header += f',"{peer[0]}",{peer[1]}'
        self.urc(header, self.format_data(data), data_separator=b"," if self.view_mode == 1 else b"\r\n")

    def format_data(self, data: bytes) -> bytes:
        """Received data as shown: raw, or upper-case hex with dataformat recv=1 (§2.1.15)."""
        return data.hex().upper().encode() if self.recv_data_format == 1 else data

    # -- what the network does ------------------------------------------------------------------------------

    def open_result(self, svc: Service, code: int) -> None:
        sockets.open_result(self, svc, code)

    def incoming(self, listener: Service, conn: socket.socket, peer: tuple[str, int]) -> None:
        sockets.incoming(self, listener, conn, peer)

    def connection_closed(self, svc: Service, reason: str, *, in_data_mode: bool) -> None:
        if not in_data_mode:  # §1.2 note 2: in data mode NO CARRIER says it, no URC
            self.urc(f'+QIURC: "closed",{svc.connect_id}')  # §2.2.1

    def context_lost(self, ctx: Context) -> None:
        self.urc(f'+QIURC: "pdpdeact",{ctx.context_id}')  # §2.2.5

    def state_extras(self) -> dict[str, Any]:
        return {
            "qisde": self.qisde,
            "qicfg": {"transpktsize": self.transpktsize, "transwaittm": self.transwaittm,
                      "dataformat": [self.send_data_format, self.recv_data_format], "viewmode": self.view_mode,
                      "tcp/retranscfg": [self.max_backoffs, self.max_rto]},
        }
