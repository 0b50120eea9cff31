"""``conformance report diff RUN_A RUN_B``: what a firmware team reads first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.cli import main as cli_main
from conformance.reports.exchanges import normalise_line, shape
from conformance.transcript import Scope, parse_text
from conformance.transcript.model import ExpectLine
from conftest import Runs, line_of


def _diff(capsys: pytest.CaptureFixture[str], a: Path, b: Path, *args: str) -> str:
    assert cli_main(["report", "diff", str(a), str(b), *args]) == 0
    return capsys.readouterr().out


def _changes_of(md: str, title: str) -> list[str]:
    block = md.split(f"### {title} [bg96]", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^- (.*)$", block, re.MULTILINE)


def test_verdict_changes_come_first_with_the_regression_on_top(two_runs: Runs,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    md = _diff(capsys, two_runs.a, two_runs.b)
    assert md.startswith("# Regression diff: a → b\n")
    verdicts = md.split("## Verdict changes (2; 1 regressions)", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in verdicts.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows[0].startswith("| deactivate in time [bg96] | passed | failed | Timing violation |")
    assert "within 0.3 s (the case's own); nothing matching came" in rows[0]
    assert rows[1].startswith("| open refused [bg96] | failed | passed |")


def test_answers_that_changed_in_cases_that_passed_in_both(two_runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    md = _diff(capsys, two_runs.a, two_runs.b)
    assert "## Changed answers in cases that passed in both (3 cases)" in md
    state = _changes_of(md, "socket state")
    assert state == [f"changed: line {line_of('< +QISTATE:')}: "
                     "'+QISTATE: 0,\"TCP\",\"#.#.#.#\",#,#,#,#,#,#,\"usbmodem\"' → "
                     "'+QISTATE: 0,\"TCP\",\"#.#.#.#\",#, #,#,#,#,#,\"usbmodem\"'"]
    first, second = line_of("> AT+QIACT=1"), line_of("> AT+QIACT?")
    assert _changes_of(md, "activate a context") == [
        f"moved: '+QIURC: \"pdpdeact\",1' now after the answer to line {second + 2} "
        f"(was after the answer to line {first + 1})"]
    dns = _changes_of(md, "DNS server configured")
    assert dns[0].startswith(f"slower: line {line_of('> AT+QIDNSCFG') + 1} 'OK': 0.0") and "→ 0.5" in dns[0]
    assert dns[1].startswith("new warning: slower than typical (0 → 1)")
    assert "view mode" not in md.split("## Changed answers", 1)[1]  # the same deviation in both: no change


def test_a_run_against_itself_has_no_changes(two_runs: Runs, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    md = _diff(capsys, two_runs.a, two_runs.a, "--output", str(tmp_path))
    assert "None: every case has the verdict it had." in md
    assert "None, once captured values and the peers' addresses are normalised." in md
    assert (tmp_path / "diff.md").read_text() == md and (tmp_path / "diff.html").read_text().startswith("<!DOCTYPE")


def test_thresholds_for_a_slower_answer_are_options(two_runs: Runs, capsys: pytest.CaptureFixture[str]) -> None:
    md = _diff(capsys, two_runs.a, two_runs.b, "--slower-by", "2")
    assert "slower:" not in md


class _Peer:
    host = "10.77.0.1"
    port = 40123


def test_normalising_keeps_the_module_s_choices_and_drops_the_run_s_values() -> None:
    (case,) = parse_text('title: t\nsource: BG96 TCP/IP AT Commands Manual V1.0 §2.1.4\ndialects: [bg96]\n'
                         'needs: [tcp_echo]\ntranscript: |\n  > AT\n'
                         '  < +QIURC: "incoming",<id:int>,0,"{tcp_echo.host}",{tcp_echo.port}\n', "x.yaml")
    step = next(s for s in case.steps if isinstance(s, ExpectLine))
    scope = Scope({"tcp_echo": _Peer(), "id": 11})
    line = '+QIURC: "incoming",11,0,"10.77.0.1",40123'
    assert normalise_line(line, step, scope) == '+QIURC: "incoming",#,0,"{tcp_echo.host}",{tcp_echo.port}'
    # a line no step matched: the run's values by name (short ones, like connect IDs, stay)
    known = [("10.77.0.1", "{tcp_echo.host}"), ("40123", "{tcp_echo.port}")]
    assert normalise_line('+QIURC: "closed",1 from 10.77.0.1:40123', None, scope, known) == \
        '+QIURC: "closed",1 from {tcp_echo.host}:{tcp_echo.port}'
    assert shape(" 2026/12/02,01:03:58") == " #/#/#,#:#:#"
