"""Peers on a separate public host, controlled by the test run over a small authenticated channel.

``conformance peers serve --bind ADDR --token-file F`` (:mod:`.remote_server`) runs a control server on that host; the
test run connects with :class:`RemotePeers` (``--peer-remote HOST:PORT --peer-token-file F``) and gets target
objects (:class:`RemotePeer`) that behave like local peers. The protocol and its limits are in :mod:`.channel`.

Peers a client starts are stopped when its connection closes.
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.errors import ActionFailed
from conformance.network.faults import Endpoint

from .channel import (
    DEFAULT_CONTROL_PORT,
    MAX_FRAME,
    PROTOCOL,
    RemoteError,
    Signer,
    decode_args,
    encode_args,
    hello_proofs,
    load_token,
    refusal_of,
)
from .remote_server import PeerServer, serve_main

__all__ = [
    "DEFAULT_CONTROL_PORT",
    "PROTOCOL",
    "PeerServer",
    "RemoteError",
    "RemotePeer",
    "RemotePeers",
    "decode_args",
    "encode_args",
    "load_token",
    "serve_main",
]


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
        self._signer: Signer | None = None
        self._lock = threading.Lock()

    def connect(self) -> RemotePeers:
        """Open the channel and authenticate both ways; raise :class:`RemoteError` on any failure."""
        try:
            self._sock = socket.create_connection(self.address, timeout=self.timeout)
            self._file = self._sock.makefile("rb")
            first = self._readline()
            self._raise_refusal(first)
            hello = json.loads(first)
            if not isinstance(hello, dict) or hello.get("hello") != PROTOCOL:
                raise RemoteError(f"{self._where}: not a peer server ({first[:80]!r})")
            server_nonce, client_nonce = str(hello["nonce"]), secrets.token_hex(16)
            proof, server_proof, key = hello_proofs(self.token, server_nonce, client_nonce)
            self._sock.sendall((json.dumps({"nonce": client_nonce, "proof": proof}) + "\n").encode())
            answer = self._readline()
            if not answer:
                raise RemoteError(f"{self._where}: authentication refused (token mismatch?)")
            self._raise_refusal(answer)
            given = str(json.loads(answer).get("proof", "")).encode()  # bytes: compare_digest refuses non-ASCII str
            if not hmac.compare_digest(given, server_proof.encode()):
                raise RemoteError(f"{self._where}: the server does not hold the token")
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            self.close()
            raise RemoteError(f"{self._where}: {exc}") from exc
        except RemoteError:
            self.close()
            raise
        self._signer = Signer(key, outgoing="c2s", incoming="s2c")
        return self

    @property
    def _where(self) -> str:
        return f"peer server {self.address[0]}:{self.address[1]}"

    def _readline(self) -> bytes:
        line = self._file.readline(MAX_FRAME)
        return bytes(line)

    def _raise_refusal(self, line: bytes) -> None:
        """Raise :class:`RemoteError` with the server's reason when ``line`` is its last word before closing."""
        reason = refusal_of(line)
        if reason is not None:
            raise RemoteError(f"{self._where}: {reason}")

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
                self._raise_refusal(line)
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
