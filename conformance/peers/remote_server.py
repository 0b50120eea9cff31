"""``conformance peers serve``: the peers on a separate public host, for a test run that controls them remotely.

The server (:class:`PeerServer`) listens on a control port, authenticates each client with the shared token
(:mod:`.channel`) and starts peers for it; the peers a client started stop when its connection closes.

It faces a public network, so it bounds what a stranger can make it hold (docs/peers.md, "Limits of the control
channel"): a line of at most ``MAX_HELLO`` bytes and ``AUTH_TIMEOUT_S`` seconds before authentication, at most
``MAX_PENDING`` connections waiting to authenticate (the oldest is closed to make room, so a flood of silent
connections cannot lock a legitimate client out), at most ``max_clients`` authenticated clients, frames of at most
``MAX_FRAME`` bytes after authentication. Every refusal or close names its reason to the client first, and logs one
line: malformed input never leaves a traceback in the log.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import secrets
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.errors import ActionFailed

from .base import Peer
from .channel import (
    AUTH_FAILURE_DELAY_S,
    AUTH_TIMEOUT_S,
    DEFAULT_CONTROL_PORT,
    MAX_CLIENTS,
    MAX_FRAME,
    MAX_HELLO,
    MAX_PENDING,
    PROTOCOL,
    Refused,
    RemoteError,
    Signer,
    decode_args,
    error_line,
    load_token,
    parse_hello,
    read_frame,
)
from .factory import PEER_CAPABILITIES, PeerSite, start_peer
from .loop import PeerLoop

__all__ = ["PeerServer", "serve_main"]

log = logging.getLogger(__name__)

_CLOSE_GRACE_S = 2.0  # how long a closing connection may take to take its reason before it is cut


class _Connection:
    """One client connection, as the server tracks it to bound how many there are."""

    def __init__(self, who: object, writer: asyncio.StreamWriter, task: asyncio.Task[Any] | None) -> None:
        self.who = who
        self.writer = writer
        self.task = task
        self.evicted: str | None = None  # why the server closed it from outside its own task

    def evict(self, reason: str) -> None:
        """Close the connection from another task: its own task says ``reason`` to the client and ends."""
        self.evicted = reason
        if self.task is not None:
            self.task.cancel()


class PeerServer:
    """The control server of ``conformance peers serve``: starts peers at ``site`` for authenticated clients."""

    def __init__(self, token: bytes, *, bind: str, advertise: str | None = None, control_bind: str | None = None,
                 control_port: int = DEFAULT_CONTROL_PORT, peer_loop: PeerLoop | None = None,
                 max_clients: int = MAX_CLIENTS, max_pending: int = MAX_PENDING,
                 auth_timeout: float = AUTH_TIMEOUT_S, auth_failure_delay: float = AUTH_FAILURE_DELAY_S) -> None:
        self.token = token
        self.bind = bind
        self.advertise = advertise or bind
        self.control_bind = control_bind or bind
        self.control_port = control_port
        self.max_clients = max_clients
        self.max_pending = max_pending
        self.auth_timeout = auth_timeout
        self.auth_failure_delay = auth_failure_delay
        self._peer_loop = peer_loop
        self._control = PeerLoop("peer-control")
        self._server: asyncio.AbstractServer | None = None
        self._ids = itertools.count(1)
        self._pending: list[_Connection] = []  # oldest first; only the control loop touches these two
        self._clients: set[_Connection] = set()
        self._lingering = 0  # closing connections still draining what their client sends (at most max_pending)

    def start(self) -> PeerServer:
        """Listen for clients; ``control_port`` is the bound port afterwards."""
        self._control.start()

        async def listen() -> None:
            # the reader's limit bounds the hello; frames after authentication are read in pieces (read_frame)
            self._server = await asyncio.start_server(self._client, self.control_bind, self.control_port,
                                                      limit=MAX_HELLO)
            self.control_port = self._server.sockets[0].getsockname()[1]

        self._control.run(listen)
        log.info("peer control on %s:%d; peers bind %s, module dials %s", self.control_bind, self.control_port,
                 self.bind, self.advertise)
        return self

    def counts(self) -> tuple[int, int]:
        """(connections waiting to authenticate, authenticated clients) at this moment."""
        return self._control.call(lambda: (len(self._pending), len(self._clients)))

    def stop(self) -> None:
        """Stop listening and drop every client (their peers stop)."""
        if self._server is not None:
            server = self._server

            async def close() -> None:
                server.close()
                clients = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in clients:
                    task.cancel()
                await asyncio.gather(*clients, return_exceptions=True)  # their peers stop in `finally`

            self._control.run(close)
            self._server = None
        self._control.stop()

    # --------------------------------------------------------------------------------------------- one client

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve_client(reader, writer)
        except asyncio.CancelledError:
            pass  # the server stops while this client's cleanup runs: its peers stop anyway (_stop_all)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer.get_extra_info("peername"), writer, asyncio.current_task())
        who = conn.who
        peers: dict[str, Peer] = {}
        reason: str | None = None
        try:
            signer = await self._authenticate(conn, reader)
            log.info("client %s authenticated", who)
            while line := await read_frame(reader, MAX_FRAME):
                body = signer.open(line)
                reply = await self._handle(body, peers)
                writer.write(signer.seal(reply))
                await writer.drain()
        except RemoteError as exc:  # Refused, or a forged, replayed or malformed frame of an authenticated client
            reason = str(exc)
            log.warning("client %s: %s", who, reason)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("client %s: connection lost (%s)", who, type(exc).__name__)
        except asyncio.CancelledError:
            reason = conn.evicted
            if reason:
                log.warning("client %s: %s", who, reason)
        except Exception as exc:  # a defect here must end this client only, and say so in one line
            reason = f"internal error: {type(exc).__name__}"
            log.error("client %s: internal error: %s: %s", who, type(exc).__name__, exc)
            log.debug("client %s: internal error", who, exc_info=True)
        finally:
            self._forget(conn)
            await self._close(reader, writer, reason)
            log.info("client %s gone; stopping %d peer(s)", who, len(peers))
            # one thread stops them all: it finishes even if the server's stop cancels this wait
            await asyncio.to_thread(_stop_all, list(peers.values()))

    async def _authenticate(self, conn: _Connection, reader: asyncio.StreamReader) -> Signer:
        """Admit the connection, run the handshake within the deadline; the session's signer, or :class:`Refused`."""
        self._admit(conn)
        try:
            async with asyncio.timeout(self.auth_timeout):
                signer = await self._handshake(conn.writer, reader)
        except TimeoutError:
            raise Refused(f"no authentication within {self.auth_timeout:g} s") from None
        finally:
            if conn in self._pending:
                self._pending.remove(conn)
        if len(self._clients) >= self.max_clients:
            raise Refused(f"too many clients: at most {self.max_clients} at once")
        self._clients.add(conn)
        return signer

    def _admit(self, conn: _Connection) -> None:
        while len(self._pending) >= self.max_pending:
            oldest = self._pending.pop(0)
            oldest.evict(f"closed to make room: more than {self.max_pending} connections waiting to authenticate")
        self._pending.append(conn)

    def _forget(self, conn: _Connection) -> None:
        self._clients.discard(conn)
        if conn in self._pending:
            self._pending.remove(conn)

    async def _handshake(self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> Signer:
        server_nonce = secrets.token_hex(16)
        writer.write((json.dumps({"hello": PROTOCOL, "nonce": server_nonce}) + "\n").encode())
        await writer.drain()
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise Refused(f"hello longer than {MAX_HELLO} bytes") from None
        except asyncio.IncompleteReadError:
            raise Refused("the connection ended before the hello") from None
        proven = parse_hello(line).proves(self.token, server_nonce)
        if proven is None:
            await asyncio.sleep(self.auth_failure_delay)
            raise Refused("authentication refused: wrong proof (do both ends hold the same token?)")
        if len(self._clients) >= self.max_clients:  # say so before proving ourselves: the client sees the reason
            raise Refused(f"too many clients: at most {self.max_clients} at once")
        server_proof, key = proven
        writer.write((json.dumps({"proof": server_proof}) + "\n").encode())
        await writer.drain()
        return Signer(key, outgoing="s2c", incoming="c2s")

    async def _close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reason: str | None) -> None:
        """Say ``reason`` (if any) and close; cut the connection if that takes longer than a grace period.

        Closing a socket with unread bytes makes the kernel send a reset, which can destroy the reason before the
        client reads it; so the server half-closes, then reads and drops what the client still sends until it
        closes too, for a few connections at a time (more are cut at once: a flood must not make them pile up).
        """
        linger = bool(reason) and self._lingering < self.max_pending and not writer.is_closing()
        self._lingering += linger
        try:
            if reason and not writer.is_closing():
                writer.write(error_line(reason))
                if linger and writer.can_write_eof():
                    writer.write_eof()
                    async with asyncio.timeout(_CLOSE_GRACE_S):
                        while await reader.read(64 * 1024):
                            pass
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), _CLOSE_GRACE_S)
        except (TimeoutError, OSError):
            writer.transport.abort()
        except asyncio.CancelledError:  # the server stops: cut it now
            writer.transport.abort()
        finally:
            self._lingering -= linger

    # ---------------------------------------------------------------------------------------------- requests

    async def _handle(self, body: Mapping[str, Any], peers: dict[str, Peer]) -> dict[str, Any]:
        op = body.get("op")
        try:
            if op == "hello":
                return {"ok": True, "capabilities": sorted(PEER_CAPABILITIES)}
            if op == "start":
                capability = str(body["capability"])
                site = PeerSite(self.bind, self.advertise, module_host=str(body.get("module_host", "")),
                                **({"loop": self._peer_loop} if self._peer_loop else {}))
                peer = await asyncio.to_thread(start_peer, capability, site)
                ident = f"{capability}-{next(self._ids)}"
                peers[ident] = peer
                return {"ok": True, "id": ident, "attributes": peer.attributes()}
            peer = peers[str(body["id"])]
            if op == "perform":
                deadline = time.monotonic() + float(body.get("timeout", 0))
                note = await asyncio.to_thread(peer.perform, str(body["verb"]), decode_args(body.get("args", [])),
                                               deadline=deadline, context={})
                return {"ok": True, "note": note, "attributes": peer.attributes()}
            if op in ("begin_case", "end_case", "provoke_segment"):
                await asyncio.to_thread(getattr(peer, op))
                return {"ok": True}
            if op == "endpoints":
                return {"ok": True, "endpoints": [[e.proto, e.host, e.port] for e in peer.endpoints()]}
            if op == "stop":
                await asyncio.to_thread(peer.stop)
                del peers[str(body["id"])]
                return {"ok": True}
            return {"ok": False, "error": f"unknown op {op!r}"}
        except ActionFailed as exc:
            return {"ok": False, "error": exc.message, "action_failed": True}
        except (KeyError, ValueError, TypeError, OSError, AttributeError) as exc:
            return {"ok": False, "error": f"{op}: {type(exc).__name__}: {exc}"}


