"""What CI reads: JUnit XML and Allure results, also after the runner stops the run with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.responder import Responder

OK = b"\r\nOK\r\n"

PASSING = """\
    title: activate a context
    source: BG96 TCP/IP AT Commands Manual V1.0 §3.1.2
    dialects: [bg96]
    transcript: |
      > AT+QIACT=1
      < OK
    """

FAILING = """\
    title: open refused
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.4
    dialects: [bg96]
    transcript: |
      > AT+QIOPEN=1,0,"TCP","10.0.0.1",7,0,0
      < OK
      < +QIOPEN: 0,0
    """

HANGING = """\
    title: waits long for an answer that never comes
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.2
    dialects: [bg96]
    transcript: |
      > AT+QIACT=2
      < OK                 [within 120s]
    """


@pytest.fixture
def module() -> Iterator[Responder]:
    r = Responder(default=[OK])
    r.on(b"ATI", b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n")
    r.on(b'AT+QIOPEN=1,0,"TCP","10.0.0.1",7,0,0', OK, b"\r\n+QIOPEN: 0,566\r\n")
    r.on(b"AT+QIACT=2")  # never answered
    yield r
    r.close()


def _project(root: Path, **cases: str) -> None:
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = cases\njunit_family = xunit1\n")
    for name, text in cases.items():
        path = root / "cases" / "bg96" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_junit_names_the_dialect_and_file_and_carries_the_line(pytester: pytest.Pytester, module: Responder) -> None:
    _project(pytester.path, contexts=PASSING, sockets=FAILING)
    out = pytester.path / "out"
    result = pytester.runpytest(f"--modem={module.path}", "--dialect", "bg96", "--results-dir", str(out),
                                f"--junitxml={out / 'junit.xml'}", f"--alluredir={out / 'allure'}")
    result.assert_outcomes(passed=1, failed=1)
    cases = {c.get("name"): c for c in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    failed = cases["open_refused[bg96]"]
    assert failed.get("classname") == "bg96.sockets"
    assert failed.get("file") == "cases/bg96/sockets.yaml" and failed.get("line") == "0"
    # a module that answers wrongly is a failed case for Allure, not a broken one
    results = [json.loads(p.read_text()) for p in (out / "allure").glob("*-result.json")]
    status = {r["name"].split(" [")[0]: r["status"] for r in results}
    assert status == {"activate a context": "passed", "open refused": "failed"}


def test_sigterm_ends_the_run_with_its_results_written(tmp_path: Path, module: Responder) -> None:
    _project(tmp_path, hanging=HANGING)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pytest", f"--modem={module.path}", "--dialect", "bg96",
                             "--results-dir", str(out), "--run-name", "r1", f"--junitxml={out / 'junit.xml'}",
                             "-p", "no:cacheprovider"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while not module.wait_received(len(b"AT+QIACT=2\r"), 0.2).endswith(b"AT+QIACT=2\r"):
            assert time.monotonic() < deadline and proc.poll() is None, "the case never started"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = output.decode(errors="replace")
    assert proc.returncode == 2 and "Interrupted: stopped by SIGTERM" in text, text  # pytest: interrupted
    cases = list(ET.parse(out / "junit.xml").getroot().iter("testcase"))
    assert [c.get("name") for c in cases] == ["waits_long_for_an_answer_that_never_comes[bg96]"]
    assert "stopped by SIGTERM" in cases[0].find("failure").get("message")
    assert (out / "r1").is_dir()


def test_allure_lists_a_case_under_one_suite_whatever_it_cites(pytester: pytest.Pytester, module: Responder) -> None:
    _project(pytester.path, contexts=PASSING.replace(
        "source: BG96 TCP/IP AT Commands Manual V1.0 §3.1.2",
        "source:\n      - BG96 TCP/IP AT Commands Manual V1.0 §3.1.2\n"
        "      - BG96 TCP/IP AT Commands Manual V1.0 §2.1.2\n      - BG96 TCP/IP AT Commands Manual V1.0 §4"))
    out = pytester.path / "out"
    pytester.runpytest(f"--modem={module.path}", "--dialect", "bg96", "--results-dir", str(out),
                       f"--alluredir={out / 'allure'}").assert_outcomes(passed=1)
    (result,) = [json.loads(p.read_text()) for p in (out / "allure").glob("*-result.json")]
    labels = [(label["name"], label["value"]) for label in result["labels"]]
    assert [v for n, v in labels if n in ("parentSuite", "suite", "subSuite")] == [
        "bg96", "BG96 TCP/IP AT Commands Manual V1.0", "§3.1.2"]
    assert sorted(v for n, v in labels if n == "section") == ["2.1.2", "3.1.2", "4"]
