"""The acceptance summary of a run: what a person accepts a firmware revision on.

``conformance report summary reports/out/<run>`` writes ``summary.md`` and ``summary.html`` beside the run's results:
the module, its firmware and the date; the verdict in one paragraph; new failures first; the known deviations of the
firmware (from its quirks file, :mod:`conformance.reports.quirks`), those that happened and those that did not; per
manual and section, passed / failed / skipped with the reasons; the warnings (deviations that did not fail a case)
counted; and the traceability matrix manual section -> cases -> verdict.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .document import Cell, Document
from .quirks import DEFAULT_QUIRKS_DIR, Judged, QuirksFile, find_quirks, judge, load_quirks
from .results import CaseResult, RunResults, load_run

__all__ = ["Summary", "build_summary", "shown_message", "write_summary"]

_MESSAGE_MAX = 300  # characters of a failure message in a table (the whole text is in Allure and the flight log)


@dataclass
class Summary:
    """A run judged against its known deviations, ready to be written."""

    run: RunResults
    quirk_files: list[QuirksFile]
    judged: Judged
    recoveries: int | None

    @property
    def new_failures(self) -> list[CaseResult]:
        """Failed or broken tests that no quirk explains."""
        known = {id(case) for _, case in self.judged.known}
        return [c for c in self.run.cases if c.verdict in ("failed", "broken") and id(c) not in known]

    def verdict_of(self, case: CaseResult) -> tuple[str, str]:
        """(what to show, how to style it) for ``case``: a known deviation shows as such."""
        if any(c is case for _, c in self.judged.known):
            return "failed (known deviation)", "known"
        return case.verdict, case.verdict


def build_summary(run: RunResults, quirk_files: list[QuirksFile]) -> Summary:
    """Judge ``run`` against ``quirk_files``."""
    return Summary(run, quirk_files, judge(quirk_files, run.cases), _recoveries(run.path))


def write_summary(run_dir: str | Path, *, quirks: list[Path] | None = None, quirks_dir: Path = DEFAULT_QUIRKS_DIR,
                  out_dir: Path | None = None) -> tuple[Path, Path, Summary]:
    """Write ``summary.md`` and ``summary.html`` for the run in ``run_dir`` (into ``out_dir``, default the run's
    folder). Quirks files: those given, else every one under ``quirks_dir`` written for the run's module."""
    run = load_run(run_dir)
    files = [load_quirks(q) for q in quirks] if quirks else find_quirks(run.modules, quirks_dir)
    summary = build_summary(run, files)
    doc = document(summary)
    out = out_dir or run.path
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "summary.md", out / "summary.html"
    md.write_text(doc.markdown(), encoding="utf-8")
    page.write_text(doc.html(), encoding="utf-8")
    return md, page, summary


def document(summary: Summary) -> Document:
    """The summary as a document (Markdown and HTML are written from it)."""
    run = summary.run
    doc = Document(f"Acceptance summary: {_modules_title(run.modules)}")
    when = run.meta.get("started", "")
    doc.paragraph(f"Run {run.name}, {when} to {run.meta.get('finished', '')} (UTC), on host "
                  f"{run.meta.get('host', '?')}, suite {run.meta.get('suite_version', '?')}.")
    _module_table(doc, run)
    _verdict(doc, summary)
    _new_failures(doc, summary)
    _known(doc, summary)
    _sections(doc, summary)
    _skips(doc, run)
    _warnings(doc, run)
    _traceability(doc, summary)
    return doc


# -- the parts -------------------------------------------------------------------------------------------------------

def _modules_title(modules: list[dict[str, Any]]) -> str:
    if not modules:
        return "no module answered"
    parts = []
    for m in modules:
        kind = " (simulated)" if m.get("simulated") else ""
        parts.append(f"{m.get('model') or m.get('dialect', '?')} {m.get('firmware') or m.get('revision') or ''}"
                     .strip() + kind)
    return ", ".join(parts)


