"""The run's record of recoveries: when, after or before which case, why, what was done, how long, with what outcome.

Shown in the terminal summary and written to ``recoveries.json`` in the run's folder, so a nightly run's reader sees
at once whether the module had to be brought back, and how often.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Recovery", "RecoveryJournal"]


@dataclass
class Recovery:
    """One attempt to bring a module back to its start state after the routine way failed."""

    url: str
    case: str  # the case after (or before) which it happened
    trigger: str  # what went wrong: "no answer to AT ...", "the port closed ..."
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))
    steps: list[str] = field(default_factory=list)  # what was done, in order
    recovered: bool = False
    outcome: str = ""
    duration_s: float = 0.0

    def line(self) -> str:
        """The recovery in one line, for the terminal summary and failure reports."""
        done = "; ".join(self.steps) or "nothing could be done"
        return (f"{self.started} {self.case}: {self.trigger} -> {done} -> {self.outcome} "
                f"({self.duration_s:.1f} s)")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RecoveryJournal:
    """Every recovery of the run, in order."""

    def __init__(self) -> None:
        self.records: list[Recovery] = []

    def add(self, record: Recovery) -> None:
        self.records.append(record)

    def extend(self, records: Iterable[dict[str, Any]]) -> None:
        """Take records from elsewhere (a pytest-xdist worker's, as dictionaries)."""
        for data in records:
            self.records.append(Recovery(**data))

    def lines(self) -> list[str]:
        return [record.line() for record in self.records]

    def write(self, path: Path) -> Path:
        """Write the records as JSON to ``path`` (an empty list: the run needed none)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([r.as_dict() for r in self.records], indent=2) + "\n", encoding="utf-8")
        return path
