"""Peers on a separate public host, controlled by the test run over a small authenticated channel.

``conformance peers serve --bind ADDR --token-file F`` (:func:`serve_main`) runs a control server on that host; the
test run connects with :class:`RemotePeers` (``--peer-remote HOST:PORT --peer-token-file F``) and gets target
objects (:class:`RemotePeer`) that behave like local peers.

The channel is newline-delimited JSON over TCP. Nothing is done for a client before it proves it holds the shared
token, and the token itself never crosses the wire:

1. server -> client ``{"hello": "conformance-peers/1", "nonce": Ns}``
2. client -> server ``{"nonce": Nc, "proof": HMAC(token, "client|Ns|Nc")}`` (checked with ``hmac.compare_digest``;
   a wrong proof closes the connection after a delay)
3. server -> client ``{"proof": HMAC(token, "server|Ns|Nc")}`` (the client authenticates the server too)
4. every later frame is ``{"seq": n, "body": {...}, "mac": HMAC(K, "<dir>|n|<canonical body>")}`` with the session
   key ``K = HMAC(token, "session|Ns|Nc")``, ``dir`` ``c2s`` or ``s2c`` and ``n`` counting from 0 in each direction,
   so frames cannot be forged, replayed or reordered. (The channel is not encrypted: test payloads are not secret.)

Peers a client starts are stopped when its connection closes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conformance.errors import ActionFailed
from conformance.network.faults import Endpoint

from .base import Peer
from .factory import PEER_CAPABILITIES, PeerSite, start_peer
from .loop import PeerLoop

__all__ = [
    "DEFAULT_CONTROL_PORT",
    "PROTOCOL",
    "PeerServer",
    "RemoteError",
    "RemotePeer",
    "RemotePeers",
    "load_token",
    "serve_main",
]

log = logging.getLogger(__name__)

PROTOCOL = "conformance-peers/1"
DEFAULT_CONTROL_PORT = 7421
MAX_FRAME = 16 * 1024 * 1024  # a frame carries at most a few payloads of a case, base64-encoded
HANDSHAKE_TIMEOUT_S = 10.0
AUTH_FAILURE_DELAY_S = 1.0  # slows down guessing
MIN_TOKEN_BYTES = 16


class RemoteError(RuntimeError):
    """The control channel failed: cannot connect, authentication refused, broken frame."""


def load_token(path: str | Path) -> bytes:
    """The shared token: the file's content without surrounding whitespace; at least 16 bytes."""
    token = Path(path).read_bytes().strip()
    if len(token) < MIN_TOKEN_BYTES:
        raise RemoteError(f"token file {path}: the token must be at least {MIN_TOKEN_BYTES} bytes")
    return token


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def _canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def encode_args(values: Sequence[object]) -> list[object]:
    """Decoded transcript arguments as JSON values (bytes become ``{"b64": ...}``)."""
    out: list[object] = []
    for value in values:
        if isinstance(value, bytes | bytearray):
            out.append({"b64": base64.b64encode(bytes(value)).decode()})
        elif value is None or isinstance(value, str | int | float | bool):
            out.append(value)
        else:
            out.append(str(value))
    return out


def decode_args(values: Sequence[object]) -> list[object]:
    """The inverse of :func:`encode_args`."""
    return [base64.b64decode(v["b64"]) if isinstance(v, dict) and "b64" in v else v for v in values]


