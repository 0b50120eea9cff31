"""A chattering module: the case fails saying the module flooded the line, and neither memory nor the log grows
without bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.responder import Responder

from conformance import dialects
from conformance.errors import ModuleFlooded, StepFailed
from conformance.link import FlightRecorder, Link, read_log
from conformance.session import Session
from conformance.transcript import Runner, Scope
from conformance.transcript.parser import parse_transcript

URC = b'\r\n+QIURC: "recv",0\r\n'


@pytest.fixture
def flooding() -> Iterator[Responder]:
    """A module that answers AT with nothing but the same URC, back to back, until told to stop."""
    r = Responder(echo=False)
    stop = threading.Event()

    def chatter() -> None:
        burst = URC * 200
        while not stop.is_set():
            try:
                r.write(burst)
            except OSError:
                return

    thread = threading.Thread(target=chatter, daemon=True)
    r.rules[b"AT"] = lambda line: (thread.start(), [])[1]
    r.stop_flood = stop.set  # type: ignore[attr-defined]
    yield r
    stop.set()
    if thread.is_alive():
        thread.join(5)
    r.close()


def test_a_flooding_module_fails_the_step_saying_so_and_stays_bounded(flooding: Responder, tmp_path: Path) -> None:
    log = tmp_path / "flood.atlog"
    with Link.open(flooding.path, recorder=FlightRecorder(log, max_bytes=200_000)) as link:
        session = Session(link, dialects.get("bg96"))
        steps, _ = parse_transcript("> AT\n< OK  [within 60s]", ("case.yaml", 1), {"bench", "module"})
        t0 = time.monotonic()
        with pytest.raises(StepFailed, match="the module flooded the line: 5000 lines in"):
            Runner(session, Scope()).run(steps)
        assert time.monotonic() - t0 < 30  # long before the step's own 60 s
        # what the session has consumed is dropped from memory, however much came
        assert link.wait_for_size(8 << 20, time.monotonic_ns() + 60_000_000_000)
        flooding.stop_flood()  # type: ignore[attr-defined]
        while True:
            try:
                if session.next_token(time.monotonic_ns() + 200_000_000) is None:
                    break
            except ModuleFlooded:
                continue
        assert link.size >= 8 << 20 and link.size - link.base <= (1 << 20) + 64 * 1024
        link.recorder.close()
    _, events = read_log(log)
    events = list(events)
    assert log.stat().st_size < 2 * 200_000 + 100_000
    assert any("not recorded (over the cap of 200000 bytes)" in e.note for e in events)
