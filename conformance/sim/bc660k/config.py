"""The simulated BC660K's configuration keys: the engine's, and those of its sleep (docs/dialects/bc660k.md §1).

Every key beyond the engine's is an ASSUMPTION taken from the BC660K-GL AT Commands Manual's ``AT+QSCLK`` and
``AT+QCFG="slplocktimes"`` (the TCP/IP note says nothing about sleep but its §2.4 notes 1-3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engine import SimConfig

__all__ = ["Bc660kConfig"]


def _key(kind: str, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    return {"kind": kind, "low": low, "high": high}


@dataclass
class Bc660kConfig(SimConfig):
    """The engine's keys, plus the BC660K's sleep timings; its default PDN (context 0) is up at power-on."""

    # §2.3.1: context 0 "automatically adapt[s] to the current default PDP context", which an NB-IoT module has as
    # soon as it is attached (the +IP URC of note 4)
    boot_active_contexts: list[int] = field(default_factory=lambda: [0], metadata=_key("int_list", 0, 0))
    sleep_countdown_s: float = field(default=10.0, metadata=_key("float", 0.05, 86400))  # idle time before sleep
    wake_up_ms: int = field(default=100, metadata=_key("int", 0, 10000))  # bytes lost after the first, light sleep
    deep_wake_up_ms: int = field(default=500, metadata=_key("int", 0, 10000))  # the same, out of PSM
    qsclk_at_power_on: int = field(default=1, metadata=_key("int", 0, 2))  # AT+QSCLK is not kept in NVRAM
    asleep_at_start: bool = field(default=False, metadata=_key("bool"))  # the process starts in light sleep
