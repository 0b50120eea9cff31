"""The simulated M95's slow clock: AT+QSCLK with DTR (GSM TCP/IP Application Note §9)."""

from __future__ import annotations

import time


def test_sleep_and_wake_up_through_dtr(gsm, listener):
    gsm.sim.control("configure", sleep_after_s=0.2)
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT OK\r\n")
    peer = listener.accept()
    assert gsm.ok("AT+QSCLK=1") == b"\r\nOK\r\n"
    gsm.sim.control("dtr", level=False)  # the DTR pin HIGH (AN §9)
    deadline = time.monotonic() + 5
    while not gsm.sim.control("state")["asleep"]:
        assert time.monotonic() < deadline, "the module never slept"
        time.sleep(0.05)
    gsm.write(b"AT\r")
    time.sleep(0.3)
    assert gsm.port.in_waiting == 0  # asleep: no echo, no answer
    gsm.sim.control("dtr", level=True)  # the pin LOW: the port answers 20 ms later
    time.sleep(0.05)
    assert gsm.ok("AT") == b"\r\nOK\r\n"
    assert not peer.closed.is_set()  # the connection stayed
    assert gsm.sim.control("state")["ignored_while_asleep"] == 3
    # data from the network wakes it and is output as usual
    gsm.sim.control("dtr", level=False)
    while not gsm.sim.control("state")["asleep"]:
        time.sleep(0.05)
    peer.conn.sendall(b"wake up")
    assert gsm.read_until(b"wake up") == b"wake up"
    assert gsm.ok("AT+QSCLK=0") == b"\r\nOK\r\n"
