"""A run's machine-readable results (``results.json`` in the run's folder), what the summary and the diff read.

The plugin writes the file once at the end of a run (:mod:`conformance.plugin.results`); everything in it is already
redacted. One entry per test (a case against one dialect, a Python test, a malformed case file)::

    {"format": 1, "run": "20261202-010523", "started": "...", "finished": "...", "host": "...",
     "suite_version": "0.1.0", "modules": [{"dialect": "bg96", "model": "BG96", "revision": "...", ...}],
     "manuals": {"bg96": ["BG96 TCP/IP AT Commands Manual V1.0"]},
     "cases": [{"id": "cases/bg96/x.yaml::open[bg96]", "verdict": "failed", "category": "Wrong result code",
                "sources": ["BG96 ... §2.1.4"], "warnings": [...], "exchanges": [...], ...}]}

Verdicts are Allure's words: ``passed``, ``failed`` (the module did not conform), ``broken`` (the case could not be
judged: a case file error, a fault of the suite), ``skipped``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT",
    "REPORTS_DIR",
    "RESULTS_FILE",
    "VERDICTS",
    "CaseResult",
    "Category",
    "RunResults",
    "RunResultsError",
    "categories",
    "classify",
    "load_run",
    "split_source",
]

FORMAT = 1
RESULTS_FILE = "results.json"
VERDICTS = ("passed", "failed", "broken", "skipped")
# What makes the reports (categories, the summary's template) lives beside the run results, in the project's reports/.
REPORTS_DIR = Path(__file__).resolve().parents[2] / "reports"

_SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")


class RunResultsError(ValueError):
    """A run folder without readable results: says which file and what is wrong with it."""


@dataclass
class CaseResult:
    """One test of a run, as ``results.json`` holds it."""

    id: str
    verdict: str
    title: str = ""
    name: str = ""
    file: str = ""
    line: int = 0
    dialect: str = ""
    sources: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    message: str = ""
    category: str = ""
    details: str = ""
    duration_s: float = 0.0
    warnings: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    flight_log: str = ""
    module: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def sections(self) -> list[tuple[str, str]]:
        """(manual, section) for each source; a source without ``§`` is its manual's section "-"."""
        return [split_source(s) for s in self.sources] or [("(no manual cited)", "-")]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else self.id


@dataclass
class RunResults:
    """A whole run: when, on which modules, and every test's result."""

    path: Path
    meta: dict[str, Any]
    cases: list[CaseResult]

    @property
    def name(self) -> str:
        return str(self.meta.get("run") or self.path.name)

    @property
    def modules(self) -> list[dict[str, Any]]:
        return list(self.meta.get("modules") or [])

    def by_id(self) -> dict[str, CaseResult]:
        return {c.id: c for c in self.cases}

    def count(self, verdict: str) -> int:
        return sum(c.verdict == verdict for c in self.cases)


def load_run(path: str | Path) -> RunResults:
    """The results of the run in folder ``path`` (or a ``results.json`` given directly)."""
    path = Path(path)
    file = path if path.is_file() else path / RESULTS_FILE
    if not path.exists():
        raise RunResultsError(f"{path}: no such run folder")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunResultsError(f"{path}: no {RESULTS_FILE} (is this a run folder of reports/out/? runs of the suite "
                              "write it at their end)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunResultsError(f"{file}: not readable as results: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("cases"), list):
        raise RunResultsError(f"{file}: not a results file of format {FORMAT}")
    cases = [CaseResult.from_json(c) for c in data["cases"] if isinstance(c, dict) and "id" in c]
    meta = {k: v for k, v in data.items() if k != "cases"}
    return RunResults(file.parent, meta, cases)


def split_source(source: str) -> tuple[str, str]:
    """``"BG96 TCP/IP AT Commands Manual V1.0 §2.1.4 example"`` -> ``("BG96 TCP/IP AT Commands Manual V1.0",
    "2.1.4")``."""
    manual, _, _ = source.partition("§")
    m = _SECTION.search(source)
    return manual.strip() or source.strip(), m.group(1) if m else "-"


@dataclass(frozen=True)
class Category:
    """A failure category, as Allure's ``categories.json`` writes it (the same file sorts failures here)."""

    name: str
    statuses: tuple[str, ...]
    message_regex: re.Pattern[str] | None
    description: str = ""


@cache
def categories(path: Path | None = None) -> tuple[Category, ...]:
    """The failure categories of ``reports/categories.json`` (or ``path``), in order: the first that matches wins."""
    file = path or REPORTS_DIR / "categories.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return ()
    out = []
    for entry in data:
        regex = entry.get("messageRegex")
        out.append(Category(entry["name"], tuple(entry.get("matchedStatuses", ())),
                            re.compile(regex) if regex else None, entry.get("description", "")))
    return tuple(out)


def classify(verdict: str, message: str) -> str:
    """The category of a failed or broken test's ``message`` (Allure's rule: whole-message match, first wins)."""
    if verdict not in ("failed", "broken"):
        return ""
    for category in categories():
        if verdict not in category.statuses:
            continue
        if category.message_regex is None or category.message_regex.fullmatch(message or ""):
            return category.name
    return "Product defects" if verdict == "failed" else "Test defects"  # Allure's own names for the rest
