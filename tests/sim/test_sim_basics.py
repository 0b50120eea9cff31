"""V.250 basics, identification, result formats, configuration commands and contexts (§2.1.1-2.1.3, §2.1.15-17)."""

from __future__ import annotations

import re

import pytest


def test_echo_is_on_by_default_and_framed_as_a_real_module(modem):
    modem.write(b"AT\r")
    assert modem.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"
    modem.write(b"ATE0\r")
    assert modem.read_until(b"OK\r\n") == b"ATE0\r\r\nOK\r\n"  # the line that turns echo off is still echoed
    modem.write(b"AT\r")
    assert modem.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    modem.write(b"ATE1\r")
    assert modem.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    modem.write(b"AT\r")
    assert modem.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"


def test_line_ends_and_case(modem):
    modem.write(b"AT\r\nAT\r\n")  # CR LF: the LF is swallowed, one answer per line
    assert modem.read_until(re.compile(rb"OK\r\n.*OK\r\n", re.S)) == b"AT\r\r\nOK\r\nAT\r\r\nOK\r\n"
    modem.write(b"at\n")  # LF alone ends a line too
    assert modem.read_until(b"OK\r\n") == b"at\n\r\nOK\r\n"
    modem.write(b"aT+gmm\r")
    assert modem.read_until(b"OK\r\n") == b"aT+gmm\r\r\nBG96\r\n\r\nOK\r\n"
    modem.write(b"ATX\x08\r")  # backspace edits the line
    assert modem.read_until(b"OK\r\n") == b"ATX\x08\r\r\nOK\r\n"
    modem.write(b"\r")  # an empty line gets no answer
    modem.write(b"AT\r")
    assert modem.read_until(b"OK\r\n") == b"\rAT\r\r\nOK\r\n"


def test_identification(online):
    assert online.ok("ATI") == b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n"
    assert online.ok("AT+GMR") == b"\r\nBG96MAR02A07M1G\r\n\r\nOK\r\n"
    assert online.ok("AT+GMM") == b"\r\nBG96\r\n\r\nOK\r\n"
    assert online.ok("AT+QGMR").startswith(b"\r\nBG96MAR02A07M1G")


def test_numeric_results(online):
    online.write(b"ATV0\r")
    assert online.read_until(b"0\r") == b"0\r"
    online.write(b"AT+NOSUCH\r")
    assert online.read_until(b"4\r") == b"4\r"
    online.write(b"AT+QISDE?\r")
    assert online.read_until(b"0\r") == b"+QISDE: 1\r\n0\r"
    online.write(b"ATV1\r")
    assert online.read_until(b"OK\r\n") == b"\r\nOK\r\n"


def test_errors_and_cmee(online):
    assert online.cmd("AT+NOSUCH") == b"\r\nERROR\r\n"
    assert online.cmd("hello") == b"\r\nERROR\r\n"
    # §3.9, literally: <connectID> omitted
    assert online.cmd('AT+QIOPEN=1,"TCP","220.180.239.212",8009,0,1') == b"\r\nERROR\r\n"
    assert online.ok("AT+QIGETERROR") == b"\r\n+QIGETERROR: 552, invalid parameters\r\n\r\nOK\r\n"
    online.ok("AT+CMEE=1")
    assert online.cmd("AT+QIACT=17") == b"\r\n+CME ERROR: 552\r\n"
    online.ok("AT+CMEE=2")
    assert online.cmd("AT+QIACT=17") == b"\r\n+CME ERROR: Invalid parameters\r\n"
    assert online.ok("AT+CMEE?") == b"\r\n+CMEE: 2\r\n\r\nOK\r\n"
    assert online.cmd("AT+NOSUCH") == b"\r\nERROR\r\n"  # not a TCP/IP error: plain ERROR


def test_qigeterror_before_any_error(modem):
    assert modem.ok("AT+QIGETERROR").endswith(b"+QIGETERROR: 0, operation successful\r\n\r\nOK\r\n")


def test_chained_commands(online):
    assert online.ok('AT+QISDE?;+QICFG="transpktsize"') == (
        b'\r\n+QISDE: 1\r\n\r\n+QICFG: "transpktsize",1024\r\n\r\nOK\r\n')
    assert online.cmd("ATE0V1;+NOSUCH") == b"\r\nERROR\r\n"


def test_cclk_reads_the_clock(online):
    assert re.fullmatch(rb'\r\n\+CCLK: "\d\d/\d\d/\d\d,\d\d:\d\d:\d\d[+-]\d\d"\r\n\r\nOK\r\n', online.ok("AT+CCLK?"))
    online.ok('AT+CCLK="13/08/19,11:10:57+32"')
    assert online.ok("AT+CCLK?").startswith(b'\r\n+CCLK: "13/08/19,11:1')
    assert online.cmd('AT+CCLK="13/08/19,11:10:57+99"') == b"\r\nERROR\r\n"


