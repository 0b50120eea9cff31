"""The transcript model: a case and its steps, each step knowing the file line it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Location
from .pattern import Pattern
from .template import Template

__all__ = [
    "Action",
    "Alternatives",
    "BlockLocation",
    "Case",
    "Check",
    "Cleanup",
    "ExpectData",
    "ExpectLine",
    "ExpectPrompt",
    "LineControl",
    "Pause",
    "SendData",
    "SendLine",
    "Silence",
    "Step",
    "Timing",
    "UseBlock",
]


@dataclass(frozen=True)
class BlockLocation(Location):
    """A line of a shared block, and the case line that used the block (shown in every report of it)."""

    block: str = ""
    used_at: Location | None = None

    def __str__(self) -> str:
        blocks = [self.block]
        where = self.used_at
        while isinstance(where, BlockLocation):  # a block used by a block: name the chain, then the case's line
            blocks.append(where.block)
            where = where.used_at
        used = f", used at {where}" if where is not None else ""
        return f"{self.path}:{self.line} (block {' in '.join(blocks)}{used})"

    @property
    def case_line(self) -> Location:
        """The line of the case file itself that led here (through blocks using blocks)."""
        where: Location = self
        while isinstance(where, BlockLocation) and where.used_at is not None:
            where = where.used_at
        return where


@dataclass(frozen=True)
class Timing:
    """A step's timing annotation: ``[within 150s, not before 1s, gap 100ms, rate 9600]``."""

    within_s: float | None = None  # the step must be met by then (default: the command's documented time)
    not_before_s: float | None = None  # ... and not earlier than this
    gap_s: float | None = None  # host bytes this far apart
    line_rate: int | None = None  # host bytes paced as a UART at this many bit/s
    until_s: float | None = None  # a polled answer: send the last command again until the line matches, this long
    every_s: float | None = None  # ... this far apart (default 200 ms)
    line_end: bytes | None = None  # [end CRLF]: this command's line end, whatever the run's


@dataclass(frozen=True)
class Step:
    location: Location
    source: str  # the line as written in the case file

    @property
    def marker(self) -> str:
        return self.source.lstrip().split(" ", 1)[0]


@dataclass(frozen=True)
class SendLine(Step):
    """``> AT+QIACT=1``: a command line; the session adds the line end (CR)."""

    text: Template
    timing: Timing = Timing()


@dataclass(frozen=True)
class SendData(Step):
    """``>> test<Ctrl+Z>``: raw bytes, nothing added."""

    payload: Template
    timing: Timing = Timing()


@dataclass(frozen=True)
class ExpectLine(Step):
    """``< OK``, ``< +QIOPEN: <id:int>,0``, ``< /regex/``; ``<~`` for a URC that may come any time in a window;
    ``<?`` for a line that may come or not (a window that does not fail)."""

    text: Template | None
    regex: Pattern | None = None
    window: bool = False
    timing: Timing = Timing()
    optional: bool = False


@dataclass(frozen=True)
class ExpectPrompt(Step):
    """``< >``: the data prompt."""

    timing: Timing = Timing()


@dataclass(frozen=True)
class ExpectData(Step):
    """``<< test1``: raw bytes from the module (a data payload, or transparent-mode data)."""

    payload: Template
    timing: Timing = Timing()


@dataclass(frozen=True)
class Pause(Step):
    """``~ pause 1s``: the host sends nothing for this long (a guard time)."""

    seconds: float


@dataclass(frozen=True)
class Silence(Step):
    """``~ silence 1s``: the module must send nothing for this long."""

    seconds: float


@dataclass(frozen=True)
class LineControl(Step):
    """``~ dtr off``: set a modem control line."""

    line: str  # "dtr" | "rts"
    level: bool


@dataclass(frozen=True)
class Action(Step):
    """``! tcp_echo received "test"``: a peer or network action, performed by the target named."""

    target: str
    verb: str
    args: tuple[Template | int | float | str, ...]
    timing: Timing = Timing()


@dataclass(frozen=True)
class Check(Step):
    """``? {unacked} > 0``: compare two values (numbers if both are numbers, else text)."""

    left: Template
    op: str
    right: Template


@dataclass(frozen=True)
class Alternatives(Step):
    """``< OK | ERROR``, or ``<|`` ... ``|`` ... ``|>``: one of several answers, each a branch of steps chosen by its
    first line (an expected line or the prompt); the earliest branch whose first line matches is taken."""

    branches: tuple[tuple[Step, ...], ...]
    timing: Timing = Timing()


@dataclass(frozen=True)
class UseBlock(Step):
    """``= tcp_client_open peer=tcp_echo``: the steps of a shared block follow, each with its own file line."""

    block: str
    use: int  # numbers the uses of a case, so its block's 'finally' runs only if the use was reached
    defined_at: Location | None = None


@dataclass(frozen=True)
class Cleanup(Step):
    """A block's 'finally' steps for one use: run after the case's own, if the use was reached, pass or fail."""

    block: str
    use: int
    steps: tuple[Step, ...]


@dataclass
class Case:
    """One case: metadata and the transcript, as parsed from one YAML document."""

    path: str
    name: str
    title: str
    sources: tuple[str, ...]
    dialects: tuple[str, ...]
    location: Location
    steps: tuple[Step, ...]
    final_steps: tuple[Step, ...] = ()
    needs: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    timeout_s: float | None = None
    unexpected_urcs: str = "record"  # "ignore" | "record" | "fail"
    variables: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    skip: str = ""  # a reason: the case documents a path no bench can provoke
    text: str = ""  # the YAML document as written, for reports
