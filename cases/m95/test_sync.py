"""Synchronising after a reboot with the public API (conformance.procedures.synchronise), recommended process V2.0 /
V1.1 §9 note 1: 15 AT, sleeping 500 ms after each, then AT+IPR=<rate>&W. The module is restarted through the
simulator's control channel (a real module cannot be restarted from a test: it skips). The achieved spacing of the
AT commands is printed and recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.procedures import synchronise


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCP/IP Recommended Process V2.0 §9 sync",
                    "GSM TCP/IP Recommended Process V1.1 §9 sync",
                    "GSM TCP/IP Recommended Process V2.0 §9 AT execute")
def test_fifteen_at_500_ms_apart_synchronise_a_rebooted_module(
        modem: Any, record_property: Callable[[str, object], None]) -> None:
    sim = modem.link.port.info.get("sim")
    if sim is None:
        pytest.skip("sim_control: needs a simulated module; a real module cannot be restarted from a test")
    sim.control("reboot")
    result = synchronise(modem)
    modem.link.note(f"synchronise: {result}")
    record_property("synchronise", str(result))
    print(f"synchronise: {result}")
    assert len(result.answered) == 15
    assert result.synchronised and result.ipr == "OK", str(result)
    modem.run("""
      > AT+QISTAT
      < OK
      < STATE: IP INITIAL
    """)
