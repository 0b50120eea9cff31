"""The regression diff between two runs (firmware A, then firmware B): what a firmware team reads first.

``conformance report diff RUN_A RUN_B`` lists

1. the cases whose verdict changed (a regression first: passed in A, failed in B), and the cases only one run has;
2. for the cases that passed in both, what the module said differently, compared on normalised text
   (:mod:`conformance.reports.exchanges`: a peer's port or a captured value that changed is not a change; a new space
   after a comma, a line that is new or gone, a URC that moved are):
   ``changed`` (the same step, another text), ``moved`` (the same line, elsewhere among the others), ``new``,
   ``gone``, ``slower`` (an answer later by at least ``slower_by_s`` seconds and ``slower_ratio`` times), and warnings
   that are new or gone.

Cases are paired by their id (file, name and dialect). Answers are paired by the case line they answer and their
order among that line's answers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from .document import Cell, Document
from .results import CaseResult, RunResults
from .summary import shown_message

__all__ = ["CaseChanges", "RunDiff", "diff_runs", "document"]

SLOWER_BY_S = 0.25  # an answer this much later ...
SLOWER_RATIO = 1.5  # ... and this many times as late is "slower"
_WORSE = {"passed": 0, "skipped": 1, "broken": 2, "failed": 3}
_COMPARED = ("module", "urc")  # rows of what the module said (not the host's, the echo, or the matcher's notes)


@dataclass
class CaseChanges:
    """How one case that passed in both runs answered differently."""

    case: CaseResult
    changes: list[tuple[str, str]] = field(default_factory=list)  # (kind, what)


@dataclass
class RunDiff:
    """Two runs compared."""

    a: RunResults
    b: RunResults
    verdicts: list[tuple[CaseResult | None, CaseResult | None]]  # (in A, in B): changed, or only in one of them
    responses: list[CaseChanges]

    @property
    def regressions(self) -> list[tuple[CaseResult | None, CaseResult | None]]:
        return [(a, b) for a, b in self.verdicts if a is not None and b is not None and
                _WORSE.get(b.verdict, 0) > _WORSE.get(a.verdict, 0) and b.verdict in ("failed", "broken")]


def diff_runs(a: RunResults, b: RunResults, *, slower_by_s: float = SLOWER_BY_S,
              slower_ratio: float = SLOWER_RATIO) -> RunDiff:
    """Compare run ``a`` (the reference, e.g. the last accepted firmware) with run ``b``."""
    in_a, in_b = a.by_id(), b.by_id()
    verdicts: list[tuple[CaseResult | None, CaseResult | None]] = []
    responses = []
    for cid in list(in_a) + [c for c in in_b if c not in in_a]:
        ca, cb = in_a.get(cid), in_b.get(cid)
        if ca is None or cb is None or ca.verdict != cb.verdict:
            verdicts.append((ca, cb))
        elif ca.verdict == "passed":
            changes = compare_answers(ca, cb, slower_by_s=slower_by_s, slower_ratio=slower_ratio)
            if changes:
                responses.append(CaseChanges(cb, changes))
    verdicts.sort(key=lambda p: (-_change_weight(*p)))
    return RunDiff(a, b, verdicts, responses)


def compare_answers(a: CaseResult, b: CaseResult, *, slower_by_s: float = SLOWER_BY_S,
                    slower_ratio: float = SLOWER_RATIO) -> list[tuple[str, str]]:
    """What case ``b`` (passed) said differently from case ``a`` (passed)."""
    rows_a = [r for r in a.exchanges if r.get("kind") in _COMPARED and r.get("status") != "warn"]
    rows_b = [r for r in b.exchanges if r.get("kind") in _COMPARED and r.get("status") != "warn"]
    keys_a, keys_b = [_key(r) for r in rows_a], [_key(r) for r in rows_b]
    out: list[tuple[str, str]] = []
    gone: list[tuple[int, dict[str, Any]]] = []
    new: list[tuple[int, dict[str, Any]]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        olds, news = list(range(i1, i2)), list(range(j1, j2))
        if op == "replace":
            for i, j in zip(olds, news):
                if rows_a[i].get("line") is not None and rows_a[i].get("line") == rows_b[j].get("line"):
                    out.append(("changed", f"line {rows_a[i]['line']}: {_q(rows_a[i])} → {_q(rows_b[j])}"))
                else:
                    gone.append((i, rows_a[i]))
                    new.append((j, rows_b[j]))
            olds, news = olds[len(news):], news[len(olds):]
        gone += [(i, rows_a[i]) for i in olds]
        new += [(j, rows_b[j]) for j in news]
    for j, row in list(new):
        match = next(((i, r) for i, r in gone if _key(r) == _key(row)), None)
        if match is not None:
            gone.remove(match)
            new.remove((j, row))
            out.append(("moved", f"{_q(row)} now {_place(rows_b, j)} (was {_place(rows_a, match[0])})"))
    out += [("gone", f"{_q(r)} ({_place(rows_a, i)}) is no longer said") for i, r in gone]
    out += [("new", f"{_q(r)} ({_place(rows_b, j)})") for j, r in new]
    out += _slower(rows_a, rows_b, slower_by_s, slower_ratio)
    out += _warning_changes(a, b)
    return out


def document(diff: RunDiff) -> Document:
    """The diff as a document (printed as Markdown, or written as a page)."""
    doc = Document(f"Regression diff: {diff.a.name} → {diff.b.name}")
    doc.table(["run", "module", "passed", "failed", "broken", "skipped"],
              [[run.name, _modules(run), str(run.count("passed")), str(run.count("failed")),
                str(run.count("broken")), str(run.count("skipped"))] for run in (diff.a, diff.b)])
    doc.heading(f"Verdict changes ({len(diff.verdicts)}; {len(diff.regressions)} regressions)")
    if diff.verdicts:
        rows: list[list[str | Cell]] = []
        for ca, cb in diff.verdicts:
            case = cb or ca
            assert case is not None
            va = ca.verdict if ca else "not run"
            vb = cb.verdict if cb else "not run"
            why = shown_message(cb) if cb is not None and cb.verdict != "passed" else ""
            rows.append([_title(case), Cell(va, va if ca else ""), Cell(vb, vb if cb else ""),
                         cb.category if cb is not None else "", Cell(" ".join(why.split())[:300], code=True),
                         Cell(case.where, code=True)])
        doc.table(["case", diff.a.name, diff.b.name, "category", "why", "file:line"], rows)
    else:
        doc.paragraph("None: every case has the verdict it had.")
    doc.heading(f"Changed answers in cases that passed in both ({len(diff.responses)} cases)")
    if not diff.responses:
        doc.paragraph("None, once captured values and the peers' addresses are normalised.")
    kinds = Counter(kind for c in diff.responses for kind, _ in c.changes)
    if kinds:
        doc.paragraph(", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) + ".")
    for changed in diff.responses:
        doc.heading(f"{_title(changed.case)} ({changed.case.where})", 3)
        doc.items([f"{kind}: {what}" for kind, what in changed.changes])
    return doc


# -- helpers ---------------------------------------------------------------------------------------------------------

def _key(row: dict[str, Any]) -> str:
    return f"{row.get('line')}|{row.get('normalised', row.get('observed', ''))}"


def _q(row: dict[str, Any]) -> str:
    return repr(row.get("normalised", row.get("observed", "")))


def _place(rows: list[dict[str, Any]], index: int) -> str:
    """Where a row sits: after the answer to which case line."""
    before = next((r for r in reversed(rows[:index]) if r.get("line") is not None), None)
    return f"after the answer to line {before['line']}" if before is not None else "first"


def _slower(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]], by_s: float,
            ratio: float) -> list[tuple[str, str]]:
    def timed(rows: list[dict[str, Any]]) -> dict[tuple[Any, int], dict[str, Any]]:
        seen: Counter[Any] = Counter()
        out = {}
        for row in rows:
            if row.get("status") == "ok" and row.get("after_s") is not None and row.get("line") is not None:
                out[(row["line"], seen[row["line"]])] = row
                seen[row["line"]] += 1
        return out

    ta, tb = timed(rows_a), timed(rows_b)
    out = []
    for key, rb in tb.items():
        ra = ta.get(key)
        if ra is None:
            continue
        sa, sb = float(ra["after_s"]), float(rb["after_s"])
        if sb - sa >= by_s and sb >= sa * ratio:
            out.append(("slower", f"line {key[0]} {_q(rb)}: {sa:.3f} s → {sb:.3f} s"))
    return out


def _warning_changes(a: CaseResult, b: CaseResult) -> list[tuple[str, str]]:
    ka, kb = Counter(w["kind"] for w in a.warnings), Counter(w["kind"] for w in b.warnings)
    out = []
    for kind in sorted(set(ka) | set(kb)):
        if kb[kind] > ka[kind]:
            example = next(w for w in b.warnings if w["kind"] == kind)
            out.append(("new warning", f"{kind} ({ka[kind]} → {kb[kind]}): {example.get('text', '')}"))
        elif kb[kind] < ka[kind]:
            out.append(("warning gone", f"{kind} ({ka[kind]} → {kb[kind]})"))
    return out


def _change_weight(a: CaseResult | None, b: CaseResult | None) -> int:
    """Regressions first, then other changes, then cases only one run has."""
    if a is None or b is None:
        return 0
    return 2 + _WORSE.get(b.verdict, 0) - _WORSE.get(a.verdict, 0)


def _modules(run: RunResults) -> str:
    return ", ".join(f"{m.get('model', m.get('dialect', '?'))} {m.get('firmware') or m.get('revision') or ''}".strip()
                     for m in run.modules) or "-"


def _title(case: CaseResult) -> str:
    return f"{case.title or case.name or case.id}" + (f" [{case.dialect}]" if case.dialect else "")

