"""Runs of the suite with known outcomes, against a scripted module on a real pty, for the report tests.

``two_runs`` makes run A and run B of the same cases against firmware that changed in known ways between them:

============  ======================================  =============================================
case          run A                                   run B
============  ======================================  =============================================
activate      passes; an unexpected URC after line 8  passes; the URC comes after line 10 (moved)
state         passes                                  passes; a space after a comma in a capture
dns_config    passes                                  passes, 0.5 s slower (and slower than typical)
open          fails: +QIOPEN: 0,566 (wrong code)      passes (fixed)
deactivate    passes                                  fails: OK too late (timing violation)
viewmode      passes; OK without its line end         the same
skipped       skipped (the case says why)             the same
needs_peer    skipped (the bench lacks tcp_echo)      the same
broken.yaml   broken (case file error)                the same
============  ======================================  =============================================
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.responder import Responder

MANUAL = "BG96 TCP/IP AT Commands Manual V1.0"
OK = b"\r\nOK\r\n"
IDENTITY = b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n"
URC = b'\r\n+QIURC: "pdpdeact",1\r\n'

CASES = f"""\
    title: activate a context
    name: activate
    source: {MANUAL} §2.1.2
    dialects: [bg96]
    tags: [example]
    transcript: |
      > AT+QIACT=1
      < OK
      > AT+QIACT?
      < +QIACT: 1,1,1,"<ip:ip>"
      < OK
    ---
    title: socket state
    name: state
    source: {MANUAL} §2.1.6
    dialects: [bg96]
    tags: [command_form]
    transcript: |
      > AT+QISTATE=1,0
      < +QISTATE: 0,"TCP",<rest:any>
      < OK
    ---
    title: DNS server configured
    name: dns_config
    source: {MANUAL} §2.1.13
    dialects: [bg96]
    transcript: |
      > AT+QIDNSCFG=1,"8.8.8.8"
      < OK
    ---
    title: open refused
    name: open
    source: {MANUAL} §2.1.4
    dialects: [bg96]
    tags: [error_code]
    transcript: |
      > AT+QIOPEN=1,0,"TCP","10.0.0.1",7,0,0
      < OK
      < +QIOPEN: 0,0
    ---
    title: deactivate in time
    name: deactivate
    source: {MANUAL} §2.1.3
    dialects: [bg96]
    transcript: |
      > AT+QIDEACT=1
      < OK                       [within 0.3s]
    ---
    title: view mode
    name: viewmode
    source: {MANUAL} §2.1.15
    dialects: [bg96]
    transcript: |
      > AT+QICFG="viewmode",1
      < OK
    ---
    title: a path no bench provokes
    name: skipped
    source: {MANUAL} §2.1.4
    dialects: [bg96]
    skip: the module's memory cannot be filled on demand
    transcript: |
      > AT
      < OK
    ---
    title: echo through a peer
    name: needs_peer
    source: {MANUAL} §3.2.2
    dialects: [bg96]
    needs: [tcp_echo]
    transcript: |
      > AT
      < OK
    """

# labgrid's pytest plugin, where it is installed, takes every item for a Python function (a malformed case file's
# item is not one); these runs are about the reports, so it stays out.
NO_FOREIGN_PLUGINS = ("-p", "no:labgrid")
BROKEN = "title: broken\nsource: x\ntranscript: |\n  > AT\n  << {nope\n"


def line_of(text: str) -> int:
    """The line of the case file (reports.yaml) that holds ``text``."""
    return next(i for i, line in enumerate(textwrap.dedent(CASES).splitlines(), 1) if text in line)


@dataclass
class Runs:
    """Two runs of the same cases: their folders under ``out``."""

    out: Path
    a: Path
    b: Path


def script(module: Responder, firmware: str) -> None:
    """Answer as firmware ``a`` or ``b`` does (see the table above)."""
    module.rules.clear()
    module.on(b"ATI", IDENTITY)
    module.on(b"AT+QIACT=1", *([OK, URC] if firmware == "a" else [OK]))
    module.on(b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n', *([] if firmware == "a" else [URC]))
    state = b'0,"TCP","10.0.0.1",7,0,2,1,0,1,"usbmodem"' if firmware == "a" else \
        b'0,"TCP","10.0.0.1",7, 0,2,1,0,1,"usbmodem"'
    module.on(b"AT+QISTATE=1,0", b"\r\n+QISTATE: " + state + b"\r\n\r\nOK\r\n")
    module.on(b'AT+QIDNSCFG=1,"8.8.8.8"', *([OK] if firmware == "a" else [0.5, OK]))
    module.on(b'AT+QIOPEN=1,0,"TCP","10.0.0.1",7,0,0', OK, b"\r\n+QIOPEN: 0," + (b"566" if firmware == "a" else
                                                                                b"0") + b"\r\n")
    module.on(b"AT+QIDEACT=1", *([OK] if firmware == "a" else [0.6, OK]))
    module.on(b'AT+QICFG="viewmode",1', b"\r\nOK")  # a result code without its line end


def write_project(root: Path) -> None:
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = cases\njunit_family = xunit1\n")
    cases = root / "cases" / "bg96"
    cases.mkdir(parents=True, exist_ok=True)
    (cases / "reports.yaml").write_text(textwrap.dedent(CASES))
    (cases / "broken.yaml").write_text(BROKEN)
    (root / "bench.yaml").write_text("provides: []\n")


def run(root: Path, module: Responder, out: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """One run of the cases in ``root``, in a process of its own (with the plugins and state a real run has)."""
    argv = [sys.executable, "-m", "pytest", f"--modem={module.path}", "--dialect", "bg96", "--results-dir", str(out),
            "--run-name", name, "--bench", str(root / "bench.yaml"), f"--alluredir={out / name / 'allure-results'}",
            f"--junitxml={out / name / 'junit.xml'}", "-p", "no:cacheprovider", *NO_FOREIGN_PLUGINS, *extra]
    return subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=300)


def outcomes(done: subprocess.CompletedProcess[str]) -> str:
    """pytest's closing line of a run."""
    return (done.stdout.strip().splitlines() or [""])[-1]


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Runs A and B (see the table above), made once for all the report tests."""
    root = tmp_path_factory.mktemp("two-runs")
    write_project(root)
    out = root / "out"
    module = Responder(default=[OK])
    try:
        for name in ("a", "b"):
            script(module, name)
            done = run(root, module, out, name)
            assert "2 failed, 5 passed, 2 skipped" in outcomes(done), done.stdout[-3000:]
    finally:
        module.close()
    yield Runs(out, out / "a", out / "b")