class _Signer:
    """Signs outgoing and checks incoming frames of one authenticated connection."""

    def __init__(self, key: bytes, outgoing: str, incoming: str) -> None:
        self.key = key
        self.outgoing, self.incoming = outgoing, incoming
        self.seq_out = 0
        self.seq_in = 0

    def seal(self, body: Mapping[str, Any]) -> bytes:
        seq = self.seq_out
        self.seq_out += 1
        mac = _mac(self.key, f"{self.outgoing}|{seq}|{_canonical(body)}")
        return (json.dumps({"seq": seq, "body": body, "mac": mac}) + "\n").encode()

    def open(self, line: bytes) -> dict[str, Any]:
        try:
            frame = json.loads(line)
            seq, body, mac = frame["seq"], frame["body"], frame["mac"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteError(f"malformed frame: {exc}") from exc
        expected = _mac(self.key, f"{self.incoming}|{seq}|{_canonical(body)}")
        if not isinstance(mac, str) or not hmac.compare_digest(mac, expected) or seq != self.seq_in:
            raise RemoteError("frame with a bad MAC or out of sequence")
        self.seq_in += 1
        return body


def _hello_proofs(token: bytes, server_nonce: str, client_nonce: str) -> tuple[str, str, bytes]:
    client = _mac(token, f"client|{server_nonce}|{client_nonce}")
    server = _mac(token, f"server|{server_nonce}|{client_nonce}")
    key = hmac.new(token, f"session|{server_nonce}|{client_nonce}".encode(), hashlib.sha256).digest()
    return client, server, key


# ------------------------------------------------------------------------------------------------------ server


class PeerServer:
    """The control server of ``conformance peers serve``: starts peers at ``site`` for authenticated clients."""

    def __init__(self, token: bytes, *, bind: str, advertise: str | None = None, control_bind: str | None = None,
                 control_port: int = DEFAULT_CONTROL_PORT, peer_loop: PeerLoop | None = None) -> None:
        self.token = token
        self.bind = bind
        self.advertise = advertise or bind
        self.control_bind = control_bind or bind
        self.control_port = control_port
        self._peer_loop = peer_loop
        self._control = PeerLoop("peer-control")
        self._server: asyncio.AbstractServer | None = None
        self._ids = itertools.count(1)

    def start(self) -> PeerServer:
        """Listen for clients; ``control_port`` is the bound port afterwards."""
        self._control.start()

        async def listen() -> None:
            self._server = await asyncio.start_server(self._client, self.control_bind, self.control_port,
                                                      limit=MAX_FRAME)
            self.control_port = self._server.sockets[0].getsockname()[1]

        self._control.run(listen)
        log.info("peer control on %s:%d; peers bind %s, module dials %s", self.control_bind, self.control_port,
                 self.bind, self.advertise)
        return self

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

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        who = writer.get_extra_info("peername")
        peers: dict[str, Peer] = {}
        try:
            signer = await self._handshake(reader, writer, who)
            if signer is None:
                return
            log.info("client %s authenticated", who)
            while line := await reader.readline():
                body = signer.open(line)
                reply = await self._handle(body, peers)
                writer.write(signer.seal(reply))
                await writer.drain()
        except (RemoteError, ValueError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.warning("client %s: %s", who, exc)
        except asyncio.CancelledError:
            pass
        finally:
            for peer in peers.values():
                await asyncio.to_thread(peer.stop)
            writer.close()
            log.info("client %s gone; stopped %d peer(s)", who, len(peers))

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         who: object) -> _Signer | None:
        server_nonce = secrets.token_hex(16)
        writer.write((json.dumps({"hello": PROTOCOL, "nonce": server_nonce}) + "\n").encode())
        await writer.drain()
        try:
            line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT_S)
            hello = json.loads(line)
            client_nonce, proof = str(hello["nonce"]), str(hello["proof"])
        except (TimeoutError, ValueError, KeyError, TypeError) as exc:
            log.warning("client %s: no valid hello (%s)", who, type(exc).__name__)
            return None
        expected, server_proof, key = _hello_proofs(self.token, server_nonce, client_nonce)
        if len(client_nonce) < 32 or not hmac.compare_digest(proof, expected):
            log.warning("client %s: authentication failed", who)
            await asyncio.sleep(AUTH_FAILURE_DELAY_S)
            return None
        writer.write((json.dumps({"proof": server_proof}) + "\n").encode())
        await writer.drain()
        return _Signer(key, outgoing="s2c", incoming="c2s")

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


# ------------------------------------------------------------------------------------------------------ client


