"""Network peers of the module: real servers and clients on real sockets, recording every byte with its time.

Each capability name a case lists under ``needs:`` has a peer behind it (:data:`PEER_CAPABILITIES`); peers run on
one event loop thread (:mod:`.loop`), locally (:func:`start_peer`) or on a remote host (:mod:`.remote`,
:func:`serve_main`). The verbs of transcript actions (``! tcp_echo received "test"``) are listed in ``docs/peers.md``.
"""

from __future__ import annotations

from .base import Args, Arrival, Peer, Recorder, describe_mismatch, show
from .dns import DnsServer
from .factory import PEER_CAPABILITIES, PeerSite, start_peer
from .loop import PeerLoop, shared_loop
from .ntp import NtpServer
from .ping import PingTarget
from .remote import PeerServer, RemoteError, RemotePeer, RemotePeers, load_token, serve_main
from .tcp import DialIn, TcpConnection, TcpServerPeer
from .udp import UdpPeer, UdpSender

__all__ = [
    "PEER_CAPABILITIES",
    "Args",
    "Arrival",
    "DialIn",
    "DnsServer",
    "NtpServer",
    "Peer",
    "PeerLoop",
    "PeerServer",
    "PeerSite",
    "PingTarget",
    "Recorder",
    "RemoteError",
    "RemotePeer",
    "RemotePeers",
    "TcpConnection",
    "TcpServerPeer",
    "UdpPeer",
    "UdpSender",
    "describe_mismatch",
    "load_token",
    "serve_main",
    "shared_loop",
    "show",
    "start_peer",
]
