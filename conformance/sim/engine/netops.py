"""Network operations a module runs in the background, on the event loop: DNS lookups, SNTP, ICMP echo.

Each one talks to the real network with non-blocking kernel sockets and reports through a callback with an error
code of the dialect's table (0 = success). Nothing here sleeps or blocks; every wait is a loop timer.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..loop import Loop, Timer, log
from .codes import CREATE_SOCKET_FAILED as ERR_CREATE_SOCKET
from .codes import DNS_PARSE_FAILED as ERR_DNS_PARSE
from .codes import TIMEOUT as ERR_TIMEOUT

__all__ = [
    "DnsQuery",
    "NtpQuery",
    "PingReply",
    "PingSession",
    "ipv4_literal",
    "system_dns_servers",
]

_NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def ipv4_literal(text: str) -> str | None:
    """``text`` as a dotted IPv4 address in canonical form, or None if it is not one (a domain name, say)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(address) if address.version == 4 else None


def system_dns_servers(path: str = "/etc/resolv.conf") -> list[str]:
    """The IPv4 name servers of the host (or of the network namespace: ``ip netns exec`` mounts its own)."""
    servers: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver" and ipv4_literal(parts[1]):
                    servers.append(parts[1])
    except OSError:
        pass
    return servers[:2]


class _UdpExchange:
    """One UDP socket, one deadline: the shared plumbing of DNS and NTP queries."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.sock: socket.socket | None = None
        self.timer: Timer | None = None
        self.done = False

    def open(self, on_read: Callable[[], None]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.loop.watch(self.sock, on_read=on_read)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.sock is not None:
            self.loop.unwatch(self.sock)
            self.sock.close()
            self.sock = None


class DnsQuery:
    """Resolve ``hostname`` to IPv4 addresses through ``servers`` (tried in turn, ``timeout_s`` each).

    ``on_done(err, addresses, ttl)``: err 0 with at least one address; 565 when a server answers with an error
    (NXDOMAIN...) or with no A record; 569 when no server answers in time.
    """

    def __init__(self, loop: Loop, servers: list[str], port: int, hostname: str, timeout_s: float,
                 on_done: Callable[[int, list[str], int], None]) -> None:
        self._loop = loop
        self._servers = [s for s in servers if ipv4_literal(s) and s != "0.0.0.0"]
        self._port = port
        self._hostname = hostname
        self._timeout_s = timeout_s
        self._on_done = on_done
        self._exchange = _UdpExchange(loop)
        self._index = -1
        self._query_id = 0
        self._request = b""
        self._timed_out = False

    def start(self) -> None:
        literal = ipv4_literal(self._hostname)
        if literal is not None:
            self._loop.call_soon(lambda: self._finish(0, [literal], 0))
            return
        if not self._servers:  # no server to ask (BC660K §2.3.8 note 5): the answer still comes after start()
            self._loop.call_soon(lambda: self._finish(ERR_DNS_PARSE, [], 0))
            return
        try:
            from dnslib import DNSRecord  # imported here: only a simulator that resolves names needs it

            self._query_id = random.randrange(1, 0x10000)
            record = DNSRecord.question(self._hostname, "A")
            record.header.id = self._query_id
            self._request = record.pack()
        except Exception as e:  # a name dnslib cannot encode (label too long, bad characters)
            log(f"dns: cannot encode {self._hostname!r}: {e}")
            self._loop.call_soon(lambda: self._finish(ERR_DNS_PARSE, [], 0))
            return
        try:
            self._exchange.open(self._on_readable)
        except OSError as e:
            log(f"dns: socket: {e}")
            self._loop.call_soon(lambda: self._finish(ERR_CREATE_SOCKET, [], 0))
            return
        self._next_server()

    def cancel(self) -> None:
        self._exchange.done = True
        self._exchange.close()

    def _next_server(self) -> None:
        self._index += 1
        if self._index >= len(self._servers):
            self._finish(ERR_TIMEOUT if self._timed_out else ERR_DNS_PARSE, [], 0)
            return
        server = self._servers[self._index]
        assert self._exchange.sock is not None
        try:
            self._exchange.sock.sendto(self._request, (server, self._port))
        except OSError as e:
            log(f"dns: send to {server}:{self._port}: {e}")
            self._next_server()
            return
        self._exchange.timer = self._loop.call_later(self._timeout_s, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timed_out = True
        self._next_server()

    def _on_readable(self) -> None:
        from dnslib import QTYPE, RCODE, DNSRecord

        assert self._exchange.sock is not None
        try:
            packet, _ = self._exchange.sock.recvfrom(4096)
        except BlockingIOError:
            return
        except OSError as e:  # ICMP port unreachable from the server: that server failed
            log(f"dns: receive: {e}")
            if self._exchange.timer is not None:
                self._exchange.timer.cancel()
            self._next_server()
            return
        try:
            reply = DNSRecord.parse(packet)
        except Exception:
            return  # garbage: keep waiting for the real answer
        if reply.header.id != self._query_id:
            return
        if reply.header.rcode != RCODE.NOERROR:
            self._finish(ERR_DNS_PARSE, [], 0)
            return
        addresses = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
        if not addresses:
            self._finish(ERR_DNS_PARSE, [], 0)
            return
        ttl = min(rr.ttl for rr in reply.rr if rr.rtype == QTYPE.A)
        self._finish(0, addresses, ttl)

    def _finish(self, err: int, addresses: list[str], ttl: int) -> None:
        if self._exchange.done:
            return
        self._exchange.done = True
        self._exchange.close()
        self._on_done(err, addresses, ttl)


class NtpQuery:
    """One SNTP (RFC 4330) client exchange: ``on_done(err, unix_time)``; 569 when the server stays silent."""

    def __init__(self, loop: Loop, server_ip: str, port: int, timeout_s: float,
                 on_done: Callable[[int, float], None]) -> None:
        self._loop = loop
        self._server = (server_ip, port)
        self._timeout_s = timeout_s
        self._on_done = on_done
        self._exchange = _UdpExchange(loop)
        self._transmit = b""
        self._sent_ns = 0

    def start(self) -> None:
        try:
            self._exchange.open(self._on_readable)
        except OSError as e:
            log(f"ntp: socket: {e}")
            self._loop.call_soon(lambda: self._finish(ERR_CREATE_SOCKET, 0.0))
            return
        now = time.time() + _NTP_EPOCH_OFFSET
        self._transmit = struct.pack("!II", int(now), int((now % 1) * 2**32))
        request = bytes([0x23]) + bytes(39) + self._transmit  # LI 0, version 4, mode 3 (client)
        self._sent_ns = time.monotonic_ns()
        try:
            assert self._exchange.sock is not None
            self._exchange.sock.sendto(request, self._server)
        except OSError as e:
            log(f"ntp: send to {self._server}: {e}")
        # A failed send is a server that does not answer: the timeout reports it, as a module would.
        self._exchange.timer = self._loop.call_later(self._timeout_s, lambda: self._finish(ERR_TIMEOUT, 0.0))

    def cancel(self) -> None:
        self._exchange.done = True
        self._exchange.close()

    def _on_readable(self) -> None:
        assert self._exchange.sock is not None
        try:
            packet, _ = self._exchange.sock.recvfrom(1024)
        except BlockingIOError:
            return
        except OSError as e:
            log(f"ntp: receive: {e}")
            return
        received_ns = time.monotonic_ns()
        # A reply: server mode (4), our transmit timestamp echoed as its originate timestamp, not a kiss-o'-death.
        if len(packet) < 48 or packet[0] & 0x07 != 4 or packet[24:32] != self._transmit or packet[1] == 0:
            return
        seconds, fraction = struct.unpack("!II", packet[40:48])
        server_time = seconds - _NTP_EPOCH_OFFSET + fraction / 2**32
        # The server's transmit time plus half the round trip is "now" at reception.
        self._finish(0, server_time + (received_ns - self._sent_ns) / 2e9)

    def _finish(self, err: int, unix_time: float) -> None:
        if self._exchange.done:
            return
        self._exchange.done = True
        self._exchange.close()
        self._on_done(err, unix_time)


@dataclass(frozen=True)
class PingReply:
    """One echo reply: who answered, the payload length, the round trip in ms and the reply's TTL."""

    address: str
    size: int
    time_ms: int
    ttl: int


