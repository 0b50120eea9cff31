"""A simulated module's serial port as an RFC 2217 endpoint, so DTR and RTS sent over the network reach it.

A pty has no modem lines: ser2net in front of a bare pty cannot set DTR (the ioctl fails, ser2net never confirms, and
pyserial's ``rfc2217://`` waits for that confirmation at open). This endpoint serves the simulator's pty on TCP with
pyserial's own RFC 2217 server side (:class:`serial.rfc2217.PortManager`), and turns the host's DTR/RTS changes
into the simulator's control-channel ``dtr`` / ``rts`` requests. ser2net chains to it with a ``telnet(rfc2217)``
connector, exactly as it would sit in front of a remote serial server, and passes the host's line changes through::

    pyserial rfc2217:// -> ser2net (accepter telnet(rfc2217)) -> connector telnet(rfc2217),tcp -> this -> pty + control

``python -m conformance.lab.rfc2217_endpoint bg96 --port 5001`` starts a simulator and serves it; ``--pty`` and
``--control`` serve one that is already running. It prints one JSON line (port, pty, control) and serves until
Ctrl+C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
from typing import Any

import serial
from serial import rfc2217

from ..sim.process import control_request

__all__ = ["Rfc2217Endpoint", "SimPortSerial", "main"]

IAC = b"\xff"


class SimPortSerial(serial.Serial):
    """pyserial on a simulator's pty whose DTR and RTS go to the simulator's control channel.

    The module's own lines read as a module that is ready: CTS and DSR on, RI and DCD off (ASSUMPTION: the simulator
    models neither ring nor carrier detect; a real BG96 drives DCD only after AT&C1).
    """

    def __init__(self, pty: str, control_path: str, **kwargs: Any) -> None:
        self.control_path = control_path
        super().__init__(pty, **kwargs)

    def _update_dtr_state(self) -> None:
        if self.is_open:
            control_request(self.control_path, "dtr", level=bool(self._dtr_state))

    def _update_rts_state(self) -> None:
        if self.is_open:
            control_request(self.control_path, "rts", level=bool(self._rts_state))

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return False


class _Connection:
    """What PortManager writes its telnet answers to: the client's socket, one writer at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)


class Rfc2217Endpoint:
    """Serves one simulated module (its pty and control socket) as an RFC 2217 port at ``host:port``.

    One client at a time; a new client replaces the one before (a test run that died leaves no stale holder). The
    pty is opened for each client and closed when it leaves, as ser2net opens a device per connection.
    """

    def __init__(self, pty: str, control_path: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.pty = pty
        self.control_path = control_path
        self._listener = socket.create_server((host, port))
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._client: socket.socket | None = None
        self._served: threading.Thread | None = None
        self._thread = threading.Thread(target=self._accept_loop, name=f"rfc2217 :{self.port}", daemon=True)

    @property
    def url(self) -> str:
        """The endpoint as pyserial opens it directly (without ser2net)."""
        return f"rfc2217://{self.host}:{self.port}"

    def start(self) -> Rfc2217Endpoint:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, drop the client, close the pty."""
        self._stop.set()
        try:
            self._listener.close()
        except OSError:
            pass
        self._drop_client()
        if self._served is not None:
            self._served.join(5)

    def __enter__(self) -> Rfc2217Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle: a 2-byte "OK" goes at once
            self._drop_client()
            if self._served is not None:
                self._served.join(5)
            self._client = sock
            self._served = threading.Thread(target=self._serve, args=(sock,), name=f"rfc2217 client :{self.port}",
                                            daemon=True)
            self._served.start()

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve(self, sock: socket.socket) -> None:
        connection = _Connection(sock)
        try:
            port = SimPortSerial(self.pty, self.control_path, timeout=None)
        except Exception as exc:  # the simulator went away: the client sees the connection close
            print(f"rfc2217 endpoint: cannot open {self.pty}: {exc}", file=sys.stderr)
            sock.close()
            return
        manager = rfc2217.PortManager(port, connection)
        to_net = threading.Thread(target=self._module_to_host, args=(port, connection), daemon=True)
        to_net.start()
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                if manager.mode == rfc2217.M_NORMAL and manager.suboption is None and IAC not in data:
                    port.write(data)  # plain data, the common case: no telnet command to take out
                else:
                    port.write(b"".join(manager.filter(data)))
        except (OSError, serial.SerialException):
            pass
        finally:
            port.cancel_read()
            to_net.join(5)
            port.close()
            sock.close()

    @staticmethod
    def _module_to_host(port: SimPortSerial, connection: _Connection) -> None:
        try:
            while port.is_open:
                data = port.read(1)
                if not data:
                    return  # cancel_read: the client left
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
                connection.write(data.replace(IAC, IAC + IAC))  # RFC 854: a data byte 0xFF is sent twice
        except (OSError, serial.SerialException, TypeError):
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.lab.rfc2217_endpoint",
                                     description="Serve a simulated module as an RFC 2217 port (DTR/RTS included).")
    parser.add_argument("dialect", nargs="?", help="start a simulator of this dialect (e.g. bg96)")
    parser.add_argument("--pty", help="serve a running simulator: its pty ...")
    parser.add_argument("--control", help="... and its control socket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free one)")
    args = parser.parse_args(argv)
    if bool(args.dialect) == bool(args.pty and args.control):
        parser.error("give a dialect to start a simulator, or --pty and --control of a running one")
    sim = None
    if args.dialect:
        from ..sim import launch

        sim = launch(args.dialect)
        pty, control = sim.pty, sim.control_path
    else:
        pty, control = args.pty, args.control
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        with Rfc2217Endpoint(pty, control, host=args.host, port=args.port) as endpoint:
            print(json.dumps({"port": endpoint.port, "pty": pty, "control": control}), flush=True)
            stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if sim is not None:
            sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
