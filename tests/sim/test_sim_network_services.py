"""DNS (§2.1.13-2.1.14), NTP (§2.1.12, §3.8) and PING (§2.1.11, §3.7) against real servers on 127.0.0.1."""

from __future__ import annotations

import calendar
import os
import shutil
import socket
import struct
import threading

import pytest
import serial
from helpers.dns_server import DnsServer

from conformance.sim import launch


@pytest.fixture
def dns(sim):
    server = DnsServer({"host.example": ["10.1.2.3", "10.1.2.4"], "local.example": ["127.0.0.1"]},
                       {"silent.example"})
    sim.control("configure", dns_servers=["127.0.0.1"], dns_port=server.port)
    yield server
    server.sock.close()


def test_qidnsgip_answers_every_address(online, dns):
    online.ok('AT+QIDNSGIP=1,"host.example"')
    assert online.read_until(b'"10.1.2.4"\r\n') == (b'\r\n+QIURC: "dnsgip",0,2,300\r\n'
                                                    b'\r\n+QIURC: "dnsgip","10.1.2.3"\r\n'
                                                    b'\r\n+QIURC: "dnsgip","10.1.2.4"\r\n')


def test_nxdomain_is_565(online, dns):
    online.ok('AT+QIDNSGIP=1,"nowhere.example"')
    assert online.read_until(b'"dnsgip",565\r\n') == b'\r\n+QIURC: "dnsgip",565\r\n'
    assert online.error_code() == 565
    online.ok('AT+QIOPEN=1,0,"TCP","nowhere.example",80,0,0')
    online.read_until(b"+QIOPEN: 0,565\r\n")


def test_silent_dns_is_busy_then_times_out(online, dns):
    online.ok('AT+QIDNSGIP=1,"silent.example"')
    assert online.cmd('AT+QIDNSGIP=1,"host.example"') == b"\r\nERROR\r\n"  # the first has no answer yet
    assert online.error_code() == 564
    assert online.read_until(b'"dnsgip",569\r\n', timeout=4) == b'\r\n+QIURC: "dnsgip",569\r\n'  # dns_timeout_s = 1
    online.ok('AT+QIDNSGIP=1,"host.example"')
    online.read_until(b'"dnsgip",0,2,300\r\n')


def test_qiopen_resolves_domain_names(online, dns, tcp_echo, kit):
    kit.open_tcp(online, tcp_echo, host="local.example")
    assert b'"TCP","127.0.0.1",%d,' % tcp_echo in online.ok("AT+QISTATE=1,0")
    assert "local.example" in dns.queries


def test_qidnscfg(online, dns):
    assert online.ok("AT+QIDNSCFG=1") == b'\r\n+QIDNSCFG: 1,"127.0.0.1","0.0.0.0"\r\n\r\nOK\r\n'
    online.ok('AT+QIDNSCFG=1,"8.8.8.8","1.1.1.1"')
    assert online.ok("AT+QIDNSCFG=1") == b'\r\n+QIDNSCFG: 1,"8.8.8.8","1.1.1.1"\r\n\r\nOK\r\n'
    assert online.cmd('AT+QIDNSCFG=2,"8.8.8.8"') == b"\r\nERROR\r\n"  # §2.1.13: the context must be active
    assert online.error_code() == 572


class NtpServer:
    """Answers SNTP requests with a fixed time, or stays silent."""

    def __init__(self, unix_time: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.silent = False
        self._time = unix_time + 2208988800
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                packet, client = self.sock.recvfrom(1024)
            except OSError:
                return
            if self.silent or len(packet) < 48:
                continue
            stamp = struct.pack("!II", self._time, 0)
            reply = bytes([0x24, 1, 0, 0]) + bytes(20) + packet[40:48] + stamp + stamp  # mode 4, stratum 1
            self.sock.sendto(reply, client)


def test_qntp_synchronises_the_clock_as_in_section_3_8(online):
    server = NtpServer(calendar.timegm((2013, 8, 19, 11, 10, 10, 0, 0, 0)))
    try:
        online.ok(f'AT+QNTP=1,"127.0.0.1",{server.port}')
        assert online.read_until(b'+00"\r\n') == b'\r\n+QNTP: 0,"2013/08/19,11:10:10+00"\r\n'
        assert online.ok("AT+CCLK?").startswith(b'\r\n+CCLK: "13/08/19,11:10:1')
        server.silent = True
        online.ok(f'AT+QNTP=1,"127.0.0.1",{server.port}')
        assert online.ok("AT+QNTP?") == b'\r\n+QNTP: "127.0.0.1",%d\r\n\r\nOK\r\n' % server.port
        assert online.cmd(f'AT+QNTP=1,"127.0.0.1",{server.port}') == b"\r\nERROR\r\n"  # one at a time
        assert online.read_until(b"+QNTP: 569\r\n", timeout=4) == b"\r\n+QNTP: 569\r\n"  # ntp_timeout_s = 1
    finally:
        server.sock.close()


def _icmp_allowed() -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            return True
        except OSError:
            pass
    return False


@pytest.mark.skipif(not _icmp_allowed(), reason="no ICMP socket allowed (neither ping_group_range nor root)")
def test_qping_sends_real_echo_requests(online):
    online.ok('AT+QPING=1,"127.0.0.1",4,2')
    response = online.read_until(b"+QPING: 0,2,2,0,", timeout=10)
    replies = response.split(b"\r\n\r\n")
    assert len([r for r in replies if r.strip().startswith(b'+QPING: 0,"127.0.0.1",32,')]) == 2
    online.read_until(b"\r\n")


def test_qping_is_busy_while_one_runs(online, dns):
    online.ok('AT+QPING=1,"silent.example",1,1')  # the lookup hangs for dns_timeout_s
    assert online.cmd('AT+QPING=1,"127.0.0.1"') == b"\r\nERROR\r\n"
    assert online.error_code() == 568
    assert online.read_until(b"+QPING: 569\r\n", timeout=4) == b"\r\n+QPING: 569\r\n"
    online.ok('AT+QPING=1,"nowhere.example"')
    assert online.read_until(b"+QPING: 565\r\n") == b"\r\n+QPING: 565\r\n"


@pytest.mark.root
@pytest.mark.skipif(not _icmp_allowed() or os.geteuid() != 0 or shutil.which("ip") is None,
                    reason="needs an ICMP socket and a network namespace (root)")
def test_qping_reports_each_lost_request(scratch_netns):
    # A fresh namespace has only loopback: nothing answers elsewhere (this sandbox's own network answers any ping).
    with launch("bg96", netns=scratch_netns) as sim, serial.Serial(sim.pty, timeout=5) as port:
        port.write(b'ATE0\rAT+QICSGP=1,1,""\rAT+QIACT=1\rAT+QPING=1,"192.0.2.1",1,2\r')
        out = port.read_until(b"+QPING: 0,2,0,2,0,0,0\r\n")
        assert out.endswith(b"\r\n+QPING: 569\r\n\r\n+QPING: 569\r\n\r\n+QPING: 0,2,0,2,0,0,0\r\n"), out


def test_qping_needs_an_active_context(online):
    assert online.cmd('AT+QPING=2,"127.0.0.1"') == b"\r\nERROR\r\n"
    assert online.error_code() == 572
