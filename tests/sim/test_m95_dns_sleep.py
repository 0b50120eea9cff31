"""The simulated M95's DNS against a real DNS server on 127.0.0.1 (GSM TCP/IP Application Note §8), and its slow clock:
AT+QSCLK with DTR (§9)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord


class DnsServer:
    """Answers A queries from a table, NXDOMAIN for other names."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._answers = answers
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                packet, client = self.sock.recvfrom(4096)
            except OSError:
                return
            request = DNSRecord.parse(packet)
            name = str(request.q.qname).rstrip(".")
            reply = request.reply()
            if name in self._answers:
                for address in self._answers[name]:
                    reply.add_answer(RR(name, QTYPE.A, rdata=A(address), ttl=300))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), client)


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


def test_qiopen_by_name(gsm, dns, listener):
    gsm.ok("AT+QIDNSIP=1")  # AN §8.1
    gsm.ok(f'AT+QIOPEN="TCP","local.example",{listener.port}')
    assert gsm.read_until(b"\r\nCONNECT OK\r\n") == b"\r\nCONNECT OK\r\n"
    listener.accept()
    assert gsm.cmd("AT+QICLOSE") == b"\r\nCLOSE OK\r\n"
    gsm.ok(f'AT+QIOPEN="TCP","no.such.example",{listener.port}')
    assert gsm.read_until(b"\r\nCONNECT FAIL\r\n") == b"\r\nCONNECT FAIL\r\n"  # ASSUMPTION


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