def _module_table(doc: Document, run: RunResults) -> None:
    doc.heading("Module")
    manuals = run.meta.get("manuals") or {}
    rows: list[list[str | Cell]] = []
    for m in run.modules:
        rows.append([m.get("dialect", ""), m.get("model", ""), m.get("revision", ""), m.get("firmware", ""),
                     Cell(m["imei"], code=True) if m.get("imei") else "(not read)", m.get("url", ""),
                     " / ".join(manuals.get(m.get("dialect"), []))])
    if rows:
        doc.table(["dialect", "model", "revision", "firmware", "IMEI", "port", "held to"], rows)
    else:
        doc.paragraph("No module was opened in this run (every test was skipped or broken before it).")


def _verdict(doc: Document, summary: Summary) -> None:
    run = summary.run
    counts = Counter(c.verdict for c in run.cases)
    known = len(summary.judged.known)
    new = summary.new_failures
    warned = [c for c in run.cases if c.warnings]
    doc.heading("Verdict")
    text = (f"{len(run.cases)} tests: {counts['passed']} passed, {counts['failed']} failed "
            f"({known} known deviation{'s' if known != 1 else ''}), {counts['broken']} broken, "
            f"{counts['skipped']} skipped. {sum(len(c.warnings) for c in run.cases)} warnings in {len(warned)} "
            "tests.")
    if summary.recoveries is not None:
        text += f" Module recoveries during the run: {summary.recoveries}."
    doc.paragraph(text)
    if new:
        doc.paragraph(f"NOT ACCEPTABLE as it stands: {len(new)} failure(s) that no known deviation explains.")
    elif summary.judged.not_seen:
        doc.paragraph("No new failure. Some known deviations did not happen: see below (fixed in this firmware?).")
    else:
        doc.paragraph("No new failure.")


def _new_failures(doc: Document, summary: Summary) -> None:
    new = summary.new_failures
    doc.heading(f"New failures ({len(new)})")
    if not new:
        doc.paragraph("None.")
        return
    differently = {id(c): q for q, c in summary.judged.different}
    rows: list[list[str | Cell]] = []
    for case in new:
        note = ""
        if id(case) in differently:
            note = f" (a known deviation is declared for this case, but it failed another way: " \
                   f"{differently[id(case)].reason})"
        rows.append([Cell(_title(case)), ", ".join(_section_names(case)), Cell(case.verdict, case.verdict),
                     case.category, Cell(_cut(shown_message(case)) + note, code=True), Cell(case.where, code=True)])
    doc.table(["case", "sections", "verdict", "category", "message", "file:line"], rows)


def _known(doc: Document, summary: Summary) -> None:
    judged = summary.judged
    doc.heading("Known deviations")
    if not summary.quirk_files:
        modules = ", ".join(f"{m.get('model', '?')} {m.get('revision', '')}".strip() for m in summary.run.modules)
        doc.paragraph(f"No quirks file declares known deviations for {modules or 'this run'}.")
        return
    doc.items([f"{f.path}: module {f.module.pattern}, firmware {f.firmware.pattern}" + (f" ({f.note})" if f.note
                                                                                       else "") for f in
               summary.quirk_files])
    if judged.known:
        doc.heading("Failed as declared", 3)
        doc.table(["case", "reason", "verdict", "message"],
                  [[_title(c), q.reason, Cell("failed (known deviation)", "known"),
                    Cell(_cut(shown_message(c)), code=True)] for q, c in judged.known])
    if judged.not_seen:
        doc.heading("Declared but did not happen", 3)
        rows = [[q.case if c is None else _title(c), q.reason,
                 Cell("not in this run" if c is None else c.verdict, "" if c is None else c.verdict)]
                for q, c in judged.not_seen]
        doc.table(["case", "reason", "this run"], rows)
    if judged.different:
        doc.heading("Declared, but failed another way (listed with the new failures)", 3)
        doc.table(["case", "reason", "message"],
                  [[_title(c), q.reason, Cell(_cut(shown_message(c)), code=True)] for q, c in judged.different])


