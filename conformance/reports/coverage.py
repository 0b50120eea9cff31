"""``conformance coverage <dialect>``: every item the dialect's documents document, and the cases that cover it.

The documented items are data (``conformance/dialects/<dialect>_documented.yaml``, read by :mod:`.documented`):
sections, examples, command forms, URCs, error codes, behaviours and procedures, each with an id such as ``2.1.4``,
``2.1.4 AT+QIOPEN=?`` or ``4 error 566``, in one manual or in several (M95: an application note and two revisions
of a recommended process). A case covers an item by citing it in ``source:`` as ``<manual> §<id>``, e.g. ``BG96
TCP/IP AT Commands Manual V1.0 §2.1.4 AT+QIOPEN=?`` (docs/coverage.md). The tool is strict: a citation of one of the
dialect's manuals that names no documented item is an error, not a silent miss. Where documents disagree (an item's
``differs``), the report shows both.

Exit status: 0 every item covered; 1 some item uncovered; 2 a citation, a case file or the documented list is wrong
(or the command line is).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import dialects
from ..errors import ConformanceError
from ..transcript import Case, parse_file
from ..transcript.blocks import is_blocks_file
from .documented import (
    KINDS,
    SECTION_ID,
    Difference,
    Documented,
    DocumentedError,
    DocumentedItem,
    default_documented_path,
    load_documented,
)
from .documented import MARK as _MARK
from .pytests import PythonTest, python_tests

__all__ = [
    "KINDS",
    "CitationError",
    "Coverage",
    "Covering",
    "Difference",
    "Documented",
    "DocumentedError",
    "DocumentedItem",
    "coverage_main",
    "default_documented_path",
    "load_documented",
    "parse_citation",
]


# ------------------------------------------------------------------------------------------------------ citations

@dataclass(frozen=True)
class CitationError:
    """A source line that does not say which documented item it covers."""

    path: str
    line: int
    case: str
    source: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: case {self.case!r}: source {self.source!r}: {self.problem}"


def parse_citation(source: str, manuals: Iterable[str]) -> tuple[str, str]:
    """``'<manual> §<id>'`` -> (manual, id); ValueError saying what is wrong (the manual is one of ``manuals``)."""
    manual, mark, ref = source.partition(_MARK)
    manual = manual.strip()
    known = list(manuals)
    if not mark:
        raise ValueError(f"names no section: write '<manual> {_MARK}<section>[ <item>]', e.g. "
                         f"'{known[0] if known else 'Manual'} {_MARK}2.1.4 AT+QIOPEN=?'")
    if manual not in known:
        raise ValueError(f"{manual!r} is not a manual of this case's dialects (known: {', '.join(known)})")
    if not source.startswith(manual + " " + _MARK):
        raise ValueError(f"write the manual, one space, then {_MARK}: '{manual} {_MARK}{ref.strip()}'")
    if ref != ref.strip() or ref != " ".join(ref.split()):
        raise ValueError(f"write the reference single-spaced, right after {_MARK}: '{_MARK}{' '.join(ref.split())}'")
    if not SECTION_ID.match(ref.split(" ", 1)[0]):
        raise ValueError(f"{_MARK}{ref}: a reference starts with a section number, e.g. {_MARK}2.1.4")
    return manual, ref


@dataclass(frozen=True)
class Covering:
    """One case citing one item."""

    case: str  # file::name
    skip: str  # the case's skip reason, if it has one
    via: str = ""  # for a section: the id of the item or subsection actually cited


@dataclass
class Coverage:
    """Which cases cover which documented items, and what was wrong on the way."""

    documented: Documented
    cases: int = 0
    direct: dict[str, list[Covering]] = field(default_factory=dict)  # item ref -> cases citing exactly it
    errors: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, documented: Documented, paths: Sequence[Path]) -> Coverage:
        """Read every case file under ``paths`` and collect the citations of ``documented``'s items."""
        cov = cls(documented)
        cov.direct = {item.ref: [] for item in documented.items}
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")
                                    and not is_blocks_file(p)))  # a dialect's shared blocks cite nothing
            elif path.exists():
                files.append(path)
            else:
                cov.errors.append(f"{path}: no such file or folder")
        for file in files:
            try:
                cases = parse_file(file)
            except ConformanceError as exc:
                cov.errors.append(f"malformed case file: {exc}")
                continue
            for case in cases:
                if documented.dialect in case.dialects:
                    cov.cases += 1
                    cov._add_case(case, file)
        for path in paths:  # Python conformance tests cite with @pytest.mark.source (conformance.reports.pytests)
            for file in sorted(path.rglob("test_*.py")) if path.is_dir() else []:
                for test in python_tests(file):
                    if documented.dialect in test.dialects:
                        cov.cases += 1
                        cov._add_case(test, file)
        return cov

    def _add_case(self, case: Case | PythonTest, file: Path) -> None:
        ref = f"{_display(file)}::{case.name}"
        own = list(self.documented.manuals)
        others = [m for d in case.dialects if d != self.documented.dialect and d in dialects.names()
                  for m in dialects.get(d).manuals if m not in own]
        for source in case.sources:
            try:
                manual, item_id = parse_citation(source, own + others)
            except ValueError as exc:
                self._error(case, file, source, str(exc))
                continue
            if manual not in own:
                continue  # another dialect's manual: its own documented list judges it
            item = self.documented.by_ref.get((manual, item_id))
            if item is None:
                self._error(case, file, source, _unknown(item_id, manual, self.documented))
                continue
            covering = Covering(ref, case.skip)
            if covering not in self.direct[item.ref]:
                self.direct[item.ref].append(covering)

    def _error(self, case: Case | PythonTest, file: Path, source: str, problem: str) -> None:
        self.errors.append(str(CitationError(_display(file), _line_of(case, file, source), case.name, source,
                                             problem)))

    def covering(self, item: DocumentedItem) -> list[Covering]:
        """The cases covering ``item``: those citing it; for a section, also those citing anything inside it."""
        found = list(self.direct[item.ref])
        if item.kind == "section":
            inner = [other for other in self.documented.of(item.manual) if other.id != item.id and
                     (other.section == item.id or other.section.startswith(item.id + "."))]
            names = {c.case for c in found}
            for other in inner:
                for c in self.direct[other.ref]:
                    if c.case not in names:
                        names.add(c.case)
                        found.append(Covering(c.case, c.skip, via=other.id))
        return found

    def uncovered(self) -> list[DocumentedItem]:
        return [item for item in self.documented.items if not self.covering(item)]

    def only_skipped(self) -> list[DocumentedItem]:
        return [item for item in self.documented.items
                if (cs := self.covering(item)) and all(c.skip for c in cs)]

    def disagreements(self, item: DocumentedItem) -> list[str]:
        """Where the documents disagree about ``item``: what the other one says, from either side of the record."""
        shown = [f"{diff.manual} {_MARK}{diff.id}: {diff.text}" if diff.id else f"{diff.manual}: {diff.text}"
                 for diff in item.differs]
        shown += [f"{other.ref}: {other.text}" for other in self.documented.differed_by.get((item.manual, item.id), [])]
        return shown

    # ---------------------------------------------------------------------------------------------------- output

    def report(self, *, uncovered_only: bool = False) -> list[str]:
        doc = self.documented
        several = len(doc.manuals) > 1
        if several:
            lines = [f"coverage of the {len(doc.manuals)} documents of {doc.dialect} ({_display(doc.path)}) by "
                     f"{self.cases} {doc.dialect} case(s)"]
        else:
            lines = [f"coverage of {doc.manual} ({_display(doc.path)}) by {self.cases} {doc.dialect} case(s)"]
        for manual in doc.manuals:
            lines.append("")
            if several:
                lines.extend([f"== {manual}", ""])
            for item in doc.of(manual):
                covering = self.covering(item)
                if uncovered_only and covering:
                    continue
                lines.append(f"{_MARK}{item.id}  [{item.kind}]  {_short(item.text)}")
                lines.extend(f"    differs: {_short(d, 140)}" for d in self.disagreements(item))
                if not covering:
                    lines.append("    UNCOVERED")
                    continue
                direct = [c for c in covering if not c.via]
                for c in direct:
                    lines.append(f"    {c.case}" + (f"  skipped: {c.skip}" if c.skip else ""))
                inner = [c for c in covering if c.via]
                if inner:
                    runs = sum(1 for c in inner if not c.skip)
                    lines.append(f"    {'+ ' if direct else ''}{len(inner)} case(s) through its items and "
                                 f"subsections ({runs} run, {len(inner) - runs} skipped)")
        lines.append("")
        lines.extend(self.summary())
        return lines

    def summary(self) -> list[str]:
        doc = self.documented
        uncovered = self.uncovered()
        per_kind = []
        for kind in KINDS:
            items = [i for i in doc.items if i.kind == kind]
            if items:
                left = sum(1 for i in items if i in uncovered)
                per_kind.append(f"{kind} {len(items) - left}/{len(items)}")
        lines = [f"by kind: {', '.join(per_kind)}"]
        several = len(doc.manuals) > 1
        if several:
            per_doc = [f"{m} {sum(1 for i in doc.of(m) if i not in uncovered)}/{len(doc.of(m))}"
                       for m in doc.manuals]
            lines.append(f"by document: {', '.join(per_doc)}")
            differing = sum(1 for i in doc.items if i.differs)
            if differing:
                lines.append(f"disagreements between the documents: {differing} item(s) say where another differs "
                             "(shown under both)")
        skipped = self.only_skipped()
        if skipped:
            lines.append(f"covered only by skipped cases ({len(skipped)}): {_refs(skipped, several)}")
        if uncovered:
            lines.append(f"UNCOVERED ({len(uncovered)}): {_refs(uncovered, several)}")
        lines.append(f"{len(doc.items)} documented items: {len(doc.items) - len(uncovered)} covered, "
                     f"{len(uncovered)} uncovered; {len(self.errors)} citation error(s)")
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "dialect": self.documented.dialect,
            "manual": self.documented.manual,
            "manuals": list(self.documented.manuals),
            "cases": self.cases,
            "errors": list(self.errors),
            "items": [
                {"manual": item.manual, "id": item.id, "kind": item.kind, "text": item.text,
                 "differs": [{"manual": d.manual, "id": d.id or None, "text": d.text} for d in item.differs],
                 "covered_by": [{"case": c.case, "skip": c.skip or None, "via": c.via or None}
                                for c in self.covering(item)]}
                for item in self.documented.items
            ],
        }


