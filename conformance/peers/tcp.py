"""TCP peers: servers the module connects to (echo, sink, talker, closer, stall) and ``dial_in``, which connects to the
module's ``TCP LISTENER``.

All of them record every byte the module sends, per connection, and share the connection verbs: ``send``,
``close`` (FIN), ``reset`` (RST through SO_LINGER 0), ``closed`` (the module closed or reset the connection).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Mapping
from typing import Literal

from conformance.errors import ActionFailed
from conformance.network.faults import Endpoint
from conformance.network.namespaces import socket_in

from .base import Args, Peer, verb

__all__ = ["STALL_RCVBUF", "DialIn", "TcpConnection", "TcpServerPeer"]

log = logging.getLogger(__name__)

STALL_RCVBUF = 4096  # tcp_stall's receive buffer: small, so the module's send buffer fills after a few KiB
KEEPALIVE_PROBE_S = 1  # `net reset`: idle seconds before the peer's keepalive probe makes the module answer

Role = Literal["echo", "sink", "stall"]
ConnState = Literal["connecting", "open", "fin", "rst", "closed"]


class TcpConnection(asyncio.Protocol):
    """One TCP connection of a peer: records what arrives, tracks who closed it and how."""

    def __init__(self, peer: _TcpPeer, number: int) -> None:
        self.peer = peer
        self.number = number  # 1-based within the case
        self.state: ConnState = "connecting"
        self.transport: asyncio.Transport | None = None
        self.local: tuple[str, int] = ("", 0)
        self.remote: tuple[str, int] = ("", 0)
        self.opened_ns = 0
        self.closed_ns = 0

    def __repr__(self) -> str:
        return f"connection {self.number} ({self.remote[0]}:{self.remote[1]}, {self.state})"

    # asyncio.Protocol, on the loop thread
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.local = transport.get_extra_info("sockname")[:2]
        self.remote = transport.get_extra_info("peername")[:2]
        self.opened_ns = time.monotonic_ns()
        if self.peer.role == "stall":
            transport.pause_reading()  # accept, then never read: the window closes and the module's buffer fills
        self.peer._set_state(self, "open")

    def data_received(self, data: bytes) -> None:
        self.peer.recorder.add(data, self.remote, self.number)
        if self.peer.role == "echo" and self.transport is not None:
            self.transport.write(data)

    def eof_received(self) -> bool:
        self.peer._set_state(self, "fin")
        return False  # close our side too, as a server does when its client hangs up

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionResetError):
            self.peer._set_state(self, "rst")
        elif self.state in ("open", "connecting"):
            self.peer._set_state(self, "closed")
        self.closed_ns = time.monotonic_ns()

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()  # the module does not read our echo: stop reading what it sends

    def resume_writing(self) -> None:
        if self.transport is not None and self.peer.role != "stall":
            self.transport.resume_reading()

    @property
    def is_open(self) -> bool:
        """Whether neither side has closed it."""
        return self.state == "open"


class _TcpPeer(Peer):
    """Connections and the verbs on them, common to TCP servers and ``dial_in``."""

    transport = "tcp"
    role: Role = "sink"

    def __init__(self, capability: str, **kwargs: object) -> None:
        super().__init__(capability, **kwargs)  # type: ignore[arg-type]
        self.connections: list[TcpConnection] = []  # this case's, oldest first

    def _reset_case(self) -> None:
        self.connections = []

    def _new_connection(self) -> TcpConnection:
        with self.cond:
            conn = TcpConnection(self, len(self.connections) + 1)
            self.connections.append(conn)
        return conn

    def _set_state(self, conn: TcpConnection, state: ConnState) -> None:
        with self.cond:
            conn.state = state
            self.cond.notify_all()
        log.debug("%s %r", self.capability, conn)

    def end_case(self) -> None:
        """Abort every connection the case left open (a plain close: FIN, or RST when unread data is left)."""
        with self.cond:
            left = [c for c in self.connections if c.transport is not None and c.state == "open"]
        if left and self.loop.running:
            self.loop.call(lambda: [c.transport.abort() for c in left if c.transport])  # type: ignore[union-attr]

    def endpoints(self) -> list[Endpoint]:
        """See :meth:`Peer.endpoints`."""
        return [Endpoint("tcp", self.host, self.port)]

    def provoke_segment(self) -> None:
        """Make the module send a segment soon on each open connection (keepalive probe, ``net reset``)."""

        def arm() -> None:
            for conn in self._open_connections():
                sock = conn.transport.get_extra_info("socket") if conn.transport else None
                if sock is None:
                    continue
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_PROBE_S)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_PROBE_S)

        self.loop.call(arm)

    def _open_connections(self) -> list[TcpConnection]:
        with self.cond:
            return [c for c in self.connections if c.is_open]

    def _pick(self, args: Args, deadline: float, *, open_only: bool = True,
              number: int | None = None) -> TcpConnection:
        """The connection numbered by the next argument (or ``number``), else the newest (open) one; waits for one."""
        if number is None and isinstance(args.peek(), int):
            number = args.integer("connection number")
        args.end()

        def found() -> bool:
            return bool(self._choose(number, open_only))

        if not self.wait_for(found, deadline):
            with self.cond:
                seen = ", ".join(map(repr, self.connections)) or "none"
            which = f"connection {number}" if number else ("open connection" if open_only else "connection")
            raise ActionFailed(f"{args.where}: no {which} by the deadline (connections this case: {seen})")
        conn = self._choose(number, open_only)
        assert conn is not None
        return conn

    def _choose(self, number: int | None, open_only: bool) -> TcpConnection | None:
        if number is not None:
            return self.connections[number - 1] if 0 < number <= len(self.connections) else None
        pool = [c for c in self.connections if c.is_open or (not open_only and c.state != "connecting")]
        return pool[-1] if pool else None

    # -------------------------------------------------------------------------------------------------- verbs

    @verb("send", "<bytes> [pieces <size>] [gap <seconds>] [on <connection>]")
    def _send(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Send the bytes on the newest open connection (or ``on`` the numbered one), whole or in pieces with gaps."""
        data = args.data()
        piece, gap, number = 0, 0.0, None
        while args.has_more():
            option = args.word("option")
            if option == "pieces":
                piece = args.integer("piece size")
            elif option == "gap":
                gap = args.number("gap seconds")
            elif option == "on":
                number = args.integer("connection number")
            else:
                raise ActionFailed(f"{args.where}: unknown option {option!r}; usage: {args.where} {args.usage}")
        conn = self._pick(args, deadline, number=number)
        pieces = [data[i:i + piece] for i in range(0, len(data), piece)] if piece > 0 else [data]

        async def write() -> None:
            for i, chunk in enumerate(pieces):
                if conn.transport is None or conn.transport.is_closing():
                    raise ActionFailed(f"{args.where}: {conn!r} closed after {i} of {len(pieces)} pieces")
                conn.transport.write(chunk)
                if gap and i + 1 < len(pieces):
                    await asyncio.sleep(gap)

        self.loop.run(write, timeout=max(deadline - time.monotonic(), 0) + gap * len(pieces) + 5)
        return f"sent {len(data)} bytes on connection {conn.number}" + (f" in {len(pieces)} pieces" if piece else "")

    @verb("close", "[<connection>]")
    def _close_conn(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Close the newest open connection (or the numbered one) with a FIN, after sending what is queued."""
        conn = self._pick(args, deadline)
        self._set_state(conn, "closed")
        self.loop.call(lambda: conn.transport.close())  # type: ignore[union-attr]
        return f"closed connection {conn.number} (FIN)"

    @verb("reset", "[<connection>]")
    def _reset_conn(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Reset the newest open connection (or the numbered one): SO_LINGER 0, then close, so a RST goes out."""
        conn = self._pick(args, deadline)
        self._set_state(conn, "closed")

        def abort() -> None:
            assert conn.transport is not None
            sock = conn.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.transport.abort()

        self.loop.call(abort)
        return f"reset connection {conn.number} (RST)"

    @verb("closed", "[fin|rst] [<connection>]")
    def _closed(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """The module closed the newest connection (or the numbered one) with a FIN or a RST (or the one named)."""
        how = args.word("fin|rst") if isinstance(args.peek(), str | bytes) else None
        if how not in (None, "fin", "rst"):
            raise ActionFailed(f"{args.where}: expected fin or rst, not {how!r}")
        conn = self._pick(args, deadline, open_only=False)
        wanted = ("fin", "rst") if how is None else (how,)
        if not self.wait_for(lambda: conn.state in wanted or conn.state == "closed", deadline) or \
                conn.state not in wanted:
            raise ActionFailed(f"{args.where}: expected the module to close {conn!r} with "
                               f"{' or '.join(w.upper() for w in wanted)}; it is {conn.state}")
        return f"connection {conn.number} closed by the module ({conn.state.upper()})"


class TcpServerPeer(_TcpPeer):
    """A TCP server that accepts any number of connections. ``role``: ``echo`` sends back what it reads, ``sink``
    only records, ``stall`` accepts and never reads (with a small SO_RCVBUF) until ``resume``.
    """

    def __init__(self, capability: str, *, role: Role = "sink", rcvbuf: int | None = None, **kwargs: object) -> None:
        super().__init__(capability, **kwargs)
        self.role = role
        self.default_role: Role = role
        self.rcvbuf = rcvbuf
        self._server: asyncio.AbstractServer | None = None

    async def _open(self) -> None:
        sock = socket_in(self.netns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)  # inherited by accepted sockets
            sock.bind((self.bind, self.port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._server = await asyncio.get_running_loop().create_server(self._new_connection, sock=sock)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.abort()
            await self._server.wait_closed()
            self._server = None

    def _reset_case(self) -> None:
        super()._reset_case()
        self.role = self.default_role

    @verb("accept", "[<count>]")
    def _accept(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """The module has opened at least count connections (default 1) in this case."""
        count = args.integer("count", 1)
        args.end()
        if not self.wait_for(lambda: sum(c.state != "connecting" for c in self.connections) >= count, deadline):
            raise ActionFailed(f"{args.where}: expected {count} connection(s) from the module, got "
                               f"{len(self.connections)} by the deadline")
        conns = self.connections[:count]
        return "; ".join(f"connection {c.number} from {c.remote[0]}:{c.remote[1]}" for c in conns)

    @verb("resume", "")
    def _resume(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Start reading again on every connection (tcp_stall: lets the module's send buffer drain)."""
        args.end()
        self.role = "sink"
        conns = self._open_connections()
        self.loop.call(lambda: [c.transport.resume_reading() for c in conns if c.transport])
        return f"reading {len(conns)} connection(s)"


class DialIn(_TcpPeer):
    """TCP client(s) that dial the module's listener: ``connect <port> [<count>] [<host>]``.

    ``host`` is the address the module sees the connections come from; ``module_host`` the address dialled when
    the case names none (the module's own address, ``network.module_ip``).
    """

    def __init__(self, capability: str = "dial_in", *, module_host: str = "", **kwargs: object) -> None:
        super().__init__(capability, **kwargs)
        self.module_host = module_host

    async def _open(self) -> None:
        """Nothing to open until a case connects."""

    async def _close(self) -> None:
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()

    def endpoints(self) -> list[Endpoint]:
        """The local ends of this case's open connections: a fault selects them by the client's port."""
        return [Endpoint("tcp", self.host, c.local[1]) for c in self._open_connections()]

    def attributes(self) -> dict[str, object]:
        """See :meth:`Peer.attributes`."""
        return {**super().attributes(), "module_host": self.module_host}

    def _target(self, args: Args) -> tuple[str, int, int]:
        port = args.integer("port")
        count = args.integer("count") if isinstance(args.peek(), int) else 1
        host = args.word("host") if args.has_more() else self.module_host
        args.end()
        if not host:
            raise ActionFailed(f"{args.where}: no module address known; give it: {args.where} {port} <host>")
        return host, port, count

    async def _dial(self, host: str, port: int, timeout: float) -> TcpConnection:
        loop = asyncio.get_running_loop()
        sock = socket_in(self.netns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.bind((self.bind, 0))
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        except BaseException:
            sock.close()
            raise
        conn = self._new_connection()
        await loop.create_connection(lambda: conn, sock=sock)
        return conn

    @verb("connect", "<port> [<count>] [<host>]")
    def _connect(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Open count connections (default 1) at once to the module's port; each must be established in time."""
        host, port, count = self._target(args)

        async def dial_all() -> list[TcpConnection | BaseException]:
            timeout = max(deadline - time.monotonic(), 0.001)
            return await asyncio.gather(*(self._dial(host, port, timeout) for _ in range(count)),
                                        return_exceptions=True)

        results = self.loop.run(dial_all, timeout=max(deadline - time.monotonic(), 0) + 5)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            reasons = sorted({_reason(f) for f in failures})
            raise ActionFailed(f"{args.where}: {len(failures)} of {count} connection(s) to {host}:{port} failed: "
                               f"{'; '.join(reasons)}")
        ports = ", ".join(str(r.local[1]) for r in results if isinstance(r, TcpConnection))
        return f"{count} connection(s) to {host}:{port} from port(s) {ports}"

    @verb("refused", "<port> [<host>]")
    def _refused(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """A connection to the module's port is refused (RST): nothing listens there."""
        host, port, _ = self._target(args)

        async def attempt() -> TcpConnection | Exception:
            try:
                return await self._dial(host, port, max(deadline - time.monotonic(), 0.001))
            except Exception as exc:  # the outcome is what this verb checks
                return exc

        result = self.loop.run(attempt, timeout=max(deadline - time.monotonic(), 0) + 5)
        if isinstance(result, ConnectionRefusedError):
            return f"{host}:{port} refused"
        if isinstance(result, TcpConnection):
            raise ActionFailed(f"{args.where}: expected {host}:{port} to refuse, but the connection was accepted")
        raise ActionFailed(f"{args.where}: expected {host}:{port} to refuse, got {_reason(result)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused (RST)"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "no answer by the deadline"
    return f"{type(exc).__name__}: {exc}"
