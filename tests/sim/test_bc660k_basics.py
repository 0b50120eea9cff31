"""The simulated BC660K through its real pty: identity, line discipline, start-up, NVRAM, the default PDN, CLI.

docs/dialects/bc660k.md §1-§3 is the behaviour these tests hold the simulator to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from conformance.sim import launch


@pytest.fixture
def modem(kit) -> Iterator:
    """A simulated BC660K that does not sleep (AT+QSCLK=0 from power-on), echo on."""
    with launch("bc660k", config={**kit.TEST_CONFIG, "qsclk_at_power_on": 0}) as sim:
        m = kit.Modem(sim)
        yield m
        m.close()


def test_identity_as_the_at_manual_shows_it(modem):
    assert modem.ok("ATI") == b"ATI\r\r\nQuectel_Ltd\r\nQuectel_BC660K-GL\r\nRevision: BC660KGLAAR01A05\r\n\r\nOK\r\n"
    assert modem.ok("AT+CGMM").endswith(b"\r\nQuectel_BC660K-GL\r\n\r\nOK\r\n")
    assert modem.ok("AT+CGMR").endswith(b"\r\nRevision: BC660KGLAAR01A05\r\n\r\nOK\r\n")
    assert modem.ok("AT+CGSN=1").endswith(b"\r\n+CGSN: 867997030000001\r\n\r\nOK\r\n")


def test_lower_case_at_and_spaces(modem):
    modem.ok("ATE0")
    assert modem.cmd("at+qistate?") == b"\r\nOK\r\n"  # §2.1.2: AT or at
    assert modem.cmd('AT+QICFG = "showRA"') == b'\r\n+QICFG: "showRA",0\r\n\r\nOK\r\n'


def test_stray_ctrl_z_and_esc_in_command_mode_are_dropped_unseen(modem):
    modem.write(b"\x1aA\x1bT\r")
    assert modem.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"


def test_commands_it_does_not_have_answer_error(modem):
    modem.ok("ATE0")
    for line in ("ATO", "AT+CREG?", "AT+QISDE=1", "AT+QIRD=0,10", "AT+QIACT=1"):
        assert modem.cmd(line) == b"\r\nERROR\r\n", line
    assert modem.cmd("AT+CEREG?") == b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"


def test_cmee_shows_the_code_or_the_meaning(modem):
    modem.ok("ATE0")
    modem.ok("AT+CMEE=1")
    assert modem.cmd('AT+QIOPEN=0,5,"TCP","127.0.0.1",80') == b"\r\n+CME ERROR: 552\r\n"
    modem.ok("AT+CMEE=2")
    assert modem.cmd('AT+QIOPEN=0,5,"TCP","127.0.0.1",80') == b"\r\n+CME ERROR: Parameters invalid\r\n"


def test_reboot_says_rdy_then_ip_and_keeps_what_nvram_holds(modem, kit, tcp_echo):
    modem.ok("ATE0")
    modem.ok("AT+CMEE=1")
    modem.ok('AT+QICFG="dataformat",1,1')
    modem.ok('AT+QICFG="showRA",1')
    modem.ok('AT+QIDNSCFG=0,"8.8.8.8","1.1.1.1"')
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{tcp_echo},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    modem.ok("AT+QRST=1")
    assert modem.read_until(b"+IP: 127.0.0.1\r\n") == \
        b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+IP: 127.0.0.1\r\n"
    # ATE, AT+CMEE and AT+QICFG are saved (§2.3.9 "saved to NVRAM"); AT+QIDNSCFG is not (§2.3.8), nor sockets
    assert modem.cmd('AT+QICFG="dataformat"') == b'\r\n+QICFG: "dataformat",1,1\r\n\r\nOK\r\n'
    assert modem.cmd('AT+QICFG="showRA"') == b'\r\n+QICFG: "showRA",1\r\n\r\nOK\r\n'
    assert modem.cmd("AT+QIDNSCFG=0") == b'\r\n+QIDNSCFG: 0,"127.0.0.1","0.0.0.0"\r\n\r\nOK\r\n'
    assert modem.cmd("AT+QISTATE?") == b"\r\nOK\r\n"
    assert modem.cmd("AT+QICLOSE=7") == b"\r\n+CME ERROR: 552\r\n"
    assert kit.state(modem)["qsclk"] == 0  # qsclk_at_power_on, not NVRAM


def test_radio_off_takes_the_pdn_and_radio_on_gives_it_back(modem, tcp_echo):
    modem.ok("ATE0")
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{tcp_echo},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")
    modem.ok("AT+CFUN=0")
    assert modem.cmd("AT+QISTATE?") == b"\r\nOK\r\n"
    assert modem.cmd(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{tcp_echo},0,1') == b"\r\nERROR\r\n"  # no +IP yet (572)
    assert modem.cmd("AT+CFUN=1") == b"\r\nOK\r\n"
    assert modem.read_until(b"+IP: 127.0.0.1\r\n") == b"\r\n+IP: 127.0.0.1\r\n"  # §2.3.1 note 4
    modem.ok(f'AT+QIOPEN=0,0,"TCP","127.0.0.1",{tcp_echo},0,1')
    modem.read_until(b"+QIOPEN: 0,0\r\n")


def test_cli_serves_one_and_prints_its_pty():
    code = "import sys; from conformance.sim import cli_main; sys.exit(cli_main(['bc660k']))"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True)
    try:
        first = proc.stdout.readline()
        assert "BC660K simulator on /dev/pts/" in first, first
        pty = first.split(" on ")[1].split()[0]
        with serial.Serial(pty, timeout=2) as port:
            port.write(b"ATI\r")
            assert port.read_until(b"OK\r\n").endswith(b"Quectel_BC660K-GL\r\nRevision: BC660KGLAAR01A05\r\n\r\nOK\r\n")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
