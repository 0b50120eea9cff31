"""One exception hierarchy for everything that can fail a case, each carrying where in which case file it came from.

What the module (or the network it talks to) did wrong is a :class:`NonConformance`, an ``AssertionError``: reports
(pytest, JUnit XML, Allure) count it as a failed case. A case file that cannot be read is not the module's fault and
stays a plain error (Allure: "broken").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ActionFailed",
    "CaseFileError",
    "ConformanceError",
    "LinkClosed",
    "Location",
    "ModuleFlooded",
    "NonConformance",
    "StepFailed",
]


@dataclass(frozen=True)
class Location:
    """A place in a case file: ``path:line``."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class ConformanceError(Exception):
    """Base of every error the suite reports as a case failure (not as a crash)."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class NonConformance(ConformanceError, AssertionError):
    """The module did not do what the case expects of it: a failed case, not a broken one."""


class CaseFileError(ConformanceError):
    """A case file that cannot be read as a case: bad YAML, a schema violation, a malformed transcript line."""


class StepFailed(NonConformance):
    """A transcript step whose expectation the module (or a peer) did not meet."""

    def __init__(self, message: str, location: Location | None = None, *, report: str = "") -> None:
        super().__init__(message, location)
        self.report = report  # the rendered expected-vs-observed diff


class ActionFailed(NonConformance):
    """A peer or network action that could not be done or whose check failed (``! tcp_echo received ...``)."""


class LinkClosed(NonConformance):
    """The serial link closed under a case (module unplugged, simulator died)."""


class ModuleFlooded(NonConformance):
    """The module sent line after line with nothing from the host to answer (a chattering module)."""
