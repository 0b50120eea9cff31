"""The simulated BC660K's network services through its real pty, against real servers on 127.0.0.1: AT+QIDNSGIP,
AT+QIDNSCFG, AT+QNTP, AT+QPING and the settings of AT+QICFG (§2.3.5-§2.3.9)."""

from __future__ import annotations

import calendar
import os
import re
import shutil
from collections.abc import Iterator

import pytest
import serial
from helpers.dns_server import DnsServer
from test_sim_network_services import NtpServer, _icmp_allowed

from conformance.sim import launch


@pytest.fixture
def modem(kit) -> Iterator:
    """A simulated BC660K that does not sleep, echo off, errors with their code (AT+CMEE=1)."""
    with launch("bc660k", config={**kit.TEST_CONFIG, "qsclk_at_power_on": 0}) as sim:
        m = kit.Modem(sim)
        m.ok("ATE0")
        m.ok("AT+CMEE=1")
        yield m
        m.close()


@pytest.fixture
def dns(modem) -> Iterator[DnsServer]:
    server = DnsServer({"host.example": ["10.1.2.3", "10.1.2.4"], "local.example": ["127.0.0.1"]},
                       {"silent.example"})
    modem.sim.control("configure", dns_port=server.port)
    yield server
    server.sock.close()


def test_qidnsgip_shows_the_count_the_ttl_and_the_first_address_unquoted(modem, dns):
    assert modem.cmd('AT+QIDNSGIP=0,"host.example"') == b"\r\nOK\r\n"
    assert modem.read_until(b"10.1.2.3\r\n") == b"\r\n+QIDNSGIP: 0,2,300\r\n\r\n+QIDNSGIP: 10.1.2.3\r\n"
    assert modem.cmd("AT") == b"\r\nOK\r\n"  # note 3: no line for the second address came before it
    assert modem.cmd('AT+QIDNSGIP=0,"192.0.2.7"') == b"\r\nOK\r\n"  # an address answers itself, TTL 0
    assert modem.read_until(b"192.0.2.7\r\n") == b"\r\n+QIDNSGIP: 0,1,0\r\n\r\n+QIDNSGIP: 192.0.2.7\r\n"


def test_qidnsgip_failures(modem, dns):
    assert modem.cmd('AT+QIDNSGIP=0,"nowhere.example"') == b"\r\nOK\r\n"
    assert modem.read_until(b"+QIDNSGIP: 565,0,0\r\n") == b"\r\n+QIDNSGIP: 565,0,0\r\n"
    assert modem.cmd('AT+QIDNSGIP=0,"silent.example"') == b"\r\nOK\r\n"
    assert modem.cmd('AT+QIDNSGIP=0,"host.example"') == b"\r\n+CME ERROR: 564\r\n"  # the first has no answer
    assert modem.read_until(b"+QIDNSGIP: 569,0,0\r\n", timeout=4) == b"\r\n+QIDNSGIP: 569,0,0\r\n"
    for line in ('AT+QIDNSGIP=1,"host.example"', 'AT+QIDNSGIP=0,""', 'AT+QIDNSGIP=0,"' + "h" * 151 + '"'):
        assert modem.cmd(line) in (b"\r\n+CME ERROR: 555\r\n", b"\r\n+CME ERROR: 552\r\n"), line
    modem.sim.control("dns_issued", servers="")  # §2.3.8 note 5: no DNS server at all
    assert modem.cmd("AT+QIDNSCFG=0") == b'\r\n+QIDNSCFG: 0,"0.0.0.0","0.0.0.0"\r\n\r\nOK\r\n'
    assert modem.cmd('AT+QIDNSGIP=0,"host.example"') == b"\r\nOK\r\n"
    assert modem.read_until(b"+QIDNSGIP: 565,0,0\r\n") == b"\r\n+QIDNSGIP: 565,0,0\r\n"


def test_qiopen_resolves_a_name_and_shows_it_as_given(modem, dns, tcp_echo):
    assert modem.cmd(f'AT+QIOPEN=0,0,"TCP","local.example",{tcp_echo},0,1') == b"\r\nOK\r\n"
    assert modem.read_until(b"+QIOPEN: 0,0\r\n") == b"\r\n+QIOPEN: 0,0\r\n"
    assert modem.cmd("AT+QISTATE=1,0") == b'\r\n+QISTATE: 0,"TCP","local.example",%d,0,2,0,1\r\n\r\nOK\r\n' % tcp_echo
    assert modem.cmd(f'AT+QIOPEN=0,1,"TCP","nowhere.example",{tcp_echo},0,1') == b"\r\nOK\r\n"
    assert modem.read_until(b"+QIOPEN: 1,565\r\n") == b"\r\n+QIOPEN: 1,565\r\n"