class RemotePeers:
    """The test run's end of the channel: ``RemotePeers("peers.example.net:7421", token).connect()``."""

    def __init__(self, address: str, token: bytes, *, timeout: float = 15.0, advertise: str | None = None) -> None:
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise RemoteError(f"--peer-remote wants HOST:PORT, not {address!r}")
        self.address = (host.strip("[]"), int(port))
        self.token = token
        self.timeout = timeout
        self.advertise = advertise
        self._sock: socket.socket | None = None
        self._file: Any = None
        self._signer: _Signer | None = None
        self._lock = threading.Lock()

    def connect(self) -> RemotePeers:
        """Open the channel and authenticate both ways; raise :class:`RemoteError` on any failure."""
        try:
            self._sock = socket.create_connection(self.address, timeout=self.timeout)
            self._file = self._sock.makefile("rb")
            hello = json.loads(self._readline())
            if hello.get("hello") != PROTOCOL:
                raise RemoteError(f"{self._where}: not a peer server ({hello!r})")
            server_nonce, client_nonce = str(hello["nonce"]), secrets.token_hex(16)
            proof, server_proof, key = _hello_proofs(self.token, server_nonce, client_nonce)
            self._sock.sendall((json.dumps({"nonce": client_nonce, "proof": proof}) + "\n").encode())
            answer = self._readline()
            if not answer:
                raise RemoteError(f"{self._where}: authentication refused (token mismatch?)")
            if not hmac.compare_digest(str(json.loads(answer).get("proof", "")), server_proof):
                raise RemoteError(f"{self._where}: the server does not hold the token")
        except (OSError, ValueError, KeyError) as exc:
            self.close()
            raise RemoteError(f"{self._where}: {exc}") from exc
        except RemoteError:
            self.close()
            raise
        self._signer = _Signer(key, outgoing="c2s", incoming="s2c")
        return self

    @property
    def _where(self) -> str:
        return f"peer server {self.address[0]}:{self.address[1]}"

    def _readline(self) -> bytes:
        line = self._file.readline(MAX_FRAME)
        return bytes(line)

    def request(self, body: Mapping[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send one request and return the server's reply body."""
        with self._lock:
            if self._sock is None or self._signer is None:
                raise RemoteError(f"{self._where}: not connected")
            try:
                self._sock.settimeout((timeout or 0) + self.timeout)
                self._sock.sendall(self._signer.seal(dict(body)))
                line = self._readline()
                if not line:
                    raise RemoteError(f"{self._where}: connection closed")
                return self._signer.open(line)
            except OSError as exc:
                raise RemoteError(f"{self._where}: {exc}") from exc

    def start(self, capability: str, *, module_host: str = "") -> RemotePeer:
        """Start the peer behind ``capability`` on the remote host."""
        reply = self.request({"op": "start", "capability": capability, "module_host": module_host})
        if not reply.get("ok"):
            raise RemoteError(f"{self._where}: cannot start {capability}: {reply.get('error')}")
        return RemotePeer(self, str(reply["id"]), dict(reply["attributes"]), advertise=self.advertise)

    def close(self) -> None:
        """Close the channel (the server stops this client's peers)."""
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = self._signer = None


class RemotePeer:
    """A peer on the remote host, with the same surface as a local one (``host``, ``port``, ``perform`` ...)."""

    def __init__(self, channel: RemotePeers, ident: str, attributes: dict[str, Any], *,
                 advertise: str | None = None) -> None:
        self._channel = channel
        self.ident = ident
        self._attributes = attributes
        self._advertise = advertise

    def __getattr__(self, name: str) -> Any:
        attributes = self.__dict__.get("_attributes", {})
        if name == "host" and self.__dict__.get("_advertise"):
            return self.__dict__["_advertise"]
        if name in attributes:
            return attributes[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"<RemotePeer {self.ident} {self.host}:{self.port}>"

    def _call(self, op: str, **fields: Any) -> dict[str, Any]:
        reply = self._channel.request({"op": op, "id": self.ident, **fields}, timeout=fields.get("timeout"))
        if not reply.get("ok"):
            message = str(reply.get("error"))
            raise ActionFailed(message) if reply.get("action_failed") else RemoteError(message)
        return reply

    def perform(self, verb: str, args: Sequence[object], *, deadline: float,
                context: Mapping[str, object]) -> str | None:
        """Do the action on the remote host (see :meth:`conformance.peers.base.Peer.perform`)."""
        timeout = max(deadline - time.monotonic(), 0.0)
        try:
            reply = self._call("perform", verb=verb, args=encode_args(args), timeout=timeout)
        except RemoteError as exc:
            raise ActionFailed(f"{self.capability} {verb}: {exc}") from exc
        self._attributes.update(reply.get("attributes", {}))
        return reply.get("note")

    def begin_case(self) -> None:
        """See :meth:`conformance.peers.base.Peer.begin_case`."""
        self._call("begin_case")

    def end_case(self) -> None:
        """See :meth:`conformance.peers.base.Peer.end_case`."""
        self._call("end_case")

    def stop(self) -> None:
        """Stop the remote peer."""
        self._call("stop")

    def endpoints(self) -> list[Endpoint]:
        """The peer's traffic as the remote host sees it, with the advertised address."""
        reply = self._call("endpoints")
        return [Endpoint(proto, self.host, int(port)) for proto, _host, port in reply["endpoints"]]


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
    try:
        token = load_token(opts.token_file)
        server = PeerServer(token, bind=opts.bind, advertise=opts.advertise, control_bind=opts.control_bind,
                            control_port=opts.control_port).start()
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
