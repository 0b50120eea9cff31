"""Modules behind network ports: what a port carries (modem lines, network), the simulator's RFC 2217 endpoint with
DTR/RTS reaching it, a real ser2net in front of it, and the plugin's handling of cases that need modem lines or
exact timing. Real ptys, real TCP, a real simulator; ser2net where it is installed (the tests that need it skip
naming it otherwise).
"""

from __future__ import annotations

import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from helpers.responder import Responder

from conformance.lab.rfc2217_endpoint import Rfc2217Endpoint
from conformance.lab.ser2net import Ser2net, Ser2netConnection, find_ser2net, render_config, serial_connector
from conformance.lab.socket_port import open_socket_url
from conformance.lab.transport import port_traits
from conformance.link import open_port
from conformance.sim import SimProcess, launch

# pyserial 3.5's RFC 2217 client starts its reader thread with Thread.setDaemon/setName (open_port hides it too)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:serial.rfc2217")

needs_ser2net = pytest.mark.skipif(find_ser2net() is None, reason="ser2net is not installed (apt-get install ser2net)")


@pytest.fixture
def sim() -> Iterator[SimProcess]:
    with launch("bg96") as the_sim:
        yield the_sim


@pytest.fixture
def endpoint(sim: SimProcess) -> Iterator[Rfc2217Endpoint]:
    with Rfc2217Endpoint(sim.pty, sim.control_path) as the_endpoint:
        yield the_endpoint


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exchange(port: serial.SerialBase, command: bytes, until: bytes = b"OK\r\n", timeout: float = 5.0) -> bytes:
    port.write(command)
    got = b""
    deadline = time.monotonic() + timeout
    while not got.endswith(until) and time.monotonic() < deadline:
        got += port.read(max(1, port.in_waiting))
    return got


# -- what a port carries ---------------------------------------------------------------------------------------------

def test_a_bare_pty_has_no_modem_lines_and_says_why(responder: Responder) -> None:
    port = open_port(responder.path)
    try:
        traits = port_traits(port)
    finally:
        port.close()
    assert not traits.network and not traits.modem_lines
    assert responder.path in traits.why_no_lines and "Inappropriate ioctl" in traits.why_no_lines


def test_a_simulator_has_modem_lines_through_its_control_channel() -> None:
    port = open_port("sim:bg96")
    try:
        traits = port_traits(port)
    finally:
        port.close()
    assert traits.modem_lines and not traits.network


def test_network_ports_say_so_and_socket_urls_carry_no_modem_lines(endpoint: Rfc2217Endpoint) -> None:
    rfc = open_port(endpoint.url)
    try:
        assert port_traits(rfc).network and port_traits(rfc).modem_lines
    finally:
        rfc.close()
    with socket.create_server(("127.0.0.1", 0)) as server:
        raw = open_socket_url(f"socket://127.0.0.1:{server.getsockname()[1]}", 115200)
        try:
            traits = port_traits(raw)
        finally:
            raw.close()
    assert traits.network and not traits.modem_lines and "socket://" in traits.why_no_lines


def test_socket_ports_count_the_bytes_waiting() -> None:
    # pyserial's own socket:// says 1 whatever is waiting: a reader would take two bytes per call
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = open_socket_url(f"socket://127.0.0.1:{server.getsockname()[1]}", 115200)
        conn, _ = server.accept()
        try:
            conn.sendall(b"\r\nOK\r\n" * 100)
            deadline = time.monotonic() + 5
            while port.serial.in_waiting < 600 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert port.serial.in_waiting == 600
            assert port.serial.read(600) == b"\r\nOK\r\n" * 100
        finally:
            conn.close()
            port.close()


# -- the simulator's RFC 2217 endpoint -------------------------------------------------------------------------------

def test_dtr_and_rts_over_rfc2217_reach_the_simulator(sim: SimProcess, endpoint: Rfc2217Endpoint) -> None:
    port = serial.serial_for_url(endpoint.url, timeout=1)  # no ign_set_control: the endpoint confirms each change
    try:
        assert exchange(port, b"AT\r").endswith(b"\r\nOK\r\n")
        port.dtr = False
        assert sim.control("state")["dtr"] is False
        port.rts = False
        assert sim.control("state")["rts"] is False
        port.dtr = True
        assert sim.control("state")["dtr"] is True
    finally:
        port.close()


def test_a_new_client_replaces_one_that_never_left(endpoint: Rfc2217Endpoint) -> None:
    stale = serial.serial_for_url(endpoint.url, timeout=1)
    fresh = serial.serial_for_url(endpoint.url, timeout=1)
    try:
        assert exchange(fresh, b"AT\r").endswith(b"OK\r\n")
    finally:
        fresh.close()
        stale.close()