def test_qidnscfg_sets_keeps_the_secondary_and_follows_the_network_type(modem):
    assert modem.cmd("AT+QIDNSCFG=0") == b'\r\n+QIDNSCFG: 0,"127.0.0.1","0.0.0.0"\r\n\r\nOK\r\n'
    assert modem.cmd('AT+QIDNSCFG=0,"218.2.2.2","8.8.8.8"') == b"\r\nOK\r\n"
    assert modem.cmd('AT+QIDNSCFG=0,"114.114.114.114"') == b"\r\nOK\r\n"  # §2.1.1: the secondary stays
    assert modem.cmd("AT+QIDNSCFG=0") == b'\r\n+QIDNSCFG: 0,"114.114.114.114","8.8.8.8"\r\n\r\nOK\r\n'
    for line in ('AT+QIDNSCFG=0,"dns.example"', 'AT+QIDNSCFG=0,"1.2.3.4","2001:db8::1"', 'AT+QIDNSCFG=0,"::1"',
                 'AT+QIDNSCFG=0,"' + "1" * 65 + '"', "AT+QIDNSCFG=0,1.2.3.4"):
        assert modem.cmd(line) == b"\r\n+CME ERROR: 552\r\n", line  # note 2: IPv4 only in an IPv4 network
    modem.sim.control("network", type="ipv6")
    assert modem.cmd('AT+QIDNSCFG=0,"8.8.8.8"') == b"\r\n+CME ERROR: 552\r\n"  # note 3
    assert modem.cmd('AT+QIDNSCFG=0,"2001:db8::53"') == b"\r\nOK\r\n"
    assert modem.cmd("AT+QIDNSCFG=0") == b'\r\n+QIDNSCFG: 0,"2001:db8::53","::"\r\n\r\nOK\r\n'
    modem.sim.control("network", type="ipv4v6")
    assert modem.cmd("AT+QIDNSCFG=0") == \
        b'\r\n+QIDNSCFG: 0,"114.114.114.114","8.8.8.8","2001:db8::53","::"\r\n\r\nOK\r\n'
    assert modem.cmd("AT+QIDNSCFG=?") == b"\r\n+QIDNSCFG: (0-10),<pridnsaddr>,<secdnsaddr>\r\n\r\nOK\r\n"
    with pytest.raises(Exception, match="network: type must be one of"):
        modem.sim.control("network", type="ipx")


def test_qntp_reports_the_servers_utc_time_and_sets_the_clock(modem):
    server = NtpServer(calendar.timegm((2019, 6, 11, 11, 8, 20, 0, 0, 0)))
    try:
        assert modem.cmd(f'AT+QNTP=0,"127.0.0.1",{server.port},0') == b"\r\nOK\r\n"
        assert modem.read_until(b'"\r\n') == b'\r\n+QNTP: 0,"2019/06/11,11:08:20"\r\n'  # §4.5: no zone
        assert not modem.cmd("AT+CCLK?").startswith(b'\r\n+CCLK: "19/06/11')  # <auto_set_time> 0
        assert modem.cmd(f'AT+QNTP=0,"127.0.0.1",{server.port}') == b"\r\nOK\r\n"  # 1 by default
        modem.read_until(b'"\r\n')
        assert modem.cmd("AT+CCLK?").startswith(b'\r\n+CCLK: "19/06/11,11:08:2')
        server.silent = True
        assert modem.cmd(f'AT+QNTP=0,"127.0.0.1",{server.port}') == b"\r\nOK\r\n"
        assert modem.cmd(f'AT+QNTP=0,"127.0.0.1",{server.port}') == b"\r\n+CME ERROR: 568\r\n"  # one at a time
        assert modem.read_until(b"+QNTP: 569\r\n", timeout=4) == b"\r\n+QNTP: 569\r\n"  # ntp_timeout_s = 1
        assert modem.cmd(f'AT+QNTP=0,"127.0.0.1",{server.port},2') == b"\r\n+CME ERROR: 552\r\n"
    finally:
        server.sock.close()


