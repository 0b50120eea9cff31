"""The timing profile (instant / realistic, seeded) and the module's start state (contexts active at power-on, a
dual-stack network). Only lower bounds are asserted on real time: load can delay an answer, never hurry it."""

from __future__ import annotations

import time

import pytest
from helpers.fake_port import FakePort

from conformance.dialects import get
from conformance.sim import launch, parse_sim_url
from conformance.sim.bg96 import Bg96Module
from conformance.sim.engine import TimingProfile
from conformance.sim.engine.timing import REALISTIC_RANGES
from conformance.sim.loop import Loop
from conftest import Modem  # the tests folder is on sys.path under pytest


def test_realistic_delays_are_seeded_and_within_their_ranges():
    a, b, c = TimingProfile("realistic", 7), TimingProfile("realistic", 7), TimingProfile("realistic", 8)
    kinds = list(REALISTIC_RANGES) * 5
    first = [a.delay(k) for k in kinds]
    assert first == [b.delay(k) for k in kinds]  # the same seed, the same run
    assert first != [c.delay(k) for k in kinds]
    for kind, value in zip(kinds, first):
        low, high = REALISTIC_RANGES[kind]
        assert low <= value <= high
    instant = TimingProfile("instant")
    assert instant.delay("activate") == 0 and instant.pieces(b"\r\nOK\r\n") == [(0.0, b"\r\nOK\r\n")]


def test_realistic_responses_come_in_pieces():
    profile = TimingProfile("realistic", 1)
    data = b"\r\n+QISTATE: 0,\"TCP\",\"127.0.0.1\",8080,0,2,1,0,0,\"usbmodem\"\r\n\r\nOK\r\n"
    cuts = [profile.pieces(data) for _ in range(20)]
    assert all(b"".join(piece for _, piece in pieces) == data for pieces in cuts)
    assert any(len(pieces) > 1 for pieces in cuts)  # some responses are written in several pieces
    assert all(gap > 0 for pieces in cuts for gap, _ in pieces[1:])


def run_until(loop: Loop, done, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the module never answered"
        loop._run_timers()
        loop._run_soon()
        time.sleep(0.001)


def test_a_realistic_module_holds_further_input_until_its_answer_is_out():
    loop, port = Loop(), FakePort()
    module = Bg96Module(loop, port, get("bg96"), {"timing": "realistic", "seed": 5, "dns_servers": ["127.0.0.1"]})
    started = time.monotonic()
    module.on_host_input(b"ATE0\rAT+QIACT=1\rAT\r", time.monotonic_ns())
    run_until(loop, lambda: b"".join(port.writes).count(b"OK\r\n") == 3)
    assert time.monotonic() - started >= REALISTIC_RANGES["activate"][0]
    assert b"".join(port.writes) == b"ATE0\r\r\nOK\r\n\r\nOK\r\n\r\nOK\r\n"  # in order, nothing lost
    module.shutdown()


def test_the_profile_comes_from_the_url_or_the_environment(monkeypatch):
    assert parse_sim_url("sim:bg96?timing=realistic&seed=7")[2] == {"timing": "realistic", "seed": 7}
    with launch("bg96", config={"timing": "realistic", "seed": 7}) as sim:
        assert sim.control("state")["timing"] == "realistic"
    monkeypatch.setenv("CONFORMANCE_SIM_TIMING", "realistic")  # the plugin's children inherit it
    with launch("bg96") as sim:
        assert sim.control("state")["timing"] == "realistic"
        modem = Modem(sim)
        try:
            modem.ok("ATE0")
            started = time.monotonic()
            modem.ok("AT+QIACT=1")
            assert time.monotonic() - started >= REALISTIC_RANGES["activate"][0]  # §2.1.2 takes its time
        finally:
            modem.close()
        assert sim.control("configure", timing="instant")["config"]["timing"] == "instant"
    monkeypatch.delenv("CONFORMANCE_SIM_TIMING")
    with launch("bg96") as sim:
        assert sim.control("state")["timing"] == "instant"


def test_bad_timing_keys_are_refused(sim):
    from conformance.sim import SimError

    with pytest.raises(SimError, match="bad value"):
        sim.control("configure", timing="fast")
    with pytest.raises(SimError, match="bad value"):
        sim.control("configure", boot_active_contexts="one")
    with pytest.raises(SimError, match="bad value"):
        sim.control("configure", connect_timeout_s="inf")


# -- the start state -------------------------------------------------------------------------------------------

def test_context_active_at_power_on_and_after_a_reboot():
    with launch("bg96", config={"boot_active_contexts": [1], "dns_servers": ["127.0.0.1"]}) as sim:
        modem = Modem(sim)
        try:
            modem.ok("ATE0")
            assert modem.ok("AT+QIACT?") == b'\r\n+QIACT: 1,1,1,"127.0.0.1"\r\n\r\nOK\r\n'
            assert modem.cmd("AT+QIACT=1") == b"\r\nERROR\r\n"  # already active, as on such firmware
            modem.ok("AT+QIDEACT=1")
            sim.control("reboot")
            modem.read_until(b"APP RDY\r\n")
            modem.ok("ATE0")
            assert modem.ok("AT+QIACT?") == b'\r\n+QIACT: 1,1,1,"127.0.0.1"\r\n\r\nOK\r\n'
        finally:
            modem.close()


def test_dual_stack_network_gives_two_addresses():
    url_config = parse_sim_url("sim:bg96?dual_stack=true&boot_active_contexts=[1]")[2]
    with launch("bg96", config={**url_config, "dns_servers": ["127.0.0.1"]}) as sim:
        modem = Modem(sim)
        try:
            modem.ok("ATE0")
            assert modem.ok("AT+QIACT?") == b'\r\n+QIACT: 1,1,3,"127.0.0.1","2001:db8::2"\r\n\r\nOK\r\n'
            assert modem.ok("AT+CGPADDR=1") == b'\r\n+CGPADDR: 1,"127.0.0.1","2001:db8::2"\r\n\r\nOK\r\n'
            assert modem.ok('AT+QICSGP=1') == b'\r\n+QICSGP: 1,"","","",0\r\n\r\nOK\r\n'  # as configured
        finally:
            modem.close()


def test_an_event_during_a_result_that_opens_data_mode_is_judged_once_the_mode_has_begun():
    # realistic answers come in pieces; a peer's FIN can arrive between "CONNECT" and its final LF. Whether the module
    # says NO CARRIER / CLOSED as the end of data mode or as a command-mode URC depends on the mode, so the socket
    # layer waits until the result is out and the mode open (before, a closed connection left the module in data mode)
    loop, port = Loop(), FakePort()
    module = Bg96Module(loop, port, get("bg96"), {"timing": "realistic", "seed": 2, "dns_servers": ["127.0.0.1"]})
    events: list[str] = []
    for _ in range(50):  # until the profile cuts CONNECT into several pieces (seeded: the same try every run)
        module.respond_unprompted("CONNECT", after=lambda: events.append("data mode"))
        module.after_mode_switch(lambda: events.append("peer closed"))
        if not events:
            break
        run_until(loop, lambda: len(events) == 2)
        events.clear()
    written = b"".join(port.writes)
    assert events == [] and written and not written.endswith(b"CONNECT\r\n")  # partly out: the mode not open yet
    run_until(loop, lambda: len(events) == 2)
    assert events == ["data mode", "peer closed"]
    module.after_mode_switch(lambda: events.append("later"))
    assert events[-1] == "later"  # nothing in flight: judged at once
    module.shutdown()
