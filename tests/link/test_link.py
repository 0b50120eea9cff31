"""The link: every byte both ways, stamped, recorded and paced, over a real pty."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.responder import Responder

from conformance.errors import LinkClosed
from conformance.link import FlightRecorder, Link, escape_bytes, format_log, read_log
from conformance.redact import Redactor


def _deadline(seconds: float = 2.0) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


def test_received_bytes_carry_the_time_they_arrived(link: Link, responder: Responder) -> None:
    before = time.monotonic_ns()
    responder.write(b"\r\nRDY\r\n")
    assert link.wait_for_size(7, _deadline())
    first = link.time_at(0)
    responder.write(b"\r\nOK\r\n")
    assert link.wait_for_size(13, _deadline())
    assert before <= first <= link.time_at(7) <= time.monotonic_ns()
    assert link.data(0) == b"\r\nRDY\r\n\r\nOK\r\n"


def test_reader_wakes_a_waiter_at_once_without_polling(link: Link, responder: Responder) -> None:
    # a waiter with a 5 s deadline returns as soon as a byte comes, not at a poll tick
    responder.write(0.05, b"X")
    t0 = time.monotonic()
    assert link.wait_for_size(1, _deadline(5))
    assert time.monotonic() - t0 < 1.0


def test_wait_returns_false_at_its_deadline(link: Link) -> None:
    t0 = time.monotonic()
    assert not link.wait_for_size(1, _deadline(0.2))
    assert 0.19 <= time.monotonic() - t0 < 1.0


def test_every_byte_value_goes_out_and_comes_back_exactly(link: Link, responder: Responder) -> None:
    responder.echo = False  # a CR in the payload would otherwise make it echo a "line"
    payload = bytes(range(256))
    link.write(payload)
    assert responder.wait_received(256) == payload
    responder.write(payload)
    assert link.wait_for_size(256, _deadline())
    assert link.data(0) == payload


def test_gap_spaces_bytes_as_asked(link: Link, responder: Responder) -> None:
    first, last = link.write(b"+++", gap_s=0.1)
    assert 0.19 <= (last - first) / 1e9 < 0.35
    assert responder.wait_received(3) == b"+++"
    times = [t for _, t in responder.received_times]
    assert len(times) == 3  # three separate arrivals, not one burst
    assert (times[2] - times[0]) / 1e9 >= 0.19


def test_line_rate_paces_writes_like_a_uart(link: Link) -> None:
    # 9600 bit/s, 10 bits a byte: 96 bytes take about 0.1 s; unpaced they take microseconds
    first, last = link.write(b"A" * 96, line_rate=9600)
    assert 0.095 <= (last - first) / 1e9 < 0.3
    first, last = link.write(b"A" * 96)
    assert (last - first) / 1e9 < 0.05


def test_flight_log_has_both_directions_and_notes(link: Link, responder: Responder, atlog: Path) -> None:
    responder.on(b"AT", b"\r\nOK\r\n")
    link.write(b"AT\r")
    assert link.wait_for_size(9, _deadline())  # echo "AT\r" + "\r\nOK\r\n"
    link.note("step 1 matched")
    header, events = read_log(atlog)
    events = list(events)
    assert "t0" in header
    assert [e.direction for e in events][:1] == ["tx"]
    assert b"".join(e.data for e in events if e.direction == "rx") == b"AT\r\r\nOK\r\n"
    assert any(e.note == "step 1 matched" for e in events)
    text = "\n".join(format_log(atlog))
    assert ">  AT\\r" in text and "<  AT\\r\\r\\nOK\\r\\n" in text


def test_escape_bytes_reads_like_a_case_file() -> None:
    assert escape_bytes(b"test\x1a\x1b\x00\r\n\\") == "test<Ctrl+Z><ESC>\\x00\\r\\n\\\\"


def test_recorder_redacts_before_writing(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path / "r.atlog", redact=Redactor(["1234"]))
    from conformance.link import Event

    rec.record(Event(1, "tx", b'AT+CPIN="1234"\r'))
    rec.close()
    assert b"1234" not in (tmp_path / "r.atlog").read_bytes()


def test_flight_log_survives_sigkill(tmp_path: Path) -> None:
    # a child writes events then kills itself mid-run: everything before the kill is on disk
    log = tmp_path / "killed.atlog"
    code = (
        "import os, signal, sys\n"
        "from conformance.link import FlightRecorder, Event\n"
        f"rec = FlightRecorder({str(log)!r})\n"
        "for i in range(100): rec.record(Event(i, 'rx', b'line %d\\r\\n' % i))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -signal.SIGKILL
    _, events = read_log(log)
    assert len(list(events)) == 100


def test_a_closed_port_ends_waits_with_link_closed(tmp_path: Path) -> None:
    r = Responder()
    link = Link.open(r.path)
    try:
        link.close()
        with pytest.raises(LinkClosed):
            link.wait_for_size(1, _deadline(1))
        with pytest.raises(LinkClosed):
            link.write(b"AT\r")
    finally:
        r.close()


def test_loop_url_opens_through_pyserial() -> None:
    with Link.open("loop://") as link:
        link.write(b"AT\r")
        assert link.wait_for_size(3, _deadline())
        assert link.data(0) == b"AT\r"


def test_socket_url_opens_through_pyserial() -> None:
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    with Link.open(f"socket://127.0.0.1:{port}") as link:
        conn, _ = server.accept()
        conn.sendall(b"\r\nOK\r\n")
        assert link.wait_for_size(6, _deadline())
        link.write(b"AT\r")
        assert conn.recv(16) == b"AT\r"
        conn.close()
    server.close()


def test_json_lines_keep_every_byte_value(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path / "b.atlog")
    from conformance.link import Event

    rec.record(Event(5, "rx", bytes(range(256))))
    rec.close()
    lines = (tmp_path / "b.atlog").read_text().splitlines()
    assert json.loads(lines[1])["b"].encode("latin-1") == bytes(range(256))
    _, events = read_log(tmp_path / "b.atlog")
    assert next(iter(events)).data == bytes(range(256))


def test_dtr_and_rts_go_to_the_ports_modem_lines_and_the_log(atlog: Path) -> None:
    # a pty has no modem lines: a port that brings its own (a simulator's control channel) gets the calls instead
    from conformance.link import OpenedPort

    class Lines:
        def __init__(self) -> None:
            self.calls: list[tuple[str, bool]] = []

        def set_dtr(self, level: bool) -> None:
            self.calls.append(("dtr", level))

        def set_rts(self, level: bool) -> None:
            self.calls.append(("rts", level))

    import serial

    lines = Lines()
    port = OpenedPort(serial=serial.serial_for_url("loop://", timeout=None), url="loop://", lines=lines)
    with Link(port, recorder=FlightRecorder(atlog)) as link:
        link.set_dtr(False)
        link.set_rts(True)
    assert lines.calls == [("dtr", False), ("rts", True)]
    notes = [e.note for e in read_log(atlog)[1] if e.direction == "note"]
    assert notes == ["DTR off", "RTS on"]