def test_test_commands(online):
    assert online.ok("AT+QIOPEN=?") == (b'\r\n+QIOPEN: (1-16),(0-11),"TCP/UDP/TCP LISTENER/UDP SERVICE",'
                                        b'"<IP_address>/<domain_name>",<remote_port>,<local_port>,(0-2)\r\n\r\nOK\r\n')
    assert online.ok("AT+QISEND=?") == b"\r\n+QISEND: (0-11),(0-1460)\r\n\r\nOK\r\n"
    assert online.ok("AT+QIRD=?") == b"\r\n+QIRD: (0-11),(0-1500)\r\n\r\nOK\r\n"
    assert online.ok("AT+QICLOSE=?") == b"\r\n+QICLOSE: (0-11),(0-65535)\r\n\r\nOK\r\n"
    assert online.ok("AT+QIACT=?") == b"\r\n+QIACT: (1-16)\r\n\r\nOK\r\n"
    assert online.ok("AT+QISTATE=?") == b"\r\nOK\r\n"
    assert online.ok("AT+QIGETERROR=?") == b"\r\nOK\r\n"
    assert online.ok("AT+QICSGP=?") == b"\r\n+QICSGP: (1-16),(1,2),<APN>,<username>,<password>,(0-3)\r\n\r\nOK\r\n"
    assert online.ok("AT+QPING=?") == b"\r\n+QPING: (1-16),<host>,(1-255),(1-10)\r\n\r\nOK\r\n"
    assert online.ok("AT+QISDE=?") == b"\r\n+QISDE: (0,1)\r\n\r\nOK\r\n"


def test_qicfg_query_set_and_ranges(online):
    assert online.ok("AT+QICFG=?") == (
        b'\r\n+QICFG: "transpktsize",(1-1460)\r\n+QICFG: "transwaittm",(0-20)\r\n+QICFG: "dataformat",(0,1),(0,1)'
        b'\r\n+QICFG: "viewmode",(0,1)\r\n+QICFG: "tcp/retranscfg",(3-20),(5-1000)\r\n\r\nOK\r\n')
    for bad in ('"transpktsize",0', '"transpktsize",1461', '"transwaittm",21', '"dataformat",2,0', '"viewmode",2',
                '"tcp/retranscfg",2,5', '"tcp/retranscfg",3,1001', '"nosuch"', "transpktsize"):
        assert online.cmd(f"AT+QICFG={bad}") == b"\r\nERROR\r\n", bad
        assert online.error_code() == 552
    for setting, query in (('"transpktsize",512', b'"transpktsize",512'), ('"transwaittm",0', b'"transwaittm",0'),
                           ('"dataformat",1,1', b'"dataformat",1,1'), ('"viewmode",1', b'"viewmode",1'),
                           ('"tcp/retranscfg",3,5', b'"tcp/retranscfg",3,5')):
        assert online.ok(f"AT+QICFG={setting}") == b"\r\nOK\r\n"
        key = setting.split(",")[0]
        assert online.ok(f"AT+QICFG={key}") == b"\r\n+QICFG: " + query + b"\r\n\r\nOK\r\n"


def test_qisde(online):
    assert online.ok("AT+QISDE?") == b"\r\n+QISDE: 1\r\n\r\nOK\r\n"
    online.ok("AT+QISDE=0")
    assert online.ok("AT+QISDE?") == b"\r\n+QISDE: 0\r\n\r\nOK\r\n"
    assert online.cmd("AT+QISDE=2") == b"\r\nERROR\r\n"


# -- contexts ---------------------------------------------------------------------------------------------------

def test_qicsgp_query_and_configure(modem):
    modem.ok("ATE0")
    assert modem.ok("AT+QICSGP=1") == b'\r\n+QICSGP: 1,"","","",0\r\n\r\nOK\r\n'  # §2.1.1 example
    modem.ok('AT+QICSGP=1,1,"UNINET","user","pass",1')
    assert modem.ok("AT+QICSGP=1") == b'\r\n+QICSGP: 1,"UNINET","user","pass",1\r\n\r\nOK\r\n'
    for bad in ("AT+QICSGP=0", "AT+QICSGP=17", 'AT+QICSGP=1,3,"x"', 'AT+QICSGP=1,1,"x","u"',
                'AT+QICSGP=1,1,"x","u","p",4', "AT+QICSGP=1,1,UNINET"):
        assert modem.cmd(bad) == b"\r\nERROR\r\n", bad


def test_an_unconfigured_context_activates_with_the_networks_default_apn(sim, modem):
    """Most networks activate a context whose APN is empty (they supply their default), and real modules do."""
    modem.ok("ATE0")
    assert modem.ok("AT+QICSGP=1") == b'\r\n+QICSGP: 1,"","","",0\r\n\r\nOK\r\n'  # never configured
    assert modem.ok("AT+QIACT=1") == b"\r\nOK\r\n"
    assert modem.ok("AT+QIACT?") == b'\r\n+QIACT: 1,1,1,"127.0.0.1"\r\n\r\nOK\r\n'
    modem.ok('AT+QICSGP=2,1,""')  # an APN written empty: the same
    assert modem.ok("AT+QIACT=2") == b"\r\nOK\r\n"
    # 573 (APN not configured) is what a network that needs an APN says: only the control channel makes it here
    sim.control("inject_error", command="+QIACT", code=573)
    assert modem.cmd("AT+QIACT=3") == b"\r\nERROR\r\n"
    assert modem.error_code() == 573


