"""``ping``: the peers' address as a target for AT+QPING, counting the echo requests that reach it.

The kernel answers the pings; a raw ICMP socket (root or CAP_NET_RAW) sees a copy of each request, so a case can
check how many the module sent. Requests lost to ``net blackhole ping`` never reach it and are not counted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping

from conformance.errors import ActionFailed
from conformance.network.faults import Endpoint
from conformance.network.namespaces import socket_in

from .base import Args, Peer, verb

__all__ = ["PingTarget"]

log = logging.getLogger(__name__)

ICMP_ECHO_REQUEST = 8


class PingTarget(Peer):
    """An address that answers ICMP echo requests and records each one (payload, sender, time)."""

    transport = "icmp"
    count_unit = "echo requests"

    def __init__(self, capability: str = "ping", **kwargs: object) -> None:
        super().__init__(capability, **kwargs)  # type: ignore[arg-type]
        self._sock: socket.socket | None = None
        self._dst = b""  # the peers' address, packed: only echo requests to it count
        self.why_not_counting = ""

    @property
    def counting(self) -> bool:
        """Whether echo requests are seen (a raw socket could be opened)."""
        return self._sock is not None

    async def _open(self) -> None:
        try:
            sock = socket_in(self.netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError as exc:
            self.why_not_counting = f"counting echo requests needs a raw socket (root or CAP_NET_RAW): {exc}"
            log.info("ping: %s", self.why_not_counting)
            return
        sock.setblocking(False)
        self._sock = sock
        self._dst = socket.inet_aton(self.bind)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read)

    async def _close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _read(self) -> None:
        assert self._sock is not None
        while True:
            try:
                packet = self._sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            header = (packet[0] & 0x0F) * 4
            if len(packet) > header and packet[header] == ICMP_ECHO_REQUEST and packet[16:20] == self._dst:
                self.recorder.add(packet[header + 8:], (socket.inet_ntoa(packet[12:16]), 0))

    def endpoints(self) -> list[Endpoint]:
        """See :meth:`Peer.endpoints`."""
        return [Endpoint("icmp", self.host)]

    def received_total(self) -> int:
        """See :meth:`Peer.received_total`."""
        if not self.counting:
            raise ActionFailed(f"ping: {self.why_not_counting}")
        return self.recorder.count

    @verb("received", "")
    def _received(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Not for ping: use ``received_count <n>`` (echo requests)."""
        raise ActionFailed("ping received: a ping carries no case data; use `! ping received_count <n>`")
