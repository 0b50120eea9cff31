"""conformance report: the acceptance summary, the regression diff and the rendered Allure report of runs.

    conformance report summary reports/out/<run> [--quirks FILE ...]   summary.md and summary.html in the run's folder
    conformance report diff RUN_A RUN_B [--output DIR]                 what changed from A to B (Markdown on stdout)
    conformance report render reports/out/<run>                        the Allure HTML report, checked in Chromium
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .quirks import DEFAULT_QUIRKS_DIR, QuirksError
from .results import RunResultsError

__all__ = ["report_main"]


def report_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="conformance report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p_sum = sub.add_parser("summary", help="write the acceptance summary of a run (Markdown and HTML)")
    p_sum.add_argument("run", type=Path, help="the run's folder, e.g. reports/out/20261202-010523")
    p_sum.add_argument("--quirks", type=Path, action="append", metavar="FILE",
                       help="a known-deviations file (repeatable); default: every file under --quirks-dir written "
                            "for the run's module and firmware")
    p_sum.add_argument("--quirks-dir", type=Path, default=DEFAULT_QUIRKS_DIR, metavar="DIR",
                       help=f"where to look for known-deviations files (default {DEFAULT_QUIRKS_DIR})")
    p_sum.add_argument("--output", type=Path, metavar="DIR", help="write the files here instead of the run's folder")
    p_diff = sub.add_parser("diff", help="what changed from run A (e.g. the last accepted firmware) to run B")
    p_diff.add_argument("run_a", type=Path)
    p_diff.add_argument("run_b", type=Path)
    p_diff.add_argument("--output", type=Path, metavar="DIR", help="also write diff.md and diff.html into DIR")
    p_diff.add_argument("--slower-by", type=float, default=None, metavar="S",
                        help="report an answer slower by at least S seconds (default 0.25) ...")
    p_diff.add_argument("--slower-ratio", type=float, default=None, metavar="R",
                        help="... and at least R times as slow (default 1.5)")
    p_render = sub.add_parser("render", help="generate the Allure HTML report of a run and check it in headless "
                                             "Chromium (installs the Allure command line and Chromium if missing)")
    p_render.add_argument("run", type=Path)
    p_render.add_argument("--no-install", action="store_true", help="fail instead of installing what is missing")
    ns = parser.parse_args(list(argv))
    try:
        if ns.what == "summary":
            return _summary(ns)
        if ns.what == "diff":
            return _diff(ns)
        from .render import RenderError, render

        try:
            result = render(ns.run, install=not ns.no_install)
        except RenderError as exc:
            print(f"conformance report render: {exc}", file=sys.stderr)
            return 1
        for line in result.lines():
            print(line)
        return 0 if result.ok else 1
    except (RunResultsError, QuirksError) as exc:
        print(f"conformance report {ns.what}: {exc}", file=sys.stderr)
        return 2


def _summary(ns: argparse.Namespace) -> int:
    from .summary import write_summary

    md, page, summary = write_summary(ns.run, quirks=ns.quirks, quirks_dir=ns.quirks_dir, out_dir=ns.output)
    run = summary.run
    print(f"{run.name}: {len(run.cases)} tests, {run.count('passed')} passed, {run.count('failed')} failed "
          f"({len(summary.judged.known)} known deviations), {run.count('broken')} broken, {run.count('skipped')} "
          f"skipped; {len(summary.new_failures)} new failures")
    print(f"summary: {md}  {page}")
    return 0


def _diff(ns: argparse.Namespace) -> int:
    from .diff import SLOWER_BY_S, SLOWER_RATIO, diff_runs, document
    from .results import load_run

    diff = diff_runs(load_run(ns.run_a), load_run(ns.run_b),
                     slower_by_s=ns.slower_by if ns.slower_by is not None else SLOWER_BY_S,
                     slower_ratio=ns.slower_ratio if ns.slower_ratio is not None else SLOWER_RATIO)
    doc = document(diff)
    text = doc.markdown()
    try:
        sys.stdout.write(text)
    except BrokenPipeError:  # piped into head
        pass
    if ns.output is not None:
        ns.output.mkdir(parents=True, exist_ok=True)
        (ns.output / "diff.md").write_text(text, encoding="utf-8")
        (ns.output / "diff.html").write_text(doc.html(), encoding="utf-8")
    return 0
