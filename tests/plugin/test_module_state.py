"""The module's state across a run, against scripted modules on real ptys that misbehave as real ones do: its start
state before the first case, resynchronisation before each case, recovery (power cycle, a port that goes away and
comes back), the run's record of recoveries, and stopping a run whose module is gone.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.modules import ScriptedModule

PASSING = """\
    title: activate a context
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.2
    dialects: [bg96]
    transcript: |
      > AT+QIACT=1
      < OK
    """

OPENING = """\
    title: open a socket
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.4
    dialects: [bg96]
    transcript: |
      > AT+QIACT=1
      < OK
      > AT+QIOPEN=1,0,"TCP","10.0.0.1",7,0,0
      < OK                                       [within 2s]
    """


@pytest.fixture
def module() -> Iterator[ScriptedModule]:
    with ScriptedModule() as m:
        yield m


def write_case(pytester: pytest.Pytester, name: str, text: str) -> Path:
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    path = pytester.path / "cases" / "bg96" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(pytester: pytest.Pytester, module: ScriptedModule, *args: str) -> pytest.RunResult:
    return pytester.runpytest(f"--modem={module.path}", "--dialect", "bg96", "--results-dir",
                              str(pytester.path / "out"), "--run-name", "r1", "-p", "no:cacheprovider", *args)


def recoveries(pytester: pytest.Pytester) -> list[dict[str, object]]:
    return json.loads((pytester.path / "out" / "r1" / "recoveries.json").read_text())


def test_a_module_that_comes_up_with_a_context_active_is_reset_before_the_first_case(
        pytester: pytest.Pytester) -> None:
    # Left active by its firmware or a previous run, on a dual-stack network: an IPv4 and an IPv6 address.
    with ScriptedModule(active_contexts={1: ["10.1.2.3", "2001:db8::1"]}) as module:
        write_case(pytester, "a.yaml", PASSING)
        result = run(pytester, module)
        result.assert_outcomes(passed=1)  # AT+QIACT=1 on an active context would be ERROR
        commands = module.commands
        assert commands.index(b"AT+QIDEACT=1") < commands.index(b"AT+QIACT=1")


def test_a_simulated_module_that_boots_with_a_context_active_is_reset_before_the_first_case(
        pytester: pytest.Pytester) -> None:
    write_case(pytester, "a.yaml", PASSING)
    result = pytester.runpytest("--modem=sim:bg96?boot_active_contexts=[1]&dual_stack=true", "--peer-netns=off",
                                "--results-dir", str(pytester.path / "out"), "--run-name", "r1",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_cases_own_failure_comes_first_and_a_failed_reset_after_it(pytester: pytest.Pytester,
                                                                       module: ScriptedModule) -> None:
    module.misbehave_on(b"AT+QIOPEN", "silent")  # stops answering in the middle of the case, for good
    write_case(pytester, "b.yaml", OPENING)
    result = run(pytester, module)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*cases/bg96/b.yaml:8: expected 'OK' within 2 s*",
        ">>*8*< OK*",
        "*flight log: *out/r1/cases_bg96_b.yaml_open_a_socket_bg96.atlog*",
        "*after the case, the module did not return to its start state: no answer to AT (15 tries*",
        "recovery: *not recovered: no way to power-cycle it (give --power-cycle-cmd*",
    ])
    assert out.index("b.yaml:8: expected 'OK'") < out.index("did not return to its start state")
    assert "Traceback" not in out
    [record] = recoveries(pytester)
    assert record["recovered"] is False and "open_a_socket" in str(record["case"])


def test_a_module_that_drops_off_the_bus_comes_back_through_the_power_cycle_command(
        pytester: pytest.Pytester, module: ScriptedModule) -> None:
    module.misbehave_on(b"AT+QIOPEN", "unplugged")  # its port vanishes mid-case, as a crashed USB module's does
    module.replug_after_s = 1.0  # ... and comes back a second after the power cycle
    write_case(pytester, "a.yaml", PASSING)
    write_case(pytester, "b.yaml", OPENING)
    write_case(pytester, "c.yaml", PASSING)
    write_case(pytester, "d.yaml", PASSING + '      > AT+QIACT?\n      < +QIACT: 1,1,1,"<ip:ip>"\n      < OK\n')
    result = run(pytester, module, "--power-cycle-cmd", module.power_cycle_command(), "-v")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*b.yaml::open_a_socket*FAILED*", "*c.yaml::activate_a_context*PASSED*",
                                 "*d.yaml::activate_a_context*PASSED*"])
    assert module.power_cycles == 1 and module.host_opens == 2
    [record] = recoveries(pytester)
    assert record["recovered"] is True
    steps = " / ".join(record["steps"])  # type: ignore[arg-type]
    for done in ("power cycle: ran ", "port open again after", "start-up lines after", "APP RDY",
                 "answered OK", "reset to the start state"):
        assert done in steps
    result.stdout.fnmatch_lines(["*conformance*", "recoveries: 1 (1 recovered), in *recoveries.json",
                                 "*b.yaml::open_a_socket*the port closed*power cycle*recovered*"])


def test_a_module_that_hangs_on_a_uart_is_power_cycled_and_the_run_goes_on(pytester: pytest.Pytester) -> None:
    with ScriptedModule(keep_port=True) as module:  # the port stays when it is power-cycled (a UART, not USB)
        module.misbehave_on(b"AT+QIOPEN", "silent")
        write_case(pytester, "b.yaml", OPENING)
        write_case(pytester, "c.yaml", PASSING)
        result = run(pytester, module, "--power-cycle-cmd", module.power_cycle_command())
        result.assert_outcomes(passed=1, failed=1)
        [record] = recoveries(pytester)
        assert record["recovered"] is True and module.power_cycles == 1
        assert "start-up lines after" in " / ".join(record["steps"])  # type: ignore[arg-type]


def test_after_max_unrecoverable_cases_in_a_row_the_run_stops_with_one_message(pytester: pytest.Pytester,
                                                                               module: ScriptedModule) -> None:
    module.misbehave_on(b"AT+QIOPEN", "unplugged")  # gone for good: no power-cycle command brings it back
    write_case(pytester, "b.yaml", OPENING)
    for name in ("c.yaml", "d.yaml", "e.yaml", "f.yaml"):
        write_case(pytester, name, PASSING)
    result = run(pytester, module, "--max-unrecoverable", "2", "--power-cycle-wait", "1")
    result.assert_outcomes(failed=2)  # b, then c (which could not run); d, e, f are not tried
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "*cases/bg96/c.yaml:1: the module is not answering, so the case did not run: the port closed*",
        "! stopping the run: the module could not be brought back for 2 cases in a row (--max-unrecoverable 2)*",
    ])
    assert len(recoveries(pytester)) == 2


def test_late_answers_of_a_slow_module_are_waited_for_not_blamed_on_the_next_case(pytester: pytest.Pytester,
                                                                                  module: ScriptedModule) -> None:
    module.answer_late(rb"ATI", 2.5)  # later than a 2 s probe would wait; within the documented time
    module.answer_late(rb"AT", 0.8)  # later than the synchronisation's 500 ms between AT commands
    write_case(pytester, "a.yaml", PASSING)
    write_case(pytester, "b.yaml", PASSING.replace("activate a context", "again"))
    result = run(pytester, module)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*real bg96 module at*model=BG96*revision=BG96MAR02A07M1G*"])
    assert "Revision" not in result.stdout.str().split("conformance")[0]  # in no case's report


def test_a_simulated_module_is_power_cycled_through_its_control_channel(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_reboot="""
        import pytest
        from conformance.plugin.state import STATE

        @pytest.mark.dialect("bg96")
        def test_it(modem, request):
            strategy = request.config.stash[STATE].strategy
            assert modem.command("AT+QIACT=1").ok
            record = strategy.recover(modem, "test_it", "told to", resynced=True)
            assert record.recovered, record.line()
            steps = " / ".join(record.steps)
            assert "the simulator rebooted (control channel)" in steps and "APP RDY" in steps
            assert modem.command("AT+QIACT?").lines == []  # it boots with context 1 active: the start state again
    """)
    result = pytester.runpytest("--modem=sim:bg96?boot_active_contexts=[1]", "--peer-netns=off", "--results-dir",
                                str(pytester.path / "out"), "--run-name", "r1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_simulated_module_that_dies_is_started_again(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_dies="""
        import os
        import signal

        import pytest

        @pytest.mark.dialect("bg96")
        def test_killed(modem):
            os.kill(modem.link.port.info["sim"].pid, signal.SIGKILL)

        @pytest.mark.dialect("bg96")
        def test_next(modem):
            assert modem.command("AT").ok
    """)
    result = pytester.runpytest("--peer-netns=off", "--results-dir", str(pytester.path / "out"), "--run-name", "r1",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)  # the module's death is the first test's error, after it passed
    result.stdout.fnmatch_lines(["*after the case, the module did not return to its start state: the port closed*",
                                 "recovery: *the simulator had stopped: a new one is started*recovered*"])
    [record] = recoveries(pytester)
    assert record["recovered"] is True


def test_under_xdist_the_controller_reports_the_workers_recoveries(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_dies="""
        import os
        import signal

        import pytest

        @pytest.mark.dialect("bg96")
        def test_killed(modem):
            os.kill(modem.link.port.info["sim"].pid, signal.SIGKILL)
    """)
    result = pytester.runpytest_subprocess("-n", "2", "--peer-netns=off", "--results-dir", str(pytester.path / "out"),
                                           "--run-name", "r1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["recoveries: 1 (1 recovered), in */out/r1/recoveries.json",
                                 "*test_dies.py::test_killed: the port closed*recovered*"])
    [record] = recoveries(pytester)
    assert record["recovered"] is True
