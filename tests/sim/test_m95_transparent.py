"""Transparent mode of the simulated M95: data both ways, AT+QITCFG packets as the peer sees them, the escape sequence
on each side of each bound (500 ms of silence before and after, < 20 ms between the '+'), ATO, DTR, and the module
leaving data mode by itself (GSM TCP/IP Application Note §4, §6.3; recommended process §2, §8). The guard times are
real waits: they are the protocol. The figures the simulator measured from byte arrival times are printed (-s)."""

from __future__ import annotations

import re
import socket
import time

import pytest

GUARD = 0.5  # AN §4


@pytest.fixture
def data_mode(gsm, listener):
    """A transparent TCP connection in data mode; the peer."""
    gsm.ok("AT+QIMODE=1")
    assert gsm.cmd(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}') == b"\r\nOK\r\n"
    assert gsm.read_until(b"\r\nCONNECT\r\n") == b"\r\nCONNECT\r\n"  # §4.1: OK, then CONNECT
    return listener.accept()


def escape_figures(sim) -> list[str]:
    """The simulator's account of each candidate escape sequence (byte arrival times it measured)."""
    return re.findall(r"escape sequence [^\n]*", sim.log())


def write_spaced(gsm, pieces: list[tuple[float, bytes]], since: float | None = None) -> float:
    """Write each piece the given pause (seconds) after the previous write returned (the first: after ``since``);
    return when the last write returned."""
    last = time.monotonic() if since is None else since
    for pause, piece in pieces:
        delay = last + pause - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        gsm.write(piece)
        last = time.monotonic()
    return last


def test_data_both_ways_escape_and_ato(gsm, data_mode):
    peer = data_mode
    gsm.write(b"1234567890abcdefghijklmnopqrstuvwxyz")
    assert peer.wait_for(b"1234567890abcdefghijklmnopqrstuvwxyz")  # recommended process §8.1: after 200 ms
    peer.conn.sendall(b"from the server")
    assert gsm.read_until(b"from the server") == b"from the server"  # raw, no header
    write_spaced(gsm, [(GUARD + 0.2, b"+++")])
    started = time.monotonic()
    assert gsm.read_until(b"\r\nOK\r\n", timeout=3) == b"\r\nOK\r\n"
    assert time.monotonic() - started >= GUARD - 0.05  # not before the silence after
    assert bytes(peer.received) == b"1234567890abcdefghijklmnopqrstuvwxyz"  # nothing of the escape
    sent = int(re.search(rb"\+QISACK: (\d+),", gsm.ok("AT+QISACK")).group(1))  # AN §4.1: commands work
    assert sent == 36
    peer.conn.sendall(b"kept")
    time.sleep(0.2)
    assert gsm.ok("AT") == b"\r\nOK\r\n"  # received data is kept in command mode (§4)
    assert gsm.cmd("ATO") == b"\r\nCONNECT\r\n"
    assert gsm.read_until(b"kept") == b"kept"  # ... and comes first after ATO
    gsm.write(b"again")
    assert peer.wait_for(b"again").endswith(b"again")
    print("\n" + "\n".join(escape_figures(gsm.sim)))


ESCAPE_MATRIX = [
    # (name, silence before, gaps between '+', silence after (None: none follows), escapes?)
    ("guard before 700 ms", 0.7, (0.0, 0.0), None, True),
    ("guard before 300 ms", 0.3, (0.0, 0.0), None, False),
    ("gaps 5 ms", 0.7, (0.005, 0.005), None, True),
    ("gap 50 ms", 0.7, (0.005, 0.05), None, False),
    ("input 300 ms after", 0.7, (0.0, 0.0), 0.3, False),
    ("input 700 ms after", 0.7, (0.0, 0.0), 0.7, True),
]


@pytest.mark.parametrize("name, before, gaps, after, escapes", ESCAPE_MATRIX, ids=[m[0] for m in ESCAPE_MATRIX])
def test_escape_matrix(gsm, data_mode, name, before, gaps, after, escapes):
    peer = data_mode
    last = write_spaced(gsm, [(0, b"x")])  # the silence before counts from the last byte the module got
    last = write_spaced(gsm, [(before, b"+"), (gaps[0], b"+"), (gaps[1], b"+")], since=last)
    if after is not None:
        write_spaced(gsm, [(after, b"y")], since=last)
    if escapes:
        assert gsm.read_until(b"\r\nOK\r\n", timeout=3) == b"\r\nOK\r\n"
        if after is not None:
            # "y" came after the guard: the start of a command line, not data
            assert gsm.cmd("") == b"\r\nERROR\r\n"
            assert gsm.cmd("ATO") == b"\r\nCONNECT\r\n"
        assert peer.wait_for(b"x") == b"x"
        time.sleep(0.3)  # longer than the packet wait (200 ms)
        assert bytes(peer.received) == b"x"  # nothing of the sequence reached the peer
    else:
        expected = b"x+++" + (b"y" if after is not None else b"")
        assert peer.wait_for(expected) == expected  # the '+' bytes are data, in order
        assert gsm.sim.control("state")["mode"] == "data"
    figures = escape_figures(gsm.sim)
    print(f"\n{name}: " + "; ".join(figures))
    measured = gsm.sim.control("state")["escape"]  # the last candidate, as the module measured it
    assert measured["decision"] == ("escape" if escapes else "data"), measured


def test_escape_disabled_by_qitcfg(gsm, listener):
    gsm.ok("AT+QITCFG=3,2,512,0")  # §4: <esc> 0
    gsm.ok("AT+QIMODE=1")
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT\r\n")
    peer = listener.accept()
    write_spaced(gsm, [(GUARD + 0.2, b"+++"), (GUARD + 0.2, b"z")])  # correct guards, yet data
    assert peer.wait_for(b"+++z") == b"+++z"
    assert gsm.sim.control("state")["mode"] == "data"


def test_qitcfg_packets_as_the_peer_sees_them(gsm):
    gsm.ok("AT+QITCFG=3,3,256,1")  # 300 ms, 256-byte packets
    gsm.ok("AT+QIMODE=1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:  # datagrams show the packet boundaries
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        gsm.ok(f'AT+QIOPEN="UDP","127.0.0.1",{peer.getsockname()[1]}')
        gsm.read_until(b"\r\nCONNECT\r\n")
        gsm.write(bytes(600))
        written = time.monotonic()
        sizes = [len(peer.recv(2048)) for _ in range(3)]
        waited = time.monotonic() - written
        assert sizes == [256, 256, 88]  # A14: a packet once 256 bytes are in; the rest after the wait (A15)
        assert waited >= 0.25
        print(f"\nthe last 88 bytes came {waited * 1000:.0f} ms after the write (AT+QITCFG <wait> 3: 300 ms)")


def test_the_peer_closing_leaves_data_mode_and_plus_plus_plus_is_then_a_command_line(gsm, data_mode):
    gsm.write(b"ping")
    data_mode.wait_for(b"ping")
    data_mode.close()
    assert gsm.read_until(b"\r\nCLOSED\r\n") == b"\r\nCLOSED\r\n"  # §4 note 1, recommended process §8.2
    assert gsm.sim.control("state")["mode"] == "command"
    gsm.ok("ATE1")
    # AN §6.3: '+++' is now echoed and not answered, which tells a real CLOSED from one sent as data
    write_spaced(gsm, [(GUARD + 0.2, b"+++")])
    assert gsm.read_until(b"+++") == b"+++"
    time.sleep(GUARD + 0.3)
    assert gsm.sim.control("state")["mode"] == "command"
    # what precedes the AT prefix is ignored (V.250): the recommended AT+QIDEACT follows on the same line
    assert gsm.cmd("ATO") == b"ATO\r\r\nNO CARRIER\r\n"
    assert gsm.cmd("AT+QIDEACT") == b"AT+QIDEACT\r\r\nDEACT OK\r\n"


def test_pdp_deact_in_data_mode(gsm, data_mode):
    gsm.sim.control("pdpdeact", context=0)
    assert gsm.read_until(b"\r\n+PDP DEACT\r\n") == b"\r\n+PDP DEACT\r\n"  # AN §6.3: once, no CLOSED
    data_mode.wait_closed()
    assert b"PDP DEACT" not in gsm.ok("AT")
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"


def test_dtr_with_and_d1_leaves_data_mode_and_calls_wait(gsm, listener):
    gsm.ok("AT&D1")  # AN §4
    gsm.ok("AT+QIMODE=1")
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT\r\n")
    peer = listener.accept()
    gsm.sim.control("ring")  # §4 note 2: announced once in command mode
    time.sleep(0.1)
    gsm.sim.control("dtr", level=False)
    assert gsm.read_until(b"\r\nRING\r\n") == b"\r\nOK\r\n\r\nRING\r\n"
    gsm.sim.control("dtr", level=True)
    assert not peer.closed.is_set()
    assert gsm.cmd("ATO") == b"\r\nCONNECT\r\n"
    gsm.write(b"still there")
    assert peer.wait_for(b"still there")


def test_dtr_with_and_d2_closes_the_connection(gsm, data_mode, listener):
    gsm.write(b"flushed")
    gsm.sim.control("dtr", level=False)  # AT&D2, the power-on value (ASSUMPTION, V.250)
    assert gsm.read_until(b"\r\nCLOSED\r\n") == b"\r\nCLOSED\r\n"
    data_mode.wait_closed()
    assert bytes(data_mode.received) == b"flushed"  # what was gathered went first
    gsm.sim.control("dtr", level=True)
    assert gsm.cmd("AT+QISTAT") == b"\r\nOK\r\n"
    assert gsm.read_until(b"STATE: IP CLOSE\r\n")
    assert gsm.cmd(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}') == b"\r\nOK\r\n"
    assert gsm.read_until(b"\r\nCONNECT\r\n") == b"\r\nCONNECT\r\n"
