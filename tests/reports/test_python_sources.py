"""A Python conformance test cites the manual with @pytest.mark.source, and coverage counts it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from conformance.reports.coverage import Coverage
from conformance.reports.documented import default_documented_path, load_documented
from conformance.reports.pytests import python_tests

TESTS = '''\
    import pytest

    pytestmark = [pytest.mark.dialect("bg96")]

    @pytest.mark.source("BG96 TCP/IP AT Commands Manual V1.0 §2.1.7 AT+QISEND write query")
    def test_send_buffer_fills(modem):
        pass

    @pytest.mark.source("BG96 TCP/IP AT Commands Manual V1.0 §9.9 nothing")
    def test_cites_what_is_not_there(modem):
        pass

    def helper():
        pass
    '''


def test_coverage_reads_the_source_markers_of_python_tests(tmp_path: Path) -> None:
    folder = tmp_path / "cases" / "bg96"
    folder.mkdir(parents=True)
    (folder / "test_buffer.py").write_text(textwrap.dedent(TESTS), encoding="utf-8")
    tests = python_tests(folder / "test_buffer.py")
    assert [(t.name, t.dialects, t.location.line) for t in tests] == [
        ("test_send_buffer_fills", ("bg96",), 6), ("test_cites_what_is_not_there", ("bg96",), 10)]
    documented = load_documented(default_documented_path("bg96"), "bg96")
    coverage = Coverage.build(documented, [tmp_path / "cases"])
    item = documented.by_ref[("BG96 TCP/IP AT Commands Manual V1.0", "2.1.7 AT+QISEND write query")]
    assert [c.case.endswith("test_buffer.py::test_send_buffer_fills") for c in coverage.covering(item)] == [True]
    (error,) = coverage.errors
    assert "test_buffer.py:9" in error and "§9.9 nothing" in error
