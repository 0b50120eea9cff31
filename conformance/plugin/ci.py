"""What a CI runner needs of a run: results written even when it is stopped, and JUnit XML a dashboard reads well.

- SIGTERM (what CI runners and ``timeout`` send) ends the run: the case in progress fails saying so, no other case
  starts, the modules and networks are torn down, and JUnit XML and Allure results are written as at a normal end.
- JUnit XML names a case's class after its dialect and file (``bg96.tcp_client_buffer``), not ``cases.bg96.<file>
  .yaml``, and carries the case file and line (the suite writes the xunit1 family, which has them).
"""

from __future__ import annotations

import signal
from collections.abc import Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

__all__ = ["RunStopped"]

_PREVIOUS = pytest.StashKey[Any]()


class RunStopped(Exception):
    """The run was told to stop (SIGTERM) while a case ran: that case ends here, and no other case starts."""


class _Terminator:
    """On SIGTERM: fail the case in progress (so it is reported), stop the run after it, and let every report be
    written as at a normal end. Outside a case, stop as Ctrl+C does."""

    def __init__(self) -> None:
        self.session: pytest.Session | None = None
        self.in_case = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        if self.session is not None:
            self.session.shouldstop = "stopped by SIGTERM"
        if self.in_case:
            raise RunStopped("the run was stopped by SIGTERM while this case ran (a CI runner's timeout?)")
        raise KeyboardInterrupt("SIGTERM")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        self.in_case = True
        try:
            return (yield)
        finally:
            self.in_case = False


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_JunitNames(config), "conformance-junit-names")
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        terminator = _Terminator()
        config.pluginmanager.register(terminator, "conformance-sigterm")
        config.stash[_PREVIOUS] = signal.signal(signal.SIGTERM, terminator)


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_PREVIOUS, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    dialect = getattr(item, "dialect", None)
    if dialect is not None:  # a case item: the report travels to the controller under xdist, with this on it
        outcome.get_result().junit_classname = f"{dialect}.{Path(str(item.path)).stem}"


class _JunitNames:
    """Registered per run, so its hook knows the run's JUnit XML writer."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        classname = getattr(report, "junit_classname", None)
        if classname is None:
            return
        from _pytest.junitxml import xml_key

        logxml = self.config.stash.get(xml_key, None)
        if logxml is not None:
            logxml.node_reporter(report).add_attribute("classname", classname)
