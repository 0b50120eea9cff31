"""``conformance coverage <dialect>``: every item the manual documents, and the cases that cover it.

The documented items are data (``conformance/dialects/<dialect>_documented.yaml``): sections, examples, command forms,
URCs, error codes, each with an id such as ``2.1.4``, ``2.1.4 AT+QIOPEN=?`` or ``4 error 566``. A case covers an item by
citing it in ``source:`` as ``<manual> §<id>``, e.g. ``BG96 TCP/IP AT Commands Manual V1.0 §2.1.4 AT+QIOPEN=?``
(docs/coverage.md). The tool is strict: a citation of the dialect's manual that names no documented item is an error,
not a silent miss.

Exit status: 0 every item covered; 1 some item uncovered; 2 a citation, a case file or the documented list is wrong
(or the command line is).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import dialects
from ..errors import ConformanceError
from ..transcript import Case, parse_file

__all__ = [
    "KINDS",
    "CitationError",
    "Coverage",
    "Covering",
    "Documented",
    "DocumentedError",
    "DocumentedItem",
    "coverage_main",
    "default_documented_path",
    "load_documented",
    "parse_citation",
]

KINDS = ("section", "example", "command_form", "urc", "error_code", "behaviour")
_SECTION = re.compile(r"^\d+(?:\.\d+)*$")
_MARK = "§"


class DocumentedError(ConformanceError):
    """The documented list itself is malformed."""


@dataclass(frozen=True)
class DocumentedItem:
    """One thing the manual documents: ``id`` is what a citation writes after the ``§``."""

    id: str
    kind: str
    text: str

    @property
    def section(self) -> str:
        return self.id.split(" ", 1)[0]

    @property
    def key(self) -> str:
        """What follows the section in the id (``AT+QIOPEN=?``); empty for a section."""
        return self.id.split(" ", 1)[1] if " " in self.id else ""


@dataclass
class Documented:
    """A dialect's documented list: its manual's name, and the items in the manual's order."""

    dialect: str
    manual: str
    items: list[DocumentedItem]
    path: Path

    def __post_init__(self) -> None:
        self.by_id = {item.id: item for item in self.items}


def default_documented_path(dialect: str) -> Path:
    return Path(dialects.__file__).parent / f"{dialect}_documented.yaml"


