"""Secrets out of what pytest itself writes: failure messages, tracebacks, captured output, and so JUnit XML and
Allure results, which are made from the same reports.

The flight recorder and the matcher redact what they write themselves; this covers what a Python test's own
assertion or print can carry (``assert got == password``). The bench's listed secrets and every dialect's secret
patterns are masked (see :mod:`conformance.redact`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from .. import dialects
from ..redact import Redactor

__all__ = ["run_redactor"]

_KEY = pytest.StashKey[Redactor]()


def run_redactor(config: pytest.Config) -> Redactor:
    """The redactor for anything of this run that no single dialect owns."""
    redactor = config.stash.get(_KEY, None)
    if redactor is None:
        from .state import STATE

        state = config.stash.get(STATE, None)
        secrets = state.secrets if state is not None else []
        patterns = [p for name in dialects.names() for p in dialects.get(name).secrets]
        redactor = config.stash[_KEY] = Redactor(secrets, patterns)
    return redactor


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Mask secrets in the exception a test raises, before any reporter (Allure reads it) turns it into text."""
    try:
        return (yield)
    except BaseException as exc:
        _redact_exception(exc, run_redactor(item.config))
        raise


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Mask secrets in the report (failure text and captured output) before terminal, JUnit XML and Allure use it."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    redactor = run_redactor(item.config)
    if not redactor.active:
        return
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):  # a tuple is a skip's (path, line, why)
        text = str(report.longrepr)
        masked = redactor.text(text)
        if masked != text:  # else keep it as it is: JUnit XML and Allure take the failure's message from its parts
            report.longrepr = masked
    elif isinstance(report.longrepr, tuple):
        path, line, why = report.longrepr
        report.longrepr = (path, line, redactor.text(why))
    report.sections = [(title, redactor.text(text)) for title, text in report.sections]


def _redact_exception(exc: BaseException, redactor: Redactor) -> None:
    if not redactor.active:
        return
    exc.args = tuple(redactor.text(a) if isinstance(a, str) else a for a in exc.args)
    for attr in ("message", "report"):
        value = getattr(exc, attr, None)
        if isinstance(value, str):
            try:
                setattr(exc, attr, redactor.text(value))
            except AttributeError:
                pass
