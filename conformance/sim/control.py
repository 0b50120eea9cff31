"""The control channel: newline-delimited JSON requests and replies over a Unix stream socket.

A request is ``{"cmd": "<name>", ...arguments}``; the reply is ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``. A client may send several requests on one connection; each gets one reply line.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

from .loop import Loop, log, log_exception

__all__ = ["ControlServer"]

MAX_REQUEST = 1 << 20  # a request line longer than this closes the connection


class ControlServer:
    """Serve ``handler(cmd, args) -> dict`` on a Unix socket at ``path``; ValueError replies as an error."""

    def __init__(self, loop: Loop, path: str, handler: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
        self._loop = loop
        self._path = path
        self._handler = handler
        if os.path.exists(path):
            os.unlink(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(16)
        self._sock.setblocking(False)
        self._clients: dict[socket.socket, tuple[bytearray, bytearray]] = {}
        loop.watch(self._sock, on_read=self._accept)

    def close(self) -> None:
        """Stop serving and remove the socket file."""
        for conn in list(self._clients):
            self._drop(conn)
        self._loop.unwatch(self._sock)
        self._sock.close()
        try:
            os.unlink(self._path)
        except OSError:
            pass

    def _accept(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._clients[conn] = (bytearray(), bytearray())
        self._update(conn)

    def _update(self, conn: socket.socket) -> None:
        _, out = self._clients[conn]
        self._loop.watch(conn, on_read=lambda: self._readable(conn),
                         on_write=(lambda: self._writable(conn)) if out else None)

    def _drop(self, conn: socket.socket) -> None:
        self._clients.pop(conn, None)
        self._loop.unwatch(conn)
        conn.close()

    def _readable(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        inbuf, out = self._clients[conn]
        inbuf += data
        while b"\n" in inbuf:
            line, _, rest = bytes(inbuf).partition(b"\n")
            inbuf[:] = rest
            out += (json.dumps(self._answer(line)) + "\n").encode()
        if len(inbuf) > MAX_REQUEST:
            self._drop(conn)
            return
        self._writable(conn)

    def _writable(self, conn: socket.socket) -> None:
        _, out = self._clients[conn]
        try:
            sent = conn.send(out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop(conn)
            return
        del out[:sent]
        self._update(conn)

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                raise ValueError('a request is a JSON object with a "cmd" string')
            cmd = request.pop("cmd")
            log(f"control: {cmd} {request}")
            reply = self._handler(cmd, request)
            return {"ok": True, **reply}
        except ValueError as e:  # includes json.JSONDecodeError and the module's ControlError
            return {"ok": False, "error": str(e)}
        except Exception as e:
            log_exception("control request")
            return {"ok": False, "error": f"internal error: {type(e).__name__}: {e}"}
