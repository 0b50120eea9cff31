"""Secrets never reach a flight log, whatever pieces the bytes come in, and redaction never runs across a line end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers.responder import Responder

from conformance import dialects
from conformance.link import Event, FlightRecorder, Link, LogError, format_log, read_log
from conformance.redact import Redactor

PIN = "4711"
PASSWORD = "s3cr3t-pw"


def _bg96_redactor() -> Redactor:
    return Redactor([PASSWORD], dialects.get("bg96").secrets)


def test_a_pattern_never_runs_across_a_line_end() -> None:
    # a report row cut short leaves an unclosed quote: the mask must stop at the line end, not swallow the next row
    table = ('13  < +QICSGP: 1,"apn","user","pass...\n'
             '>> 14  < OK   +0.004s  FAILED\n')
    redacted = _bg96_redactor().text(table)
    assert redacted.splitlines()[1] == ">> 14  < OK   +0.004s  FAILED"
    assert redacted.splitlines()[0] == '13  < +QICSGP: 1,"apn","user","***'


def test_bench_secrets_and_dialect_patterns_are_masked_in_text_and_bytes() -> None:
    r = _bg96_redactor()
    assert r(f'AT+QICSGP=1,1,"apn","user","{PASSWORD}",1\r'.encode()) == b'AT+QICSGP=1,1,"apn","user","***",1\r'
    assert r(f"AT+CPIN={PIN}\r".encode()) == b"AT+CPIN=***\r"
    assert r.text(f"check failed: {PASSWORD} == x §2.1.1") == "check failed: *** == x §2.1.1"


def test_a_secret_written_a_byte_at_a_time_never_reaches_the_log(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path / "paced.atlog", redact=_bg96_redactor())
    command = f"AT+CPIN={PIN}\r".encode()
    echo = command
    for i, (tx, rx) in enumerate(zip(command, echo)):  # interleaved, as a paced write and its echo come
        rec.record(Event(1000 + 2 * i, "tx", bytes([tx])))
        rec.record(Event(1001 + 2 * i, "rx", bytes([rx])))
    rec.record(Event(5000, "rx", b"\r\nOK\r\n"))
    rec.close()
    raw = (tmp_path / "paced.atlog").read_bytes()
    assert PIN.encode() not in raw
    assert PIN[:2].encode() + b'"' not in raw and b'"4"' not in raw  # no piece of it either
    _, events = read_log(tmp_path / "paced.atlog")
    tx = b"".join(e.data for e in events if e.direction == "tx")
    assert tx == b"AT+CPIN=***\r"


def test_pieces_without_a_secret_keep_their_times(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path / "plain.atlog", redact=_bg96_redactor())
    rec.record(Event(10, "tx", b"+"))
    rec.record(Event(20, "tx", b"+"))
    rec.record(Event(30, "tx", b"+\r"))
    rec.close()
    _, events = read_log(tmp_path / "plain.atlog")
    assert [(e.t_ns, e.data) for e in events] == [(10, b"+"), (20, b"+"), (30, b"+\r")]


def test_notes_are_redacted(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path / "n.atlog", redact=_bg96_redactor())
    rec.note(f"step 4 FAILED: the module said '+QICSGP: 1,\"apn\",\"u\",\"{PASSWORD}\",1'")
    rec.close()
    assert PASSWORD.encode() not in (tmp_path / "n.atlog").read_bytes()


def test_a_paced_link_with_secrets_leaves_no_trace(responder: Responder, tmp_path: Path) -> None:
    responder.on(f"AT+CPIN={PIN}".encode(), b"\r\nOK\r\n")
    log = tmp_path / "link.atlog"
    with Link.open(responder.path, recorder=FlightRecorder(log, redact=_bg96_redactor()), line_rate=9600) as link:
        link.write(f"AT+CPIN={PIN}\r".encode())
        assert link.wait_for_size(len(f"AT+CPIN={PIN}\r\r\nOK\r\n"), 10**18)
    link.recorder.close()
    text = "\n".join(format_log(log))
    assert PIN not in log.read_text() and PIN not in text
    assert "AT+CPIN=***" in text


def test_the_log_reader_refuses_what_is_not_a_flight_log(tmp_path: Path) -> None:
    binary = tmp_path / "firmware.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    notlog = tmp_path / "notes.txt"
    notlog.write_text("hello\n")
    for path, said in ((binary, "binary"), (tmp_path, "directory"), (notlog, "not a flight log")):
        try:
            list(format_log(path))
        except LogError as exc:
            assert said in str(exc)
        else:
            raise AssertionError(f"{path} read as a flight log")


def test_the_log_reader_skips_lines_without_their_fields(tmp_path: Path) -> None:
    log = tmp_path / "odd.atlog"
    lines = [{"atlog": 1, "t0": 0}, {"t": 5, "d": "rx", "b": "OK"}, {"t": 6}, {"d": "tx"}, [1, 2], "x",
             {"t": "late", "d": "rx", "b": "x"}, {"t": 7, "d": "note", "n": "fine"}]
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn")
    shown = list(format_log(log))
    assert shown[1:] == ["  +0.000000  <  OK", "  +0.000000  #  fine"]


def test_conformance_log_answers_bad_input_in_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "x.atlog"
    binary.write_bytes(b"\x00\xff\xfe" * 100)
    for target in (binary, tmp_path, tmp_path / "missing.atlog"):
        done = subprocess.run([sys.executable, "-m", "conformance.cli", "log", str(target)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
