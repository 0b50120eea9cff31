"""Socket services on the host kernel's sockets: how a socket works, for every dialect.

Every service is a non-blocking kernel socket on the simulator's loop, so a peer sees what the kernel does (SYN,
data, FIN, RST, ICMP). The engine opens clients (resolving names through the context's DNS servers), listeners and
UDP services, accepts, reads according to the service's delivery policy, sends, counts unacknowledged bytes with
``SIOCOUTQ``, and closes (FIN, waiting for the peer's, then RST after a timeout). What a dialect says about any of it
comes from the module's hooks (module.py): ``open_result``, ``incoming``, ``connection_closed``, ``data_mode_left``.

Failures are reported with the family's codes (codes.py).
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
import termios
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..loop import Timer, log
from . import codes
from .delivery import OUTPUT_HIGH_WATER, Buffered, Delivery
from .netops import DnsQuery

if TYPE_CHECKING:
    from .module import Module

__all__ = [
    "CLOSING", "CONNECTED", "INCOMING", "INITIAL", "LISTENER", "LISTENING", "OPENING", "TCP", "UDP", "UDP_SERVICE",
    "SendFull", "Service", "Sockets", "siocoutq",
]

# Socket states, in the numbering of BG96 §2.1.6 / BC660K §2.3.3 (a front-end names them its own way)
INITIAL, OPENING, CONNECTED, LISTENING, CLOSING = 0, 1, 2, 3, 4
# Service types, in the words of BG96 §2.1.4
TCP, UDP, LISTENER, INCOMING, UDP_SERVICE = "TCP", "UDP", "TCP LISTENER", "TCP INCOMING", "UDP SERVICE"

SEND_HIGH_WATER = 64 * 1024  # stop reading the host while the data-mode socket has this much unsent
LISTEN_BACKLOG = 8
_BASE_RTO_S = 0.2  # Linux's minimum RTO: the start of the backoff series a retransmission setting caps


class SendFull(Exception):
    """The module cannot take the data now (the kernel took none, or earlier data is still unsent): SEND FAIL."""


@dataclass
class Service:
    """One socket service: a connection, a listener or a UDP service, under one connect ID of the module."""

    key: Hashable  # the module's table key: the connect ID, or (context, index) where IDs are per context
    connect_id: int
    context_id: int
    service_type: str
    access_mode: int  # the dialect's number for it
    server_id: int
    delivery: Delivery = field(default_factory=Buffered)
    host: str = ""  # as the host named it
    remote_ip: str = ""
    remote_port: int = 0
    local_port: int = 0
    requested_local_port: int = 0
    sock: socket.socket | None = None
    state: int = OPENING
    stream: bytearray = field(default_factory=bytearray)  # received, unread (TCP / UDP / TCP INCOMING)
    datagrams: deque[tuple[bytes, str, int]] = field(default_factory=deque)  # received, unread (UDP SERVICE)
    total_received: int = 0
    have_read: int = 0
    total_sent: int = 0
    send_pending: bytearray = field(default_factory=bytearray)  # accepted by the module, not yet by the kernel
    notify_armed: bool = True  # a Buffered policy notifies once until the buffer has been read empty
    close_reason: str | None = None  # "fin", "reset" or "pdp" once the connection is gone
    reset_seen: bool = False  # a send saw ECONNRESET/EPIPE before the reader saw the end
    connecting: bool = False
    waiting_command: bool = False  # the command that opens it waits for the result (a transparent open)
    connect_timer: Timer | None = None
    resolver: DnsQuery | None = None
    closing: bool = False  # a close command waits for the peer's FIN
    close_timer: Timer | None = None
    last_peer: tuple[str, int] | None = None  # UDP SERVICE: the sender of the latest datagram
    # One peer of a UDP service, as a connection of its own (GSM AT+QISERVER=1: each UDP client gets a connection):
    # it has no socket; it sends through ``via``'s to remote_ip:remote_port, and ``via``'s delivery hands it data.
    via: Service | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # a front-end's own per-service settings

    @property
    def is_tcp(self) -> bool:
        return self.service_type in (TCP, INCOMING)

    @property
    def unread(self) -> int:
        return self.total_received - self.have_read

    @property
    def buffered(self) -> int:
        return len(self.stream) + sum(len(d) for d, _, _ in self.datagrams)


def siocoutq(sock: socket.socket) -> int:
    """Bytes the kernel still holds for ``sock`` (SIOCOUTQ = TIOCOUTQ): unsent or, for TCP, not yet acknowledged."""
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
        return int(struct.unpack("i", raw)[0])
    except OSError:
        return 0


class Sockets:
    """The module's table of socket services and what the kernel does with them."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.loop = module.loop
        self.services: dict[Hashable, Service] = {}
        self.user_timeout_ms: int | None = None  # TCP_USER_TIMEOUT of every TCP socket (a retransmission setting)

    # -- the table ------------------------------------------------------------------------------------------------

    def get(self, key: Hashable) -> Service | None:
        return self.services.get(key)

    def add(self, svc: Service) -> None:
        self.services[svc.key] = svc

    def of_context(self, context_id: int) -> list[Service]:
        return [s for s in self.services.values() if s.context_id == context_id]

    def port_in_use(self, port: int, tcp: bool) -> bool:
        """True if another of the module's services of the same protocol family uses local ``port``."""
        for svc in self.services.values():
            if svc.local_port == port and (svc.service_type in (TCP, LISTENER, INCOMING)) == tcp:
                return True
        return False

    def unacked(self, svc: Service) -> int:
        """Sent but not acknowledged: what the kernel holds (SIOCOUTQ) plus what the module still holds."""
        held = (siocoutq(svc.sock) if svc.sock is not None else 0) + len(svc.send_pending)
        return min(held, svc.total_sent)

    # -- opening --------------------------------------------------------------------------------------------------

    def open_client(self, svc: Service, dns_servers: list[str]) -> None:
        """Resolve ``svc.host`` and connect (TCP) or bind and connect (UDP); the result goes to ``open_result``."""
        m = self.module
        svc.resolver = DnsQuery(self.loop, dns_servers, m.config.dns_port, svc.host, m.config.dns_timeout_s,
                                m.callback(lambda err, addresses, ttl: self._resolved(svc, err, addresses)))
        svc.resolver.start()

    def open_server(self, svc: Service, local_ip: str) -> int:
        """Bind a listener or a UDP service to ``local_ip``:``requested_local_port``; 0 or an error code."""
        kind = socket.SOCK_STREAM if svc.service_type == LISTENER else socket.SOCK_DGRAM
        try:
            sock = socket.socket(socket.AF_INET, kind)
        except OSError as e:
            log(f"open {svc.connect_id}: socket: {e}")
            return codes.CREATE_SOCKET_FAILED
        sock.setblocking(False)
        try:
            if svc.service_type == LISTENER:
                # a module re-listens on its port at once, TIME_WAIT or not
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((local_ip, svc.requested_local_port))
        except OSError as e:
            log(f"open {svc.connect_id}: bind {local_ip}:{svc.requested_local_port}: {e}")
            sock.close()
            return codes.BIND_FAILED
        if svc.service_type == LISTENER:
            try:
                sock.listen(LISTEN_BACKLOG)
            except OSError as e:
                log(f"open {svc.connect_id}: listen: {e}")
                sock.close()
                return codes.LISTEN_FAILED
        svc.sock = sock
        svc.local_port = sock.getsockname()[1]
        svc.remote_ip = local_ip  # BG96 §2.1.6: a server shows the local address
        svc.state = LISTENING if svc.service_type == LISTENER else CONNECTED  # BG96 §3.6.1 shows a UDP service as 2
        return 0

    def adopt(self, conn: socket.socket, peer: tuple[str, int], *, key: Hashable, connect_id: int,
              listener: Service, access_mode: int, delivery: Delivery) -> Service:
        """Make an accepted connection a service of the table (the front-end chose its ID and mode)."""
        conn.setblocking(False)
        self._apply_user_timeout(conn)
        svc = Service(key, connect_id, listener.context_id, INCOMING, access_mode, server_id=listener.connect_id,
                      delivery=delivery, remote_ip=peer[0], remote_port=peer[1], sock=conn, state=CONNECTED,
                      local_port=conn.getsockname()[1])
        self.add(svc)
        return svc

    def _resolved(self, svc: Service, err: int, addresses: list[str]) -> None:
        svc.resolver = None
        if self.services.get(svc.key) is not svc:
            return  # closed meanwhile
        if err:
            self._open_done(svc, err)
            return
        svc.remote_ip = addresses[0]
        delay = self.module.timing.delay("connect")
        if delay > 0:
            svc.connect_timer = self.loop.call_later(delay, self.module.callback(lambda: self._connect(svc)))
        else:
            self._connect(svc)

    def _connect(self, svc: Service) -> None:
        svc.connect_timer = None
        if self.services.get(svc.key) is not svc:
            return
        tcp = svc.service_type == TCP
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        except OSError as e:
            log(f"open {svc.connect_id}: socket: {e}")
            self._open_done(svc, codes.CREATE_SOCKET_FAILED)
            return
        sock.setblocking(False)
        svc.sock = sock
        if tcp:
            self._apply_user_timeout(sock)
        if svc.requested_local_port:
            try:
                sock.bind(("", svc.requested_local_port))
            except OSError as e:
                log(f"open {svc.connect_id}: bind :{svc.requested_local_port}: {e}")
                self._open_done(svc, codes.BIND_FAILED)
                return
        if not tcp:
            try:
                sock.connect((svc.remote_ip, svc.remote_port))
            except OSError as e:
                log(f"open {svc.connect_id}: UDP connect: {e}")
                self._open_done(svc, codes.CONNECT_FAILED)
                return
            self._open_done(svc, 0)
            return
        code = sock.connect_ex((svc.remote_ip, svc.remote_port))
        if code == 0:
            self._open_done(svc, 0)
        elif code in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
            svc.connecting = True
            svc.connect_timer = self.loop.call_later(self.module.config.connect_timeout_s,
                                                     self.module.callback(lambda: self._connect_timeout(svc)))
        else:
            self._open_done(svc, _connect_error(code))

    def _on_connect_writable(self, svc: Service) -> None:
        assert svc.sock is not None
        code = svc.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code in (errno.EINPROGRESS, errno.EALREADY):
            return
        svc.connecting = False
        if svc.connect_timer is not None:
            svc.connect_timer.cancel()
            svc.connect_timer = None
        self.loop.watch(svc.sock)  # the next refresh sets the reader
        if code:
            log(f"open {svc.connect_id}: connect {svc.remote_ip}:{svc.remote_port}: {errno.errorcode.get(code)}")
            self._open_done(svc, _connect_error(code))
        else:
            self._open_done(svc, 0)

    def _connect_timeout(self, svc: Service) -> None:
        svc.connect_timer = None
        if self.services.get(svc.key) is svc and svc.connecting:
            log(f"open {svc.connect_id}: no answer from {svc.remote_ip}:{svc.remote_port} in "
                f"{self.module.config.connect_timeout_s} s")
            svc.connecting = False
            self._open_done(svc, codes.TIMEOUT)

    def _open_done(self, svc: Service, code: int) -> None:
        if code:
            self.drop(svc)
        else:
            assert svc.sock is not None
            svc.state = CONNECTED
            svc.local_port = svc.sock.getsockname()[1]
        self.module.open_result(svc, code)

    # -- sending --------------------------------------------------------------------------------------------------

    def send(self, svc: Service, data: bytes, dest: tuple[str, int] | None = None) -> int | None:
        """Hand ``data`` to the kernel: None when taken (SEND OK), or an error code; raise SendFull when the module
        cannot take it now (SEND FAIL: the kernel took none of it, or earlier data is still unsent).

        A partial kernel send is completed by the module later (its bytes count as sent and unacknowledged).
        """
        sock, dest = self._channel(svc, dest)
        assert sock is not None
        if svc.send_pending or not data:
            raise SendFull
        for attempt in range(2):
            try:
                sent = sock.sendto(data, dest) if dest else sock.send(data)
                break
            except BlockingIOError:
                raise SendFull from None
            except OSError as e:
                if not svc.is_tcp and e.errno == errno.ECONNREFUSED and attempt == 0:
                    continue  # an earlier datagram's ICMP "port unreachable", reported on this call
                log(f"send on {svc.connect_id}: {e}", key="send error")
                if svc.is_tcp:
                    svc.reset_seen = True
                return codes.WRITE_FAILED
        else:
            return codes.WRITE_FAILED
        if sent < len(data):
            svc.send_pending += data[sent:]
        svc.total_sent += len(data)
        return None

    def _channel(self, svc: Service, dest: tuple[str, int] | None) -> tuple[socket.socket | None, Any]:
        """The kernel socket a send on ``svc`` goes through, and its destination (None: the connected peer)."""
        if svc.via is not None:
            return svc.via.sock, dest or (svc.remote_ip, svc.remote_port)
        return svc.sock, dest

    def send_transparent(self, svc: Service, packet: bytes) -> None:
        """A data-mode packet: sent in order, held by the module while the kernel is full (never refused)."""
        sock, dest = self._channel(svc, None)
        if sock is None:
            return
        if svc.service_type == UDP_SERVICE:
            if svc.last_peer is None:
                log(f"data mode on UDP service {svc.connect_id}: no peer yet, {len(packet)} bytes dropped",
                    key="data mode drop")
                return
            dest = svc.last_peer
        svc.total_sent += len(packet)
        if svc.send_pending and svc.is_tcp:
            svc.send_pending += packet
            return
        try:
            sent = sock.sendto(packet, dest) if dest else sock.send(packet)
        except BlockingIOError:
            sent = 0
        except OSError as e:
            log(f"data mode send on {svc.connect_id}: {e}", key="send error")  # the reader reports the loss
            if svc.is_tcp:
                svc.reset_seen = True
            return
        if sent < len(packet) and svc.is_tcp:
            svc.send_pending += packet[sent:]

    def flush_pending(self, svc: Service) -> None:
        """Give the kernel what the module still holds of earlier sends."""
        if not svc.send_pending or svc.sock is None:
            return
        try:
            sent = svc.sock.send(svc.send_pending)
        except BlockingIOError:
            return
        except OSError as e:
            log(f"send on {svc.connect_id}: {e}", key="send error")
            svc.send_pending.clear()
            svc.reset_seen = True
            return
        del svc.send_pending[:sent]

    def set_retransmission(self, max_backoffs: int, max_rto_s: float) -> None:
        """Give up on unacknowledged data after the time ``max_backoffs`` retransmissions take, starting at 200 ms,
        doubling, capped at ``max_rto_s`` (TCP_USER_TIMEOUT), on every TCP socket now and later."""
        total = sum(min(_BASE_RTO_S * 2**i, max_rto_s) for i in range(max_backoffs))
        self.user_timeout_ms = int(total * 1000)
        for svc in self.services.values():
            if svc.is_tcp and svc.sock is not None:
                self._apply_user_timeout(svc.sock)

    def _apply_user_timeout(self, sock: socket.socket) -> None:
        if self.user_timeout_ms is None:
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, self.user_timeout_ms)
        except OSError as e:
            log(f"TCP_USER_TIMEOUT: {e}")

    # -- receiving ------------------------------------------------------------------------------------------------

    def read_stream(self, svc: Service, n: int) -> bytes:
        """Take up to ``n`` buffered bytes of a stream service (a read command)."""
        data = bytes(svc.stream[:n])
        del svc.stream[:n]
        svc.have_read += len(data)
        self._rearm(svc)
        return data

    def read_datagram(self, svc: Service, n: int) -> tuple[bytes, str, int] | None:
        """Take the next buffered datagram of a UDP service, at most ``n`` bytes of it (ASSUMPTION: the rest of a
        longer one stays for the next read)."""
        if not svc.datagrams:
            self._rearm(svc)
            return None
        data, ip, port = svc.datagrams.popleft()
        if len(data) > n:
            svc.datagrams.appendleft((data[n:], ip, port))
            data = data[:n]
        svc.have_read += len(data)
        self._rearm(svc)
        return data, ip, port

    def take_buffered(self, svc: Service) -> bytes:
        """Everything buffered, datagram payloads concatenated, as read (entering data mode)."""
        pending = bytes(svc.stream) + b"".join(d for d, _, _ in svc.datagrams)
        svc.stream.clear()
        svc.datagrams.clear()
        svc.have_read += len(pending)
        return pending

    def redeliver(self, svc: Service) -> None:
        """Hand what is buffered to the service's (new) delivery policy, as if it arrived now."""
        datagrams, svc.datagrams = svc.datagrams, deque()
        stream = bytes(svc.stream)
        svc.stream.clear()
        svc.total_received -= len(stream) + sum(len(d) for d, _, _ in datagrams)
        for data, ip, port in datagrams:
            self._received(svc, data, (ip, port))
        if stream:
            self._received(svc, stream, None)

    def _rearm(self, svc: Service) -> None:
        if svc.unread == 0:
            svc.notify_armed = True  # BG96 §2.1.8: the next arrival is reported again

    def _on_readable(self, svc: Service) -> None:
        sock = svc.sock
        if sock is None:
            return
        if svc.service_type == LISTENER:
            self._accept(svc)
            return
        if svc.service_type in (UDP_SERVICE, UDP):
            try:
                data, peer = sock.recvfrom(65536)
            except BlockingIOError:
                return
            except OSError as e:
                log(f"receive on {svc.connect_id}: {e}", key="receive error")  # ICMP error of an earlier datagram
                return
            if data:
                self._received(svc, data, (peer[0], peer[1]) if svc.service_type == UDP_SERVICE else None)
            return
        size = 4096 if svc is self.module.data_mode.service else svc.delivery.read_size(self.module, svc)
        try:
            data = sock.recv(max(1, size))
        except BlockingIOError:
            return
        except OSError as e:
            log(f"receive on {svc.connect_id}: {e}", key="receive error")
            self._peer_closed(svc, "reset")
            return
        if not data:
            self._peer_closed(svc, "reset" if svc.reset_seen else "fin")
            return
        self._received(svc, data, None)

    def _received(self, svc: Service, data: bytes, peer: tuple[str, int] | None) -> None:
        svc.total_received += len(data)
        if peer is not None:
            svc.last_peer = peer
        if svc is self.module.data_mode.service:
            svc.have_read += len(data)
            self.module.emit(data)
            return
        svc.delivery.deliver(self.module, svc, data, peer)

    def _peer_closed(self, svc: Service, reason: str) -> None:
        svc.state = CLOSING  # BG96 §2.2.1: "closing" until the host closes it
        svc.close_reason = reason
        if svc.sock is not None:
            self.loop.unwatch(svc.sock)
        self.module.after_mode_switch(lambda: self._tell_peer_closed(svc, reason))

    def _tell_peer_closed(self, svc: Service, reason: str) -> None:
        in_data_mode = svc is self.module.data_mode.service
        if in_data_mode:
            self.module.data_mode.connection_lost()
        self.module.connection_closed(svc, reason, in_data_mode=in_data_mode)

    def _accept(self, listener: Service) -> None:
        assert listener.sock is not None
        try:
            conn, peer = listener.sock.accept()
        except BlockingIOError:
            return
        except OSError as e:
            log(f"accept on {listener.connect_id}: {e}", key="accept error")
            return
        self.module.incoming(listener, conn, (peer[0], peer[1]))

    # -- closing --------------------------------------------------------------------------------------------------

    def close(self, svc: Service, timeout_s: float, on_done: Callable[[], None]) -> bool:
        """Close ``svc``: a connected TCP service sends FIN and waits up to ``timeout_s`` for the peer's, then resets
        (True: ``on_done`` will be called); anything else is dropped at once (False)."""
        if not (svc.is_tcp and svc.state == CONNECTED and svc.sock is not None):
            self.drop(svc)
            return False
        sock = svc.sock
        self.flush_pending(svc)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.drop(svc)
            return False
        svc.state = CLOSING
        svc.closing = True
        guard = self.module.callback

        def done(force: bool) -> None:
            if not svc.closing:
                return
            svc.closing = False
            if force and svc.sock is not None:
                log(f"close {svc.connect_id}: no FIN from the peer in time, resetting")
                try:
                    svc.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            self.drop(svc)
            on_done()

        def readable() -> None:
            try:
                data = sock.recv(65536)  # data arriving while closing is discarded
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                done(False)

        svc.extra["close_done"] = done
        self.loop.watch(sock, on_read=guard(readable))
        svc.close_timer = self.loop.call_later(timeout_s, guard(lambda: done(True)))
        return True

    def finish_close(self, svc: Service) -> None:
        """End a close that waits for the peer's FIN now (the network took the connection away)."""
        done = svc.extra.pop("close_done", None)
        if done is not None:
            done(False)

    def hang_up(self, svc: Service) -> None:
        """An orderly clear-down with nobody waiting: what is held is sent, FIN, the ID is freed."""
        self.flush_pending(svc)
        if svc.sock is not None:
            try:
                svc.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        self.drop(svc)

    def drop(self, svc: Service) -> None:
        """Forget a service: stop its timers and lookups, close its socket, free its key."""
        for timer in (svc.connect_timer, svc.close_timer):
            if timer is not None:
                timer.cancel()
        svc.connect_timer = svc.close_timer = None
        if svc.resolver is not None:
            svc.resolver.cancel()
            svc.resolver = None
        self.close_socket(svc)
        if self.services.get(svc.key) is svc:
            del self.services[svc.key]
        self.module.service_dropped(svc)

    def close_socket(self, svc: Service) -> None:
        """Close the kernel socket only (the service stays in the table, e.g. in state closing)."""
        if svc.sock is not None:
            self.loop.unwatch(svc.sock)
            svc.sock.close()
            svc.sock = None
        svc.connecting = False

    def shutdown(self) -> None:
        """Drop every service (the module restarts or the process ends)."""
        for svc in list(self.services.values()):
            self.drop(svc)

    # -- interest, after every loop iteration --------------------------------------------------------------------

    def refresh(self) -> None:
        """Watch each socket for what the module can take now (flow control both ways)."""
        m = self.module
        data_svc = m.data_mode.service
        for svc in list(self.services.values()):
            if svc.sock is None or svc.closing:
                continue
            on_read: Callable[[], None] | None = None
            on_write: Callable[[], None] | None = None
            if svc.connecting:
                on_write = m.callback(lambda s=svc: self._on_connect_writable(s))
            else:
                if svc.state in (CONNECTED, LISTENING) and self._wants_input(svc, data_svc):
                    on_read = m.callback(lambda s=svc: self._on_readable(s))
                if svc.send_pending and svc.close_reason is None:
                    on_write = m.callback(lambda s=svc: self.flush_pending(s))
            self.loop.watch(svc.sock, on_read=on_read, on_write=on_write)
        m.port.set_input_paused(data_svc is not None and len(data_svc.send_pending) > SEND_HIGH_WATER)

    def _wants_input(self, svc: Service, data_svc: Service | None) -> bool:
        if svc.service_type == LISTENER:
            return True
        if svc is data_svc:
            return self.module.output.pending() < OUTPUT_HIGH_WATER
        return svc.delivery.read_size(self.module, svc) > 0


def _connect_error(code: int) -> int:
    if code == errno.ETIMEDOUT:
        return codes.TIMEOUT
    return codes.CONNECT_FAILED  # refused, unreachable, reset during the handshake
