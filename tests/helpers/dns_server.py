"""A DNS server on 127.0.0.1 with a fixed table, for the simulator's own tests (the suite's cases use the ``dns`` peer,
whose answers a case sets)."""

from __future__ import annotations

import socket
import threading

from dnslib import QTYPE, RCODE, RR, A, DNSRecord


class DnsServer:
    """Answers A queries from a table, NXDOMAIN for other names, nothing at all for the ``silent`` ones."""

    def __init__(self, answers: dict[str, list[str]], silent: set[str] | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self._answers = answers
        self._silent = silent or set()
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                packet, client = self.sock.recvfrom(4096)
            except OSError:
                return
            request = DNSRecord.parse(packet)
            name = str(request.q.qname).rstrip(".")
            self.queries.append(name)
            if name in self._silent:
                continue
            reply = request.reply()
            if name in self._answers:
                for address in self._answers[name]:
                    reply.add_answer(RR(name, QTYPE.A, rdata=A(address), ttl=300))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), client)
