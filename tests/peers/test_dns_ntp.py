"""The DNS server answering real DNS queries (dnslib client), and the NTP server answering ntplib."""

from __future__ import annotations

import datetime as dt
import socket
import time

import ntplib
import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from conformance.errors import ActionFailed
from conformance.peers.dns import DEFAULT_NAME, query


def ask(dns: object, name: str, qtype: str = "A", timeout: float = 2.0) -> DNSRecord:
    request = DNSRecord.question(name, qtype)
    reply = request.send(dns.host, dns.port, timeout=timeout)  # type: ignore[attr-defined]
    return DNSRecord.parse(reply)


def test_dns_answers_its_own_name_with_the_peers_address(loopback_peer, act) -> None:
    dns = loopback_peer("dns")
    reply = query(dns.host, dns.port, DEFAULT_NAME)
    assert [str(rr.rdata) for rr in reply.rr] == [dns.ip] == ["127.0.0.1"]
    assert reply.header.rcode == RCODE.NOERROR
    assert ask(dns, "nowhere.test").header.rcode == RCODE.NXDOMAIN
    assert dns.attributes()["name"] == DEFAULT_NAME


def test_dns_answers_what_the_case_sets(loopback_peer, act) -> None:
    dns = loopback_peer("dns")
    act(dns, "answer", "example.test", "1.2.3.4", "5.6.7.8", "ttl=60")
    reply = ask(dns, "Example.Test.")
    assert [(str(rr.rdata), rr.ttl, rr.rtype) for rr in reply.rr] == [("1.2.3.4", 60, QTYPE.A),
                                                                      ("5.6.7.8", 60, QTYPE.A)]
    assert ask(dns, "example.test", "AAAA").rr == []  # NODATA for other types
    act(dns, "nxdomain", "example.test")
    assert ask(dns, "example.test").header.rcode == RCODE.NXDOMAIN
    act(dns, "servfail", "example.test")
    assert ask(dns, "example.test").header.rcode == RCODE.SERVFAIL
    assert act(dns, "queried", "example.test", 4) == "4 query(ies) for example.test"
    assert act(dns, "received_count", 4) == "4 queries"
    with pytest.raises(ActionFailed, match="is not an IPv4 address"):
        act(dns, "answer", "example.test", "not-an-ip")


def test_dns_silent_answers_nothing(loopback_peer, act) -> None:
    dns = loopback_peer("dns")
    act(dns, "silent", "quiet.test")
    with pytest.raises(socket.timeout):
        ask(dns, "quiet.test", timeout=0.3)
    assert ask(dns, DEFAULT_NAME).rr  # other names still answered
    act(dns, "silent")
    with pytest.raises(socket.timeout):
        ask(dns, DEFAULT_NAME, timeout=0.3)
    act(dns, "queried", "quiet.test")
    with pytest.raises(ActionFailed, match=r"expected 1 query\(ies\) for never.test, got 0 .*asked about: "):
        act(dns, "queried", "never.test", within=0.1)


def test_dns_rules_end_with_the_case(loopback_peer, act) -> None:
    dns = loopback_peer("dns")
    act(dns, "nxdomain", DEFAULT_NAME)
    act(dns, "silent")
    dns.end_case()
    dns.begin_case()
    assert ask(dns, DEFAULT_NAME).rr


def test_ntp_answers_the_host_clock_by_default(loopback_peer, act) -> None:
    ntp = loopback_peer("ntp")
    stats = ntplib.NTPClient().request(ntp.host, port=ntp.port, version=3, timeout=2)
    assert abs(stats.tx_time - time.time()) < 1
    assert stats.stratum == 1 and stats.version == 3
    act(ntp, "queried")


def test_ntp_answers_the_time_the_case_sets(loopback_peer, act) -> None:
    ntp = loopback_peer("ntp")
    act(ntp, "time", "2013-08-19T11:10:10Z")
    stats = ntplib.NTPClient().request(ntp.host, port=ntp.port, version=4, timeout=2)
    wanted = dt.datetime(2013, 8, 19, 11, 10, 10, tzinfo=dt.UTC).timestamp()
    assert wanted <= stats.tx_time < wanted + 1
    with pytest.raises(ActionFailed, match="is not an ISO 8601 time"):
        act(ntp, "time", "yesterday")


def test_ntp_silent_answers_nothing(loopback_peer, act) -> None:
    ntp = loopback_peer("ntp")
    act(ntp, "silent")
    with pytest.raises(ntplib.NTPException):
        ntplib.NTPClient().request(ntp.host, port=ntp.port, timeout=0.3)
    assert act(ntp, "received_count", 1) == "1 queries"
