"""What a run saw, row by row: the records the failure report and Allure are made of, and how a token is shown."""

from __future__ import annotations

from dataclasses import dataclass

from ..link import escape_bytes
from ..session import Token
from .model import Step

__all__ = ["Record", "described", "show"]


@dataclass
class Record:
    """One row of what happened: a step and what the module (or a peer) did about it."""

    step: Step | None  # None: something the module said that no step asked for
    observed: str  # what was seen, escaped for a terminal
    t_ns: int
    status: str  # "sent" | "ok" | "fail" | "echo" | "aside" | "info" | "warn" (a deviation that did not fail)
    detail: str = ""


def show(token: Token) -> str:
    """A token as a report shows it: escaped, without the line end (a URC's inline data keeps its own CR LF)."""
    if token.kind == "prompt":
        return "> "
    if token.kind == "data":
        return escape_bytes(token.raw)
    return escape_bytes(token.text.encode("latin-1"))


def described(step: Step) -> str:
    """What a step expects, as the case wrote it (without its marker and annotation)."""
    return step.source.split(" ", 1)[1].split("  [")[0].strip() if " " in step.source else step.source
