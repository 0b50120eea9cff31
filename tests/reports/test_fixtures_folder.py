"""The data a bench brings, as shipped in fixtures/: every file is one the suite accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.plugin.state import _load_bench
from conformance.reports.quirks import DEFAULT_QUIRKS_DIR, find_quirks, load_quirks

FIXTURES = Path(__file__).parents[2] / "fixtures"


@pytest.mark.parametrize("path", sorted(DEFAULT_QUIRKS_DIR.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_quirks_file_reads(path: Path) -> None:
    quirks = load_quirks(path)
    assert quirks.quirks and all(q.reason for q in quirks.quirks)


def test_the_example_quirks_file_applies_to_no_real_module() -> None:
    assert find_quirks([{"model": "BG96", "revision": "BG96MAR02A07M1G",
                         "firmware": "BG96MAR02A07M1G_01.016.01.016"}]) == []


@pytest.mark.parametrize("path", sorted((FIXTURES / "benches").glob("*.yaml")), ids=lambda p: p.name)
def test_every_bench_file_is_one_the_suite_accepts(path: Path) -> None:
    bench = _load_bench(str(path))
    assert set(bench) <= {"vars", "secrets", "provides", "power_cycle"}
