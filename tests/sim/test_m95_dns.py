"""The simulated M95's DNS against a real DNS server on 127.0.0.1 (GSM TCP/IP Application Note §8)."""

from __future__ import annotations

import pytest
from helpers.dns_server import DnsServer


@pytest.fixture
def dns(m95_sim):
    server = DnsServer({"www.google.com": ["64.233.189.99", "64.233.189.104", "64.233.189.147"],
                        "local.example": ["127.0.0.1"]})
    # what the plugin does for a simulator: the DNS peer's address and port through the control channel
    m95_sim.control("configure", dns_servers=["127.0.0.1"], dns_port=server.port)
    yield server
    server.sock.close()


def test_qidnsgip_from_ip_initial(gsm, dns):
    # AN §8.2: it activates the FGCNT itself; OK, then each address on its own line, no result code
    assert gsm.cmd('AT+QIDNSGIP="www.google.com"') == b"\r\nOK\r\n"
    assert gsm.read_until(b"64.233.189.147\r\n") == b"\r\n64.233.189.99\r\n64.233.189.104\r\n64.233.189.147\r\n"
    gsm.ok('AT+QIDNSGIP="no.such.example"')
    assert gsm.read_until(b"\r\nERROR\r\n") == b"\r\nERROR\r\n"  # ASSUMPTION: a failure is ERROR after the OK


def test_qidnscfg_sets_the_servers(gsm, dns):
    gsm.ok("AT+QIREGAPP")
    gsm.ok("AT+QIACT")
    assert gsm.ok("AT+QIDNSCFG?") == b"\r\nPrimaryDns: 127.0.0.1\r\nSecondaryDns: 0.0.0.0\r\n\r\nOK\r\n"
    assert gsm.ok('AT+QIDNSCFG="211.136.18.171","211.136.112.50"') == b"\r\nOK\r\n"  # AN §8.2
    assert b"PrimaryDns: 211.136.18.171" in gsm.ok("AT+QIDNSCFG?")
    assert gsm.cmd('AT+QIDNSCFG="not an address"') == b"\r\nERROR\r\n"
    assert gsm.cmd("AT+QIDEACT") == b"\r\nDEACT OK\r\n"
    gsm.ok("AT+QIREGAPP")
    gsm.ok("AT+QIACT")
    assert b"PrimaryDns: 127.0.0.1" in gsm.ok("AT+QIDNSCFG?")  # ASSUMPTION: negotiated again after AT+QIDEACT


def test_qiopen_by_name(gsm, dns, listener):
    gsm.ok("AT+QIDNSIP=1")  # AN §8.1
    gsm.ok(f'AT+QIOPEN="TCP","local.example",{listener.port}')
    assert gsm.read_until(b"\r\nCONNECT OK\r\n") == b"\r\nCONNECT OK\r\n"
    listener.accept()
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
    gsm.ok(f'AT+QIOPEN="TCP","no.such.example",{listener.port}')
    assert gsm.read_until(b"\r\nCONNECT FAIL\r\n") == b"\r\nCONNECT FAIL\r\n"  # ASSUMPTION
