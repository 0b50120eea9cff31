"""Known deviations ("quirks") of a module's firmware revision: failures a vendor has already accounted for.

A quirks file (YAML, one per module and firmware revision, kept in ``fixtures/quirks/``) says which cases fail on
that firmware and how, so the summary lists them as known instead of new, while a known case that fails in another
way is still a new failure, and a known deviation that did not happen is reported too (fixed, or never real)::

    module: BG96                     # regular expression over the model (ATI)
    firmware: BG96MAR02A07M1G        # regular expression over the revision, or the full firmware (AT+QGMR)
    note: what this file is about    # optional
    quirks:
      - case: open_refused_port      # the case's name, or its id (cases/bg96/x.yaml::name[bg96]), or file::name
        reason: answers +QIOPEN: 0,565 for a refused port (ticket FW-123)
        fails_with: "the module said '\\+QIOPEN: 0,565'"   # optional regular expression, searched in the failure
        category: Wrong result code                       # optional: the failure's category must be this one

Patterns are searched case-sensitively over the whole value (``re.fullmatch`` for ``module``/``firmware``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .results import CaseResult

__all__ = ["DEFAULT_QUIRKS_DIR", "Judged", "Quirk", "QuirksError", "QuirksFile", "find_quirks", "judge", "load_quirks"]

DEFAULT_QUIRKS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "quirks"
_FILE_KEYS = {"module", "firmware", "note", "quirks"}
_QUIRK_KEYS = {"case", "reason", "fails_with", "category"}


class QuirksError(ValueError):
    """A quirks file that cannot be used: names the file and what is wrong."""


@dataclass(frozen=True)
class Quirk:
    """One known deviation: which case, why, and how it fails."""

    case: str
    reason: str
    fails_with: re.Pattern[str] | None = None
    category: str = ""
    file: str = ""

    def names(self, result: CaseResult) -> bool:
        """True if this quirk is about ``result``'s case."""
        file = result.file
        return self.case in (result.id, result.name, f"{file}::{result.name}", f"{Path(file).name}::{result.name}")

    def explains(self, result: CaseResult) -> bool:
        """True if ``result`` failed the way this quirk says."""
        if result.verdict != "failed":
            return False
        if self.category and result.category != self.category:
            return False
        return self.fails_with is None or bool(self.fails_with.search(result.message + "\n" + result.details))


@dataclass(frozen=True)
class QuirksFile:
    """A module and firmware revision, and its known deviations."""

    path: str
    module: re.Pattern[str]
    firmware: re.Pattern[str]
    quirks: tuple[Quirk, ...]
    note: str = ""

    def applies_to(self, module: dict[str, Any]) -> bool:
        """True if the run's ``module`` (model, revision, firmware) is the one this file is written for."""
        model = str(module.get("model", ""))
        revisions = [str(module[k]) for k in ("revision", "firmware") if module.get(k)]
        return bool(self.module.fullmatch(model)) and any(self.firmware.fullmatch(r) for r in revisions)


def load_quirks(path: str | Path) -> QuirksFile:
    """Read and check one quirks file; :class:`QuirksError` names the file and what is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise QuirksError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise QuirksError(f"{path}: a quirks file is a mapping with module, firmware and quirks")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise QuirksError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; a quirks file has "
                          f"{', '.join(sorted(_FILE_KEYS))}")
    module = _pattern(path, "module", data.get("module"), required=True)
    firmware = _pattern(path, "firmware", data.get("firmware"), required=True)
    entries = data.get("quirks") or []
    if not isinstance(entries, list):
        raise QuirksError(f"{path}: quirks is a list of {{case, reason, fails_with, category}}")
    quirks = []
    for i, entry in enumerate(entries, 1):
        where = f"{path}: quirk {i}"
        if not isinstance(entry, dict) or set(entry) - _QUIRK_KEYS:
            raise QuirksError(f"{where}: a quirk has {', '.join(sorted(_QUIRK_KEYS))} (got {entry!r})")
        for key in ("case", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise QuirksError(f"{where}: {key} is required, as text")
        fails_with = _pattern(Path(where), "fails_with", entry.get("fails_with"), required=False)
        category = entry.get("category") or ""
        if not isinstance(category, str):
            raise QuirksError(f"{where}: category is the name of a failure category, as text")
        quirks.append(Quirk(entry["case"].strip(), entry["reason"].strip(), fails_with, category, str(path)))
    return QuirksFile(str(path), module, firmware, tuple(quirks), str(data.get("note") or ""))


def find_quirks(modules: list[dict[str, Any]], folder: Path = DEFAULT_QUIRKS_DIR) -> list[QuirksFile]:
    """Every quirks file under ``folder`` written for one of the run's ``modules``."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*.y*ml")):
        quirks = load_quirks(path)
        if any(quirks.applies_to(m) for m in modules):
            found.append(quirks)
    return found


@dataclass(frozen=True)
class Judged:
    """How the run went for the known deviations: each quirk with what happened."""

    known: list[tuple[Quirk, CaseResult]]  # failed as the quirk says
    different: list[tuple[Quirk, CaseResult]]  # a known case that failed another way (a new failure)
    not_seen: list[tuple[Quirk, CaseResult | None]]  # the case passed, was skipped, or is not in the run


def judge(files: list[QuirksFile], cases: list[CaseResult]) -> Judged:
    """Hold every quirk of ``files`` against the run's ``cases``."""
    known: list[tuple[Quirk, CaseResult]] = []
    different: list[tuple[Quirk, CaseResult]] = []
    not_seen: list[tuple[Quirk, CaseResult | None]] = []
    for quirk in (q for f in files for q in f.quirks):
        matching = [c for c in cases if quirk.names(c)]
        if not matching:
            not_seen.append((quirk, None))
        for case in matching:
            if quirk.explains(case):
                known.append((quirk, case))
            elif case.verdict == "failed":
                different.append((quirk, case))
            else:
                not_seen.append((quirk, case))
    return Judged(known, different, not_seen)


def _pattern(path: Path, key: str, value: Any, *, required: bool) -> re.Pattern[str] | None:
    if value is None or value == "":
        if required:
            raise QuirksError(f"{path}: {key} is required (a regular expression)")
        return None
    if not isinstance(value, (str, int, float)):
        raise QuirksError(f"{path}: {key} is a regular expression, as text")
    try:
        return re.compile(str(value))
    except re.error as exc:
        raise QuirksError(f"{path}: {key} {value!r} is not a regular expression: {exc}") from None
