"""No report holds a secret: a run with a bench file's APN password and PIN, its summary, a diff and (where the
tools are) the rendered report, grepped file by file. The IMEI shows by its last 4 digits only."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.responder import Responder

from conformance.cli import main as cli_main
from conformance.reports.render import missing_tools, render
from conftest import IDENTITY, NO_FOREIGN_PLUGINS, OK, outcomes, run

PASSWORD = "s3cr3t-pw"
PIN = "4711"
IMEI = "866425030012345"

CASES = """\
    title: configure the context, read it back, and fail on it
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.1
    dialects: [bg96]
    tags: [example]
    transcript: |
      > AT+QICSGP=1,1,"internet.example.com","user","{bench.apn_password}",1
      < OK
      > AT+QICSGP=1
      < +QICSGP: 1,"internet.example.com","user","<password:str>",1
      < OK
      ? {password} == wrong
    ---
    title: unlock the SIM
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.1
    dialects: [bg96]
    transcript: |
      > AT+CPIN={bench.pin}
      < OK
      > AT+QICSGP=1
      < +QICSGP: 1,"internet.example.com","user","<password:str>",1
      < OK
    """


def test_no_report_file_holds_a_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\ntestpaths = cases\n")
    (tmp_path / "cases" / "bg96").mkdir(parents=True)
    (tmp_path / "cases" / "bg96" / "secrets.yaml").write_text(textwrap.dedent(CASES))
    (tmp_path / "bench.yaml").write_text(f"secrets: {{apn_password: {PASSWORD}, pin: '{PIN}'}}\n")
    module = Responder(default=[OK])
    module.on(b"ATI", IDENTITY)
    module.on(b"AT+GSN", f"\r\n{IMEI}\r\n\r\nOK\r\n".encode())
    module.on(b"AT+QICSGP=1", f'\r\n+QICSGP: 1,"internet.example.com","user","{PASSWORD}",1\r\n\r\nOK\r\n'.encode())
    out = tmp_path / "out"
    try:
        for name in ("a", "b"):
            done = run(tmp_path, module, out, name)
            assert "1 failed, 1 passed" in outcomes(done), done.stdout[-2000:]
    finally:
        module.close()
    assert NO_FOREIGN_PLUGINS  # the runs are real runs of the suite, as conftest.run makes them
    assert cli_main(["report", "summary", str(out / "a")]) == 0
    assert cli_main(["report", "diff", str(out / "a"), str(out / "b"), "--output", str(out / "diff")]) == 0
    printed = capsys.readouterr().out
    rendered = not missing_tools()
    if rendered:
        assert render(out / "a", install=False).ok
    files = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".png"]
    names = {p.name for p in files}
    assert {"results.json", "summary.md", "summary.html", "diff.md", "diff.html", "environment.properties",
            "categories.json"} <= names
    secrets = [PASSWORD[:5].encode(), f"CPIN={PIN}".encode(), f'CPIN=\\"{PIN}'.encode(), IMEI[:11].encode()]
    leaks = [str(p.relative_to(out)) for p in files
             if any(s in p.read_bytes() for s in secrets) and p.suffix != ".atlog"]
    assert leaks == []
    assert not any(s.decode() in printed for s in secrets)
    env = (out / "a" / "allure-results" / "environment.properties").read_text()
    assert f"bg96.imei={'*' * 11}{IMEI[-4:]}" in env
    summary = (out / "a" / "summary.md").read_text()
    assert f"{'*' * 11}{IMEI[-4:]}" in summary
