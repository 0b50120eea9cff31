"""UDP peers: ``udp_echo`` and ``udp_sink`` (servers the module sends datagrams to) and ``udp_sender`` (sends datagrams
to the module's ``UDP SERVICE``). Each records every datagram with its sender and arrival time.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from typing import Literal

from conformance.errors import ActionFailed
from conformance.network.namespaces import socket_in

from .base import Args, Peer, show, verb

__all__ = ["UdpPeer", "UdpSender"]

log = logging.getLogger(__name__)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, peer: _UdpBase) -> None:
        self.peer = peer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a _SelectorDatagramTransport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.peer._on_datagram(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        self.peer._on_error(exc)


class _UdpBase(Peer):
    """A bound UDP socket, its recording, and the datagram verbs."""

    transport = "udp"
    count_unit = "datagrams"

    def __init__(self, capability: str, **kwargs: object) -> None:
        super().__init__(capability, **kwargs)  # type: ignore[arg-type]
        self._proto: _Datagrams | None = None
        self._datagrams_checked = 0
        self.last_sender: tuple[str, int] | None = None
        self.errors: list[str] = []  # ICMP errors reported on the socket (e.g. port unreachable) in this case

    async def _open(self) -> None:
        sock = socket_in(self.netns, socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.bind, self.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        _, proto = await asyncio.get_running_loop().create_datagram_endpoint(lambda: _Datagrams(self), sock=sock)
        self._proto = proto

    async def _close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None

    def _reset_case(self) -> None:
        self._datagrams_checked = 0
        self.last_sender = None
        self.errors = []

    def _on_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        with self.cond:
            self.last_sender = sender
        self.recorder.add(data, sender)

    def _on_error(self, exc: Exception) -> None:
        log.debug("%s: %s", self.capability, exc)
        with self.cond:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self.cond.notify_all()

    def _sendto(self, data: bytes, address: tuple[str, int]) -> None:
        def send() -> None:
            if self._proto is None or self._proto.transport is None:
                raise ActionFailed(f"{self.capability}: not started")
            self._proto.transport.sendto(data, address)

        self.loop.call(send)

    @verb("datagram", "<bytes> [<from_port>]")
    def _datagram(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """The next datagram (after the previous ``datagram`` check) is exactly these bytes (from that port)."""
        expected = args.data()
        from_port = args.integer("from_port", None)
        args.end()
        index = self._datagrams_checked
        if not self.wait_for(lambda: self.recorder.count > index, deadline):
            raise ActionFailed(f"{args.where}: expected datagram {index + 1} {show(expected)}, none arrived by the "
                               f"deadline ({index} in this case)")
        arrival = self.recorder.arrivals()[index]
        self._datagrams_checked = index + 1
        source = f"{arrival.source[0]}:{arrival.source[1]}" if arrival.source else "?"
        if arrival.data != expected:
            raise ActionFailed(f"{args.where}: datagram {index + 1} from {source}: expected {show(expected)} "
                               f"({len(expected)} bytes), received {show(arrival.data)} ({len(arrival.data)} bytes)")
        if from_port is not None and (arrival.source is None or arrival.source[1] != from_port):
            raise ActionFailed(f"{args.where}: datagram {index + 1} came from {source}, expected port {from_port}")
        return f"datagram {index + 1} from {source}, {len(arrival.data)} bytes"


class UdpPeer(_UdpBase):
    """A UDP server: ``echo`` sends every datagram back to its sender, ``sink`` only records."""

    def __init__(self, capability: str, *, role: Literal["echo", "sink"] = "sink", **kwargs: object) -> None:
        super().__init__(capability, **kwargs)
        self.role = role

    def _on_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        super()._on_datagram(data, sender)
        if self.role == "echo" and self._proto is not None and self._proto.transport is not None:
            self._proto.transport.sendto(data, sender)

    @verb("send", "<bytes>")
    def _send(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Send one datagram to whoever sent the last one (waits for a first datagram if none came yet)."""
        data = args.data()
        args.end()
        if not self.wait_for(lambda: self.last_sender is not None, deadline):
            raise ActionFailed(f"{args.where}: nobody sent a datagram yet, so there is no one to answer")
        assert self.last_sender is not None
        self._sendto(data, self.last_sender)
        return f"sent {len(data)} bytes to {self.last_sender[0]}:{self.last_sender[1]}"


class UdpSender(_UdpBase):
    """Sends datagrams to the module's ``UDP SERVICE`` from ``host:port`` and records what the module sends back."""

    def __init__(self, capability: str = "udp_sender", *, module_host: str = "", **kwargs: object) -> None:
        super().__init__(capability, **kwargs)
        self.module_host = module_host

    def attributes(self) -> dict[str, object]:
        """See :meth:`Peer.attributes`."""
        return {**super().attributes(), "module_host": self.module_host}

    @verb("send", "<bytes> <port> [<host>]")
    def _send(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Send one datagram to the module's port (at the module's address unless a host is given)."""
        data = args.data()
        port = args.integer("port")
        host = args.word("host") if args.has_more() else self.module_host
        args.end()
        if not host:
            raise ActionFailed(f"{args.where}: no module address known; give it: {args.where} <bytes> {port} <host>")
        self._sendto(data, (host, port))
        return f"sent {len(data)} bytes to {host}:{port}"