def load_documented(path: str | Path, dialect: str | None = None) -> Documented:
    """Read and check a documented list; :class:`DocumentedError` (naming the item) if anything is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DocumentedError(f"{path}: cannot read the documented list: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise DocumentedError(f"{path}: a documented list is a mapping with dialect, manual and items")
    name = data.get("dialect")
    manual = data.get("manual")
    if not isinstance(name, str) or not isinstance(manual, str) or not manual:
        raise DocumentedError(f"{path}: give 'dialect' and 'manual' (the manual's name as cases cite it)")
    if dialect is not None and name != dialect:
        raise DocumentedError(f"{path}: lists the items of dialect {name!r}, not {dialect!r}")
    items: list[DocumentedItem] = []
    seen: set[str] = set()
    sections: set[str] = set()
    for n, raw in enumerate(data["items"], 1):
        where = f"{path}: item {n}"
        if not isinstance(raw, dict) or set(raw) != {"id", "kind", "text"}:
            raise DocumentedError(f"{where}: an item has exactly id, kind and text; got {raw!r}")
        item_id, kind, text = raw["id"], raw["kind"], raw["text"]
        if not isinstance(item_id, str) or item_id != " ".join(item_id.split()) or \
                not _SECTION.match(item_id.split(" ", 1)[0]):
            raise DocumentedError(f"{where}: id {item_id!r} is '<section>' or '<section> <key>', single-spaced")
        if kind not in KINDS:
            raise DocumentedError(f"{where} ({item_id}): kind {kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(text, str) or not text.strip():
            raise DocumentedError(f"{where} ({item_id}): give a short text")
        if item_id in seen:
            raise DocumentedError(f"{where}: id {item_id!r} listed twice")
        item = DocumentedItem(item_id, kind, text)
        if (kind == "section") != (item.key == ""):
            raise DocumentedError(f"{where}: {item_id!r}: a section's id is its number alone, and only a "
                                  "section's is")
        if kind != "section" and item.section not in sections:
            raise DocumentedError(f"{where}: {item_id!r}: section {item.section} is not listed before it")
        seen.add(item_id)
        if kind == "section":
            sections.add(item_id)
        items.append(item)
    return Documented(name, manual, items, path)


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
    if not _SECTION.match(ref.split(" ", 1)[0]):
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
    direct: dict[str, list[Covering]] = field(default_factory=dict)  # item id -> cases citing exactly it
    errors: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, documented: Documented, paths: Sequence[Path]) -> Coverage:
        """Read every case file under ``paths`` and collect the citations of ``documented``'s items."""
        cov = cls(documented)
        cov.direct = {item.id: [] for item in documented.items}
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
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
        return cov

    def _add_case(self, case: Case, file: Path) -> None:
        ref = f"{_display(file)}::{case.name}"
        own = [self.documented.manual]
        others = [m for d in case.dialects if d != self.documented.dialect and d in dialects.names()
                  for m in dialects.get(d).manuals]
        for source in case.sources:
            try:
                manual, item_id = parse_citation(source, own + others)
            except ValueError as exc:
                self._error(case, file, source, str(exc))
                continue
            if manual != self.documented.manual:
                continue  # another dialect's manual: its own documented list judges it
            if item_id not in self.documented.by_id:
                self._error(case, file, source, _unknown(item_id, self.documented))
                continue
            covering = Covering(ref, case.skip)
            if covering not in self.direct[item_id]:
                self.direct[item_id].append(covering)

    def _error(self, case: Case, file: Path, source: str, problem: str) -> None:
        self.errors.append(str(CitationError(_display(file), _line_of(case, file, source), case.name, source,
                                             problem)))

    def covering(self, item: DocumentedItem) -> list[Covering]:
        """The cases covering ``item``: those citing it; for a section, also those citing anything inside it."""
        found = list(self.direct[item.id])
        if item.kind == "section":
            inner = [other for other in self.documented.items if other.id != item.id and
                     (other.section == item.id or other.section.startswith(item.id + "."))]
            names = {c.case for c in found}
            for other in inner:
                for c in self.direct[other.id]:
                    if c.case not in names:
                        names.add(c.case)
                        found.append(Covering(c.case, c.skip, via=other.id))
        return found

    def uncovered(self) -> list[DocumentedItem]:
        return [item for item in self.documented.items if not self.covering(item)]

    def only_skipped(self) -> list[DocumentedItem]:
        return [item for item in self.documented.items
                if (cs := self.covering(item)) and all(c.skip for c in cs)]

    # ---------------------------------------------------------------------------------------------------- output

    def report(self, *, uncovered_only: bool = False) -> list[str]:
        doc = self.documented
        lines = [f"coverage of {doc.manual} ({_display(doc.path)}) by {self.cases} {doc.dialect} case(s)", ""]
        for item in doc.items:
            covering = self.covering(item)
            if uncovered_only and covering:
                continue
            lines.append(f"{_MARK}{item.id}  [{item.kind}]  {_short(item.text)}")
            if not covering:
                lines.append("    UNCOVERED")
                continue
            direct = [c for c in covering if not c.via]
            for c in direct:
                lines.append(f"    {c.case}" + (f"  skipped: {c.skip}" if c.skip else ""))
            inner = [c for c in covering if c.via]
            if inner:
                runs = sum(1 for c in inner if not c.skip)
                lines.append(f"    {'+ ' if direct else ''}{len(inner)} case(s) through its items and subsections"
                             f" ({runs} run, {len(inner) - runs} skipped)")
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
        skipped = self.only_skipped()
        lines = [f"by kind: {', '.join(per_kind)}"]
        if skipped:
            lines.append(f"covered only by skipped cases ({len(skipped)}): "
                         f"{', '.join(_MARK + i.id for i in skipped)}")
        if uncovered:
            lines.append(f"UNCOVERED ({len(uncovered)}): {', '.join(_MARK + i.id for i in uncovered)}")
        lines.append(f"{len(doc.items)} documented items: {len(doc.items) - len(uncovered)} covered, "
                     f"{len(uncovered)} uncovered; {len(self.errors)} citation error(s)")
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "dialect": self.documented.dialect,
            "manual": self.documented.manual,
            "cases": self.cases,
            "errors": list(self.errors),
            "items": [
                {"id": item.id, "kind": item.kind, "text": item.text,
                 "covered_by": [{"case": c.case, "skip": c.skip or None, "via": c.via or None}
                                for c in self.covering(item)]}
                for item in self.documented.items
            ],
        }


def _unknown(item_id: str, documented: Documented) -> str:
    close = difflib.get_close_matches(item_id, list(documented.by_id), n=3, cutoff=0.6)
    section = item_id.split(" ", 1)[0]
    if not close:
        close = [i.id for i in documented.items if i.section == section][:6]
    hint = f"; did you mean {' or '.join(repr(_MARK + c) for c in close)}?" if close else ""
    return f"{_MARK}{item_id} is not a documented item of {documented.manual}{hint}"


def _line_of(case: Case, file: Path, source: str) -> int:
    """The file line where ``source`` is written in ``case`` (the case's first line if it cannot be found)."""
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
        description="List every item the dialect's manual documents (sections, examples, command forms, URCs, error "
                    "codes) with the cases whose source: cites it. Exit 0 if all are covered, 1 if some item is "
                    "not, 2 if a citation or a case file is wrong. See docs/coverage.md.")
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
    if documented.manual not in manuals:
        print(f"conformance coverage: {path}: manual {documented.manual!r} is not one of the {args.dialect} "
              f"dialect's ({', '.join(manuals)})", file=sys.stderr)
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
