"""Bench mistakes are one usage error at start-up, before any case, naming the option and what is wrong (pytest's
exit code 4): a port that is not there or is held by another program, an unknown dialect, a module that answers
nothing, impossible option values, a malformed bench file."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from helpers.modules import ScriptedModule

PASSING = """\
    title: activate a context
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.2
    dialects: [bg96]
    transcript: |
      > AT+QIACT=1
      < OK
    """


@pytest.fixture
def module() -> Iterator[ScriptedModule]:
    with ScriptedModule() as m:
        yield m


@pytest.fixture
def cases(pytester: pytest.Pytester) -> Path:
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    path = pytester.path / "cases" / "bg96"
    path.mkdir(parents=True)
    for name in ("a.yaml", "b.yaml", "c.yaml"):
        (path / name).write_text(textwrap.dedent(PASSING), encoding="utf-8")
    return path


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--results-dir", str(pytester.path / "out"), "-p", "no:cacheprovider", *args)


def assert_usage_error(result: pytest.RunResult, *patterns: str) -> None:
    """Exit code 4, one ERROR line saying it, no case run, no traceback."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {p}" for p in patterns])
    everything = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in everything and "INTERNALERROR" not in everything
    assert "passed" not in everything and "failed" not in everything
    assert len(result.stderr.lines) < 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_that_is_not_there(pytester: pytest.Pytester, cases: Path) -> None:
    assert_usage_error(run(pytester, "--modem=/dev/ttyNOPE"),
                       "--modem /dev/ttyNOPE: cannot open the port: *No such file or directory*")


def test_a_network_port_nobody_listens_on(pytester: pytest.Pytester, cases: Path) -> None:
    url = f"socket://127.0.0.1:{free_port()}"
    assert_usage_error(run(pytester, f"--modem={url}"), f"--modem {url}: cannot open the port: *refused*")


def test_a_port_another_run_holds(pytester: pytest.Pytester, cases: Path, module: ScriptedModule) -> None:
    with serial.serial_for_url(module.path, exclusive=True):  # as another run of the suite holds it
        result = run(pytester, f"--modem={module.path}", "--dialect", "bg96")
    assert_usage_error(result, f"--modem {module.path}: the port is held by another program (another run?)*")


def test_a_module_that_answers_nothing(pytester: pytest.Pytester, cases: Path, module: ScriptedModule) -> None:
    module.behaviour = "silent"
    assert_usage_error(run(pytester, f"--modem={module.path}"),
                       f"--modem {module.path}: no answer to AT (15 tries, 500 ms or more apart); is the module "
                       "powered, and is this its AT port?")


def test_a_loopback_port_without_a_dialect(pytester: pytest.Pytester, cases: Path) -> None:
    # loop:// says back what it is sent: the echo of AT, never OK
    assert_usage_error(run(pytester, "--modem=loop://"), "--modem loop://: no answer to AT*")


def test_a_module_that_answers_garbage(pytester: pytest.Pytester, cases: Path, module: ScriptedModule) -> None:
    module.behaviour = "garbage"  # a wrong baud rate looks like this
    assert_usage_error(run(pytester, f"--modem={module.path}"), f"--modem {module.path}: no answer to AT*")


@pytest.mark.parametrize(("args", "message"), [
    (["--dialect", "nosuch"], "--dialect nosuch: no such dialect; known: *bg96*"),
    (["--modem", "sim:nosuch"], "--modem sim:nosuch: no simulated module 'nosuch'; known: *bg96*"),
    (["--case-timeout", "inf"], "--case-timeout inf: give a number of seconds greater than 0 (and finite)"),
    (["--case-timeout", "0"], "--case-timeout 0: give a number of seconds greater than 0*"),
    (["--line-rate", "-5"], "--line-rate -5: give a line rate in bits per second greater than 0"),
    (["--baud", "0"], "--baud 0: give a line rate in bits per second greater than 0"),
    (["--power-cycle-wait", "nan"], "--power-cycle-wait nan: give a number of seconds greater than 0*"),
    (["--max-unrecoverable", "0"], "--max-unrecoverable 0: give a number of cases greater than 0"),
    (["--sim-seed", "-1"], "--sim-seed -1: give a whole number from 0 to 2**63-1"),
    (["--power-cycle-cmd", " "], "--power-cycle-cmd: empty; give the shell command that power-cycles the module"),
])
def test_impossible_option_values(pytester: pytest.Pytester, cases: Path, args: list[str], message: str) -> None:
    assert_usage_error(run(pytester, *args), message)


@pytest.mark.parametrize(("bench", "message"), [
    ("secrets: [1, 2]\n", "secrets is a mapping of names to values, e.g. {apn: internet} (got a list)"),
    ("vars: {apn: [internet]}\n", "vars.apn is a text or a number (got a list)"),
    ("secrets: {pin: }\n", "secrets.pin is a text or a number (got nothing)"),
    ("secrets: {pin: {a: 1234}}\n", "secrets.pin is a text or a number (got a mapping)"),
    ("vars: {1: x}\n", "vars: 1 is not a name*"),
    ("provides: tcp_echo\n", "provides is a list of capability names, e.g. [[]tcp_echo, dns[]]"),
    ("power_cycle: 5\n", "power_cycle is a shell command, as text (got a number)"),
    ("power-cycle: usbrelay\n", "unknown key 'power-cycle'; a bench file has vars, secrets, provides, power_cycle"),
    ("- a\n- b\n", "a bench file is a mapping (vars, secrets, provides, power_cycle)"),
])
def test_a_malformed_bench_file(pytester: pytest.Pytester, cases: Path, bench: str, message: str) -> None:
    path = pytester.path / "bench.yaml"
    path.write_text(bench, encoding="utf-8")
    assert_usage_error(run(pytester, "--bench", str(path)), f"--bench {path}: {message}")


def test_a_secret_in_a_malformed_bench_file_is_not_shown(pytester: pytest.Pytester, cases: Path) -> None:
    path = pytester.path / "bench.yaml"
    path.write_text("secrets: {apn_password: [hunter2]}\n", encoding="utf-8")
    result = run(pytester, "--bench", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "hunter2" not in result.stdout.str() + result.stderr.str()


def test_under_xdist_the_controller_checks_the_port_and_leaves_it_to_the_workers(
        pytester: pytest.Pytester, cases: Path, module: ScriptedModule) -> None:
    bad = pytester.runpytest_subprocess("--modem=/dev/ttyNOPE", "-n", "2", "-p", "no:cacheprovider",
                                        "--results-dir", str(pytester.path / "out"))
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --modem /dev/ttyNOPE: cannot open the port*"])
    for extra in ("b.yaml", "c.yaml"):  # one case: one module serves one worker at a time
        (cases / extra).unlink()
    good = pytester.runpytest_subprocess(f"--modem={module.path}", "-n", "2", "-p", "no:cacheprovider",
                                         "--results-dir", str(pytester.path / "out"))
    good.assert_outcomes(passed=1)  # a worker opens the port the controller checked and let go of
    assert module.host_opens == 2  # the controller's check, then the worker's
