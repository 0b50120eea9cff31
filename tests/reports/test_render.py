"""``conformance report render``: the Allure HTML report generated and opened in headless Chromium.

Needs Java, the Allure command line (npm) and Debian's chromium; skipped, naming what is missing, where they are not
installed (``conformance report render`` installs them; ``make report`` runs it, then this test). The screenshots of
the run with a failing case are kept in ``reports/out/render-check/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conformance.reports.render import missing_tools, render
from conftest import Runs

PNG = b"\x89PNG\r\n\x1a\n"
KEPT = Path(__file__).parents[2] / "reports" / "out" / "render-check"


def test_the_report_renders_with_the_case_list_and_a_failing_case_s_transcript(two_runs: Runs,
                                                                                tmp_path: Path) -> None:
    missing = missing_tools()
    if missing:
        pytest.skip("cannot render here, missing: " + "; ".join(missing))
    run = tmp_path / "a"
    shutil.copytree(two_runs.a, run)
    result = render(run, install=False)
    assert result.ok, "\n".join(result.lines())
    assert (run / "allure-report" / "index.html").exists() and result.single_file is not None
    names = {p.name for p in result.screenshots}
    assert {"allure-suites.png", "allure-failure.png"} <= names  # the case shown is the failing one
    for shot in result.screenshots:
        assert shot.read_bytes().startswith(PNG) and shot.stat().st_size > 10_000
    KEPT.mkdir(parents=True, exist_ok=True)
    for shot in result.screenshots:
        shutil.copy(shot, KEPT / shot.name)
    checks = "\n".join(what for what, _ in result.checks)
    assert "'open refused [bg96]' (failed) opens beside the list" in checks
    assert "the attachment 'expected vs observed' of 'open refused [bg96]' shows its text" in checks


def test_a_run_without_allure_results_is_one_clear_error(tmp_path: Path) -> None:
    from conformance.reports.render import RenderError

    with pytest.raises(RenderError, match="no Allure results"):
        render(tmp_path, install=False)
