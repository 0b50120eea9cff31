"""Fixtures for the simulator's tests: a simulated BG96 on a real pty driven with pyserial, and real peer sockets.

Every wait has a deadline and ends on an event (bytes matching a pattern, a peer's data, a state the control channel
reports); the only real waiting is the guard time of the escape sequence, which is the protocol.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import serial

from conformance.sim import SimProcess, launch

FINAL = re.compile(rb"\r\n(OK|ERROR|\+CME ERROR: [^\r\n]*|SEND OK|SEND FAIL|CONNECT|NO CARRIER)\r\n")

# Short network timeouts keep the failure cases quick (the defaults are documented in docs/simulator.md); the instant
# profile whatever CONFORMANCE_SIM_TIMING says (tests of the realistic profile ask for it).
TEST_CONFIG = {"connect_timeout_s": 1.0, "dns_timeout_s": 1.0, "ntp_timeout_s": 1.0, "dns_servers": ["127.0.0.1"],
               "timing": "instant"}


class Modem:
    """The host side of the simulated module: write bytes, read until a pattern with a deadline."""

    def __init__(self, sim: SimProcess, final: re.Pattern[bytes] = FINAL) -> None:
        self.sim = sim
        self.final = final  # the final results that end a command's response (the dialect's)
        self.port = serial.Serial(sim.pty, baudrate=115200, timeout=0.2)
        self.buffer = bytearray()

    def close(self) -> None:
        self.port.close()

    def write(self, data: bytes | str) -> None:
        self.port.write(data.encode("latin-1") if isinstance(data, str) else data)
        self.port.flush()

    def _fill(self, timeout: float) -> None:
        # one blocking read (select inside pyserial) of what is there, waiting at most ``timeout``
        self.port.timeout = max(0.0, timeout)
        chunk = self.port.read(max(1, self.port.in_waiting))
        self.buffer += chunk

    def read_until(self, pattern: bytes | re.Pattern[bytes], timeout: float = 5.0) -> bytes:
        """Everything up to and including the first match of ``pattern``; the rest stays buffered."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.buffer)
            if m:
                out = bytes(self.buffer[:m.end()])
                del self.buffer[:m.end()]
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {regex.pattern!r} within {timeout} s; got {bytes(self.buffer)!r}\n"
                                     f"simulator log:\n{self.sim.log()[-3000:]}")
            self._fill(remaining)

    def cmd(self, line: str | bytes, timeout: float = 5.0) -> bytes:
        """Send a command line (CR added); return everything up to its final result."""
        self.write((line.encode("latin-1") if isinstance(line, str) else line) + b"\r")
        return self.read_until(self.final, timeout)

    def ok(self, line: str, timeout: float = 5.0) -> bytes:
        """A command that must answer OK; return its response."""
        response = self.cmd(line, timeout)
        assert response.endswith(b"\r\nOK\r\n"), f"{line!r} -> {response!r}"
        return response

    def error_code(self) -> int:
        """What AT+QIGETERROR reports."""
        m = re.search(rb"\+QIGETERROR: (\d+),", self.ok("AT+QIGETERROR"))
        assert m
        return int(m.group(1))


@pytest.fixture
def sim() -> Iterator[SimProcess]:
    with launch("bg96", config=TEST_CONFIG) as s:
        yield s


# The GSM family's final results (M95): docs/dialects/m95.md §15
M95_FINAL = re.compile(rb"\r\n(OK|ERROR|SEND OK|SEND FAIL|CONNECT|NO CARRIER|DEACT OK|(?:\d, )?CLOSE OK|"
                       rb"(?:\d, )?ALREADY CONNECT)\r\n")


@pytest.fixture
def m95_sim() -> Iterator[SimProcess]:
    """A simulated M95 (instant timing, short network timeouts)."""
    with launch("m95", config=TEST_CONFIG) as s:
        yield s


@pytest.fixture
def gsm(m95_sim: SimProcess) -> Iterator[Modem]:
    """The host side of a simulated M95, echo off."""
    m = Modem(m95_sim, final=M95_FINAL)
    m.ok("ATE0")
    yield m
    m.close()


@pytest.fixture
def modem(sim: SimProcess) -> Iterator[Modem]:
    m = Modem(sim)
    yield m
    m.close()


