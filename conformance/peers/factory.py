"""Which peer stands behind each capability name, and where peers are started (:class:`PeerSite`)."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .base import Peer
from .dns import DnsServer
from .loop import PeerLoop, shared_loop
from .ntp import NtpServer
from .ping import PingTarget
from .tcp import STALL_RCVBUF, DialIn, TcpServerPeer
from .udp import UdpPeer, UdpSender

__all__ = ["PEER_CAPABILITIES", "PeerSite", "start_peer"]

log = logging.getLogger(__name__)

DNS_PORT = 53  # a module asks its DNS server on port 53 (AT+QIDNSCFG takes no port)
NTP_PORT = 123


@dataclass
class PeerSite:
    """Where peers run: the address they bind, the address the module dials, their namespace, the module's address
    (for ``dial_in`` and ``udp_sender``) and the event loop."""

    bind: str
    advertise: str
    netns: str | None = None
    module_host: str = ""
    loop: PeerLoop = field(default_factory=shared_loop)

    def options(self) -> dict[str, object]:
        """Keyword arguments every peer takes."""
        return {"host": self.advertise, "bind": self.bind, "netns": self.netns, "loop": self.loop}


def _tcp(role: str, **extra: object) -> Callable[[str, PeerSite], Peer]:
    return lambda cap, site: TcpServerPeer(cap, role=role, **extra, **site.options())  # type: ignore[arg-type]


PEER_CAPABILITIES: dict[str, tuple[str, Callable[[str, PeerSite], Peer]]] = {
    "tcp_echo": ("TCP server that sends back every byte", _tcp("echo")),
    "tcp_sink": ("TCP server that reads and records, never answers", _tcp("sink")),
    "tcp_talker": ("TCP server that sends scripted bytes on cue (send)", _tcp("sink")),
    "tcp_closer": ("TCP server that closes (FIN) or resets (RST) on cue", _tcp("sink")),
    "tcp_stall": (f"TCP server that accepts, then stops reading (SO_RCVBUF {STALL_RCVBUF})",
                  _tcp("stall", rcvbuf=STALL_RCVBUF)),
    "udp_echo": ("UDP server that sends back every datagram",
                 lambda cap, site: UdpPeer(cap, role="echo", **site.options())),  # type: ignore[arg-type]
    "udp_sink": ("UDP server that records every datagram and its sender",
                 lambda cap, site: UdpPeer(cap, role="sink", **site.options())),  # type: ignore[arg-type]
    "dial_in": ("TCP client(s) that dial the module's TCP LISTENER",
                lambda cap, site: DialIn(cap, module_host=site.module_host, **site.options())),  # type: ignore
    "udp_sender": ("UDP client that sends datagrams to the module's UDP SERVICE",
                   lambda cap, site: UdpSender(cap, module_host=site.module_host, **site.options())),  # type: ignore
    "dns": ("DNS server whose answers the case sets (A records, NXDOMAIN, silence)",
            lambda cap, site: DnsServer(cap, **site.options())),  # type: ignore[arg-type]
    "ntp": ("NTP server answering a time the case sets, or nothing",
            lambda cap, site: NtpServer(cap, **site.options())),  # type: ignore[arg-type]
    "ping": ("the peers' address, answering ICMP echo and counting requests",
             lambda cap, site: PingTarget(cap, **site.options())),  # type: ignore[arg-type]
}

_WELL_KNOWN_PORT = {"dns": DNS_PORT, "ntp": NTP_PORT}


def start_peer(capability: str, site: PeerSite) -> Peer:
    """Create and start the peer behind ``capability`` at ``site``.

    DNS and NTP take their well-known port when it can be bound, else any free port (a module can then not reach
    the DNS server, whose port it cannot be told; the simulator can).
    """
    try:
        _, make = PEER_CAPABILITIES[capability]
    except KeyError:
        raise KeyError(f"no peer behind capability {capability!r}") from None
    peer = make(capability, site)
    wanted = _WELL_KNOWN_PORT.get(capability)
    if wanted is not None:
        peer.port = wanted
        try:
            return peer.start()
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EADDRINUSE, errno.EPERM):
                raise
            log.warning("%s: cannot bind %s:%d (%s); using a free port instead", capability, site.bind, wanted, exc)
            peer.port = 0
    return peer.start()
