"""Reports over case files and runs.

- what the manual documents and which cases cover it: :mod:`.coverage` (``conformance coverage``);
- what a run leaves (``results.json``, :mod:`.results`), the acceptance summary (:mod:`.summary`), known deviations
  (:mod:`.quirks`), the regression diff between two runs (:mod:`.diff`), the rendered Allure report
  (:mod:`.render`): ``conformance report``. The pytest side is :mod:`conformance.plugin.results` and
  :mod:`conformance.plugin.allure_report`.

The coverage names are loaded on first use, so a run's reports do not import the coverage report.
"""

from typing import Any

__all__ = ["CitationError", "Coverage", "DocumentedItem", "coverage_main", "load_documented"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import coverage

        return getattr(coverage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
