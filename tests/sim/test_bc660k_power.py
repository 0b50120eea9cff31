"""The simulated BC660K's sleep through its real pty (docs/dialects/bc660k.md §1, §5.5): AT+QSCLK, the bytes lost to
a wake-up, PSM holding URCs and data, DRX delaying URCs, the sleep indications, and URCs during a prompt.

Waiting for the module to fall asleep is an event (the control channel's state says so); the silences checked after
a lost wake-up are the protocol itself.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from conformance import dialects
from conformance.link import Link
from conformance.plugin.modem import Modem as PluginModem
from conformance.session import Session
from conformance.sim import SimError, launch

COUNTDOWN_S = 1.0  # a short sleep countdown keeps the tests quick (the AT manual's default is 10 s)


@pytest.fixture
def modem(kit) -> Iterator:
    """A simulated BC660K as at power-on (AT+QSCLK=1), falling asleep after 1 s idle; echo off."""
    with launch("bc660k", config={**kit.TEST_CONFIG, "sleep_countdown_s": COUNTDOWN_S}) as sim:
        m = kit.Modem(sim)
        m.ok("ATE0")
        yield m
        m.close()


def asleep(modem, kit, kind: str = "light") -> None:
    kit.wait_state(modem, lambda s: s["asleep"] == kind)


def silent(modem, seconds: float) -> None:
    """Nothing comes from the module for ``seconds``."""
    with pytest.raises(AssertionError):
        modem.read_until(b"\n", timeout=seconds)
    assert not modem.buffer, modem.buffer


def test_qsclk_forms_and_power_on_value(modem):
    assert modem.cmd("AT+QSCLK?") == b"\r\n+QSCLK: 1\r\n\r\nOK\r\n"
    assert modem.cmd("AT+QSCLK=?") == b"\r\n+QSCLK: (0-2)\r\n\r\nOK\r\n"
    assert modem.cmd("AT+QSCLK=3") == b"\r\nERROR\r\n"


def test_an_idle_module_sleeps_and_loses_the_bytes_that_wake_it(modem, kit):
    asleep(modem, kit)
    modem.write(b"AT\r")  # wakes the UART; lost: no echo (echo is off anyway), no answer
    silent(modem, 0.4)
    assert modem.cmd("AT") == b"\r\nOK\r\n"
    assert kit.state(modem)["asleep"] == "no"


def test_bytes_within_the_wake_up_time_are_lost_too_those_after_it_are_not(modem, kit):
    modem.sim.control("configure", wake_up_ms=400)
    asleep(modem, kit)
    modem.write(b"A")
    modem.write(b"T\r")
    silent(modem, 0.5)
    assert modem.cmd("AT") == b"\r\nOK\r\n"


def test_qsclk_0_keeps_it_awake(modem, kit):
    modem.ok("AT+QSCLK=0")
    time.sleep(1.5 * COUNTDOWN_S)  # the countdown's length: there is no event for "did not fall asleep"
    assert kit.state(modem)["asleep"] == "no"
    assert modem.cmd("AT") == b"\r\nOK\r\n"
    with pytest.raises(SimError, match="AT\\+QSCLK is 0"):
        modem.sim.control("sleep", mode="light")


def test_a_sleeping_module_still_reports_urcs(modem, kit, listener):
    modem.ok("AT+QSCLK=0")
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    peer = listener.accept()
    modem.ok("AT+QSCLK=1")
    asleep(modem, kit)
    peer.conn.sendall(b"hello")
    assert modem.read_until(b'"hello"\r\n') == b'\r\n+QIURC: "recv",0,5,"hello"\r\n'


def test_psm_holds_urcs_and_data_until_the_host_wakes_the_module(modem, kit, listener):
    modem.ok('AT+QCFG="dsevent",1')
    modem.ok("AT+QNBIOTEVENT=1,1")
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    peer = listener.accept()
    modem.sim.control("psm", action="enter")
    assert modem.read_until(b'"ENTER PSM"\r\n') == b'\r\nENTER DEEPSLEEP\r\n\r\n+QNBIOTEVENT: "ENTER PSM"\r\n'
    peer.conn.sendall(b"while asleep")
    silent(modem, 0.5)  # §2.4 note 1: no URC in PSM
    modem.write(b"AT\r")  # wakes it (lost: 500 ms out of PSM)
    assert modem.read_until(b'"while asleep"\r\n') == (b'\r\n+QNBIOTEVENT: "EXIT PSM"\r\n\r\nEXIT DEEPSLEEP\r\n'
                                                        b'\r\n+QIURC: "recv",0,12,"while asleep"\r\n')
    silent(modem, 0.6)  # past the wake-up time
    assert modem.cmd("AT") == b"\r\nOK\r\n"  # no reboot, the socket is there
    assert modem.cmd("AT+QISTATE=1,0").startswith(b'\r\n+QISTATE: 0,"TCP"')


def test_psm_can_drop_the_downlink_and_needs_qsclk_1(modem, kit, listener):
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    peer = listener.accept()
    modem.sim.control("psm_downlink", mode="drop")
    modem.sim.control("psm", action="enter")
    peer.conn.sendall(b"lost")
    kit.wait_state(modem, lambda s: s["sockets"][0]["total_receive_length"] == 4)
    modem.sim.control("psm", action="exit")  # the network wakes it: the UART listens at once
    assert modem.cmd("AT") == b"\r\nOK\r\n"
    modem.ok("AT+QSCLK=2")
    with pytest.raises(SimError, match="only AT\\+QSCLK=1"):
        modem.sim.control("psm", action="enter")


def test_drx_delays_urcs_to_the_paging_occasion(modem, kit, listener):
    modem.ok("AT+QSCLK=0")
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    peer = listener.accept()
    modem.sim.control("drx", cycle_s=2)
    start = time.monotonic()
    peer.conn.sendall(b"later")
    silent(modem, 1.0)  # the first paging occasion is 2 s after DRX began
    assert modem.read_until(b'"later"\r\n', timeout=3) == b'\r\n+QIURC: "recv",0,5,"later"\r\n'
    assert time.monotonic() - start > 1.0
    modem.sim.control("drx", cycle_s=0)
    peer.conn.sendall(b"now")
    assert modem.read_until(b'"now"\r\n', timeout=1) == b'\r\n+QIURC: "recv",0,3,"now"\r\n'


@pytest.mark.parametrize("mode", ["hold", "lose"])
def test_urcs_raised_during_a_prompt_are_held_or_lost_as_configured(modem, listener, mode):
    modem.ok("AT+QSCLK=0")
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{listener.port},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    listener.accept()
    modem.ok('AT+QIOPEN=0,1,"TCP LISTENER","127.0.0.1",0,4447,1')
    modem.read_until(b"+QIOPEN: 1,0\r\n")
    modem.sim.control("urcs_in_prompt", mode=mode)
    modem.write(b"AT+QISEND=0,1\r")
    modem.read_until(b"> ")
    client = socket.create_connection(("127.0.0.1", 4447))  # its "incoming" URC is raised during the prompt
    try:
        modem.sim.control("ping")  # a round trip: the module has run its loop since the connection came
        modem.write(b"x")
        assert modem.read_until(b"SEND OK\r\n") == b"\r\nOK\r\n\r\nSEND OK\r\n"
        if mode == "hold":
            assert modem.read_until(b"\r\n", timeout=1) + modem.read_until(b"\r\n") == \
                b'\r\n+QIURC: "incoming",2,1,"127.0.0.1",%d\r\n' % client.getsockname()[1]
        else:
            silent(modem, 0.5)  # the AT manual: URCs are lost in data mode
    finally:
        client.close()


def test_the_dialects_reset_leaves_the_module_awake():
    # the suite's start state (conformance/dialects/bc660k.py reset_commands) must not let the module sleep between
    # cases: a sleeping module would lose the first bytes of every case
    dialect = dialects.get("bc660k")
    link = Link.open(f"sim:bc660k?sleep_countdown_s={COUNTDOWN_S}&dns_servers=127.0.0.1")
    try:
        sim = link.port.info["sim"]
        PluginModem("sim:bc660k", dialect, link, Session(link, dialect)).reset()
        assert sim.control("state")["qsclk"] == 0
        time.sleep(1.5 * COUNTDOWN_S)  # there is no event for "did not fall asleep"
        assert sim.control("state")["asleep"] == "no"
    finally:
        link.close()
