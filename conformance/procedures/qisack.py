"""The M95 family's keepalive and detection procedures, as the documents give them, with their numbers as parameters.

- :func:`poll_acknowledged`: ``AT+QISACK`` after a first wait, then every interval, until the unacknowledged count is
  low enough or a number of polls is reached (the step all the procedures share);
- :func:`heartbeat`: recommended process V2.0 / V1.1 §6: confirm the last data was acknowledged (every 5 s, 24 times),
  send a small packet, confirm it the same way; never acknowledged: the connection is broken (close, reopen, resend);
- :func:`detect`: application note §6.1 (maintenance) and §6.2 (detection): ``AT+QISTAT`` must say ``CONNECT OK``,
  ``AT+QISACK`` must show nothing unacknowledged, then a small packet, 5 s, and up to 12 polls 10 s apart;
- :func:`reopen`: the documents' recovery: ``AT+QICLOSE``, then ``AT+QIOPEN`` again.

The default numbers are the dialect's data (:data:`conformance.dialects.m95.POLLING`, docs/dialects/m95.md §13).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..dialects import m95
from .port import SYSTEM_CLOCK, AckState, AtPort, Clock, ProcedureError, completion, describe, query_ack, send

__all__ = [
    "DETECTION",
    "FLOW_CONTROL",
    "HEARTBEAT",
    "HEARTBEAT_V11",
    "CheckResult",
    "PollResult",
    "Polling",
    "connection_state",
    "detect",
    "heartbeat",
    "poll_acknowledged",
    "reopen",
]

_STATE_S = 60.0  # recommended process §9 note 2: any command answers within 60 s


@dataclass(frozen=True)
class Polling:
    """How ``AT+QISACK`` is polled: the first wait, the interval, how many polls at most, and the count of
    unacknowledged bytes below which the poll is satisfied (1: everything acknowledged)."""

    first_wait_s: float
    interval_s: float
    max_polls: int
    below: int = 1

    def __post_init__(self) -> None:
        if self.first_wait_s < 0 or self.interval_s < 0 or self.max_polls < 1 or self.below < 1:
            raise ValueError(f"polling: waits >= 0, at least one poll, below >= 1 (got {self})")

    @property
    def bound_s(self) -> float:
        """The time from the start of the polling to its last poll: the documented bound of the procedure."""
        return self.first_wait_s + (self.max_polls - 1) * self.interval_s

    @classmethod
    def documented(cls, name: str) -> Polling:
        """One of the dialect's documented pollings: ``heartbeat``, ``detection``, ``flow control``."""
        data = m95.POLLING[name]
        return cls(data.first_wait_s, data.interval_s, data.max_polls, data.below)


HEARTBEAT = Polling.documented("heartbeat")  # recommended process §6: every 5 s, 24 times (2 minutes)
DETECTION = Polling.documented("detection")  # application note §6.1/§6.2: 5 s, then every 10 s, 12 times
FLOW_CONTROL = Polling.documented("flow control")  # recommended process §4.1 note 1: every 5 s, 20 times, below 3000
HEARTBEAT_V11 = Polling.documented("ack V1.1 flow chart")  # recommended process V1.1 §9: acknowledged within 90 s


@dataclass
class PollResult:
    """The polls of one :func:`poll_acknowledged`, and whether the count went low enough."""

    satisfied: bool
    polls: list[AckState]
    polling: Polling

    @property
    def last(self) -> AckState:
        return self.polls[-1]

    def __str__(self) -> str:
        verdict = "acknowledged" if self.satisfied else f"not acknowledged after {len(self.polls)} polls"
        return f"{verdict}: {describe(self.polls)}"


def poll_acknowledged(port: AtPort, polling: Polling, *, index: int | None = None, clock: Clock = SYSTEM_CLOCK,
                      start: float | None = None) -> PollResult:
    """Poll ``AT+QISACK`` (``=<index>`` with ``AT+QIMUX=1``): wait ``first_wait_s``, then poll every ``interval_s``
    (counted from the first wait, so slow answers do not stretch the schedule), until its third value is below
    ``polling.below`` or ``max_polls`` polls were made. Times in the result count from ``start`` (default: now)."""
    t0 = clock.now() if start is None else start
    begin = clock.now()
    polls: list[AckState] = []
    for n in range(polling.max_polls):
        due = begin + polling.first_wait_s + n * polling.interval_s
        clock.sleep(due - clock.now())
        state = query_ack(port, index=index, t=clock.now() - t0)
        polls.append(state)
        if state.unacked < polling.below:
            return PollResult(True, polls, polling)
    return PollResult(False, polls, polling)


@dataclass
class CheckResult:
    """What a heartbeat or a detection found: ``healthy``, or why the connection counts as broken."""

    healthy: bool
    reason: str  # "acknowledged", or what failed, in the documents' words
    state: str = ""  # AT+QISTAT's answer (detection, single connection)
    before: PollResult | None = None  # the check of earlier data
    after: PollResult | None = None  # the polls after the packet was sent
    send_result: str = ""  # SEND OK / SEND FAIL
    elapsed_s: float = 0.0  # from the start to the verdict
    polls: list[AckState] = field(default_factory=list)  # every AT+QISACK answer, in order

    def __str__(self) -> str:
        return f"{'healthy' if self.healthy else 'broken'} ({self.reason}) after {self.elapsed_s:.1f} s: " \
               f"{describe(self.polls)}"


