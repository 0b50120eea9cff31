"""The keepalive and detection procedures of the documents, run with the public API (conformance.procedures) against
the module: once on a healthy path (acknowledged at the first poll) and once on a path the network black-holes
(never acknowledged: the procedure must say "broken" after its documented number of polls, within its documented
bound), followed by the documented recovery (close, open again, resend).

- recommended process V2.0 / V1.1 §6 "procedure heartbeat": AT+QISACK every 5 s, 24 times (two minutes);
- application note §6.1 / §6.2 "procedure": a packet, 5 s, then AT+QISACK every 10 s, at most 12 times.

Each verdict, with every AT+QISACK answer and when it was asked, goes to the flight log, the test's properties and
standard output. The case files of keepalive.yaml show the same procedures' examples line by line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.procedures import DETECTION, HEARTBEAT, CheckResult, detect, heartbeat, reopen

BLOCKS = Path(__file__).parent / "blocks.yaml"
OPEN = """
  = configured
  = tcp_client_open peer=tcp_sink
"""
SLACK_S = 10.0  # the bound is the procedure's schedule; its commands and the host's scheduling add a little


def _report(modem: Any, record_property: Callable[[str, object], None], what: str, verdict: CheckResult) -> None:
    line = f"{what}: {verdict}"
    modem.link.note(line)
    record_property("verdict", str(verdict))
    print(line)


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCP/IP Recommended Process V2.0 §6 procedure heartbeat",
                    "GSM TCP/IP Recommended Process V1.1 §6 procedure heartbeat")
def test_heartbeat_is_acknowledged_on_a_healthy_path(modem: Any, tcp_sink: Any,
                                                      record_property: Callable[[str, object], None]) -> None:
    peers = {"tcp_sink": tcp_sink}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    verdict = heartbeat(modem)
    _report(modem, record_property, "heartbeat, healthy path", verdict)
    assert verdict.healthy, str(verdict)
    assert verdict.after is not None and len(verdict.after.polls) == 1
    modem.run('! tcp_sink received "Heart01"', context=peers)


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCP/IP Recommended Process V2.0 §6 procedure heartbeat",
                    "GSM TCP/IP Recommended Process V1.1 §6 procedure heartbeat")
def test_heartbeat_finds_a_black_holed_path_broken_within_two_minutes_then_recovers(
        modem: Any, tcp_sink: Any, net_blackhole: Any, record_property: Callable[[str, object], None]) -> None:
    peers = {"tcp_sink": tcp_sink, "net": net_blackhole}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    modem.run("! net blackhole tcp_sink", context=peers)
    verdict = heartbeat(modem)
    _report(modem, record_property, "heartbeat, black-holed path", verdict)
    assert not verdict.healthy and verdict.reason == "heartbeat never acknowledged", str(verdict)
    assert verdict.after is not None and len(verdict.after.polls) == HEARTBEAT.max_polls
    assert all(p.unacked == 7 for p in verdict.after.polls), "Heart01 stays unacknowledged"
    assert verdict.elapsed_s <= HEARTBEAT.bound_s + SLACK_S
    # the documents' recovery: close, open again, resend what was not acknowledged
    modem.run("! net restore", context=peers)
    assert reopen(modem, "TCP", tcp_sink.host, tcp_sink.port) == "CONNECT OK"
    again = heartbeat(modem)
    _report(modem, record_property, "heartbeat after reopening", again)
    assert again.healthy, str(again)


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCPIP Application Notes V1.1 §6.2 procedure",
                    "GSM TCPIP Application Notes V1.1 §6.1 procedure")
def test_detection_is_acknowledged_on_a_healthy_path(modem: Any, tcp_sink: Any,
                                                     record_property: Callable[[str, object], None]) -> None:
    peers = {"tcp_sink": tcp_sink}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    verdict = detect(modem)
    _report(modem, record_property, "detection, healthy path", verdict)
    assert verdict.healthy and verdict.state == "CONNECT OK", str(verdict)
    modem.run('! tcp_sink received "TCP detect"', context=peers)


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCPIP Application Notes V1.1 §6.2 procedure",
                    "GSM TCPIP Application Notes V1.1 §6.1 procedure")
def test_detection_finds_a_black_holed_path_abnormal_after_12_polls(
        modem: Any, tcp_sink: Any, net_blackhole: Any, record_property: Callable[[str, object], None]) -> None:
    peers = {"tcp_sink": tcp_sink, "net": net_blackhole}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    modem.run("! net blackhole tcp_sink", context=peers)
    verdict = detect(modem)
    _report(modem, record_property, "detection, black-holed path", verdict)
    assert not verdict.healthy and verdict.reason == "packet never acknowledged", str(verdict)
    assert verdict.state == "CONNECT OK", "the stack knows nothing of the black hole: only QISACK tells"
    assert verdict.after is not None and len(verdict.after.polls) == DETECTION.max_polls
    assert verdict.elapsed_s <= DETECTION.bound_s + SLACK_S


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCPIP Application Notes V1.1 §6.2 mux")
def test_detection_of_one_of_multiple_connections(modem: Any, tcp_sink: Any,
                                                  record_property: Callable[[str, object], None]) -> None:
    modem.run("""
      = configured mux=1
      = mux_client_open peer=tcp_sink index=2
    """, context={"tcp_sink": tcp_sink}, blocks=BLOCKS)
    verdict = detect(modem, index=2)
    _report(modem, record_property, "detection, profile 2", verdict)
    assert verdict.healthy, str(verdict)
