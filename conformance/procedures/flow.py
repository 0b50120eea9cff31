"""Flow control of a long send, recommended process V2.0 / V1.1 §4.1 note 1.

"The send buffer in the underlying socket is 7300 ... it is recommended to set a threshold value as 3000. If the
unacknowledged data length ... is less than 3000, continue to send the next package by AT+QISEND. Otherwise, stop
sending data, and then query the data length by AT+QISACK every 5 seconds until [it] is less than 3000. If the query
time reaches a certain number (for example 20 times ...) ... close the TCP connection, re-establish it, and then
continue to send all previously unacknowledged data and the data packages that need to be sent."
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dialects import m95
from .port import SYSTEM_CLOCK, AckState, AtPort, Clock, describe, query_ack, send
from .qisack import FLOW_CONTROL, Polling, PollResult, poll_acknowledged

__all__ = ["FlowResult", "send_with_flow_control"]

THRESHOLD = m95.M95.limits["unacked_threshold"]  # 3000
PACKET = m95.M95.limits["send_length_max"]  # 1460: the most one AT+QISEND carries


@dataclass
class FlowResult:
    """What :func:`send_with_flow_control` did: how far it got, every ``AT+QISACK`` it asked, and where to resume."""

    completed: bool
    reason: str  # "sent", "still N unacknowledged after M polls", "SEND FAIL"
    handed_over: int  # bytes the module took (SEND OK)
    resend_from: int  # the offset a reconnected host resends from: unacknowledged data, then the rest
    checks: list[AckState] = field(default_factory=list)  # the AT+QISACK before each send
    stalls: list[PollResult] = field(default_factory=list)  # each wait above the threshold
    max_unacked_at_send: int = 0  # the most unacknowledged bytes there were when a send went ahead

    def __str__(self) -> str:
        waits = "; ".join(str(s) for s in self.stalls) or "none"
        return (f"{self.reason}: {self.handed_over} bytes handed over, resend from {self.resend_from}; "
                f"at most {self.max_unacked_at_send} unacknowledged at a send; waits: {waits}")

    @property
    def polls(self) -> list[AckState]:
        """Every ``AT+QISACK`` answer of the waits, in order."""
        return [p for stall in self.stalls for p in stall.polls]


def send_with_flow_control(port: AtPort, data: bytes, *, threshold: int = THRESHOLD, packet: int = PACKET,
                           polling: Polling = FLOW_CONTROL, index: int | None = None,
                           clock: Clock = SYSTEM_CLOCK) -> FlowResult:
    """Send ``data`` in packets of ``packet`` bytes (fixed length), asking ``AT+QISACK`` before each: below
    ``threshold`` unacknowledged bytes the packet goes; at or above it the host stops and polls as ``polling`` says
    (every 5 s, 20 times) until the count is below the threshold again. Still above after the last poll: the
    connection counts as broken and the result says where to resend from once it is open again.

    ``polling.below`` is ignored: the threshold is what the polls wait for.
    """
    if not 1 <= packet <= PACKET:
        raise ValueError(f"packet: 1 to {PACKET} bytes (one AT+QISEND)")
    wait = Polling(polling.first_wait_s, polling.interval_s, polling.max_polls, below=threshold)
    t0 = clock.now()
    result = FlowResult(False, "", 0, 0)
    offset = 0
    while offset < len(data):
        state = query_ack(port, index=index, t=clock.now() - t0)
        result.checks.append(state)
        if state.unacked >= threshold:
            stall = poll_acknowledged(port, wait, index=index, clock=clock, start=t0)
            result.stalls.append(stall)
            if not stall.satisfied:
                result.reason = f"still {stall.last.unacked} unacknowledged after {len(stall.polls)} polls"
                result.resend_from = max(0, offset - stall.last.unacked)
                return result
            state = stall.last
        result.max_unacked_at_send = max(result.max_unacked_at_send, state.unacked)
        chunk = data[offset:offset + packet]
        answer = send(port, chunk, index=index)
        if answer != "SEND OK":
            result.reason = answer
            result.resend_from = max(0, offset - state.unacked)
            return result
        offset += len(chunk)
        result.handed_over = offset
    result.completed, result.reason, result.resend_from = True, "sent", len(data)
    return result


def summary(result: FlowResult) -> str:
    """One line per wait, for a report."""
    return "\n".join(f"wait {n + 1}: {describe(s.polls)}" for n, s in enumerate(result.stalls))
