"""Shared step blocks: a case's set-up in one line, each block line reported at its own file line with the case line
that used it, its 'finally' after the case's own, and its names its own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.responder import Responder

from conformance.errors import StepFailed
from conformance.session import Session
from conformance.transcript import Runner, Scope, parse_file
from conformance.transcript.blocks import check_blocks_file, find_blocks_file
from conformance.transcript.model import BlockLocation, Cleanup, SendLine, UseBlock

OK = b"\r\nOK\r\n"

BLOCKS = textwrap.dedent('''\
    # shared steps
    context_active:
      note: configured as it is, then activated
      params: {context: 1}
      steps: |
        > AT+QICSGP={context}
        < +QICSGP: <type:int>,"<apn:str>"
        < OK
        > AT+QIACT={context}
        < OK

    tcp_client_open:
      note: the close may meet a connection already closed
      needs: [peer]
      params: {id: 0}
      steps: |
        > AT+QIOPEN=1,{id},"TCP","{peer.host}",{peer.port},0,0
        < OK
        < +QIOPEN: {id},0
      finally: |
        > AT+QICLOSE={id}
        < OK | ERROR

    local_port:
      needs: [peer]
      exports: [port]
      steps: |
        > AT+QISTATE=1,0
        < +QISTATE: 0,"TCP","{peer.host}",{peer.port},<port:int>
        < OK
    ''')

HEAD = "title: t\nsource: BG96 TCP/IP AT Commands Manual V1.0 §3.2\ndialects: [bg96]\n"


class Peer:
    host = "10.0.0.9"
    port = 7


def write(tmp_path: Path, case: str, blocks: str = BLOCKS) -> Path:
    folder = tmp_path / "cases" / "bg96"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "blocks.yaml").write_text(blocks, encoding="utf-8")
    path = folder / "case.yaml"
    path.write_text(HEAD + textwrap.dedent(case), encoding="utf-8")
    return path


def run_case(session: Session, path: Path) -> Runner:
    case = parse_file(path)[0]
    runner = Runner(session, Scope({"tcp_echo": Peer(), "bench": {}, "module": {}}), {"tcp_echo": Peer()},
                    flight_log="x.atlog")
    try:
        runner.run(case.steps)
    finally:
        runner.run(case.final_steps)
    return runner


def answer_open_and_close(responder: Responder) -> None:
    responder.on(b"AT+QICSGP=1", b'\r\n+QICSGP: 1,"internet"\r\n' + OK)
    responder.on(b"AT+QIACT=1", OK)
    responder.on(b'AT+QIOPEN=1,0,"TCP","10.0.0.9",7,0,0', OK, b"\r\n+QIOPEN: 0,0\r\n")
    responder.on(b"AT+QICLOSE=0", OK)


def test_a_case_uses_blocks_in_setup_and_in_its_transcript(tmp_path: Path) -> None:
    path = write(tmp_path, '''\
        needs: [tcp_echo]
        setup: [context_active]
        transcript: |
          = tcp_client_open peer=tcp_echo
          > AT+QISEND=0,0
          < +QISEND: 0,0,0
        ''')
    case = parse_file(path)[0]
    kinds = [type(s).__name__ for s in case.steps]
    assert kinds[:6] == ["UseBlock", "SendLine", "ExpectLine", "ExpectLine", "SendLine", "ExpectLine"]
    first = case.steps[1]
    assert isinstance(first, SendLine) and first.text.render_text(Scope()) == "AT+QICSGP=1"
    blocks = str(path.parent / "blocks.yaml")
    assert isinstance(first.location, BlockLocation)
    assert (first.location.path, first.location.line) == (blocks, 6)
    assert first.location.used_at == (case.steps[0].location) and case.steps[0].location.line == 5  # setup: line
    opened = case.steps[6]
    assert isinstance(opened, UseBlock) and opened.location.line == 7 and opened.block == "tcp_client_open"
    sent = case.steps[7]
    assert isinstance(sent, SendLine)
    assert sent.text.render_text(Scope({"tcp_echo": Peer()})) == 'AT+QIOPEN=1,0,"TCP","10.0.0.9",7,0,0'
    assert str(sent.location) == f"{blocks}:17 (block tcp_client_open, used at {path}:7)"
    cleanup = case.final_steps[-1]
    assert isinstance(cleanup, Cleanup) and cleanup.block == "tcp_client_open"


def test_a_failing_block_line_names_its_file_line_and_the_case_line(tmp_path: Path, session: Session,
                                                                    responder: Responder) -> None:
    responder.on(b"AT+QICSGP=1", b'\r\n+QICSGP: 1,"internet"\r\n' + OK)
    responder.on(b"AT+QIACT=1", b"\r\nERROR\r\n")
    path = write(tmp_path, '''\
        transcript: |
          = context_active
          > AT
          < OK
        ''')
    with pytest.raises(StepFailed) as err:
        run_case(session, path)
    blocks = path.parent / "blocks.yaml"
    message = str(err.value)
    assert message.startswith(f"{blocks}:10 (block context_active, used at {path}:5): expected 'OK'"), message
    assert "the module said 'ERROR'" in message
    report = err.value.report
    assert "blocks.yaml:10" in report and "(block context_active" in report  # the row and the failing step
    assert f"failing step: {blocks}:10 (block context_active, used at {path}:5)" in report


def test_block_finally_runs_after_the_case_s_own_last_use_first_even_when_it_failed(
        tmp_path: Path, session: Session, responder: Responder) -> None:
    answer_open_and_close(responder)
    responder.on(b'AT+QIOPEN=1,1,"TCP","10.0.0.9",7,0,0', OK, b"\r\n+QIOPEN: 1,0\r\n")
    responder.on(b"AT+QICLOSE=1", b"\r\nERROR\r\n")  # closed already: the block accepts either answer
    responder.on(b"AT+QISEND=1,0", b"\r\nERROR\r\n")
    responder.on(b"AT+QIDEACT=1", OK)
    path = write(tmp_path, '''\
        needs: [tcp_echo]
        setup: [context_active]
        transcript: |
          = tcp_client_open peer=tcp_echo
          = tcp_client_open peer=tcp_echo id=1
          > AT+QISEND=1,0
          < +QISEND: 0,0,0
        finally: |
          > AT+QIDEACT=1
          < OK
        ''')
    with pytest.raises(StepFailed, match="expected '\\+QISEND: 0,0,0'"):
        run_case(session, path)
    sent = [line for line in bytes(responder.received).split(b"\r") if line]
    assert sent[-3:] == [b"AT+QIDEACT=1", b"AT+QICLOSE=1", b"AT+QICLOSE=0"]


def test_a_block_finally_whose_use_was_not_reached_does_not_run(tmp_path: Path, session: Session,
                                                                  responder: Responder) -> None:
    responder.on(b"AT", b"\r\nERROR\r\n")
    path = write(tmp_path, '''\
        needs: [tcp_echo]
        transcript: |
          > AT
          < OK
          = tcp_client_open peer=tcp_echo
        ''')
    with pytest.raises(StepFailed):
        run_case(session, path)
    assert b"AT+QICLOSE" not in bytes(responder.received)


def test_exported_captures_flow_out_and_others_stay_inside(tmp_path: Path, session: Session,
                                                           responder: Responder) -> None:
    answer_open_and_close(responder)
    responder.on(b"AT+QISTATE=1,0", b'\r\n+QISTATE: 0,"TCP","10.0.0.9",7,65514\r\n' + OK)
    path = write(tmp_path, '''\
        needs: [tcp_echo]
        setup: [context_active, tcp_client_open peer=tcp_echo]
        transcript: |
          = local_port peer=tcp_echo
          ? {port} == 65514
        ''')
    runner = run_case(session, path)
    assert runner.scope.values["port"] == 65514
    assert "apn" not in runner.scope.values  # the block's own capture, under a name of that use
    assert "internet" in runner.scope.values.values()


def test_a_case_cannot_read_a_block_s_private_capture(tmp_path: Path) -> None:
    from conformance.errors import CaseFileError

    path = write(tmp_path, '''\
        setup: [context_active]
        transcript: |
          > AT+QICSGP=2,1,"{apn}"
        ''')
    with pytest.raises(CaseFileError, match=r"case.yaml:6: \{apn\.\.\.\}: 'apn' is not"):
        parse_file(path)


def test_the_blocks_file_is_found_up_to_the_cases_folder(tmp_path: Path) -> None:
    deep = tmp_path / "cases" / "bg96" / "more"
    deep.mkdir(parents=True)
    (tmp_path / "cases" / "bg96" / "blocks.yaml").write_text(BLOCKS)
    (tmp_path / "blocks.yaml").write_text(BLOCKS)  # above cases/: not this suite's
    assert find_blocks_file(deep / "x.yaml") == tmp_path / "cases" / "bg96" / "blocks.yaml"
    assert find_blocks_file(tmp_path / "cases" / "other" / "x.yaml") is None


def test_check_blocks_file_reads_every_block_even_unused(tmp_path: Path) -> None:
    bad = BLOCKS + "broken:\n  steps: |\n    > AT\n    < +X: <id>\n"
    path = tmp_path / "blocks.yaml"
    path.write_text(bad)
    problems = check_blocks_file(path)
    assert [str(p) for p in problems] == [f"{path}:34 (block broken): <id> is neither a key nor a capture: write "
                                          "<id:int> (or str, ip, hex, any) to capture it"]
    path.write_text(BLOCKS)
    assert check_blocks_file(path) == []


def test_the_repository_blocks_files_are_sound() -> None:
    root = Path(__file__).parents[2] / "cases"
    files = sorted(root.rglob("blocks.yaml"))
    assert files
    for file in files:
        assert check_blocks_file(file) == [], file


def _suite(pytester: pytest.Pytester, blocks: str) -> None:
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    folder = pytester.path / "cases" / "bg96"
    folder.mkdir(parents=True)
    (folder / "blocks.yaml").write_text(blocks)
    (folder / "uses.yaml").write_text(HEAD + "setup: [context_active]\ntranscript: |\n  > AT\n  < OK\n")
    (folder / "plain.yaml").write_text(HEAD + "transcript: |\n  > AT\n  < OK\n")


def test_the_blocks_file_is_not_collected_as_a_case_file(pytester: pytest.Pytester) -> None:
    _suite(pytester, BLOCKS)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["cases/bg96/plain.yaml::t[[]bg96[]]", "cases/bg96/uses.yaml::t[[]bg96[]]",
                                 "2 tests collected*"])
    assert "blocks.yaml" not in result.stdout.str()


def test_a_broken_block_fails_its_file_and_its_users_never_the_run(pytester: pytest.Pytester) -> None:
    _suite(pytester, BLOCKS.replace("    < OK\n\ntcp_client_open", "    OK\n\ntcp_client_open"))
    module = Responder(default=[OK])
    module.on(b"ATI", b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n" + OK)
    try:
        result = pytester.runpytest(f"--modem={module.path}", "--dialect", "bg96", "--results-dir",
                                    str(pytester.path / "out"), "-p", "no:cacheprovider")
    finally:
        module.close()
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    blocks = pytester.path / "cases" / "bg96" / "blocks.yaml"
    assert f"{blocks}:10 (block context_active): 'OK' does not start with a marker" in out
    assert f"{blocks}:10 (block context_active, used at {pytester.path}/cases/bg96/uses.yaml:4): 'OK'" in out
    assert "Traceback" not in out


def test_check_cases_reports_a_broken_block_and_each_use_of_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path, "setup: [context_active]\ntranscript: |\n  > AT\n",
                 blocks=BLOCKS.replace("    < OK\n\ntcp_client_open", "    OK\n\ntcp_client_open"))
    done = subprocess.run([sys.executable, "-m", "conformance", "check-cases", str(path.parent)],
                          capture_output=True, text=True, timeout=120)
    blocks = path.parent / "blocks.yaml"
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stdout.splitlines() == [
        f"{blocks}:10 (block context_active): 'OK' does not start with a marker: '> ' command, '>> ' data, '< ' "
        "response, '<~ ' URC in a window, '<? ' optional line, '<< ' data from the module, '<|' alternatives, '~ ' "
        "timing, '! ' peer action, '? ' check, '= ' block, '# ' comment",
        f"{blocks}:10 (block context_active, used at {path}:4): 'OK' does not start with a marker: '> ' command, "
        "'>> ' data, '< ' response, '<~ ' URC in a window, '<? ' optional line, '<< ' data from the module, '<|' "
        "alternatives, '~ ' timing, '! ' peer action, '? ' check, '= ' block, '# ' comment",
        "0 cases in 0 files parsed; 2 malformed files (1 blocks files read)",
    ]
