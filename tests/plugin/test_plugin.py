"""The plugin end to end: case files become items, run against a module on a real pty, and report as users read."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.responder import Responder

OK = b"\r\nOK\r\n"


@pytest.fixture
def module() -> Iterator[Responder]:
    """A scripted BG96 answering OK to anything it has no rule for (the plugin's teardown queries included)."""
    r = Responder(default=[OK])
    r.on(b"ATI", b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n")
    yield r
    r.close()


def write_case(pytester: pytest.Pytester, name: str, text: str) -> Path:
    pytester.makeini("[pytest]\ntestpaths = cases\n")  # as in a checkout: the rootdir is found from here
    path = pytester.path / "cases" / "bg96" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


PASSING = """\
    title: activate a context
    source: BG96 TCP/IP AT Commands Manual V1.0 §3.1.2
    dialects: [bg96]
    tags: [example]
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


def run(pytester: pytest.Pytester, module: Responder, *args: str) -> pytest.RunResult:
    return pytester.runpytest(f"--modem={module.path}", "--dialect", "bg96", "--results-dir",
                              str(pytester.path / "out"), "--run-name", "r1", "-p", "no:cacheprovider", *args)


def test_case_files_become_items_named_by_file_case_and_dialect(pytester: pytest.Pytester) -> None:
    write_case(pytester, "contexts.yaml", PASSING + "---\n" + FAILING.replace("open refused", "second"))
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["cases/bg96/contexts.yaml::activate_a_context[[]bg96[]]",
                                 "cases/bg96/contexts.yaml::second[[]bg96[]]"])


def test_markers_select_by_dialect_need_and_tag(pytester: pytest.Pytester) -> None:
    write_case(pytester, "a.yaml", PASSING)
    write_case(pytester, "b.yaml", FAILING.replace("dialects: [bg96]", "dialects: [bg96]\n    needs: [tcp_echo]"))
    by_tag = pytester.runpytest("--collect-only", "-q", "-m", "example", "-p", "no:cacheprovider")
    by_tag.stdout.fnmatch_lines(["*a.yaml::activate_a_context*", "1/2 tests collected*"])
    by_need = pytester.runpytest("--collect-only", "-q", "-m", "tcp_echo and bg96", "-p", "no:cacheprovider")
    by_need.stdout.fnmatch_lines(["*b.yaml::open_refused*", "1/2 tests collected*"])


def test_modem_path_given_with_a_space_keeps_the_project_configuration(tmp_path: Path) -> None:
    # pytest would take the device for a test path and lose pyproject.toml; the plugin runs it again as --modem=PATH
    import subprocess
    import sys

    repo = Path(__file__).parents[2]
    out = subprocess.run([sys.executable, "-m", "pytest", "--modem", "/dev/null", "--collect-only", "-q",
                          "cases/does-not-exist"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert "rootdir: /dev" not in out.stdout + out.stderr
    assert "file or directory not found: cases/does-not-exist" in out.stdout + out.stderr


def test_a_passing_and_a_failing_case(pytester: pytest.Pytester, module: Responder) -> None:
    module.on(b'AT+QIOPEN=1,0,"TCP","10.0.0.1",7,0,0', OK, b"\r\n+QIOPEN: 0,566\r\n")
    write_case(pytester, "a.yaml", PASSING)
    write_case(pytester, "b.yaml", FAILING)
    result = run(pytester, module)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*cases/bg96/b.yaml:7: expected '+QIOPEN: 0,0'*the module said '+QIOPEN: 0,566'*",
        "*line*expected (case file)*observed (module / peer)*",
        ">>*7*< +QIOPEN: 0,0*+QIOPEN: 0,566*FAILED*",
        "*flight log: *out/r1/cases_bg96_b.yaml_open_refused_bg96.atlog*",
    ])
    assert "Traceback" not in result.stdout.str()
    log = pytester.path / "out" / "r1" / "cases_bg96_b.yaml_open_refused_bg96.atlog"
    rx = b"".join(json.loads(line).get("b", "").encode("latin-1")
                  for line in log.read_text().splitlines()[1:] if json.loads(line)["d"] == "rx")
    assert b"+QIOPEN: 0,566" in rx  # the bytes, not only the parsed lines


def test_a_malformed_file_fails_alone_with_its_line(pytester: pytest.Pytester, module: Responder) -> None:
    write_case(pytester, "good.yaml", PASSING)
    write_case(pytester, "bad.yaml", PASSING.replace("< OK", "< +QIOPEN: <connectID>,0"))
    result = run(pytester, module)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*cases/bg96/bad.yaml:7: <connectID> is neither a key nor a capture*"])
    assert "Traceback" not in result.stdout.str()


def test_a_malformed_file_is_not_hidden_by_marker_selection(pytester: pytest.Pytester, module: Responder) -> None:
    write_case(pytester, "bad.yaml", "title: [unclosed\n")
    result = run(pytester, module, "-m", "bg96")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cases/bg96/bad.yaml:2: not valid YAML*"])


def test_a_case_whose_need_is_missing_is_skipped_naming_it(pytester: pytest.Pytester, module: Responder) -> None:
    write_case(pytester, "a.yaml", PASSING.replace("tags: [example]", "needs: [teleporter]"))
    result = run(pytester, module, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*this bench does not provide 'teleporter'*"])


def test_a_bench_file_limits_capabilities_and_its_secrets_are_redacted(pytester: pytest.Pytester,
                                                                       module: Responder) -> None:
    bench = pytester.path / "bench.yaml"
    bench.write_text("vars: {apn: internet}\nsecrets: {apn_password: s3cr3t-pw}\nprovides: []\n")
    write_case(pytester, "a.yaml", """\
        title: configure a context with a password
        source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.1
        dialects: [bg96]
        transcript: |
          > AT+QICSGP=1,1,"{bench.apn}","user","{bench.apn_password}",1
          < ERROR
        """)
    result = run(pytester, module, "--bench", str(bench))
    result.assert_outcomes(failed=1)  # the module says OK
    out = result.stdout.str()
    assert "s3cr3t-pw" not in out and 'AT+QICSGP=1,1,"internet","user","***",1' in out
    logs = list((pytester.path / "out" / "r1").glob("*.atlog"))
    assert logs and all(b"s3cr3t-pw" not in p.read_bytes() for p in logs)


def test_the_modem_fixture_runs_transcripts_and_commands(pytester: pytest.Pytester, module: Responder) -> None:
    module.on(b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n' + OK)
    pytester.makepyfile(test_py="""
        import pytest

        @pytest.mark.dialect("bg96")
        def test_it(modem):
            got = modem.run('''
              > AT+QIACT?
              < +QIACT: 1,1,1,"<ip:ip>"
              < OK
            ''')
            assert got == {"ip": "10.7.157.1"}
            assert modem.command("AT+QIACT?").lines == ['+QIACT: 1,1,1,"10.7.157.1"']
    """)
    result = run(pytester, module)
    result.assert_outcomes(passed=1)


def test_items_carry_a_timeout_backstop(pytester: pytest.Pytester, module: Responder) -> None:
    module.on(b"AT+QIACT=1", 3.0, OK)  # answers after 3 s; the case allows the documented 150 s
    write_case(pytester, "a.yaml", PASSING.replace("tags: [example]", "timeout: 1"))
    result = run(pytester, module)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])


def test_allure_results_have_labels_steps_and_attachments(pytester: pytest.Pytester, module: Responder) -> None:
    write_case(pytester, "a.yaml", PASSING)
    alluredir = pytester.path / "allure"
    result = run(pytester, module, f"--alluredir={alluredir}")
    result.assert_outcomes(passed=1)
    results = [json.loads(p.read_text()) for p in alluredir.glob("*-result.json")]
    assert len(results) == 1
    res = results[0]
    labels = {(lab["name"], lab["value"]) for lab in res["labels"]}
    assert ("dialect", "bg96") in labels and ("section", "3.1.2") in labels
    assert [s["name"] for s in res["steps"]] == ["> AT+QIACT=1"]
    names = {a["name"] for a in res["attachments"]}
    assert {"case file", "flight log", "flight log (raw .atlog)"} <= names
    env = (alluredir / "environment.properties").read_text()
    assert "bg96.model=BG96" in env and "bg96.revision=BG96MAR02A07M1G" in env


def test_the_dialect_is_detected_from_ati(pytester: pytest.Pytester, module: Responder) -> None:
    write_case(pytester, "a.yaml", PASSING)
    result = pytester.runpytest(f"--modem={module.path}", "--results-dir", str(pytester.path / "out"),
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*real bg96 module at*model=BG96*"])


def test_an_unknown_module_is_a_usage_error_naming_what_it_said(pytester: pytest.Pytester) -> None:
    other = Responder(default=[OK])
    other.on(b"ATI", b"\r\nAcme\r\nWidget 3000\r\n" + OK)
    try:
        write_case(pytester, "a.yaml", PASSING)
        result = pytester.runpytest(f"--modem={other.path}", "--results-dir", str(pytester.path / "out"),
                                    "-p", "no:cacheprovider")
        assert result.ret == pytest.ExitCode.USAGE_ERROR  # once, at start-up, not in every case
        result.stderr.fnmatch_lines(["ERROR: --modem *could not tell the dialect*Widget 3000*give --dialect (*bg96*"])
    finally:
        other.close()


def test_redaction_blanks_passwords_and_pins_but_not_their_absence() -> None:
    from conformance import dialects
    from conformance.plugin.modem import make_redactor

    redact = make_redactor(dialects.get("bg96"), ["hunter2"])
    assert redact(b'AT+QICSGP=1,1,"apn","user","pw",1\r') == b'AT+QICSGP=1,1,"apn","user","***",1\r'
    assert redact(b'+QICSGP: 1,"apn","user","pw",1') == b'+QICSGP: 1,"apn","user","***",1'
    assert redact(b'+QICSGP: 1,"","","",0') == b'+QICSGP: 1,"","","",0'  # no password: nothing to hide
    assert redact(b'AT+CPIN="1234"\r') == b'AT+CPIN="***"\r'
    assert redact(b"the bench secret hunter2 leaked") == b"the bench secret *** leaked"


PY_FAILING = '''
import pytest

@pytest.mark.dialect("bg96")
def test_it(modem):
    modem.run("""
      > AT+QIACT=1
      < ERROR
    """)
'''


def test_a_python_test_failing_in_the_matcher_reads_like_a_case(pytester: pytest.Pytester,
                                                                  module: Responder) -> None:
    pytester.makepyfile(test_py=PY_FAILING)
    result = run(pytester, module)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_py.py:5, transcript line:3: expected 'ERROR', the module said 'OK'*",
                                 ">>*< ERROR*OK*FAILED*"])
    assert "Traceback" not in result.stdout.str() and "def test_it" not in result.stdout.str()
