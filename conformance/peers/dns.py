"""``dns``: a DNS server (UDP) whose answers the case sets, for AT+QIDNSGIP and AT+QIOPEN with a domain name.

By default it answers ``peer.conformance.test`` with the peers' own address (so a case can open a connection by
name) and NXDOMAIN for every other name. A case changes that with ``answer``, ``nxdomain``, ``servfail`` and
``silent``; every change ends with the case.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, RR, A, DNSError, DNSRecord

from conformance.errors import ActionFailed

from .base import Args, verb
from .udp import _UdpBase

__all__ = ["DEFAULT_NAME", "DEFAULT_TTL", "DnsServer", "Query", "query"]

log = logging.getLogger(__name__)

DEFAULT_NAME = "peer.conformance.test"  # .test is reserved (RFC 2606): never a real name
DEFAULT_TTL = 300


@dataclass(frozen=True)
class _Rule:
    kind: str  # answer | nxdomain | servfail | silent
    ips: tuple[str, ...] = ()
    ttl: int = DEFAULT_TTL


@dataclass(frozen=True)
class Query:
    """One question the server was asked."""

    name: str  # lower case, no trailing dot
    qtype: str  # "A", "AAAA", ...
    source: tuple[str, int]
    t_ns: int


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


class DnsServer(_UdpBase):
    """A DNS server on UDP (port 53 where it may bind it) answering A queries as the case says."""

    count_unit = "queries"

    def __init__(self, capability: str = "dns", *, name: str = DEFAULT_NAME, **kwargs: object) -> None:
        super().__init__(capability, **kwargs)
        self.name = name
        self.queries: list[Query] = []
        self._rules: dict[str, _Rule] = {}
        self._silent_all = False

    @property
    def ip(self) -> str:
        """The address :attr:`name` resolves to by default (the peers' own)."""
        return self.host

    @property
    def ips(self) -> tuple[str, ...]:
        """Every address :attr:`name` resolves to by default."""
        return (self.host,)

    def attributes(self) -> dict[str, object]:
        """See :meth:`Peer.attributes`."""
        return {**super().attributes(), "name": self.name, "ip": self.ip, "ips": list(self.ips)}

    def _reset_case(self) -> None:
        super()._reset_case()
        self.queries = []
        self._rules = {_norm(self.name): _Rule("answer", self.ips)}
        self._silent_all = False

    def _on_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        arrival = self.recorder.add(data, sender)
        try:
            request = DNSRecord.parse(data)
        except (DNSError, ValueError, IndexError) as exc:
            log.warning("dns: unparsable query from %s: %s", sender, exc)
            return
        with self.cond:
            for question in request.questions:
                self.queries.append(Query(_norm(str(question.qname)), QTYPE.get(question.qtype, str(question.qtype)),
                                          sender, arrival.t_ns))
            self.last_sender = sender
            self.cond.notify_all()
            reply = self._answer(request)
        if reply is not None and self._proto is not None and self._proto.transport is not None:
            self._proto.transport.sendto(reply, sender)

    def _answer(self, request: DNSRecord) -> bytes | None:
        """The reply to a query, or None to stay silent (called with ``cond`` held)."""
        if self._silent_all:
            return None
        reply = request.reply()
        for question in request.questions:
            rule = self._rules.get(_norm(str(question.qname)), _Rule("nxdomain"))
            if rule.kind == "silent":
                return None
            if rule.kind == "nxdomain":
                reply.header.rcode = RCODE.NXDOMAIN
            elif rule.kind == "servfail":
                reply.header.rcode = RCODE.SERVFAIL
            elif question.qtype in (QTYPE.A, QTYPE.ANY):
                for ip in rule.ips:
                    reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(ip), ttl=rule.ttl))
            # other types of a known name: NOERROR with no answer (NODATA), as for a name with only A records
        return reply.pack()

    def _set(self, name: str, rule: _Rule) -> None:
        with self.cond:
            self._rules[_norm(name)] = rule

    @verb("answer", "<name> <ip>... [ttl=<seconds>]")
    def _answer_verb(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Answer A queries for the name with these addresses (in this order), with that TTL (default 300)."""
        name = args.word("name")
        ips: list[str] = []
        ttl = DEFAULT_TTL
        while args.has_more():
            word = args.word("ip")
            if word.startswith("ttl="):
                ttl = int(word[4:]) if word[4:].isdigit() else -1
                if ttl < 0:
                    raise ActionFailed(f"{args.where}: bad {word!r}; write ttl=<seconds>")
                continue
            try:
                ips.append(str(ipaddress.IPv4Address(word)))
            except ValueError:
                raise ActionFailed(f"{args.where}: {word!r} is not an IPv4 address") from None
        if not ips:
            raise ActionFailed(f"{args.where}: give at least one address; usage: {args.where} {args.usage}")
        self._set(name, _Rule("answer", tuple(ips), ttl))
        return f"{name} -> {', '.join(ips)} (ttl {ttl})"

    @verb("nxdomain", "<name>")
    def _nxdomain(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Answer queries for the name with NXDOMAIN (no such name)."""
        name = args.word("name")
        args.end()
        self._set(name, _Rule("nxdomain"))
        return f"{name} -> NXDOMAIN"

    @verb("servfail", "<name>")
    def _servfail(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Answer queries for the name with SERVFAIL."""
        name = args.word("name")
        args.end()
        self._set(name, _Rule("servfail"))
        return f"{name} -> SERVFAIL"

    @verb("silent", "[<name>]")
    def _silent(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Answer nothing at all: for that name, or for every query when no name is given (until the case ends)."""
        name = args.word("name", None)
        args.end()
        if name is None:
            with self.cond:
                self._silent_all = True
            return "silent for every name"
        self._set(name, _Rule("silent"))
        return f"{name} -> no answer"

    @verb("queried", "<name> [<count>]")
    def _queried(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """The server was asked about the name at least count times (default 1) in this case."""
        name = _norm(args.word("name"))
        count = args.integer("count", 1)
        args.end()

        def asked() -> int:
            return sum(q.name == name for q in self.queries)

        if not self.wait_for(lambda: asked() >= count, deadline):
            others = sorted({q.name for q in self.queries}) or ["nothing"]
            raise ActionFailed(f"{args.where}: expected {count} query(ies) for {name}, got {asked()} by the deadline "
                               f"(asked about: {', '.join(others)})")
        return f"{asked()} query(ies) for {name}"


def query(host: str, port: int, name: str, *, timeout: float = 2.0) -> DNSRecord:
    """Ask ``host:port`` for the A records of ``name`` (a plain client, used by tests and bench checks)."""
    request = DNSRecord.question(name, "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request.pack(), (host, port))
        data, _ = sock.recvfrom(4096)
    return DNSRecord.parse(data)
