"""The simulated M95: start-up, initialization, the two contexts and the stack state machine (GSM TCP/IP Application
Note §3, §5.5, §5.6, §7; recommended process §2, §3.1, §9)."""

from __future__ import annotations

import re

import pytest


def stat(gsm) -> str:
    """AT+QISTAT: OK first, then STATE: <state> (§5.6.2)."""
    assert gsm.cmd("AT+QISTAT") == b"\r\nOK\r\n"
    line = gsm.read_until(re.compile(rb"STATE: [A-Z ]+\r\n"), timeout=2)
    return line.decode().strip().removeprefix("STATE: ")


def test_identification_and_the_initialization_of_the_recommended_process(gsm):
    assert gsm.ok("ATI") == b"\r\nQuectel_Ltd\r\nQuectel_M95\r\nRevision: M95FAR02A08\r\n\r\nOK\r\n"
    assert gsm.ok("AT+GMR") == b"\r\nRevision: M95FAR02A08\r\n\r\nOK\r\n"
    assert gsm.ok("AT+IPR=115200&W") == b"\r\nOK\r\n"  # V2.0 §2
    assert gsm.ok("AT+IPR?") == b"\r\n+IPR: 115200\r\n\r\nOK\r\n"
    assert gsm.cmd("AT+IPR=12345") == b"\r\nERROR\r\n"
    assert gsm.ok("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert gsm.ok("AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    assert gsm.ok("AT+CGATT?") == b"\r\n+CGATT: 1\r\n\r\nOK\r\n"
    assert gsm.ok("AT+CGREG?") == b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n"
    assert gsm.ok("AT+QINISTAT") == b"\r\n+QINISTAT: 3\r\n\r\nOK\r\n"
    assert gsm.cmd("AT+CEREG?") == b"\r\nERROR\r\n"  # a GSM module
    assert gsm.ok("AT+QIFGCNT=0") == b"\r\nOK\r\n"
    assert gsm.ok('AT+QICSGP=1,"CMNET"') == b"\r\nOK\r\n"
    assert gsm.cmd('AT+QICSGP=0,"CMNET"') == b"\r\nERROR\r\n"  # §7.1: GPRS only


def test_registration_changes_are_reported_where_the_host_asked(gsm):
    gsm.ok("AT+CREG=1")
    gsm.sim.control("registration", stat=5)
    assert gsm.read_until(b"+CREG: 5\r\n") == b"\r\n+CREG: 5\r\n"  # recommended process §2: 5 roaming
    assert gsm.ok("AT+CREG?") == b"\r\n+CREG: 1,5\r\n\r\nOK\r\n"
    assert gsm.ok("AT+CGREG?") == b"\r\n+CGREG: 0,5\r\n\r\nOK\r\n"


def test_the_explicit_state_machine(gsm):
    assert stat(gsm) == "IP INITIAL"
    assert gsm.cmd("AT+QIACT") == b"\r\nERROR\r\n"  # AT+QIREGAPP first
    assert gsm.cmd("AT+QILOCIP") == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+QIDEACT") == b"\r\nERROR\r\n"  # nothing to deactivate
    assert gsm.ok("AT+QIREGAPP") == b"\r\nOK\r\n"
    assert stat(gsm) == "IP START"
    assert gsm.cmd("AT+QIREGAPP") == b"\r\nERROR\r\n"
    assert gsm.cmd('AT+QIOPEN="TCP","127.0.0.1",7') == b"\r\nERROR\r\n"  # V2.0 §3.1: not an opening state
    assert gsm.ok("AT+QIACT") == b"\r\nOK\r\n"
    assert stat(gsm) == "IP GPRSACT"
    assert gsm.cmd('AT+QIOPEN="TCP","127.0.0.1",7') == b"\r\nERROR\r\n"  # not until AT+QILOCIP
    gsm.write(b"AT+QILOCIP\r")
    assert gsm.read_until(b"\r\n127.0.0.1\r\n") == b"\r\n127.0.0.1\r\n"  # the address alone, no OK
    assert stat(gsm) == "IP STATUS"
    assert gsm.cmd("AT+QIMUX=1") == b"\r\nERROR\r\n"  # settings only in IP INITIAL
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"
    assert stat(gsm) == "IP INITIAL"


def test_settings_and_their_refusals(gsm):
    assert gsm.ok("AT+QIMUX?") == b"\r\n+QIMUX: 0\r\n\r\nOK\r\n"
    gsm.ok("AT+QIMUX=1")
    assert gsm.cmd("AT+QIMODE=1") == b"\r\nERROR\r\n"  # MUX only in non-transparent mode
    gsm.ok("AT+QIMUX=0")
    gsm.ok("AT+QIMODE=1")
    assert gsm.cmd("AT+QIMUX=1") == b"\r\nERROR\r\n"
    assert gsm.ok("AT+QITCFG?") == b"\r\n+QITCFG: 3,2,512,1\r\n\r\nOK\r\n"
    assert gsm.cmd("AT+QITCFG=3,2,100,1") == b"\r\nERROR\r\n"  # size 256-1024 (family manual)
    assert gsm.ok("AT+QILPORT?") == b"\r\nTCP: 2020\r\nUDP: 3030\r\n\r\nOK\r\n"  # AN §3.2
    gsm.ok('AT+QILPORT="TCP",8080')
    assert b"TCP: 8080" in gsm.ok("AT+QILPORT?")
    assert gsm.ok("AT+QIAUTOS=1,10") == b"\r\nOK\r\n"
    assert gsm.ok("AT+QIAUTOS?") == b"\r\n+QIAUTOS: 1,10\r\n\r\nOK\r\n"
    for name in ("QINDI", "QIHEAD", "QISHOWRA", "QISHOWLA", "QISHOWPT", "QIDNSIP"):
        assert gsm.ok(f"AT+{name}=1") == b"\r\nOK\r\n"
        assert gsm.cmd(f"AT+{name}=2") == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+QISRVC=3") == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+CMEE=1") == b"\r\nOK\r\n"
    assert gsm.cmd("AT+QIACT") == b"\r\nERROR\r\n"  # the documents have no error codes: always plain ERROR


