"""``conformance report summary``: what a person accepts a firmware revision on."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from conformance.cli import main as cli_main
from conftest import Runs

QUIRKS = """\
    module: BG96
    firmware: BG96MAR02A07M1G
    note: the firmware the bench shipped with
    quirks:
      - case: open
        reason: answers +QIOPEN 566 for a refused port (FW-1)
        fails_with: "the module said '\\\\+QIOPEN: 0,566'"
      - case: cases/bg96/reports.yaml::state
        reason: the state once came without its access mode (FW-2)
      - case: deactivate
        reason: answers AT+QIDEACT with ERROR while a socket closes (FW-3)
        fails_with: "the module said 'ERROR'"
    """


def _quirks(folder: Path, text: str = QUIRKS, name: str = "bg96-a07.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _summary(run: Path, *args: str) -> tuple[str, str]:
    assert cli_main(["report", "summary", str(run), *args]) == 0
    out = Path(args[args.index("--output") + 1]) if "--output" in args else run
    return (out / "summary.md").read_text(), (out / "summary.html").read_text()


def _section(md: str, heading: str) -> str:
    """The Markdown under ``heading`` up to the next heading of its level or above."""
    level = heading.split(" ")[0]
    start = md.index(heading + "\n")
    rest = md[start + len(heading):]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def test_known_deviations_new_failures_sections_and_traceability(two_runs: Runs, tmp_path: Path) -> None:
    quirks = _quirks(tmp_path)
    md, page = _summary(two_runs.a, "--quirks", str(quirks))
    assert md.startswith("# Acceptance summary: BG96 BG96MAR02A07M1G\n")
    assert "9 tests: 5 passed, 1 failed (1 known deviation), 1 broken, 2 skipped. 2 warnings in 2 tests." in md
    new = _section(md, "## New failures (1)")
    assert "broken.yaml" in new and "Case file error" in new and "open refused" not in new
    known = _section(md, "### Failed as declared")
    assert "open refused [bg96]" in known and "answers +QIOPEN 566 for a refused port (FW-1)" in known
    not_seen = _section(md, "### Declared but did not happen")
    assert "socket state [bg96]" in not_seen and "deactivate in time [bg96]" in not_seen
    sections = _section(md, "### BG96 TCP/IP AT Commands Manual V1.0")
    # section | cases | passed | failed | known deviations | skipped | warnings
    assert "| §2.1.4 | 2 | 0 | 0 | 1 | 1 | 0 |" in sections
    assert "| §2.1.2 | 1 | 1 | 0 | 0 | 0 | 1 |" in sections
    skips = _section(md, "## Skipped, with reasons (2)")
    assert "the module's memory cannot be filled on demand" in skips and "does not provide 'tcp_echo'" in skips
    warnings = _section(md, "## Warnings: deviations that did not fail a case (2)")
    assert "| unexpected URC | 1 | 1 |" in warnings and "| final result code without its line end | 1 | 1 |" \
        in warnings
    trace = md[md.index("## Traceability"):]
    assert "| §2.1.4 | open refused [bg96] | `cases/bg96/reports.yaml:" in trace
    assert "| failed (known deviation) |" in trace and "| §3.2.2 | echo through a peer [bg96] |" in trace
    assert page.startswith("<!DOCTYPE html>") and "<td class='known'>failed (known deviation)</td>" in page
    assert "src=" not in page and "href=\"http" not in page  # standalone: nothing to fetch


def test_a_known_case_that_fails_another_way_is_a_new_failure(two_runs: Runs, tmp_path: Path) -> None:
    md, _ = _summary(two_runs.b, "--quirks", str(_quirks(tmp_path)), "--output", str(tmp_path / "b"))
    new = _section(md, "## New failures (2)")
    assert "deactivate in time [bg96]" in new and "Timing violation" in new
    assert "failed another way: answers AT+QIDEACT with ERROR while a socket closes (FW-3)" in new
    assert "open refused [bg96]" in _section(md, "### Declared but did not happen")  # fixed in firmware B
    assert "NOT ACCEPTABLE as it stands: 2 failure(s) that no known deviation explains." in md


def test_quirks_files_are_found_for_the_run_s_module_and_firmware(two_runs: Runs, tmp_path: Path) -> None:
    folder = tmp_path / "quirks"
    _quirks(folder)
    _quirks(folder, QUIRKS.replace("firmware: BG96MAR02A07M1G", "firmware: BG96MAR02A08M1G")
            .replace("(FW-1)", "(A08)"), name="bg96-a08.yaml")
    md, _ = _summary(two_runs.a, "--quirks-dir", str(folder), "--output", str(tmp_path / "out"))
    assert "bg96-a07.yaml" in md and "bg96-a08.yaml" not in md and "(A08)" not in md
    md, _ = _summary(two_runs.a, "--quirks-dir", str(tmp_path / "none"), "--output", str(tmp_path / "out"))
    assert "No quirks file declares known deviations for BG96 BG96MAR02A07M1G." in md
    assert "9 tests: 5 passed, 1 failed (0 known deviations)" in md


@pytest.mark.parametrize(("text", "problem"), [
    ("module: BG96\nquirks: []\n", "firmware is required"),
    ("module: BG96\nfirmware: '('\nquirks: []\n", "is not a regular expression"),
    ("module: BG96\nfirmware: x\nquirks: [{case: open}]\n", "quirk 1: reason is required"),
    ("module: BG96\nfirmware: x\nquirks: [{case: open, reason: r, since: 3}]\n", "quirk 1: a quirk has"),
    ("modul: BG96\n", "unknown key(s) modul"),
])
def test_a_bad_quirks_file_is_one_clear_error(two_runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert cli_main(["report", "summary", str(two_runs.a), "--quirks", str(path), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and problem in err and "Traceback" not in err


def test_a_folder_without_results_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["report", "summary", str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err
    assert cli_main(["report", "diff", str(tmp_path / "nope"), str(tmp_path)]) == 2
    assert "no such run folder" in capsys.readouterr().err