def _stop_all(peers: Sequence[Peer]) -> None:
    for peer in peers:
        try:
            peer.stop()
        except Exception as exc:  # one peer's trouble must not keep the others running
            log.error("stopping %r: %s", peer, exc)


# -------------------------------------------------------------------------------------------------------- CLI


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``conformance peers serve``: run the peers on this host for a remote test run; returns the exit status."""
    args = list(argv or [])
    if args[:1] == ["serve"]:
        args = args[1:]
    parser = argparse.ArgumentParser(
        prog="conformance peers serve",
        description="Run the network peers (echo, sink, DNS, NTP ...) for a test run on another host, which controls "
                    "them over an authenticated channel (--peer-remote HOST:PORT --peer-token-file F).")
    parser.add_argument("--bind", required=True, metavar="ADDR", help="address the peers bind to, e.g. 0.0.0.0")
    parser.add_argument("--advertise", metavar="HOST", help="address the module dials (default: --bind)")
    parser.add_argument("--token-file", required=True, metavar="F", help="file holding the shared token (>= 16 bytes)")
    parser.add_argument("--control-bind", metavar="ADDR", help="address of the control channel (default: --bind)")
    parser.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT, metavar="PORT",
                        help=f"port of the control channel (default {DEFAULT_CONTROL_PORT})")
    parser.add_argument("--max-clients", type=int, default=MAX_CLIENTS, metavar="N",
                        help=f"authenticated clients at once, e.g. one per pytest-xdist worker (default {MAX_CLIENTS})")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    try:
        opts = parser.parse_args(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(level=opts.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if opts.bind in ("0.0.0.0", "::") and not opts.advertise:
        parser.print_usage()
        print("conformance peers serve: --advertise is needed when --bind is a wildcard address")
        return 2
    if opts.max_clients < 1:
        parser.print_usage()
        print("conformance peers serve: --max-clients must be at least 1")
        return 2
    try:
        token = load_token(opts.token_file)
        server = PeerServer(token, bind=opts.bind, advertise=opts.advertise, control_bind=opts.control_bind,
                            control_port=opts.control_port, max_clients=opts.max_clients).start()
    except (OSError, RemoteError) as exc:
        log.error("%s", exc)
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    return 0
