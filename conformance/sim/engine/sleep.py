"""Sleep and wake-up of the module's serial port (the slow clock of the GSM family: AT+QSCLK with DTR).

GSM TCP/IP Application Note §9: with sleep allowed (AT+QSCLK=1), the DTR pin HIGH (DTR not asserted: pyserial
``dtr=False``) and nothing happening on the serial port or the network, the module sleeps; its connections stay.
It wakes when DTR is pulled LOW (asserted), its serial port answering 20 ms later, or on an interruption such as
received data, which it outputs as usual.

ASSUMPTION (the note gives no time): "nothing happening" means no byte from the host, no output and no command for
the configuration's ``sleep_after_s``. Asleep, the module ignores the host's bytes (no echo, no answer), and bytes
that arrive within the wake-up delay after DTR was asserted are lost too (a module answering earlier is not wrong).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..loop import Timer, log

if TYPE_CHECKING:
    from .module import Module

__all__ = ["SlowClock"]


class SlowClock:
    """Whether the module's serial port sleeps, and when it takes input again."""

    def __init__(self, module: Module, wake_delay_s: float) -> None:
        self.module = module
        self.wake_delay_ns = int(wake_delay_s * 1e9)
        self.enabled = False  # the host allows sleep (AT+QSCLK=1)
        self.asleep = False
        self.ignored = 0  # host bytes ignored while asleep or waking up
        self._awake_at_ns = 0
        self._timer: Timer | None = None

    def reset(self) -> None:
        """Power-on: sleep not allowed, awake."""
        self._cancel()
        self.enabled = False
        self.asleep = False
        self._awake_at_ns = 0

    def set_enabled(self, enabled: bool) -> None:
        """The host allows sleep, or forbids it (which wakes the module)."""
        self.enabled = enabled
        if not enabled:
            self.asleep = False
        self.touch()

    def accepts(self, t_ns: int) -> bool:
        """True if host bytes that arrived at ``t_ns`` reach the module (it is awake and its port is up)."""
        return not self.asleep and t_ns >= self._awake_at_ns

    def touch(self) -> None:
        """Something happened: the idle time starts again."""
        self._cancel()
        if self._may_sleep() and not self.asleep:
            self._timer = self.module.loop.call_later(self.module.config.sleep_after_s,
                                                      self.module.callback(self._expire))

    def dtr_changed(self, asserted: bool) -> None:
        """DTR asserted (pin LOW) wakes the module; its port answers after the wake-up delay."""
        if asserted and self.asleep:
            self.asleep = False
            self._awake_at_ns = time.monotonic_ns() + self.wake_delay_ns
            log(f"DTR asserted: awake, the port answers in {self.wake_delay_ns / 1e6:g} ms")
        self.touch()

    def interrupt(self) -> None:
        """The module has something to say (received data, a URC): it wakes at once."""
        if self.asleep:
            self.asleep = False
            log("woken by the network")
        self.touch()

    def _may_sleep(self) -> bool:
        return self.enabled and not self.module.dtr

    def _expire(self) -> None:
        self._timer = None
        m = self.module
        if not self._may_sleep():
            return
        if not m.idle() or not m.output.idle() or m.port.pending_output():
            self.touch()  # busy: try again after another idle period
            return
        self.asleep = True
        log("asleep (AT+QSCLK=1, DTR not asserted, idle)")

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
