"""A scripted M95 for the procedures' decision tests: it answers ``AT+QISACK``, ``AT+QISEND=<n>``, ``AT+QISTAT``,
``AT+QICLOSE`` and ``AT+QIOPEN`` from a model of one TCP connection on a fake clock, so that a two-minute procedure
runs in microseconds and its schedule can be read exactly.

It stands for the module only where a test is about the host's decisions (when to poll, when to give up, when to stop
sending); the same procedures run against the simulated module on a pty in ``cases/m95/test_keepalive.py``,
``test_flow_control.py`` and ``tests/procedures/test_on_simulated_module.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class FakeClock:
    """A monotonic clock that advances only when someone sleeps (or a command takes time)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.t += seconds


@dataclass
class Reply:
    lines: list[str]
    final: str
    completion: str = ""


@dataclass
class ScriptedM95:
    """One connection: bytes handed over are acknowledged ``ack_delay_s`` later (None: never, a black hole), and at
    most ``window`` bytes are acknowledged in all (a server that stopped reading) unless ``window`` is None."""

    clock: FakeClock
    ack_delay_s: float | None = 0.1
    window: int | None = None
    blackhole_from: float | None = None  # data handed over from this time on is never acknowledged
    state: str = "CONNECT OK"
    command_s: float = 0.01  # what each command takes
    sends: list[tuple[float, bytes]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    qisack_format: str = "+QISACK: {0}, {1}, {2}"
    send_result: str = "SEND OK"
    reads_completions: bool = False  # the port reads on past OK (as the suite's Modem does) or stops at OK
    _pending: int = 0
    _reply_queue: list[str] = field(default_factory=list)

    # -- the AtPort protocol -----------------------------------------------------------------------------------------

    def command(self, text: str, *, timeout: float | None = None) -> Reply:
        self.log.append(text)
        self.clock.t += self.command_s
        if re.fullmatch(r"AT\+QISACK(=\d)?", text):
            sent, acked = self.counts()
            return Reply([self.qisack_format.format(sent, acked, sent - acked)], "OK")
        m = re.fullmatch(r"AT\+QISEND=(?:\d,)?(\d+)", text)
        if m:
            self._pending = int(m.group(1))
            return Reply([], ">")
        if text == "AT+QISTAT":
            return self._after_ok(f"STATE: {self.state}")
        if re.fullmatch(r"AT\+QICLOSE(=\d)?", text):
            return Reply([], "CLOSE OK")
        if text.startswith("AT+QIOPEN="):
            self.sends.clear()
            return self._after_ok("CONNECT OK")
        return Reply([], "ERROR")

    def _after_ok(self, line: str) -> Reply:
        if self.reads_completions:
            return Reply([], "OK", line)
        self._reply_queue.append(line)
        return Reply([], "OK")

    def write(self, data: bytes) -> int:
        assert len(data) == self._pending, "the data after the prompt is the announced length"
        self.sends.append((self.clock.now(), data))
        self._reply_queue.append(self.send_result)
        return 0

    def wait_urc(self, pattern: str, *, timeout: float) -> str:
        line = self._reply_queue.pop(0)
        assert re.fullmatch(pattern, line), (pattern, line)
        return line

    # -- the model ---------------------------------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(sent, acknowledged) now."""
        sent = sum(len(d) for _, d in self.sends)
        if self.ack_delay_s is None:
            return sent, 0
        acked = sum(len(d) for t, d in self.sends if self.clock.now() - t >= self.ack_delay_s
                    and (self.blackhole_from is None or t < self.blackhole_from))
        if self.window is not None:
            acked = min(acked, self.window)
        return sent, acked