@pytest.fixture
def online(modem: Modem) -> Modem:
    """Echo off, context 1 configured and activated (§3.1)."""
    modem.ok("ATE0")
    modem.ok('AT+QICSGP=1,1,"UNINET","","",1')
    modem.ok("AT+QIACT=1")
    return modem


class Peer:
    """A TCP peer accepted from a listening socket, with a background reader keeping everything it receives."""

    def __init__(self, conn: socket.socket, echo: bool = False) -> None:
        self.conn = conn
        self.received = bytearray()
        self.closed = threading.Event()
        self._cond = threading.Condition()
        self._echo = echo
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.conn.recv(65536)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self.closed.set()
                    self._cond.notify_all()
                    if self._echo:
                        self.close()  # an echo server closes its side when the client has
                    return
                self.received += data
                self._cond.notify_all()
            if self._echo:
                try:
                    self.conn.sendall(data)
                except OSError:
                    pass

    def wait_for(self, data: bytes, timeout: float = 5.0) -> bytes:
        """Wait until the peer has received ``data`` (a prefix match of everything so far, or contained)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while data not in self.received:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    raise AssertionError(f"peer did not receive {data!r}; got {bytes(self.received)!r}")
                self._cond.wait(remaining)
            return bytes(self.received)

    def close(self) -> None:
        """Close with a FIN now (shutdown first: a thread blocked in recv() would keep the socket open)."""
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()

    def reset(self) -> None:
        """Close with a RST (SO_LINGER 0)."""
        self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.conn.shutdown(socket.SHUT_RD)  # wakes the reader without sending anything
        self._thread.join(5)
        self.conn.close()

    def wait_closed(self, timeout: float = 5.0) -> None:
        assert self.closed.wait(timeout), "the module did not close the connection"


class Listener:
    """A listening TCP socket on 127.0.0.1; ``accept()`` returns a :class:`Peer`."""

    def __init__(self, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.peers: list[Peer] = []

    def accept(self, timeout: float = 5.0, *, echo: bool = False, read: bool = True) -> Peer | socket.socket:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(None)
        if not read:
            return conn
        peer = Peer(conn, echo=echo)
        self.peers.append(peer)
        return peer

    def close(self) -> None:
        for peer in self.peers:
            peer.close()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture
def tcp_echo() -> Iterator[int]:
    """A TCP echo server on 127.0.0.1 (one thread per connection); yields its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conns.append(conn)
            Peer(conn, echo=True)

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    stop.set()
    srv.close()
    for conn in conns:
        conn.close()


def open_tcp(modem: Modem, port: int, connect_id: int = 0, access_mode: int = 0, host: str = "127.0.0.1") -> None:
    """AT+QIOPEN a TCP client and wait for its result (§3.2.1 / §3.3.1)."""
    if access_mode == 2:
        response = modem.cmd(f'AT+QIOPEN=1,{connect_id},"TCP","{host}",{port},0,2')
        assert response.endswith(b"\r\nCONNECT\r\n"), response
        return
    modem.ok(f'AT+QIOPEN=1,{connect_id},"TCP","{host}",{port},0,{access_mode}')
    modem.read_until(f"+QIOPEN: {connect_id},0\r\n".encode())


def sim_state(modem: Modem) -> dict:
    return modem.sim.control("state")


def socket_state(modem: Modem, connect_id: int) -> dict:
    for s in sim_state(modem)["sockets"]:
        if s["connect_id"] == connect_id:
            return s
    raise AssertionError(f"no socket {connect_id}")


def wait_state(modem: Modem, predicate, timeout: float = 5.0) -> dict:
    """Ask the simulator's state until ``predicate(state)`` holds (for kernel events with no byte to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        state = sim_state(modem)
        if predicate(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"state never matched: {state}")
        time.sleep(0.02)


@pytest.fixture
def kit():
    """The module-level helpers, for test files (imported through a fixture: the tests folder is not a package)."""
    return type("Helpers", (), {"open_tcp": staticmethod(open_tcp), "state": staticmethod(sim_state),
                                "socket_state": staticmethod(socket_state), "wait_state": staticmethod(wait_state),
                                "Listener": Listener, "Peer": Peer, "Modem": Modem, "FINAL": FINAL,
                                "M95_FINAL": M95_FINAL, "TEST_CONFIG": TEST_CONFIG})


@pytest.fixture
def scratch_netns() -> Iterator[str]:
    """A fresh network namespace with only loopback up, removed afterwards (skips where namespaces can't be made)."""
    name = f"simtest-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