def _sections(doc: Document, summary: Summary) -> None:
    doc.heading("Per manual and section")
    for manual, sections in _by_section(summary.run.cases).items():
        doc.heading(manual, 3)
        rows: list[list[str | Cell]] = []
        for section, cases in sections.items():
            shown = Counter(summary.verdict_of(c)[1] for c in cases)
            warnings = sum(len(c.warnings) for c in cases)
            rows.append([f"§{section}" if section != "-" else "-", str(len(cases)),
                         Cell(str(shown["passed"]), "passed" if shown["passed"] else ""),
                         Cell(str(shown["failed"] + shown["broken"]), "failed" if shown["failed"] + shown["broken"]
                              else ""),
                         Cell(str(shown["known"]), "known" if shown["known"] else ""),
                         Cell(str(shown["skipped"]), "skipped" if shown["skipped"] else ""),
                         Cell(str(warnings), "warning" if warnings else "")])
        doc.table(["section", "cases", "passed", "failed", "known deviations", "skipped", "warnings"], rows)


def _skips(doc: Document, run: RunResults) -> None:
    skipped = [c for c in run.cases if c.verdict == "skipped"]
    doc.heading(f"Skipped, with reasons ({len(skipped)})")
    if not skipped:
        doc.paragraph("None.")
        return
    reasons: dict[str, list[CaseResult]] = defaultdict(list)
    for case in skipped:
        reasons[case.message or "(no reason given)"].append(case)
    doc.table(["reason", "tests", "cases"],
              [[Cell(reason, code=True), str(len(cases)), ", ".join(_title(c) for c in cases)]
               for reason, cases in sorted(reasons.items(), key=lambda kv: -len(kv[1]))])


def _warnings(doc: Document, run: RunResults) -> None:
    warned = [(c, w) for c in run.cases for w in c.warnings]
    doc.heading(f"Warnings: deviations that did not fail a case ({len(warned)})")
    if not warned:
        doc.paragraph("None.")
        return
    kinds = Counter(w["kind"] for _, w in warned)
    doc.table(["kind", "count", "tests"],
              [[kind, str(n), str(len({c.id for c, w in warned if w["kind"] == kind}))]
               for kind, n in kinds.most_common()])
    doc.table(["case", "line", "kind", "what"],
              [[_title(c), str(w.get("line") or ""), Cell(w["kind"], "warning"), Cell(_cut(str(w["text"])),
                                                                                      code=True)]
               for c, w in warned])


def _traceability(doc: Document, summary: Summary) -> None:
    doc.heading("Traceability: manual section → cases → verdict")
    for manual, sections in _by_section(summary.run.cases).items():
        doc.heading(manual, 3)
        rows: list[list[str | Cell]] = []
        for section, cases in sections.items():
            for i, case in enumerate(cases):
                shown, style = summary.verdict_of(case)
                rows.append([f"§{section}" if i == 0 and section != "-" else ("-" if i == 0 else ""),
                             _title(case), Cell(case.where, code=True), Cell(shown, style)])
        doc.table(["section", "case", "file:line", "verdict"], rows)


# -- helpers ---------------------------------------------------------------------------------------------------------

def _by_section(cases: list[CaseResult]) -> dict[str, dict[str, list[CaseResult]]]:
    """manual -> section -> the cases citing it, manuals by name and sections in the manual's order."""
    table: dict[str, dict[str, list[CaseResult]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        for manual, section in dict.fromkeys(case.sections):
            table[manual][section].append(case)
    return {m: dict(sorted(s.items(), key=lambda kv: _section_key(kv[0]))) for m, s in sorted(table.items())}


def _section_key(section: str) -> tuple[int, ...]:
    return tuple(int(p) for p in section.split(".") if p.isdigit()) or (10**6,)


def _section_names(case: CaseResult) -> list[str]:
    return [f"§{s}" for _, s in case.sections if s != "-"]


def _title(case: CaseResult) -> str:
    return f"{case.title or case.name or case.id}" + (f" [{case.dialect}]" if case.dialect else "")


def shown_message(case: CaseResult) -> str:
    """A failure message as a reader wants it: without the exception's module, the case file's path as the run's."""
    text = re.sub(r"^[a-z_]+(?:\.[a-z_]+)*\.(?=[A-Z]\w*: )", "", case.message)
    if case.file:
        text = re.sub(r"\S*/" + re.escape(case.file), case.file, text)
    return text


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_MAX else text[:_MESSAGE_MAX - 3] + "..."


def _recoveries(run_dir: Path) -> int | None:
    """How many recoveries the run's ``recoveries.json`` lists (None if the run wrote none)."""
    try:
        data = json.loads((run_dir / "recoveries.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return len(data) if isinstance(data, list) else None
