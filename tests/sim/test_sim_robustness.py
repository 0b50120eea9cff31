"""Nothing the host sends crashes the simulator: malformed input gets ERROR, and AT answers OK afterwards."""

from __future__ import annotations

import re
import time

from helpers.fake_port import FakePort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.dialects import get
from conformance.sim.bg96 import Bg96Module
from conformance.sim.engine import CmdError
from conformance.sim.loop import Loop

# Command names the fuzzer builds lines from. AT+QIACT is left out on purpose: without an active context no socket
# can open, so no input can legitimately put the port into a prompt or data mode the check below could not leave.
NAMES = ["AT", "ATE", "ATV", "AT&D", "ATO", "ATI", "AT+QIOPEN=", "AT+QISEND=", "AT+QIRD=", "AT+QICFG=", "AT+QICSGP=",
         "AT+QISTATE", "AT+QPING=", "AT+QNTP=", "AT+QIDNSGIP=", "AT+QIDNSCFG=", "AT+QISWTMD=", "AT+QICLOSE=",
         "AT+QIDEACT=", "AT+CMEE=", "AT+QIGETERROR", "AT+QISENDEX=", "AT+QISDE=", "AT+CCLK=", "at+qiopen=?"]
PARAM_TEXT = st.text(alphabet='0123456789,"=?;+-. TCPUDLISENRVabc\x1a\x1b\x08\x00\xff', max_size=40)
LINE = st.builds(lambda name, rest, end: (name + rest).encode("latin-1") + end, st.sampled_from(NAMES), PARAM_TEXT,
                 st.sampled_from([b"\r", b"\n", b"\r\n", b""]))
INPUT = st.lists(st.one_of(st.binary(max_size=120), LINE), min_size=1, max_size=6).map(b"".join)
MARKER = re.compile(rb"AT\+GMR\r\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=INPUT)
def test_random_input_never_crashes_and_at_still_answers(modem, garbage):
    modem.write(garbage)
    # End any partial line, restore echo and verbose results, then a marker no generated input can produce.
    modem.write(b"\rATE1V1\rAT+GMR\r")
    modem.read_until(MARKER, timeout=5)
    modem.write(b"AT\r")
    assert modem.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"
    assert modem.sim.alive()
    assert "Traceback" not in modem.sim.log()  # no handler raised (that would be ERROR + 550 and a bug)


def test_the_fuzzer_left_no_traceback(modem):
    modem.write(b"AT+QIOPEN=1,0,\"TCP\",\"\xff\xfe\",99999999999999999999\rAT+QIRD=\x00\r")
    modem.write(b"AT\r")
    modem.read_until(b"AT\r\r\nOK\r\n")
    assert "Traceback" not in modem.sim.log()


def test_an_exception_in_a_handler_is_error_550():
    port = FakePort()
    module = Bg96Module(Loop(), port, get("bg96"), {"dns_servers": ["127.0.0.1"]})

    def broken(call: object) -> None:
        raise ZeroDivisionError("a bug")

    module.commands["+QISDE"] = broken
    module.on_host_input(b"ATE0\rAT+QISDE=1\r", 0)
    assert port.out.endswith(b"\r\nERROR\r\n")
    module.on_host_input(b"AT+QIGETERROR\r", 0)
    assert port.out.endswith(b"\r\n+QIGETERROR: 550, unknown error\r\n\r\nOK\r\n")
    module.commands["+QISDE"] = lambda call: (_ for _ in ()).throw(CmdError(555))
    module.on_host_input(b"AT+QISDE=1\r", 0)
    module.on_host_input(b"AT+QIGETERROR\r", 0)
    assert port.out.endswith(b"\r\n+QIGETERROR: 555, operation not supported\r\n\r\nOK\r\n")
    module.shutdown()


def test_a_flood_of_bad_input_keeps_the_log_small_and_says_what_it_left_out(sim, modem):
    # 20,000 unknown commands and 1,000 lines of 4 kB garbage: the log counts them instead of growing without bound
    bad = b"AT+NOSUCH\r" * 20000 + (b"x" * 4000 + b"\r") * 1000
    for start in range(0, len(bad), 65536):
        modem.write(bad[start:start + 65536])
    modem.write(b"ATE0\rAT+GMM\r")
    modem.read_until(b"BG96\r\n\r\nOK\r\n", timeout=60)
    deadline = time.monotonic() + 10
    while "more not shown" not in sim.log():  # the count is written when its one-second window closes
        assert time.monotonic() < deadline, sim.log()[-2000:]
        modem.ok("AT")  # an event with a deadline: the module keeps answering meanwhile
        time.sleep(0.05)
    log = sim.log()
    # at most 50 lines of a kind per second are written, each cut to 300 characters (the bound holds however long a
    # loaded machine takes to read the flood)
    assert log.count("unknown command AT+NOSUCH") < 1000, "each unknown command got its own line"
    assert len(log) < len(bad) // 10, f"the log grew to {len(log)} bytes for {len(bad)} bytes of input"
    assert "unknown command: more than 50 in 1 s; the rest are counted, not shown" in log
    assert sim.alive()
