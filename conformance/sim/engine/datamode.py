"""Transparent access (data mode): the port is a pipe between the host and one socket service.

The escape detector and the packetizer work on the arrival times the simulator measured (``time.monotonic_ns()``
when ``read()`` returned), never on sleeps: a deadline is checked against the next byte's arrival time first, and a
loop timer covers the silence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conformance.dialects import EscapeRules

from ..loop import Loop, Timer, log

if TYPE_CHECKING:
    from .module import Module
    from .sockets import Service

__all__ = ["DataMode", "DataModeTexts", "EscapeDetector", "Packetizer"]

_NS = 1_000_000_000


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.1f} ms"


class EscapeDetector:
    """Separates the escape sequence from data, after the rules of the dialect.

    The sequence counts only with ``guard_before_s`` of silence before its first byte, all of it within
    ``max_sequence_s``, each byte within ``max_gap_s`` of the one before (where the dialect has such a rule: GSM,
    < 20 ms), and ``guard_after_s`` of silence after its last byte. Bytes held back while deciding are released as
    data, in order, as soon as the sequence is disproved. ``on_escape(t_ns)`` gets the arrival of the last byte.
    """

    def __init__(self, loop: Loop, rules: EscapeRules, on_data: Callable[[bytes], None],
                 on_escape: Callable[[int], None]) -> None:
        self._loop = loop
        self._rules = rules
        self._on_data = on_data
        self._on_escape = on_escape
        self._guard_before_ns = int(rules.guard_before_s * _NS)
        self._guard_after_ns = int(rules.guard_after_s * _NS)
        max_sequence = rules.max_sequence_s
        self._max_sequence_ns = int(max_sequence * _NS) if max_sequence is not None else None
        max_gap = getattr(rules, "max_gap_s", None)
        self._max_gap_ns = int(max_gap * _NS) if max_gap is not None else None
        self._last_rx_ns = 0
        self._held = 0  # how many bytes of the sequence are held back
        self._first_ns = 0  # arrival of the first held byte
        self._silence_ns = 0  # the silence before the first held byte, and the gaps between held bytes (for the log)
        self._gaps_ns: list[int] = []
        self.last_report: dict[str, object] | None = None  # the last candidate sequence, as the module measured it
        self._last_held_ns = 0  # arrival of the last held byte
        self._timer: Timer | None = None
        self._active = False

    def start(self, now_ns: int | None = None) -> None:
        """Begin watching; the guard before the first sequence counts from ``now_ns`` (data mode entry)."""
        self.stop()
        self._active = True
        self._last_rx_ns = time.monotonic_ns() if now_ns is None else now_ns

    def stop(self) -> bytes:
        """Stop watching; return the bytes still held back (they are data)."""
        held = self.held
        self._held = 0
        self._active = False
        self._cancel_timer()
        return held

    @property
    def held(self) -> bytes:
        return self._rules.sequence[: self._held]

    def check(self, now_ns: int) -> bool:
        """Apply a deadline that passed before ``now_ns``; True if that was the escape."""
        if not self._active or self._held == 0 or now_ns < self._deadline_ns():
            return False
        self._cancel_timer()
        if self._held == len(self._rules.sequence):
            self._held = 0
            self._active = False
            after_ns = now_ns - self._last_held_ns
            self._report("recognised", f"{_ms(after_ns)} after", after_ns=after_ns)
            self._on_escape(self._last_held_ns)
            return True
        released = self.held
        self._report("not completed in time: data", f"no next byte within {_ms(now_ns - self._last_held_ns)}")
        self._held = 0
        self._on_data(released)
        return False

    def feed(self, data: bytes, t_ns: int) -> None:
        """Bytes that arrived at ``t_ns``; whatever is not held back goes to ``on_data``."""
        sequence = self._rules.sequence
        out = bytearray()
        for b in data:
            if 0 < self._held < len(sequence):
                if b == sequence[self._held] and self._continues(t_ns):
                    self._gaps_ns.append(t_ns - self._last_held_ns)
                    self._held += 1
                    self._last_held_ns = self._last_rx_ns = t_ns
                    continue
                self._report("broken: data", f"next byte {b:#04x} {_ms(t_ns - self._last_held_ns)} later")
                out += sequence[: self._held]
                self._held = 0
            elif self._held == len(sequence):
                self._report("followed by input: data", f"input {_ms(t_ns - self._last_held_ns)} after",
                             after_ns=t_ns - self._last_held_ns)
                out += sequence  # input within the guard after: the sequence was data
                self._held = 0
            if b == sequence[0] and t_ns - self._last_rx_ns >= self._guard_before_ns:
                self._held = 1
                self._silence_ns, self._gaps_ns = t_ns - self._last_rx_ns, []
                self._first_ns = self._last_held_ns = t_ns
            else:
                if b == sequence[0] and 2 * (t_ns - self._last_rx_ns) >= self._guard_before_ns:
                    # a near miss (at least half the guard): worth a line in the log
                    self._silence_ns, self._gaps_ns = t_ns - self._last_rx_ns, []
                    self._report("not started: data", "too short a silence before")
                out.append(b)
            self._last_rx_ns = t_ns
        if out:
            self._on_data(bytes(out))
        self._arm()

    def _report(self, outcome: str, detail: str, after_ns: int | None = None) -> None:
        # the figures of every candidate sequence, from the arrival times the module measured: logged, and the last
        # one kept for the control command "state"
        gaps = "/".join(_ms(g) for g in self._gaps_ns) or "-"
        log(f"escape sequence {outcome}: {_ms(self._silence_ns)} of silence before, gaps {gaps}"
            + (f", {detail}" if detail else ""), key="escape")
        self.last_report = {
            "decision": "escape" if outcome == "recognised" else "data",
            "why": f"{outcome}{', ' + detail if detail else ''}",
            "guard_before_s": self._silence_ns / 1e9,
            "gaps_s": [g / 1e9 for g in self._gaps_ns],
            "guard_after_s": None if after_ns is None else after_ns / 1e9,
        }

    def _continues(self, t_ns: int) -> bool:
        if self._max_sequence_ns is not None and t_ns - self._first_ns > self._max_sequence_ns:
            return False
        return self._max_gap_ns is None or t_ns - self._last_held_ns < self._max_gap_ns

    def _deadline_ns(self) -> int:
        if self._held == len(self._rules.sequence):
            return self._last_held_ns + self._guard_after_ns
        # a partial sequence is data once its next byte can no longer come in time
        limits = []
        if self._max_sequence_ns is not None:
            limits.append(self._first_ns + self._max_sequence_ns + 1)
        if self._max_gap_ns is not None:
            limits.append(self._last_held_ns + self._max_gap_ns)
        return min(limits) if limits else self._last_held_ns + self._guard_after_ns

    def _arm(self) -> None:
        self._cancel_timer()
        if self._active and self._held:
            self._timer = self._loop.call_at(self._deadline_ns(), lambda: self.check(time.monotonic_ns()))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Packetizer:
    """Gathers transparent-mode data into packets (BG96 §2.1.15 transpktsize / transwaittm, GSM AT+QITCFG).

    A packet leaves when ``packet_size()`` bytes are gathered, or ``wait_s()`` after the last byte came in.
    """

    def __init__(self, loop: Loop, send: Callable[[bytes], None], packet_size: Callable[[], int],
                 wait_s: Callable[[], float]) -> None:
        self._loop = loop
        self._send = send
        self._packet_size = packet_size
        self._wait_s = wait_s
        self._buffer = bytearray()
        self._timer: Timer | None = None

    def __len__(self) -> int:
        return len(self._buffer)

    def add(self, data: bytes) -> None:
        """Data from the host, in order."""
        self._buffer += data
        size = max(1, self._packet_size())
        while len(self._buffer) >= size:
            chunk = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._send(chunk)
        self._cancel_timer()
        if self._buffer:
            wait = self._wait_s()
            if wait <= 0:
                self.flush()
            else:
                self._timer = self._loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """Send what is gathered now."""
        self._cancel_timer()
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            self._send(chunk)

    def discard(self) -> None:
        """Drop what is gathered (the connection is gone)."""
        self._cancel_timer()
        self._buffer.clear()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass(frozen=True)
class DataModeTexts:
    """What a dialect says when data mode ends (final results, V.250 style)."""

    escaped: str = "OK"  # after the escape sequence or DTR under AT&D1 (BG96 §1.2 item 3)
    lost: str = "NO CARRIER"  # the connection ended under the host (BG96 §1.2 note 2)
    hung_up: str = "NO CARRIER"  # DTR under AT&D2
    pdp_lost: str | None = None  # the network deactivated the context (None: as ``lost``; GSM: "+PDP DEACT")
    no_connection: str = "NO CARRIER"  # ATO with no connection to return to (V.250)


class DataMode:
    """The data-mode session of a module: entering, the host's bytes to the socket, leaving."""

    def __init__(self, module: Module, rules: EscapeRules, packet_size: Callable[[], int],
                 wait_s: Callable[[], float], texts: DataModeTexts | None = None) -> None:
        self.module = module
        self.texts = texts or DataModeTexts()
        self.service: Service | None = None
        self.last_key: Hashable | None = None  # the service ATO returns to
        self._guard_after_ns = int(rules.guard_after_s * _NS)
        self.escape = EscapeDetector(module.loop, rules, self._host_data, self._on_escape)
        self.packetizer = Packetizer(module.loop, self._send, packet_size, wait_s)

    def enter(self, svc: Service) -> None:
        """The port becomes a pipe to ``svc`` (run once the result opening data mode, ``CONNECT``, is written)."""
        from .interpreter import Mode

        self.module.enter_mode(Mode.DATA)
        self.service = svc
        self.last_key = svc.key
        self.module.data_mode_entered(svc)
        self.escape.start()
        # ASSUMPTION: data buffered before the switch is delivered first, raw (BG96 §1.2 item 5, GSM §4)
        pending = self.module.sockets.take_buffered(svc)
        if pending:
            self.module.emit(pending)

    def consume(self, data: bytes, i: int, t_ns: int) -> int:
        """Host bytes in data mode go through the escape detector to the packetizer."""
        if not self.module.escape_enabled():
            self.packetizer.add(data[i:])  # GSM AT+QITCFG <esc> 0: "+++" is data like any other bytes
            return len(data)
        if self.escape.check(t_ns):
            return i  # the guard time had passed before these bytes arrived: they are a command line
        self.escape.feed(data[i:], t_ns)
        return len(data)

    def leave(self, final: str, *, flush: bool, not_before_ns: int | None = None) -> Service | None:
        """End data mode with ``final``; ``flush``: send what is gathered (else drop it). Returns the service."""
        svc = self.service
        held = self.escape.stop()
        if flush:
            if held:
                self.packetizer.add(held)
            self.packetizer.flush()
        else:
            self.packetizer.discard()
        self.service = None
        if svc is not None:
            self.module.data_mode_left(svc)
        self.module.end_mode(final, not_before_ns=not_before_ns)
        return svc

    def connection_lost(self, text: str | None = None) -> None:
        """The connection ended under the host: it is told (``text``, else the dialect's ``lost``), no data is sent
        any more."""
        self.leave(text or self.texts.lost, flush=False)

    def dtr_off(self, and_d: int) -> None:
        """DTR went from ON to OFF in data mode: AT&D0 ignores it, &D1 leaves like the escape, &D2 hangs up."""
        svc = self.service
        if svc is None or and_d == 0:
            return
        if and_d == 1:
            self.leave(self.texts.escaped, flush=True)
            return
        # ASSUMPTION: &D2 clears the connection down in order (gathered data sent, FIN) and frees its ID
        self.leave(self.texts.hung_up, flush=True)
        self.module.sockets.hang_up(svc)

    def _host_data(self, data: bytes) -> None:
        self.packetizer.add(data)

    def _send(self, packet: bytes) -> None:
        if self.service is not None:
            self.module.sockets.send_transparent(self.service, packet)

    def _on_escape(self, last_ns: int) -> None:
        # The OK never leaves before the guard after, plus the module's reaction, counted from the last byte's arrival.
        reaction_ns = int(self.module.timing.delay("escape") * _NS)
        self.leave(self.texts.escaped, flush=True, not_before_ns=last_ns + self._guard_after_ns + reaction_ns)
