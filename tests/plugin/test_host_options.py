"""How the host speaks and how simulated modules behave, as options: ``--line-end``, ``--sim-timing``,
``--sim-seed``."""

from __future__ import annotations

import re
import textwrap

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


@pytest.mark.parametrize(("option", "line_end"), [("crlf", b"\r\n"), ("cr", b"\r")])
def test_every_host_command_line_ends_as_line_end_says(pytester: pytest.Pytester, option: str,
                                                        line_end: bytes) -> None:
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    path = pytester.path / "cases" / "bg96" / "a.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(textwrap.dedent(PASSING), encoding="utf-8")
    with ScriptedModule() as module:
        result = pytester.runpytest(f"--modem={module.path}", "--line-end", option, "-p", "no:cacheprovider",
                                    "--results-dir", str(pytester.path / "out"))
        result.assert_outcomes(passed=1)
        sent = bytes(module.received)
    assert b"AT+QIACT=1" + line_end in sent
    ends = re.findall(rb"\r\n?", sent)  # every command line: the probes, the reset, the case's
    assert len(ends) > 10 and set(ends) == {line_end}


def test_simulated_modules_get_the_timing_profile_and_its_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sim_timing_option="""
        import pytest

        @pytest.mark.dialect("bg96")
        def test_it(modem):
            assert "timing=realistic" in modem.url and "seed=7" in modem.url
            config = modem.link.port.info["sim"].control("state")["config"]
            assert (config["timing"], config["seed"]) == ("realistic", 7)
    """)
    result = pytester.runpytest("--sim-timing", "realistic", "--sim-seed", "7", "--peer-netns=off",
                                "--results-dir", str(pytester.path / "out"), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_without_the_options_the_simulator_keeps_its_own_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sim_timing_option="""
        import pytest

        @pytest.mark.dialect("bg96")
        def test_it(modem):
            assert "timing=" not in modem.url and "seed=" not in modem.url  # CONFORMANCE_SIM_TIMING decides
    """)
    result = pytester.runpytest("--peer-netns=off", "--results-dir", str(pytester.path / "out"),
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_revision_holds_a_dialect_to_the_older_documents_times(pytester: pytest.Pytester) -> None:
    from conformance import dialects

    older = dialects.get("m95").with_revision("V1.1")
    assert older.response_time("AT+QIACT").seconds == 180
    assert dialects.get("m95").response_time("AT+QIACT").seconds == 150
    bad = pytester.runpytest("--revision", "m95=V9", "--collect-only", "-p", "no:cacheprovider")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["*--revision m95=V9: m95 has the revisions V1.1, V2.0*"])