def heartbeat(port: AtPort, payload: bytes = b"Heart01", *, polling: Polling = HEARTBEAT, index: int | None = None,
              clock: Clock = SYSTEM_CLOCK) -> CheckResult:
    """Recommended process V2.0 / V1.1 §6, once (the host repeats it every 10 minutes, ``m95.HEARTBEAT_PERIOD_S``).

    1. Is the data sent so far acknowledged? ``AT+QISACK`` now, then every ``interval_s``, ``max_polls`` times in all
       (24 polls 5 s apart: "two minutes"). Never: broken.
    2. Send ``payload`` (``SEND FAIL``: broken).
    3. After ``first_wait_s``, ``AT+QISACK`` every ``interval_s``, ``max_polls`` times at most. Never acknowledged:
       broken; the documents then close the connection, open it again and resend what was not acknowledged
       (:func:`reopen`).
    """
    t0 = clock.now()
    before = poll_acknowledged(port, replace(polling, first_wait_s=0), index=index, clock=clock, start=t0)
    if not before.satisfied:
        return _verdict(False, "earlier data never acknowledged", t0, clock, before=before)
    result = send(port, payload, index=index)
    if result != "SEND OK":
        return _verdict(False, f"heartbeat answered {result}", t0, clock, before=before, send_result=result)
    after = poll_acknowledged(port, polling, index=index, clock=clock, start=t0)
    reason = "acknowledged" if after.satisfied else "heartbeat never acknowledged"
    return _verdict(after.satisfied, reason, t0, clock, before=before, after=after, send_result=result)


def detect(port: AtPort, payload: bytes = b"TCP detect", *, polling: Polling = DETECTION, index: int | None = None,
           clock: Clock = SYSTEM_CLOCK) -> CheckResult:
    """Application note §6.2 (and §6.1, whose second method it is), once, on an idle connection:

    1. ``AT+QISTAT`` must say ``STATE: CONNECT OK`` (anything else: abnormal, §5.6). With ``index`` (``AT+QIMUX=1``)
       this step is left out: ``AT+QISTAT`` is the single-connection query (§5.6.2), and §6.2's note names only
       ``AT+QISACK=<index>``.
    2. ``AT+QISACK``: something still unacknowledged means the connection "MUST be abnormal".
    3. Send ``payload``; after ``first_wait_s`` poll ``AT+QISACK`` every ``interval_s``, at most ``max_polls`` times;
       never acknowledged: abnormal, re-establish the connection (:func:`reopen`).
    """
    t0 = clock.now()
    state = ""
    if index is None:
        state = connection_state(port)
        if state != "CONNECT OK":
            return _verdict(False, f"STATE: {state}", t0, clock, state=state)
    first = query_ack(port, index=index, t=clock.now() - t0)
    before = PollResult(first.unacked == 0, [first], replace(polling, max_polls=1))
    if first.unacked:
        return _verdict(False, "earlier data still unacknowledged", t0, clock, state=state, before=before)
    result = send(port, payload, index=index)
    if result != "SEND OK":
        return _verdict(False, f"packet answered {result}", t0, clock, state=state, before=before,
                        send_result=result)
    after = poll_acknowledged(port, polling, index=index, clock=clock, start=t0)
    reason = "acknowledged" if after.satisfied else "packet never acknowledged"
    return _verdict(after.satisfied, reason, t0, clock, state=state, before=before, after=after, send_result=result)


def connection_state(port: AtPort) -> str:
    """``AT+QISTAT``: ``OK``, then ``STATE: <state>`` (application note §5.6.2); returns the state."""
    reply = port.command("AT+QISTAT")
    if reply.final != "OK":
        raise ProcedureError(f"AT+QISTAT: expected OK, got {[*reply.lines, reply.final]!r}")
    line = completion(port, reply, r"STATE: .+", timeout=_STATE_S)  # the state follows the OK
    return line.partition(":")[2].strip()


def reopen(port: AtPort, protocol: str, host: str, port_number: int, *, index: int | None = None) -> str:
    """The documents' recovery of a broken connection: ``AT+QICLOSE`` (``=<index>``), then ``AT+QIOPEN`` to the same
    server. Returns the connection's result (``CONNECT OK``, ``<index>, CONNECT OK``, or ``CONNECT`` in transparent
    mode); raises :class:`ProcedureError` if it is not one of them."""
    close = "AT+QICLOSE" if index is None else f"AT+QICLOSE={index}"
    reply = port.command(close)
    if "CLOSE OK" not in reply.final and reply.final != "ERROR":  # ERROR: nothing was open any more
        raise ProcedureError(f"{close}: expected CLOSE OK, got {[*reply.lines, reply.final]!r}")
    target = f'"{protocol}","{host}",{port_number}'
    command = f"AT+QIOPEN={target}" if index is None else f"AT+QIOPEN={index},{target}"
    reply = port.command(command)
    if reply.final != "OK":
        raise ProcedureError(f"{command}: expected OK, got {[*reply.lines, reply.final]!r}")
    prefix = "" if index is None else f"{index}, "
    result = completion(port, reply, rf"{prefix}CONNECT(?: OK| FAIL)?", timeout=_STATE_S)
    if result not in (f"{prefix}CONNECT OK", "CONNECT"):
        raise ProcedureError(f"{command}: expected CONNECT OK, got {result!r}")
    return result


def _verdict(healthy: bool, reason: str, t0: float, clock: Clock, **parts: object) -> CheckResult:
    result = CheckResult(healthy, reason, elapsed_s=clock.now() - t0, **parts)  # type: ignore[arg-type]
    for part in (result.before, result.after):
        if part is not None:
            result.polls.extend(part.polls)
    return result