@pytest.mark.skipif(not _icmp_allowed(), reason="no ICMP socket allowed (neither ping_group_range nor root)")
def test_qping_sends_requests_of_the_size_asked(modem):
    assert modem.cmd('AT+QPING=0,"127.0.0.1",4,2,100,1') == b"\r\nOK\r\n"
    out = modem.read_until(re.compile(rb"\+QPING: 0,2,2,0,\d+,\d+,\d+\r\n"), timeout=10)
    replies = re.findall(rb'\+QPING: 0,"127\.0\.0\.1",(\d+),\d+,(\d+)', out)
    assert [size for size, _ in replies] == [b"100", b"100"] and all(int(ttl) > 0 for _, ttl in replies)
    assert modem.sim.control("state")["last_rai_enable"] == 1


def test_qping_busy_and_names_that_do_not_resolve(modem, dns):
    assert modem.cmd('AT+QPING=0,"silent.example",1,1') == b"\r\nOK\r\n"  # the lookup hangs for dns_timeout_s
    assert modem.cmd('AT+QPING=0,"127.0.0.1"') == b"\r\n+CME ERROR: 568\r\n"
    assert modem.read_until(b"+QPING: 569\r\n", timeout=4) == b"\r\n+QPING: 569\r\n"
    assert modem.cmd('AT+QPING=0,"nowhere.example"') == b"\r\nOK\r\n"
    assert modem.read_until(b"+QPING: 565\r\n") == b"\r\n+QPING: 565\r\n"  # the final result alone
    for line in ('AT+QPING=0,"127.0.0.1",0', 'AT+QPING=0,"127.0.0.1",4,11', 'AT+QPING=0,"127.0.0.1",4,1,1501',
                 'AT+QPING=0,"127.0.0.1",4,1,32,2', 'AT+QPING=3,"127.0.0.1"'):
        assert modem.cmd(line) in (b"\r\n+CME ERROR: 552\r\n", b"\r\n+CME ERROR: 555\r\n"), line


@pytest.mark.root
@pytest.mark.skipif(not _icmp_allowed() or os.geteuid() != 0 or shutil.which("ip") is None,
                    reason="needs an ICMP socket and a network namespace (root)")
def test_qping_reports_each_lost_request(scratch_netns):
    # a fresh namespace has only loopback: nothing answers elsewhere
    with launch("bc660k", netns=scratch_netns, config={"qsclk_at_power_on": 0}) as sim, \
            serial.Serial(sim.pty, timeout=5) as port:
        port.write(b'ATE0\rAT+QPING=0,"192.0.2.1",1,2\r')
        out = port.read_until(b"+QPING: 0,2,0,2,0,0,0\r\n")
        assert out.endswith(b"\r\n+QPING: 569\r\n\r\n+QPING: 569\r\n\r\n+QPING: 0,2,0,2,0,0,0\r\n"), out


def test_qicfg_forms(modem):
    assert modem.cmd("AT+QICFG=?") == b'\r\n+QICFG: "dataformat",(0,1),(0,1)\r\n+QICFG: "showRA",(0,1)\r\n\r\nOK\r\n'
    assert modem.cmd('AT+QICFG="dataformat"') == b'\r\n+QICFG: "dataformat",0,0\r\n\r\nOK\r\n'
    assert modem.cmd('AT+QICFG="dataformat",0,1') == b"\r\nOK\r\n"
    assert modem.cmd('AT+QICFG="DataFormat",1') == b"\r\nOK\r\n"  # ambiguity 27: the send format only
    assert modem.cmd('AT+QICFG="dataformat"') == b'\r\n+QICFG: "dataformat",1,1\r\n\r\nOK\r\n'
    assert modem.cmd('AT+QICFG="showra",1') == b"\r\nOK\r\n"
    assert modem.cmd('AT+QICFG="showRA"') == b'\r\n+QICFG: "showRA",1\r\n\r\nOK\r\n'
    for line in ('AT+QICFG="dataformat",2,0', 'AT+QICFG="showRA",2', 'AT+QICFG="viewmode",1', "AT+QICFG",
                 'AT+QICFG="showRA",1,1'):
        assert modem.cmd(line) == b"\r\n+CME ERROR: 552\r\n", line