def test_two_contexts_each_with_its_own_stack_and_address(gsm, listener):
    # AN §7.2: context 0 single, context 1 MUX, both active, each its own local address
    gsm.ok("AT+QIFGCNT=0")
    gsm.ok('AT+QICSGP=1,"CMNET"')
    gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
    gsm.read_until(b"\r\nCONNECT OK\r\n")
    gsm.write(b"AT+QILOCIP\r")
    first = gsm.read_until(re.compile(rb"\r\n[\d.]+\r\n")).strip()
    gsm.ok("AT+QIFGCNT=1")
    assert stat(gsm) == "IP INITIAL"  # context 1's own state
    gsm.ok('AT+QICSGP=1,"CMWAP"')
    gsm.ok("AT+QIMUX=1")
    assert gsm.cmd("AT+QIMODE=1") == b"\r\nERROR\r\n"  # no transparent mode with two contexts
    gsm.ok('AT+QILPORT="TCP",0')
    assert gsm.ok("AT+QISERVER=0,3") == b"\r\nOK\r\n"
    gsm.read_until(b"\r\nSERVER OK\r\n")
    gsm.write(b"AT+QILOCIP\r")
    second = gsm.read_until(re.compile(rb"\r\n[\d.]+\r\n")).strip()
    assert first != second
    assert stat(gsm) == "IP PROCESSING"
    gsm.ok("AT+QIFGCNT=0")
    assert stat(gsm) == "CONNECT OK"
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"
    gsm.ok("AT+QIFGCNT=1")
    assert stat(gsm) == "IP PROCESSING"  # the other context is untouched


def test_reboot_says_the_start_up_lines_and_forgets_the_settings(gsm):
    gsm.ok("AT+QIMUX=1")
    gsm.sim.control("reboot")
    out = gsm.read_until(b"SMS Ready\r\n")
    assert out == b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"
    gsm.write(b"AT+QIMUX?\r")
    assert gsm.read_until(b"OK\r\n") == b"AT+QIMUX?\r\r\n+QIMUX: 0\r\n\r\nOK\r\n"  # echo on again


def test_autobauding_reboots_silently(gsm):
    gsm.ok("AT+IPR=0&W")
    gsm.sim.control("reboot")
    gsm.write(b"AT\r")
    assert gsm.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"  # nothing before the answer
    assert gsm.ok("AT+IPR?") == b"AT+IPR?\r\r\n+IPR: 0\r\n\r\nOK\r\n"


def test_synchronisation_fifteen_ats(gsm):
    # recommended process §9 note 1 (the 500 ms between them are the host's; every AT is answered)
    for _ in range(15):
        assert gsm.ok("AT") == b"\r\nOK\r\n"


@pytest.mark.parametrize("rejected", ["explicit", "implicit"])
def test_a_refused_activation_leaves_pdp_deact(gsm, listener, rejected):
    gsm.sim.control("reject_activation")
    if rejected == "explicit":
        gsm.ok("AT+QIREGAPP")
        assert gsm.cmd("AT+QIACT") == b"\r\nERROR\r\n"
    else:
        gsm.ok(f'AT+QIOPEN="TCP","127.0.0.1",{listener.port}')
        assert gsm.read_until(b"\r\nCONNECT FAIL\r\n") == b"\r\nCONNECT FAIL\r\n"
    assert stat(gsm) == "PDP DEACT"
    gsm.sim.control("reject_activation", code=0)
    assert gsm.cmd('AT+QIOPEN="TCP","127.0.0.1",7') == b"\r\nERROR\r\n"  # V2.0 §3.1: AT+QIDEACT first
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"
    assert stat(gsm) == "IP INITIAL"
