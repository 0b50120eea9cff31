"""The timing diagram of escape and guard-time cases: bytes on a time axis, guard windows measured and judged."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from conformance import dialects
from conformance.link import FlightRecorder
from conformance.link.recorder import Event
from conformance.reports.timing import timing_svg, wants_diagram
from conformance.transcript import Record, parse_text
from conformance.transcript.model import Pause

MS = 1_000_000


def _case(transcript: str) -> list:
    text = ("title: t\nsource: BG96 TCP/IP AT Commands Manual V1.0 §1.2\ndialects: [bg96]\ntranscript: |\n"
            + textwrap.indent(textwrap.dedent(transcript), "  "))
    return list(parse_text(text, "x.yaml")[0].steps)


def test_escape_and_gap_cases_get_a_diagram_and_others_do_not() -> None:
    assert wants_diagram(_case("> AT\n< OK\n~ pause 1.2s\n>> +++\n< OK\n"))
    assert wants_diagram(_case(">> +++          [gap 300ms]\n"))
    assert not wants_diagram(_case("> AT\n< OK\n~ pause 1s\n> AT\n< OK\n"))  # a pause before a command
    assert not wants_diagram(_case(">> data+++more\n"))  # +++ inside data, no pause before it


def _log(path: Path, t0: int, events: list[tuple[int, str, bytes]]) -> None:
    recorder = FlightRecorder(path)
    for t, d, data in events:
        recorder.record(Event(t0 + t * MS, d, data))
    recorder.close()


def test_guard_windows_are_measured_from_the_flight_log_and_judged(tmp_path: Path) -> None:
    steps = _case("> AT\n~ pause 1.2s\n>> +++     [gap 600ms]\n< OK\n")
    pause = next(s for s in steps if isinstance(s, Pause))
    t0 = 10**12
    log = tmp_path / "case.atlog"
    # data, 1.2 s of silence, "+" "+" "+" 600 ms apart (1.2 s in all: too slow), then nothing for 2 s
    _log(log, t0, [(0, "tx", b"data"), (1200, "tx", b"+"), (1800, "tx", b"+"), (2400, "tx", b"+"),
                   (2450, "rx", b"\r\nOK\r\n"), (4400, "tx", b"AT\r")])
    records = [Record(None, "data", t0, "sent"), Record(pause, "(host idle 1.2 s)", t0 + 1 * MS, "info"),
               Record(None, "+++", t0 + 2400 * MS, "sent"), Record(None, "OK", t0 + 4400 * MS, "ok")]
    svg = timing_svg(log, records, escape_rules=dialects.get("bg96").escape, title="too slow")
    root = ET.fromstring(svg)  # well-formed
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "guard before 1.200 s (≥ 1 s)" in texts
    assert "+++ in 1.200 s (≤ 1 s)" in texts
    assert "guard after 2.000 s (≥ 1 s)" in texts
    assert texts.count("600 ms") == 2 and "~ pause 1.2 s" in texts
    kinds = {t.get("class"): "".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")
             if "note" in (t.get("class") or "")}
    assert kinds["note broken-text"] == "+++ in 1.200 s (≤ 1 s)"  # the rule this timing breaks is marked
    assert ">OK<" not in svg and "\\r\\nOK\\r\\n" in svg  # the module's bytes, escaped as the flight log shows them