# -- ser2net in front ------------------------------------------------------------------------------------------------

def test_the_lab_configuration_of_ser2net() -> None:
    lab = Ser2netConnection("bg96_desk", 4001, serial_connector("/dev/ttyUSB2"))
    raw = Ser2netConnection("bg96_desk_raw", 4002, serial_connector("/dev/ttyUSB2"), rfc2217=False)
    text = render_config([lab, raw])
    assert "accepter: telnet(rfc2217),tcp(nodelay),0.0.0.0,4001" in text
    assert "accepter: tcp(nodelay),0.0.0.0,4002" in text
    assert "connector: serialdev,/dev/ttyUSB2,115200n81,local" in text
    assert "kickolduser: true" in text and "chardelay: false" in text
    assert lab.url("bench7") == "rfc2217://bench7:4001" and raw.url("bench7") == "socket://bench7:4002"
    example = (Path(__file__).resolve().parents[2] / "fixtures" / "lab" / "ser2net.yaml").read_text()
    for setting in ("telnet(rfc2217),tcp(nodelay)", "kickolduser: true", "chardelay: false"):
        assert setting in example


@needs_ser2net
def test_through_ser2net_the_module_answers_and_dtr_reaches_it(sim: SimProcess, endpoint: Rfc2217Endpoint) -> None:
    connector = f"telnet(rfc2217),tcp(nodelay),127.0.0.1,{endpoint.port}"
    connections = [Ser2netConnection("m", free_port(), connector, host="127.0.0.1"),
                   Ser2netConnection("m_raw", free_port(), connector, host="127.0.0.1", rfc2217=False)]
    with Ser2net(connections):
        port = serial.serial_for_url(connections[0].url(), timeout=1)
        try:
            assert exchange(port, b"AT\r").endswith(b"\r\nOK\r\n")
            port.dtr = False  # ser2net passes the line change on to the endpoint, which confirms it
            assert sim.control("state")["dtr"] is False
            port.dtr = True
        finally:
            port.close()
        raw = open_socket_url(connections[1].url(), 115200)
        try:
            assert exchange(raw.serial, b"ATI\r").endswith(b"OK\r\n")
        finally:
            raw.close()


# -- the plugin: modem_lines and timing_critical ---------------------------------------------------------------------

LATE_OK = """\
    title: an answer that must come late
    name: late_ok
    source: BG96 TCP/IP AT Commands Manual V1.0 §1.2 escape +++
    dialects: [bg96]
    tags: [timing_critical]
    transcript: |
      > AT
      < OK                                       [not before 1s]
    """

DTR = """\
    title: drop DTR
    name: dtr_drop
    source: BG96 TCP/IP AT Commands Manual V1.0 §1.2 escape dtr
    dialects: [bg96]
    needs: [modem_lines]
    transcript: |
      ~ dtr off
      ~ dtr on
      > AT
      < OK
    """


def write_case(pytester: pytest.Pytester, name: str, text: str) -> None:
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    path = pytester.path / "cases" / "bg96" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def run(pytester: pytest.Pytester, url: str) -> pytest.RunResult:
    return pytester.runpytest(f"--modem={url}", "--dialect", "bg96", "--results-dir", str(pytester.path / "out"),
                              "--run-name", "r1", "-p", "no:cacheprovider", "-rxs")


def test_a_timing_critical_failure_over_a_network_port_is_expected_and_shows_the_timing(
        pytester: pytest.Pytester, endpoint: Rfc2217Endpoint) -> None:
    write_case(pytester, "late.yaml", LATE_OK)
    result = run(pytester, endpoint.url)
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines([f"*timing-critical case over a network port ({endpoint.url})*OK*"])


def test_the_same_failure_on_a_local_port_fails(pytester: pytest.Pytester, sim: SimProcess) -> None:
    write_case(pytester, "late.yaml", LATE_OK)
    run(pytester, sim.pty).assert_outcomes(failed=1)


def test_a_case_that_needs_modem_lines_skips_on_a_bare_pty_and_runs_over_rfc2217(
        pytester: pytest.Pytester, sim: SimProcess, endpoint: Rfc2217Endpoint) -> None:
    write_case(pytester, "dtr.yaml", DTR)
    on_pty = run(pytester, sim.pty)
    on_pty.assert_outcomes(skipped=1)
    on_pty.stdout.fnmatch_lines(["*modem_lines: *has no modem control lines (Inappropriate ioctl*"])
    run(pytester, endpoint.url).assert_outcomes(passed=1)
