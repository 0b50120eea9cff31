"""Resynchronising host and module: drop what the module is still saying, then ``AT`` until it answers ``OK``.

The count and spacing of the ``AT`` commands are Quectel's: GSM TCP/IP Recommended Process V2.0 §9 note 1, "Send 15
AT commands continuously following the constraint that sleep 500ms after each AT command input". A module that
answers an ``AT`` later than the next one is sent answers the later ones too: those answers are waited for and dropped,
so that no late ``OK`` is taken for the answer to the next command.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..plugin.modem import Modem

__all__ = ["DRAIN_LIMIT_S", "QUIET_S", "SYNC_ATTEMPTS", "SYNC_INTERVAL_S", "SyncResult", "drain_until_quiet",
           "synchronise"]

SYNC_ATTEMPTS = 15  # GSM TCP/IP Recommended Process V2.0 §9 note 1: 15 AT commands ...
SYNC_INTERVAL_S = 0.5  # ... 500 ms after each
# ASSUMPTION: a module that has said nothing for 50 ms has finished what it was saying (an answer's lines follow each
# other within a few milliseconds, a 30-byte line takes 31 ms at 9600 bit/s).
QUIET_S = 0.05
DRAIN_LIMIT_S = 5.0  # a module that never falls quiet (it floods) is not waited for longer than this


@dataclass(frozen=True)
class SyncResult:
    """How a synchronisation went."""

    answered: bool
    attempts: int  # how many AT commands were sent
    latency_s: float  # from the first AT to the first OK: at most how long the module takes to answer AT
    dropped: bytes  # what the module had said before, and was dropped

    def describe(self) -> str:
        if not self.answered:
            return f"no answer to AT ({self.attempts} tries, {SYNC_INTERVAL_S * 1000:.0f} ms or more apart)"
        tries = "the first AT" if self.attempts == 1 else f"AT try {self.attempts}"
        return f"{tries} answered OK after {self.latency_s:.3f} s"


def drain_until_quiet(modem: Modem, *, quiet_s: float = QUIET_S, limit_s: float = DRAIN_LIMIT_S) -> bytes:
    """Wait until the module has said nothing for ``quiet_s`` (at most ``limit_s``), then drop what it said.

    What is dropped stays in the flight log. Raises :class:`~conformance.errors.LinkClosed` if the port closes.
    """
    link = modem.link
    quiet_ns = int(quiet_s * 1e9)
    give_up = time.monotonic_ns() + int(limit_s * 1e9)
    while True:
        size = link.size
        quiet_from = link.last_rx_ns + quiet_ns
        now = time.monotonic_ns()
        if now >= quiet_from or now >= give_up:
            break
        link.wait_for_size(size + 1, min(quiet_from, give_up))
    return modem.drain()


def synchronise(modem: Modem, *, attempts: int = SYNC_ATTEMPTS, interval_s: float = SYNC_INTERVAL_S) -> SyncResult:
    """Drop what the module is saying, then send ``AT`` up to ``attempts`` times, ``interval_s`` apart, until ``OK``.

    Raises :class:`~conformance.errors.LinkClosed` if the port closes.
    """
    dropped = drain_until_quiet(modem)
    session = modem.session
    first_ns = 0
    for attempt in range(1, attempts + 1):
        session.send_command("AT")
        first_ns = first_ns or session.last_tx_ns
        deadline = session.last_tx_ns + int(interval_s * 1e9)
        while (token := session.next_token(deadline)) is not None:
            if token.kind == "line" and token.text == "OK":
                latency_s = (token.t_last_ns - first_ns) / 1e9
                _settle(modem, outstanding=attempt - 1, wait_s=latency_s + interval_s)
                return SyncResult(True, attempt, latency_s, dropped)
    return SyncResult(False, attempts, 0.0, dropped)


def _settle(modem: Modem, *, outstanding: int, wait_s: float) -> None:
    """Take the answers still due to the ``outstanding`` AT commands sent before the one answered, then drain.

    Each comes within ``wait_s`` of the one before, or it is not coming (a module that was not listening yet).
    """
    if outstanding == 0:
        return  # the OK answered the only AT sent: nothing more is due
    session = modem.session
    wait_ns = int(wait_s * 1e9)
    deadline = time.monotonic_ns() + wait_ns
    while outstanding > 0:
        token = session.next_token(deadline)
        if token is None:
            break
        if token.kind == "line" and modem.dialect.is_final(token.text):
            outstanding -= 1
            deadline = token.t_last_ns + wait_ns
    drain_until_quiet(modem)
