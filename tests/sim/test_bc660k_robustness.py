"""Nothing the host sends crashes the simulated BC660K: malformed input gets ERROR, and AT answers OK afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from helpers.fake_port import FakePort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.dialects import get
from conformance.sim import launch
from conformance.sim.bc660k import Bc660kModule
from conformance.sim.loop import Loop

# AT+QIOPEN is left out on purpose: an open socket lets AT+QISEND put the port into a prompt the check below could
# not leave. The free-text AT+QISEND line, the sleep and reset commands are in.
NAMES = ["AT", "ATE", "ATV", "ATI", "ATO", "AT+QISEND=", "AT+QISEND=0,", 'AT+QISEND=0,"', "AT+QICFG=", "AT+QISTATE",
         "AT+QPING=", "AT+QNTP=", "AT+QIDNSGIP=", "AT+QIDNSCFG=", "AT+QICLOSE=", "AT+CMEE=", "AT+QSCLK=", "AT+QCFG=",
         "AT+QNBIOTEVENT=", "AT+CGSN=", "AT+CCLK=", "at+qistate=?", "AT+QISTATE=1,"]
PARAM_TEXT = st.text(alphabet='0123456789,"=?;+-. TCPUDLISENRVabc{}:\x1a\x1b\x08\x00\xff', max_size=40)
LINE = st.builds(lambda name, rest, end: (name + rest).encode("latin-1") + end, st.sampled_from(NAMES), PARAM_TEXT,
                 st.sampled_from([b"\r", b"\n", b"\r\n", b""]))
INPUT = st.lists(st.one_of(st.binary(max_size=120), LINE), min_size=1, max_size=6).map(b"".join)
MARKER = re.compile(rb"AT\+CGMR\r\r\nRevision: BC660KGLAAR01A05\r\n\r\nOK\r\n")


@pytest.fixture
def modem(kit) -> Iterator:
    with launch("bc660k", config={**kit.TEST_CONFIG, "qsclk_at_power_on": 0}) as sim:
        m = kit.Modem(sim)
        yield m
        m.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=INPUT)
def test_random_input_never_crashes_and_at_still_answers(modem, garbage):
    modem.write(garbage)
    # End any partial line, keep the module awake, restore echo and verbose results, then a marker no input makes.
    modem.write(b"\rAT+QSCLK=0\rATE1V1\rAT+CGMR\r")
    modem.read_until(MARKER, timeout=5)
    modem.write(b"AT\r")
    assert modem.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"
    assert modem.sim.alive()
    assert "Traceback" not in modem.sim.log()  # no handler raised (that would be ERROR + 550 and a bug)


def test_an_exception_in_a_handler_is_error_550():
    port = FakePort()
    module = Bc660kModule(Loop(), port, get("bc660k"), {"dns_servers": ["127.0.0.1"], "qsclk_at_power_on": 0})

    def broken(call: object) -> None:
        raise ZeroDivisionError("a bug")

    module.commands["+QICFG"] = broken
    module.on_host_input(b"ATE0\rAT+CMEE=1\rAT+QICFG=?\r", 0)
    assert port.out.endswith(b"\r\n+CME ERROR: 550\r\n")
    module.shutdown()
