"""Leaving transparent data mode with "+++", as a matrix: each side of each bound of application note §4.

"The interval time between the first '+' and the character before the first '+' MUST NOT be less than 500 ms and
the interval time between the last '+' and the character next to the last '+' MUST NOT be less than 500 ms and the
interval time between each '+' MUST be less than 20 ms."

Each row opens a transparent connection to a server that records what it receives, sends some data, then types the
row's "+++" with the row's timing. Where the rules hold, the module answers OK no sooner than 500 ms after the last
"+", nothing of the "+++" reaches the server, and ATO answers CONNECT with the data the server sent meanwhile. Where a
rule is broken, the "+" bytes are data: the module stays silent and the server receives them.

The bounds are approached to 100 ms (guards) and to within 5 ms below / 20 ms above (the gap between the "+"s), far
enough that the jitter of a loaded host does not decide a row. What each row achieved is reported: the host's send
times of every byte (from the flight recorder's transmit events), and, where the simulated module reports them, the
times it measured on arrival (control channel ``state``, key ``escape``). They go to the flight log, to the test's
properties (JUnit XML) and to standard output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from conformance.link import Event, hold_silence

BLOCKS = Path(__file__).parent / "blocks.yaml"
GUARD_S = 0.5  # application note §4, the dialect's EscapeRules
OPEN = """
  = transparent_configured
  = transparent_open peer=tcp_sink
  >> data
  ! tcp_sink received "data"
"""


@dataclass(frozen=True)
class Row:
    """One way of typing "+++": silence before it, gap between the "+"s, and what follows it (None: nothing)."""

    name: str
    guard_before_s: float
    gap_s: float | None  # None: the three "+" in one write
    after: tuple[float, bytes] | None  # (silence after the last "+", the byte typed then)
    escapes: bool


ROWS = [
    Row("guards_600ms_gap_none", 0.6, None, None, True),
    Row("guard_before_600ms", 0.6, 0.005, None, True),
    Row("guard_before_400ms", 0.4, 0.005, None, False),
    Row("guard_before_100ms", 0.1, None, None, False),
    Row("guard_after_400ms", 0.6, None, (0.4, b"x"), False),
    Row("guard_after_100ms", 0.6, None, (0.1, b"x"), False),
    Row("gap_15ms", 0.6, 0.015, None, True),
    Row("gap_40ms", 0.6, 0.040, None, False),
    Row("gap_200ms", 0.6, 0.200, None, False),
]


class TxTimes:
    """The host's transmit events while it is attached to the link: (time, bytes) of every write."""

    def __init__(self, link: Any) -> None:
        self.link = link
        self.events: list[tuple[int, bytes]] = []
        self._listener: Callable[[Event], None] = self._record
        link.listeners.append(self._listener)

    def _record(self, event: Event) -> None:
        if event.direction == "tx":
            self.events.append((event.t_ns, event.data))

    def detach(self) -> None:
        self.link.listeners.remove(self._listener)

    def byte_times(self) -> list[tuple[int, int]]:
        """(time, byte) of each byte sent; a write of several bytes gives its bytes the write's time."""
        return [(t, b) for t, data in self.events for b in data]


def achieved(times: list[tuple[int, int]], plus_at: int) -> dict[str, float | None]:
    """The row's timings as the host sent them, in ms: silence before the first "+", gaps, silence after the last."""
    plus = times[plus_at:plus_at + 3]
    before = (plus[0][0] - times[plus_at - 1][0]) / 1e6 if plus_at > 0 else None
    after = (times[plus_at + 3][0] - plus[2][0]) / 1e6 if len(times) > plus_at + 3 else None
    gaps = [(b[0] - a[0]) / 1e6 for a, b in pairwise(plus)]
    return {"guard_before_ms": before, "gap1_ms": gaps[0], "gap2_ms": gaps[1], "guard_after_ms": after}


def module_measured(modem: Any) -> Any:
    """What the simulated module measured of the last escape candidate, if it reports it (None on a real module)."""
    sim = modem.link.port.info.get("sim")
    if sim is None:
        return None
    try:
        return sim.control("state").get("escape")
    except Exception as exc:  # an old simulator or a dead one: the figures are informative only
        return f"not reported ({exc})"


def _module_text(module: Any) -> str:
    """The module's measurement in ms, as the host's is shown; anything else as it came."""
    if not isinstance(module, dict):
        return str(module)
    def ms(value: Any) -> str:
        return "-" if value is None else f"{float(value) * 1000:.1f}"
    gaps = "/".join(ms(g) for g in module.get("gaps_s") or [])
    why = f" ({module['why']})" if module.get("why") else ""
    return (f"guard_before_ms {ms(module.get('guard_before_s'))}, gaps_ms {gaps or '-'}, "
            f"guard_after_ms {ms(module.get('guard_after_s'))}, decision {module.get('decision')}{why}")


def report(modem: Any, record_property: Callable[[str, object], None], row: Row, host: dict[str, Any],
           module: Any, outcome: str) -> None:
    text = ", ".join(f"{k} {v:.1f}" for k, v in host.items() if v is not None)
    line = f"escape {row.name}: host sent {text}; module measured {_module_text(module)}; {outcome}"
    modem.link.note(line)
    record_property("achieved_host_ms", host)
    record_property("achieved_module", module)
    record_property("outcome", outcome)
    print(line)


@pytest.mark.dialect("m95")
@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@pytest.mark.source("GSM TCPIP Application Notes V1.1 §4 escape +++",
                    "GSM TCPIP Application Notes V1.1 §4 ATO",
                    "GSM TCPIP Application Notes V1.1 §4 modes")
def test_escape_matrix(modem: Any, tcp_sink: Any, record_property: Callable[[str, object], None], row: Row) -> None:
    peers = {"tcp_sink": tcp_sink}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    measured_before = module_measured(modem)
    tx = TxTimes(modem.link)
    try:
        modem.write(b"last")
        hold_silence(row.guard_before_s)
        modem.write(b"+++", gap_s=row.gap_s)
        if row.after is not None:
            hold_silence(row.after[0])
            modem.write(row.after[1])
        host = achieved(tx.byte_times(), 4)
    finally:
        tx.detach()
    typed = b"last+++" + (row.after[1] if row.after else b"")
    if row.escapes:
        modem.run(f"""
          < OK                                       [not before {int(GUARD_S * 1000) - 10}ms, within 3s]
          ! tcp_sink received "last"
          ! tcp_sink send "meanwhile"
          ~ silence 1s
          > ATO
          < CONNECT
          << meanwhile                               [within 5s]
          ! tcp_sink received_count 8
        """, context=peers)
        outcome = "escaped: OK, nothing of it at the server, ATO delivered what came meanwhile"
    else:
        modem.run(f"""
          ~ silence 1500ms
          ! tcp_sink received "{typed.decode()}"
        """, context=peers)
        outcome = "data: the '+' bytes reached the server"
    measured = module_measured(modem)
    if measured is not None and measured == measured_before:
        measured = "no escape candidate (the first '+' did not follow a silence long enough to start one)"
    report(modem, record_property, row, host, measured, outcome)
