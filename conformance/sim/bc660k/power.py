"""What a host meets first on an NB-IoT module: sleep, PSM and DRX (docs/dialects/bc660k.md §1, §5.5).

The TCP/IP note gives only §2.4 notes 1-3 (no URCs in PSM, URCs delayed by the paging cycle in DRX/eDRX, prompt
URCs in connected mode) and "remain valid after deep-sleep wakeup". Everything else here is an ASSUMPTION after the
BC660K-GL AT Commands Manual's ``AT+QSCLK``:

- ``AT+QSCLK=1`` (power-on) or ``2``: after ``sleep_countdown_s`` with no byte from the host, no command running and no
  operation pending, the module falls into light sleep. Its UART receiver is off: the first byte the host sends wakes
  it, and that byte and every byte arriving within ``wake_up_ms`` of it are lost (no echo, no answer).
- Deep sleep (PSM) comes from the network (the control channel's ``psm``), only with ``AT+QSCLK=1``. No URC is
  reported in it: downlink data waits in the network (here: in the kernel) and comes after the wake-up, or is dropped
  (``psm_downlink``). The host's bytes wake it as from light sleep, with ``deep_wake_up_ms``. A wake-up is no reboot.
- DRX (control ``drx``): a URC waits for the next paging occasion, a multiple of the cycle since DRX began.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..engine import ControlError, Mode
from ..engine.sockets import OPENING
from ..loop import Timer, log

if TYPE_CHECKING:
    from .module import Bc660kModule

__all__ = ["Power"]

AWAKE, LIGHT, DEEP = "no", "light", "deep"


class Power:
    """The module's sleep state, what wakes it, and when its URCs may go out."""

    def __init__(self, module: Bc660kModule) -> None:
        self.m = module
        self.qsclk = module.config.qsclk_at_power_on
        self.asleep = LIGHT if module.config.asleep_at_start else AWAKE
        self.psm = False
        self.downlink = "hold"  # data arriving in PSM: "hold" (in the network) or "drop"
        self.dsevent = 0  # AT+QCFG="dsevent": ENTER DEEPSLEEP / EXIT DEEPSLEEP
        self.nbiot_event = 0  # AT+QNBIOTEVENT: +QNBIOTEVENT: "ENTER PSM" / "EXIT PSM"
        self.drx_cycle_s = 0.0
        self._drx_start = 0.0
        self._drx_queue: deque[bytes] = deque()
        self._drx_timer: Timer | None = None
        self._psm_held: list[bytes] = []
        self._deaf_until_ns = 0
        self._countdown: Timer | None = None

    # -- power-on and restart ------------------------------------------------------------------------------------

    def power_on(self, *, first: bool) -> None:
        """Settings not kept in NVRAM back to power-on values; the countdown starts."""
        self.cancel()
        self.qsclk = self.m.config.qsclk_at_power_on
        if not first:
            self.asleep = AWAKE
        self.psm = False
        self._psm_held.clear()
        self._drx_queue.clear()
        self._deaf_until_ns = 0
        self.touch()

    def cancel(self) -> None:
        for timer in (self._countdown, self._drx_timer):
            if timer is not None:
                timer.cancel()
        self._countdown = self._drx_timer = None

    # -- the host's bytes ------------------------------------------------------------------------------------------

    def lost(self, data: bytes, t_ns: int) -> bool:
        """True if ``data`` (arrived at ``t_ns``) is lost to a sleeping UART; it wakes the module if asleep."""
        if self.asleep != AWAKE:
            deep = self.asleep == DEEP
            window_ms = self.m.config.deep_wake_up_ms if deep else self.m.config.wake_up_ms
            self._deaf_until_ns = t_ns + window_ms * 1_000_000
            log(f"woken from {'deep' if deep else 'light'} sleep by the host; bytes for {window_ms} ms are lost")
            self.asleep = AWAKE
            if deep:
                self._leave_psm()
            self.touch()
        if t_ns < self._deaf_until_ns:
            log(f"asleep: {len(data)} bytes from the host lost while waking: {data[:40]!r}", key="wake-up loss")
            return True
        self.touch()
        return False

    def touch(self) -> None:
        """Activity: the sleep countdown starts again."""
        if self._countdown is not None:
            self._countdown.cancel()
            self._countdown = None
        if self.qsclk in (1, 2) and self.asleep == AWAKE:
            self._countdown = self.m.loop.call_later(self.m.config.sleep_countdown_s,
                                                     self.m.callback(self._countdown_over))

    def _countdown_over(self) -> None:
        self._countdown = None
        if self.can_sleep():
            self.fall_asleep()
        else:
            self.touch()  # busy: a full countdown again once it is idle

    def can_sleep(self) -> bool:
        """Sleep is allowed and nothing keeps the module awake (a command, a prompt, output, a pending result)."""
        m = self.m
        if self.qsclk not in (1, 2) or m.busy or m.mode is not Mode.COMMAND or not m.output.idle():
            return False
        if time.monotonic_ns() < self._deaf_until_ns:
            return False  # still waking up
        opening = any(s.state == OPENING for s in m.sockets.services.values())
        return not (opening or m.ping_busy or m.ntp_busy or m.pdn.dns_query is not None)

    def fall_asleep(self) -> None:
        self.asleep = LIGHT
        log("light sleep (AT+QSCLK)")

    # -- PSM -----------------------------------------------------------------------------------------------------------

    def enter_psm(self) -> None:
        if self.qsclk != 1:
            raise ControlError(f"AT+QSCLK is {self.qsclk}: only AT+QSCLK=1 lets the module enter PSM")
        if self.psm:
            return
        if self.dsevent:
            self.m.emit(b"\r\nENTER DEEPSLEEP\r\n")
        if self.nbiot_event:
            self.m.emit(b'\r\n+QNBIOTEVENT: "ENTER PSM"\r\n')
        self.psm = True
        self.asleep = DEEP
        if self._countdown is not None:
            self._countdown.cancel()
            self._countdown = None

    def exit_psm(self) -> None:
        """The network ends PSM (the module wakes itself); its UART is listening again."""
        if self.psm:
            self.asleep = AWAKE
            self._leave_psm()
            self.touch()

    def _leave_psm(self) -> None:
        self.psm = False
        if self.nbiot_event:
            self.m.emit(b'\r\n+QNBIOTEVENT: "EXIT PSM"\r\n')
        if self.dsevent:
            self.m.emit(b"\r\nEXIT DEEPSLEEP\r\n")
        held, self._psm_held = self._psm_held, []
        for out in held:
            self.send(out)

    # -- URCs --------------------------------------------------------------------------------------------------------

    def send(self, out: bytes) -> None:
        """A URC (framed) as PSM and DRX let it out: held in PSM (§2.4 note 1), at the next paging occasion in DRX
        (note 2), at once otherwise (note 3)."""
        if self.psm:
            self._psm_held.append(out)
            return
        if self.drx_cycle_s <= 0 and not self._drx_queue:
            self.m.release_urc(out)
            return
        self._drx_queue.append(out)
        if self._drx_timer is None:
            now = time.monotonic()
            cycles = int((now - self._drx_start) // self.drx_cycle_s) + 1 if self.drx_cycle_s > 0 else 0
            at = self._drx_start + cycles * self.drx_cycle_s
            self._drx_timer = self.m.loop.call_later(max(0.0, at - now), self.m.callback(self._paging_occasion))

    def _paging_occasion(self) -> None:
        self._drx_timer = None
        queued, self._drx_queue = self._drx_queue, deque()
        for out in queued:
            self.m.release_urc(out)

    def set_drx(self, cycle_s: float) -> None:
        self.drx_cycle_s = cycle_s
        self._drx_start = time.monotonic()
        if cycle_s <= 0 and self._drx_timer is not None:
            self._drx_timer.cancel()
            self._paging_occasion()

    # -- control channel ---------------------------------------------------------------------------------------------

    def control_sleep(self, mode: Any = LIGHT) -> dict[str, Any]:
        if mode != LIGHT:
            raise ControlError("sleep: mode must be light (deep sleep is PSM: the control command psm)")
        if self.qsclk not in (1, 2):
            raise ControlError("sleep: AT+QSCLK is 0, the module does not sleep")
        self.fall_asleep()
        return self.state()

    def control_psm(self, action: Any) -> dict[str, Any]:
        if action == "enter":
            self.enter_psm()
        elif action == "exit":
            self.exit_psm()
        else:
            raise ControlError("psm: action must be enter or exit")
        return self.state()

    def control_psm_downlink(self, mode: Any) -> dict[str, Any]:
        if mode not in ("hold", "drop"):
            raise ControlError("psm_downlink: mode must be hold or drop")
        self.downlink = mode
        return self.state()

    def control_drx(self, cycle_s: Any) -> dict[str, Any]:
        try:
            cycle = float(cycle_s)
        except (TypeError, ValueError):
            raise ControlError("drx: cycle_s must be a number of seconds (0: off)") from None
        if not 0 <= cycle <= 10486:  # 3GPP TS 24.008 eDRX: 10485.76 s at most
            raise ControlError("drx: cycle_s must be 0-10486")
        self.set_drx(cycle)
        return self.state()

    def state(self) -> dict[str, Any]:
        return {"qsclk": self.qsclk, "asleep": self.asleep, "psm": self.psm, "psm_downlink": self.downlink,
                "drx_cycle_s": self.drx_cycle_s, "dsevent": self.dsevent, "nbiot_event": self.nbiot_event}
