"""The control channel between a test run and ``conformance peers serve``: the wire protocol and its limits.

Newline-delimited JSON over TCP. Nothing is done for a client before it proves it holds the shared token, and the
token itself never crosses the wire:

1. server -> client ``{"hello": "conformance-peers/1", "nonce": Ns}``
2. client -> server ``{"nonce": Nc, "proof": HMAC(token, "client|Ns|Nc")}`` (``Nc``: 32 to 128 lowercase hex digits,
   ``proof``: 64; checked with ``hmac.compare_digest``; a wrong proof closes the connection after a delay)
3. server -> client ``{"proof": HMAC(token, "server|Ns|Nc")}`` (the client authenticates the server too)
4. every later frame is ``{"seq": n, "body": {...}, "mac": HMAC(K, "<dir>|n|<canonical body>")}`` with the session
   key ``K = HMAC(token, "session|Ns|Nc")``, ``dir`` ``c2s`` or ``s2c`` and ``n`` counting from 0 in each direction,
   so frames cannot be forged, replayed or reordered. (The channel is not encrypted: test payloads are not secret.)

When the server refuses or closes a connection it says why first, in one line ``{"error": "<reason>"}``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "AUTH_FAILURE_DELAY_S",
    "AUTH_TIMEOUT_S",
    "DEFAULT_CONTROL_PORT",
    "MAX_CLIENTS",
    "MAX_FRAME",
    "MAX_HELLO",
    "MAX_PENDING",
    "PROTOCOL",
    "Hello",
    "Refused",
    "RemoteError",
    "Signer",
    "decode_args",
    "encode_args",
    "error_line",
    "hello_proofs",
    "load_token",
    "parse_hello",
    "read_frame",
    "refusal_of",
]

PROTOCOL = "conformance-peers/1"
DEFAULT_CONTROL_PORT = 7421
MIN_TOKEN_BYTES = 16

# Limits of the server (docs/peers.md, "Limits of the control channel"); each keeps one client from taking the host.
MAX_HELLO = 1024  # bytes of a line before authentication: the client's hello is about 120
MAX_FRAME = 4 * 1024 * 1024  # bytes of a frame after authentication: one payload is at most 1 MiB (1.4 in base64)
AUTH_TIMEOUT_S = 10.0  # from accepting a connection to a valid proof
AUTH_FAILURE_DELAY_S = 1.0  # a wrong proof waits this long before the close: slows down guessing
MAX_PENDING = 8  # connections waiting to authenticate; the oldest is closed to make room for a new one
MAX_CLIENTS = 16  # authenticated clients at once (a test run holds one per pytest-xdist worker)

_NONCE = re.compile(r"[0-9a-f]{32,128}")
_DIGEST = re.compile(r"[0-9a-f]{64}")  # an HMAC-SHA256 in hex


class RemoteError(RuntimeError):
    """The control channel failed: cannot connect, authentication refused, broken frame."""


class Refused(RemoteError):
    """The server closes this connection; the message is the reason it sends the client first."""


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


def _same_digest(given: object, expected: str) -> bool:
    # compare_digest refuses non-ASCII str: check the shape first, then compare bytes in constant time
    return isinstance(given, str) and _DIGEST.fullmatch(given) is not None and \
        hmac.compare_digest(given.encode("ascii"), expected.encode("ascii"))


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


def error_line(reason: str) -> bytes:
    """The line the server sends before it closes a connection."""
    return (json.dumps({"error": reason}) + "\n").encode()


def refusal_of(line: bytes) -> str | None:
    """The reason in a line made by :func:`error_line`, or None for any other line."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if isinstance(message, dict) and set(message) == {"error"}:
        return str(message["error"])
    return None


class Signer:
    """Signs outgoing and checks incoming frames of one authenticated connection."""

    def __init__(self, key: bytes, outgoing: str, incoming: str) -> None:
        self.key = key
        self.outgoing, self.incoming = outgoing, incoming
        self.seq_out = 0
        self.seq_in = 0

    def seal(self, body: Mapping[str, Any]) -> bytes:
        """One frame carrying ``body``, with the next sequence number and its MAC."""
        seq = self.seq_out
        self.seq_out += 1
        mac = _mac(self.key, f"{self.outgoing}|{seq}|{_canonical(body)}")
        return (json.dumps({"seq": seq, "body": body, "mac": mac}) + "\n").encode()

    def open(self, line: bytes) -> dict[str, Any]:
        """The body of a frame; :class:`RemoteError` for anything malformed, forged, replayed or reordered."""
        try:
            frame = json.loads(line)
        except ValueError as exc:
            raise RemoteError(f"malformed frame: {exc}") from exc
        if not isinstance(frame, dict) or not isinstance(frame.get("body"), dict) or type(frame.get("seq")) is not int:
            raise RemoteError("malformed frame: want {\"seq\": n, \"body\": {...}, \"mac\": ...}")
        seq, body = frame["seq"], frame["body"]
        expected = _mac(self.key, f"{self.incoming}|{seq}|{_canonical(body)}")
        if not _same_digest(frame.get("mac"), expected) or seq != self.seq_in:
            raise RemoteError("frame with a bad MAC or out of sequence")
        self.seq_in += 1
        return body


def hello_proofs(token: bytes, server_nonce: str, client_nonce: str) -> tuple[str, str, bytes]:
    """The client's proof, the server's proof and the session key of one handshake."""
    client = _mac(token, f"client|{server_nonce}|{client_nonce}")
    server = _mac(token, f"server|{server_nonce}|{client_nonce}")
    key = hmac.new(token, f"session|{server_nonce}|{client_nonce}".encode(), hashlib.sha256).digest()
    return client, server, key


@dataclass(frozen=True)
class Hello:
    """The client's hello (step 2), well-formed but not yet checked against the token."""

    nonce: str
    proof: str

    def proves(self, token: bytes, server_nonce: str) -> tuple[str, bytes] | None:
        """The server's proof and the session key when the client's proof is right, else None."""
        expected, server_proof, key = hello_proofs(token, server_nonce, self.nonce)
        return (server_proof, key) if _same_digest(self.proof, expected) else None


def parse_hello(line: bytes) -> Hello:
    """The client's hello; :class:`Refused` naming what is wrong with it (never another exception)."""
    try:
        hello = json.loads(line)
    except ValueError:
        raise Refused("malformed hello: not JSON") from None
    if not isinstance(hello, dict):
        raise Refused("malformed hello: not a JSON object")
    nonce, proof = hello.get("nonce"), hello.get("proof")
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise Refused("malformed hello: the nonce must be 32 to 128 lowercase hex digits")
    if not isinstance(proof, str) or not _DIGEST.fullmatch(proof):
        raise Refused("malformed hello: the proof must be 64 lowercase hex digits")
    return Hello(nonce, proof)


async def read_frame(reader: asyncio.StreamReader, limit: int) -> bytes:
    """One line of at most ``limit`` bytes (the newline included); b"" at the end of the stream.

    The reader's own limit may be smaller (it bounds the hello): a longer line is taken in pieces, so memory stays
    within ``limit`` plus the reader's buffer. :class:`Refused` when the line is longer or the stream ends inside it.
    """
    line = bytearray()
    while True:
        try:
            piece = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            piece = await reader.readexactly(exc.consumed)  # no newline in it: the line goes on
            done = False
        except asyncio.IncompleteReadError as exc:
            if not line and not exc.partial:
                return b""
            raise Refused("the stream ended inside a frame") from None
        else:
            done = True
        if len(line) + len(piece) > limit:
            raise Refused(f"frame longer than {limit} bytes")
        line += piece
        if done:
            return bytes(line)