def test_qiact_read_and_the_three_context_limit(modem):
    modem.ok("ATE0")
    for context_id in (1, 2, 3, 4):
        modem.ok(f'AT+QICSGP={context_id},1,"apn{context_id}"')
    for context_id in (1, 2, 3):
        modem.ok(f"AT+QIACT={context_id}")
    assert modem.cmd("AT+QIACT=4") == b"\r\nERROR\r\n"  # §2.1.2: three at most
    assert modem.error_code() == 561
    assert modem.ok("AT+QIACT?") == (b'\r\n+QIACT: 1,1,1,"127.0.0.1"\r\n+QIACT: 2,1,1,"127.0.0.1"\r\n'
                                     b'+QIACT: 3,1,1,"127.0.0.1"\r\n\r\nOK\r\n')
    modem.ok("AT+QIDEACT=2")
    modem.ok("AT+QIACT=4")
    assert b"+QIACT: 2," not in modem.ok("AT+QIACT?")


def test_local_ip_comes_from_configure(sim, modem):
    sim.control("configure", local_ip="10.7.157.1")
    modem.ok("ATE0")
    modem.ok('AT+QICSGP=1,1,"UNINET","","",1')
    modem.ok("AT+QIACT=1")
    assert modem.ok("AT+QIACT?") == b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n'  # §3.1.2's shape


def test_network_rejects_activation(sim, online):
    online.ok("AT+QIDEACT=1")
    sim.control("reject_activation", code=561)
    assert online.cmd("AT+QIACT=1") == b"\r\nERROR\r\n"
    assert online.error_code() == 561
    sim.control("reject_activation", code=None)
    online.ok("AT+QIACT=1")


def test_activation_takes_the_configured_time(sim, online):
    online.ok("AT+QIDEACT=1")
    sim.control("configure", activation_delay_s=0.3)
    online.write(b"AT+QIACT=1\rAT\r")  # the second line waits for the first's result (§2.1.2)
    assert online.read_until(b"OK\r\n\r\nOK\r\n", timeout=3) == b"\r\nOK\r\n\r\nOK\r\n"


def test_qiopen_on_an_inactive_context(online):
    online.ok('AT+QIOPEN=2,0,"TCP","127.0.0.1",1,0,0')
    online.read_until(b"+QIOPEN: 0,572\r\n")
    assert online.error_code() == 572


@pytest.mark.parametrize("line", [
    'AT+QIOPEN=1,0,"TCP","127.0.0.1",70000,0,0', 'AT+QIOPEN=17,0,"TCP","127.0.0.1",80,0,0',
    'AT+QIOPEN=1,12,"TCP","127.0.0.1",80,0,0', 'AT+QIOPEN=1,0,"SCTP","127.0.0.1",80,0,0',
    'AT+QIOPEN=1,0,"TCP","127.0.0.1",80,0,3', 'AT+QIOPEN=1,0,TCP,"127.0.0.1",80', 'AT+QIOPEN=1,0,"TCP"',
    'AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0', 'AT+QIOPEN=1,0,"TCP","",80', "AT+QIOPEN?", "AT+QIOPEN",
    "AT+QIACT=0", "AT+QIACT=1,1", "AT+QIRD=12", "AT+QIRD=0,1501", "AT+QISEND=0,1461", 'AT+QISENDEX=0,"123"',
    'AT+QPING=1,"127.0.0.1",0', 'AT+QPING=1,"127.0.0.1",4,11', 'AT+QIDNSCFG=1,"not-an-ip"', "AT+QICLOSE=0,0",
    "AT+QISTATE=2,1", "AT+QISWTMD=0,3", 'AT+QNTP=1,"x",0', 'AT+QIDNSGIP=1,""', 'AT+QIOPEN=1,0,"TCP","1.2.3.4,80',
])
def test_malformed_tcpip_commands_answer_error_552(online, line):
    assert online.cmd(line) == b"\r\nERROR\r\n"
    assert online.error_code() == 552
    assert online.ok("AT") == b"\r\nOK\r\n"



def test_qicsgp_takes_the_manuals_five_parameter_example(online):
    """§3.1.1 writes AT+QICSGP=1,1,"UNINET","",1: authentication given, password left out."""
    assert online.cmd('AT+QICSGP=1,1,"UNINET","",1') == b"\r\nOK\r\n"
    assert online.ok("AT+QICSGP=1") == b'\r\n+QICSGP: 1,"UNINET","","",1\r\n\r\nOK\r\n'
