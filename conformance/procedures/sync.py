"""Synchronising host and module after a reboot, recommended process V2.0 / V1.1 §9 note 1.

"Ensure that TE and TA are correctly synchronized after rebooting the module. Send 15 AT commands continuously
following the constraint that sleep 500ms after each AT command input, then fix and save [the baud rate]
configuration by AT+IPR=xxx&W after synchronized."
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from ..dialects import m95
from ..errors import StepFailed
from .port import SYSTEM_CLOCK, AtPort, Clock

__all__ = ["SyncResult", "synchronise"]


@dataclass
class SyncResult:
    """Which of the ``AT`` commands were answered ``OK``, when each was sent, and the ``AT+IPR`` answer."""

    answered: list[bool] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # seconds from the first AT
    ipr: str = ""  # the final result of AT+IPR=<rate>&W; empty when it was not sent

    @property
    def synchronised(self) -> bool:
        """The module answered the last ``AT``: host and module speak at the same rate."""
        return bool(self.answered) and self.answered[-1]

    @property
    def intervals_s(self) -> list[float]:
        return [b - a for a, b in pairwise(self.sent_at)]

    def __str__(self) -> str:
        got = "".join("+" if a else "." for a in self.answered)
        spacing = ", ".join(f"{x * 1000:.0f}" for x in self.intervals_s)
        return f"AT answered [{got}] ({sum(self.answered)}/{len(self.answered)}), sent {spacing} ms apart; " \
               f"AT+IPR: {self.ipr or 'not sent'}"


def synchronise(port: AtPort, *, count: int = m95.SYNC_AT_COUNT, interval_s: float = m95.SYNC_AT_INTERVAL_S,
                baud_rate: int | None = 115200, clock: Clock = SYSTEM_CLOCK) -> SyncResult:
    """Send ``AT`` ``count`` times, ``interval_s`` apart (each waits for its ``OK`` that long at most, then the rest
    of the interval passes), then, if the last one was answered and ``baud_rate`` is given, ``AT+IPR=<rate>&W``.

    An ``AT`` a module loses while it finds the host's rate (autobauding) is simply not answered; the result says
    which were.
    """
    if count < 1 or interval_s <= 0:
        raise ValueError("synchronise: at least one AT, a positive interval")
    result = SyncResult()
    begin = clock.now()
    for n in range(count):
        due = begin + n * interval_s
        clock.sleep(due - clock.now())
        result.sent_at.append(clock.now() - begin)
        try:
            reply = port.command("AT", timeout=max(0.05, due + interval_s - clock.now()))
            result.answered.append(reply.final == "OK")
        except StepFailed:  # no answer within the interval: not synchronised yet
            result.answered.append(False)
    if result.synchronised and baud_rate is not None:
        result.ipr = port.command(f"AT+IPR={baud_rate}&W").final
    return result