def _refs(items: list[DocumentedItem], several: bool) -> str:
    """``§a, §b`` (one manual), or ``<manual>: §a, §b; <manual>: §c`` (several)."""
    if not several:
        return ", ".join(_MARK + i.id for i in items)
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.manual, []).append(_MARK + item.id)
    return "; ".join(f"{manual}: {', '.join(ids)}" for manual, ids in groups.items())


def _unknown(item_id: str, manual: str, documented: Documented) -> str:
    ids = [i.id for i in documented.of(manual)]
    close = difflib.get_close_matches(item_id, ids, n=3, cutoff=0.6)
    section = item_id.split(" ", 1)[0]
    if not close:
        close = [i for i in ids if i.split(" ", 1)[0] == section][:6]
    hint = f"; did you mean {' or '.join(repr(_MARK + c) for c in close)}?" if close else ""
    return f"{_MARK}{item_id} is not a documented item of {manual}{hint}"


def _line_of(case: Case | PythonTest, file: Path, source: str) -> int:
    """The file line where ``source`` is written in ``case`` (the case's first line if it cannot be found)."""
    if isinstance(case, PythonTest):
        return case.source_lines.get(source, case.location.line)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return case.location.line
    needle = source.partition(_MARK)[2] or source
    for n in range(case.location.line - 1, len(lines)):
        if n > case.location.line - 1 and lines[n].strip() == "---":
            break
        if needle in lines[n]:
            return n + 1
    return case.location.line


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _short(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# ------------------------------------------------------------------------------------------------------------ CLI

def coverage_main(argv: list[str]) -> int:
    """``conformance coverage <dialect> [--cases PATH ...] [--documented FILE] [--uncovered] [--json]``."""
    parser = argparse.ArgumentParser(
        prog="conformance coverage",
        description="List every item the dialect's documents document (sections, examples, command forms, URCs, "
                    "error codes, behaviours, procedures) with the cases whose source: cites it, and where the "
                    "documents disagree. Exit 0 if all are covered, 1 if some item is not, 2 if a citation or a case "
                    "file is wrong. See docs/coverage.md.")
    parser.add_argument("dialect", help=f"the module family ({', '.join(dialects.names())})")
    parser.add_argument("--cases", metavar="PATH", type=Path, action="append",
                        help="case files or folders to read (repeatable; default: cases)")
    parser.add_argument("--documented", metavar="FILE", type=Path,
                        help="the documented list (default: conformance/dialects/<dialect>_documented.yaml)")
    parser.add_argument("--uncovered", action="store_true", help="print only the items no case covers")
    parser.add_argument("--json", action="store_true", help="print the coverage as JSON instead of text")
    args = parser.parse_args(argv)

    if args.dialect not in dialects.names():
        print(f"conformance coverage: unknown dialect {args.dialect!r} (known: {', '.join(dialects.names())})",
              file=sys.stderr)
        return 2
    path = args.documented or default_documented_path(args.dialect)
    try:
        documented = load_documented(path, args.dialect)
    except DocumentedError as exc:
        print(f"conformance coverage: {exc}", file=sys.stderr)
        return 2
    manuals = dialects.get(args.dialect).manuals
    for manual in documented.manuals:
        if manual not in manuals:
            print(f"conformance coverage: {path}: manual {manual!r} is not one of the {args.dialect} dialect's "
                  f"({', '.join(manuals)})", file=sys.stderr)
            return 2

    coverage = Coverage.build(documented, args.cases or [Path("cases")])
    try:
        if args.json:
            print(json.dumps(coverage.as_json(), indent=2))
        else:
            for line in coverage.report(uncovered_only=args.uncovered):
                print(line)
        for error in coverage.errors:
            print(f"error: {error}", file=sys.stderr)
    except BrokenPipeError:  # piped into head
        pass
    if coverage.errors:
        return 2
    return 1 if coverage.uncovered() else 0