class PingSession:
    """ICMP echo requests, one after another, each waiting ``timeout_s`` for its reply.

    ``on_reply(reply_or_None)`` after each request (None: no reply in time); ``on_done(err, sent, received)``
    at the end. Uses an unprivileged ICMP datagram socket when the kernel allows it, else a raw socket (root).
    """

    PAYLOAD_SIZE = 32  # BG96 §3.7: the example reports 32 bytes per request

    def __init__(self, loop: Loop, address: str, count: int, timeout_s: float,
                 on_reply: Callable[[PingReply | None], None], on_done: Callable[[int, int, int], None],
                 size: int = PAYLOAD_SIZE) -> None:
        self._loop = loop
        self._size = size  # the ICMP payload of each request (BC660K §2.3.5 <ping_size>)
        self._address = address
        self._count = count
        self._timeout_s = timeout_s
        self._on_reply = on_reply
        self._on_done = on_done
        self._sock: socket.socket | None = None
        self._raw = False
        self._ident = os.getpid() & 0xFFFF
        self._sequence = 0
        self._sent = 0
        self._received = 0
        self._sent_ns = 0
        self._timer: Timer | None = None
        self._done = False

    def start(self) -> None:
        try:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            self._sock.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVTTL", 12), 1)
        except OSError:
            try:
                self._sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                self._raw = True
            except OSError as e:
                log(f"ping: no ICMP socket (neither datagram nor raw): {e}")
                self._loop.call_soon(lambda: self._finish(ERR_CREATE_SOCKET))
                return
        self._sock.setblocking(False)
        self._loop.watch(self._sock, on_read=self._on_readable)
        self._send_next()

    def cancel(self) -> None:
        self._done = True
        self._close()

    def _send_next(self) -> None:
        if self._sent >= self._count:
            self._finish(0)
            return
        self._sequence = (self._sequence + 1) & 0xFFFF
        payload = bytes((i + 0x20) & 0xFF for i in range(self._size))
        header = struct.pack("!BBHHH", 8, 0, 0, self._ident, self._sequence)
        checksum = _icmp_checksum(header + payload)
        packet = struct.pack("!BBHHH", 8, 0, checksum, self._ident, self._sequence) + payload
        self._sent += 1
        self._sent_ns = time.monotonic_ns()
        assert self._sock is not None
        try:
            self._sock.sendto(packet, (self._address, 0))
        except OSError as e:  # no route: that request is lost, as its timeout will say
            log(f"ping: send to {self._address}: {e}")
        self._timer = self._loop.call_later(self._timeout_s, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        self._on_reply(None)
        if not self._done:
            self._send_next()

    def _on_readable(self) -> None:
        assert self._sock is not None
        try:
            data, ancillary, _, source = self._sock.recvmsg(self._size + 2048, socket.CMSG_SPACE(4))
        except BlockingIOError:
            return
        except OSError as e:
            log(f"ping: receive: {e}")
            return
        received_ns = time.monotonic_ns()
        ttl = 0
        if self._raw:
            header_length = (data[0] & 0x0F) * 4 if data else 0
            ttl = data[8] if len(data) > 8 else 0
            data = data[header_length:]
        else:
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IP and kind == 2 and len(value) >= 4:  # IP_TTL
                    ttl = struct.unpack("i", value[:4])[0]
        if len(data) < 8:
            return
        kind, _, _, ident, sequence = struct.unpack("!BBHHH", data[:8])
        # A datagram ICMP socket gets its own replies only (the kernel rewrites the identifier); raw gets all ICMP.
        if kind != 0 or sequence != self._sequence or (self._raw and ident != self._ident):
            return
        if self._timer is None:
            return  # that request already timed out
        self._timer.cancel()
        self._timer = None
        self._received += 1
        self._on_reply(PingReply(source[0], len(data) - 8, (received_ns - self._sent_ns) // 1_000_000, ttl))
        if not self._done:
            self._send_next()

    def _finish(self, err: int) -> None:
        if self._done:
            return
        self._done = True
        self._close()
        self._on_done(err, self._sent, self._received)

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sock is not None:
            self._loop.unwatch(self._sock)
            self._sock.close()
            self._sock = None


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF
