"""The simulated M95 as a client: AT+QIOPEN single and MUX, CONNECT FAIL and the documented recovery, ALREADY CONNECT,
AT+QICLOSE, CLOSED, AT+QISTATE, +PDP DEACT (GSM TCP/IP Application Note §3.1, §3.3, §5.4, §5.6, §6.3; recommended
process §3)."""

from __future__ import annotations

import re
import socket
import time

import pytest

from conformance.sim import launch


def stat(gsm) -> str:
    assert gsm.cmd("AT+QISTAT") == b"\r\nOK\r\n"
    return gsm.read_until(re.compile(rb"STATE: [A-Z ]+\r\n"), timeout=2).decode().strip().removeprefix("STATE: ")


def closed_port() -> int:
    """A local port nobody listens on (connecting is refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def black_hole():
    """A local port whose SYNs the kernel drops (a listener with a full accept queue): connecting hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    yield port
    for c in fillers:
        c.close()
    srv.close()


def test_single_open_from_ip_initial_activates_then_connects(gsm, listener):
    # AN §3.1: the port with no quotes and a space after the comma; recommended process §3.1 quotes it
    assert gsm.cmd(f'AT+QIOPEN="TCP", "127.0.0.1",{listener.port}') == b"\r\nOK\r\n"
    assert gsm.read_until(b"\r\nCONNECT OK\r\n") == b"\r\nCONNECT OK\r\n"
    peer = listener.accept()
    assert stat(gsm) == "CONNECT OK"
    assert gsm.cmd(f'AT+QIOPEN="TCP","127.0.0.1","{listener.port}"') == b"\r\nALREADY CONNECT\r\n"
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
    peer.wait_closed()
    assert stat(gsm) == "IP CLOSE"
    assert gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1","{listener.port}"') == b"\r\nOK\r\n"  # allowed in IP CLOSE
    gsm.read_until(b"\r\nCONNECT OK\r\n")


def test_the_format_errors_of_the_recommended_process(gsm, listener):
    gsm.ok("AT+QIMUX=1")
    # §3.1 ERROR reason 1: the single form with MUX on; AT+QIMUX? shows it, AT+QIMUX=0 fixes it
    assert gsm.cmd(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}') == b"\r\nERROR\r\n"
    assert gsm.ok("AT+QIMUX?") == b"\r\n+QIMUX: 1\r\n\r\nOK\r\n"
    gsm.ok("AT+QIMUX=0")
    assert gsm.cmd(f'AT+QIOPEN=0,"TCP","127.0.0.1",{listener.port}') == b"\r\nERROR\r\n"  # the MUX form now
    assert gsm.cmd('AT+QIOPEN="TCP","host.example",80') == b"\r\nERROR\r\n"  # a name with AT+QIDNSIP=0
    assert gsm.cmd('AT+QIOPEN="SCTP","127.0.0.1",80') == b"\r\nERROR\r\n"
    assert gsm.cmd('AT+QIOPEN="TCP","127.0.0.1",0') == b"\r\nERROR\r\n"
    assert gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}') == b"\r\nOK\r\n"
    gsm.read_until(b"\r\nCONNECT OK\r\n")


def test_connect_fail_leaves_tcp_connecting_and_qiclose_recovers(gsm):
    # recommended process §3.1: CONNECT FAIL, AT+QISTAT says TCP CONNECTING, AT+QICLOSE, GPRS still active
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{closed_port()}')
    assert gsm.read_until(b"\r\nCONNECT FAIL\r\n") == b"\r\nCONNECT FAIL\r\n"
    assert stat(gsm) == "TCP CONNECTING"
    assert gsm.cmd('AT+QIOPEN="TCP","127.0.0.1",7') == b"\r\nERROR\r\n"  # ERROR reason 2
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
    assert stat(gsm) == "IP CLOSE"
    gsm.write(b"AT+QILOCIP\r")
    assert gsm.read_until(b"127.0.0.1\r\n")  # the context stayed active


def test_qiclose_aborts_an_attempt_in_progress(gsm, black_hole):
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{black_hole}')
    assert stat(gsm) == "TCP CONNECTING"
    assert gsm.cmd(f'AT+QIOPEN="TCP","127.0.0.1",{black_hole}') == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
    assert stat(gsm) == "IP CLOSE"
    assert b"CONNECT FAIL" not in gsm.ok("AT")  # the aborted attempt says nothing more


def test_no_answer_is_connect_fail_after_the_connect_timeout(gsm, black_hole):
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{black_hole}')  # connect_timeout_s is 1 s in these tests
    assert gsm.read_until(b"\r\nCONNECT FAIL\r\n", timeout=5) == b"\r\nCONNECT FAIL\r\n"
    assert stat(gsm) == "TCP CONNECTING"


def test_udp_connects_at_once(gsm):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        gsm.ok(f'AT+QIOPEN="UDP","127.0.0.1","{peer.getsockname()[1]}"')  # recommended process §3.2
        gsm.read_until(b"\r\nCONNECT OK\r\n")
        gsm.write(b"AT+QISEND=4\r")
        gsm.read_until(b"> ")
        gsm.write(b"ping")
        assert gsm.read_until(gsm.final) == b"\r\nSEND OK\r\n"
        data, address = peer.recvfrom(100)
        assert data == b"ping"
        peer.sendto(b"pong", address)
        assert gsm.read_until(b"pong") == b"pong"  # AN §5.3.1: no header by default
        assert gsm.ok("AT+QISACK") == b"\r\n+QISACK: 4, 0, 0\r\n\r\nOK\r\n"  # A3: UDP is never acknowledged
        assert stat(gsm) == "CONNECT OK"


def test_the_peer_closing_says_closed(gsm, listener):
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT OK\r\n")
    listener.accept().close()
    assert gsm.read_until(b"\r\nCLOSED\r\n") == b"\r\nCLOSED\r\n"  # AN §6.3
    assert stat(gsm) == "IP CLOSE"
    assert gsm.cmd("AT+QISEND") == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+QICLOSE") == b"\r\nERROR\r\n"  # nothing left to close


def test_mux_profiles(gsm, listener):
    gsm.ok("AT+QIMUX=1")
    assert gsm.cmd(f'AT+QIOPEN=0,"TCP","127.0.0.1",{listener.port}') == b"\r\nOK\r\n"
    assert gsm.read_until(b"\r\n0, CONNECT OK\r\n") == b"\r\n0, CONNECT OK\r\n"  # AN §3.3
    first = listener.accept()
    gsm.ok(f'AT+QIOPEN=3,"TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\n3, CONNECT OK\r\n")
    listener.accept()
    assert gsm.cmd(f'AT+QIOPEN=0,"TCP","127.0.0.1",{listener.port}') == b"\r\n0, ALREADY CONNECT\r\n"
    assert gsm.cmd(f'AT+QIOPEN=6,"TCP","127.0.0.1",{listener.port}') == b"\r\nERROR\r\n"
    gsm.ok(f'AT+QIOPEN=5,"TCP","127.0.0.1",{closed_port()}')
    assert gsm.read_until(b"\r\n5, CONNECT FAIL\r\n") == b"\r\n5, CONNECT FAIL\r\n"
    assert gsm.cmd("AT+QISTATE") == b"\r\nOK\r\n"
    lines = gsm.read_until(b'+QISTATE: 5,"", "", "INITIAL"\r\n').decode()
    assert "\r\nSTATE: IP PROCESSING\r\n" in lines
    assert '+QISTATE: 0,"TCP", "127.0.0.1", "CONNECTED"' in lines
    assert '+QISTATE: 1,"", "", "INITIAL"' in lines  # §5.6.2 as printed (A26)
    first.close()
    assert gsm.read_until(b"\r\n0, CLOSED\r\n") == b"\r\n0, CLOSED\r\n"
    assert gsm.cmd("AT+QICLOSE=3") == b"\r\n3, CLOSE OK\r\n"  # §5.4 (A4)
    assert gsm.cmd("AT+QICLOSE=3") == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+QICLOSE") == b"\r\nERROR\r\n"  # no index, no listener
    assert stat(gsm) == "IP STATUS"
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"


def test_six_clients_without_a_listener(gsm, listener):
    gsm.ok("AT+QIMUX=1")
    for index in range(6):  # AN §2.1: six connections as clients
        gsm.ok(f'AT+QIOPEN={index},"TCP","127.0.0.1",{listener.port}')
        gsm.read_until(f"\r\n{index}, CONNECT OK\r\n".encode())


def test_pdp_deactivated_by_the_network(gsm, listener):
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT OK\r\n")
    peer = listener.accept()
    gsm.sim.control("pdpdeact", context=0)
    assert gsm.read_until(b"\r\n+PDP DEACT\r\n") == b"\r\n+PDP DEACT\r\n"  # no CLOSED line
    peer.wait_closed()
    assert stat(gsm) == "PDP DEACT"
    assert gsm.cmd(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}') == b"\r\nERROR\r\n"  # AN §6.3: deactivate first
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT OK\r\n")


def test_qideact_closes_every_connection_without_closed_lines(gsm, listener):
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT OK\r\n")
    peer = listener.accept()
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"  # AN §5.5
    peer.wait_closed()
    assert b"CLOSED" not in gsm.ok("AT")


@pytest.mark.parametrize("command", ["+QIOPEN", "+QIACT"])
def test_injected_errors(gsm, listener, command):
    gsm.sim.control("inject_error", command=command)
    if command == "+QIOPEN":
        gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
        assert gsm.read_until(b"\r\nCONNECT FAIL\r\n") == b"\r\nCONNECT FAIL\r\n"
    else:
        gsm.ok("AT+QIREGAPP")
        assert gsm.cmd("AT+QIACT") == b"\r\nERROR\r\n"
        assert gsm.ok("AT+QIACT") == b"\r\nOK\r\n"  # once


def test_realistic_timing_stays_inside_the_documented_times(listener, kit):
    # the realistic profile: seeded delays, answers in pieces; each well inside the recommended process V2.0 §9 times
    with launch("m95", config={**kit.TEST_CONFIG, "timing": "realistic", "seed": 3}) as sim:
        gsm = kit.Modem(sim, final=kit.M95_FINAL)
        try:
            gsm.ok("ATE0")
            started = time.monotonic()
            gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
            gsm.read_until(b"\r\nCONNECT OK\r\n", timeout=60)
            opened = time.monotonic() - started
            peer = listener.accept()
            gsm.write(b"AT+QISEND=2\r")
            gsm.read_until(b"> ")
            gsm.write(b"ok")
            assert gsm.read_until(kit.M95_FINAL) == b"\r\nSEND OK\r\n"
            peer.wait_for(b"ok")
            started = time.monotonic()
            assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
            closed = time.monotonic() - started
            assert closed < 0.3  # V2.0 §9 note 3: 300 ms
            started = time.monotonic()
            assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"
            deactivated = time.monotonic() - started
            print(f"\nrealistic: open (activation + connect) {opened:.3f} s, close {closed * 1000:.0f} ms, "
                  f"deactivate {deactivated * 1000:.0f} ms")
        finally:
            gsm.close()
