"""A run with a bench file's secrets leaves no trace of them in any file it writes, nor on the terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from helpers.responder import Responder

PASSWORD = "s3cr3t-pw"
PIN = "4711"
OK = b"\r\nOK\r\n"

CASES = """\
    title: read the context and write it back
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.1
    dialects: [bg96]
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
      < ERROR
    """

PYTHON_TEST = """\
    import pytest

    @pytest.mark.dialect("bg96")
    def test_password_read_back(modem):
        got = modem.command("AT+QICSGP=1").lines[0]
        print("the module said", got)
        assert got == "nothing like it"
    """


@pytest.fixture
def module() -> Iterator[Responder]:
    r = Responder(default=[OK])
    r.on(b"ATI", b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n")
    r.on(b"AT+QICSGP=1", f'\r\n+QICSGP: 1,"internet.example.com","user","{PASSWORD}",1\r\n\r\nOK\r\n'.encode())
    yield r
    r.close()


@pytest.mark.parametrize("pacing", [[], ["--line-rate", "9600"]], ids=["unpaced", "line-rate-9600"])
def test_no_file_of_a_run_holds_a_secret(pytester: pytest.Pytester, module: Responder, pacing: list[str]) -> None:
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    cases = pytester.path / "cases" / "bg96" / "secrets.yaml"
    cases.parent.mkdir(parents=True)
    cases.write_text(textwrap.dedent(CASES))
    (pytester.path / "cases" / "test_python.py").write_text(textwrap.dedent(PYTHON_TEST))
    bench = pytester.path / "bench.yaml"
    bench.write_text(f"secrets: {{apn_password: {PASSWORD}, pin: '{PIN}'}}\n")
    out = pytester.path / "out"
    result = pytester.runpytest(f"--modem={module.path}", "--dialect", "bg96", "--bench", str(bench),
                                "--results-dir", str(out), "--run-name", "r1", "-p", "no:cacheprovider",
                                f"--junitxml={out / 'junit.xml'}", f"--alluredir={out / 'allure'}", "-rA", *pacing)
    result.assert_outcomes(failed=3)
    terminal = result.stdout.str() + result.stderr.str()
    assert "AT+QICSGP=1" in terminal  # the failures are shown ...
    assert PASSWORD[:5] not in terminal and f"CPIN={PIN}" not in terminal  # ... without the secrets
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".atlog" for p in files) and any(p.parent.name == "allure" for p in files)
    # a report column cut short must not leave a prefix of the secret either
    leaks = [str(p.relative_to(out)) for p in files if PASSWORD[:5].encode() in p.read_bytes()
             or f"CPIN={PIN}".encode() in p.read_bytes() or f"CPIN=\\\"{PIN}".encode() in p.read_bytes()]
    assert leaks == []
