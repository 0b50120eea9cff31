"""The pytest plugin: run-wide hooks, the fixtures for Python tests, and the plugin's parts.

Registered through the ``pytest11`` entry point, so an installed suite is active in any pytest run. Its parts:
``options`` (the command line), ``collect`` (case files as items), ``run`` (one case), ``state`` and ``pool`` (the run
and its modules), ``capabilities`` (peers and network faults). The modules' state (start state, resynchronisation,
recovery) is :mod:`conformance.strategy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from .. import dialects
from ..errors import ActionFailed, ConformanceError
from .collect import BrokenCaseFile
from .modem import Modem
from .pool import BenchError, ModemPool
from .run import CaseItem, reset_after, stop_if_hopeless
from .state import STATE, RunState

__all__ = ["CaseItem", "ModemPool", "RunState"]

# The plugin's parts with hooks of their own, registered with it (before options are parsed).
pytest_plugins = ["conformance.plugin.options", "conformance.plugin.collect", "conformance.plugin.capabilities",
                  "conformance.plugin.secrets", "conformance.plugin.ci", "conformance.plugin.results",
                  "conformance.plugin.allure_report", "conformance.lab.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    for name in dialects.names():
        config.addinivalue_line("markers", f"{name}: a case for the {dialects.get(name).title} dialect")
    config.addinivalue_line("markers", "dialect(name): the dialect a Python test's `modem` fixture speaks")
    config.addinivalue_line("markers", "source(*citations): what a Python conformance test covers, as a case file's "
                                       "source: says it ('<manual> §<id>'); read by conformance coverage")
    config.addinivalue_line("markers", "case: an item collected from a case file")
    from .options import validate  # here, not above: pytest loads the options part as a plugin of its own

    validate(config)
    config.stash[STATE] = RunState(config)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Open the module given with ``--modem`` before any case, so a bench mistake is one usage error (exit code 4).

    Under pytest-xdist the controller opens it, checks it and closes it again: the workers open it for the cases.
    """
    config = session.config
    url = config.getoption("modem")
    if not url or config.option.collectonly or hasattr(config, "workerinput"):
        return
    state: RunState = config.stash[STATE]
    controller = config.pluginmanager.get_plugin("dsession") is not None  # pytest-xdist's: the workers run the cases
    if controller and url.startswith("sim:"):
        return  # nothing on a bench to check: each worker starts its own simulator
    try:
        state.pool.open_given(url)
    except BenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    except ConformanceError as exc:
        raise pytest.UsageError(f"--modem {url}: {exc}") from None
    if controller:  # the workers need the port
        state.pool.close_all()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker hands its recoveries to the controller, which reports the whole run's."""
    workeroutput = getattr(session.config, "workeroutput", None)
    state = session.config.stash.get(STATE, None)
    if workeroutput is not None and state is not None:
        workeroutput["conformance_recoveries"] = [r.as_dict() for r in state.journal.records]
        workeroutput["conformance_notes"] = list(state.pool.notes)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller takes a finished worker's recoveries (pytest-xdist)."""
    state = node.config.stash.get(STATE, None)
    output = getattr(node, "workeroutput", None) or {}
    if state is not None:
        state.journal.extend(output.get("conformance_recoveries", []))
        state.pool.notes.extend(n for n in output.get("conformance_notes", []) if n not in state.pool.notes)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE]
    modem = config.getoption("modem") or "simulated (sim:<dialect>, started per dialect as cases need it)"
    return [f"conformance: modem {modem}; flight logs in {state.run_dir}"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A Python test that fails through the matcher (``modem.run``) reads like a failing case: no traceback."""
    outcome = yield
    report = outcome.get_result()
    err = call.excinfo.value if call.excinfo is not None else None
    if isinstance(err, ConformanceError) and not isinstance(item, (CaseItem, BrokenCaseFile)) and report.failed:
        text = str(err) + (f"\n\n{err.report}" if getattr(err, "report", "") else "")
        state = item.config.stash[STATE]
        report.longrepr = state.redact_text(f"{item.path}::{item.name}\n{text}", None)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not (state.pool.started or state.journal.records):
        return
    tr = terminalreporter
    tr.section("conformance")
    for line in state.pool.describe():
        tr.write_line(line)
    for note in state.pool.notes:
        tr.write_line(f"note: {note}", yellow=True)
    records = state.journal.records
    if records:
        recovered = sum(r.recovered for r in records)
        tr.write_line(f"recoveries: {len(records)} ({recovered} recovered), in {state.recoveries_path}", yellow=True)
        for line in state.journal.lines():
            tr.write_line(f"  {line}")
    else:
        tr.write_line("recoveries: none")
    tr.write_line(f"flight logs: {state.run_dir}  (print one with: conformance log FILE)")


# -- fixtures for Python tests ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def conformance_modems(request: pytest.FixtureRequest, network: Any) -> Iterator[ModemPool]:
    """The run's modules. Depends on ``network``, so the simulators stop before their namespaces are removed."""
    pool = request.config.stash[STATE].pool
    pool.network = network
    yield pool
    pool.close_all()


@pytest.fixture
def modem(request: pytest.FixtureRequest) -> Iterator[Modem]:
    """The module under test for a Python test, in the dialect of ``@pytest.mark.dialect("bg96")`` (or --dialect).

    Records to its own flight log; resynchronised before the test, and put back in its start state after it.
    """
    state: RunState = request.config.stash[STATE]
    the_modem = state.pool.get(_dialect_of(request), request)
    recorder = state.recorder(request.node.nodeid, the_modem.dialect, {"test": request.node.nodeid})
    the_modem.record_to(recorder)
    try:
        state.strategy.before_case(the_modem, request.node.nodeid)
    except ConformanceError:
        the_modem.record_to(None)
        recorder.close()
        stop_if_hopeless(request.node, state)
        raise
    try:
        yield the_modem
    finally:
        try:
            reset_after(state, the_modem, request.node)
        finally:
            the_modem.record_to(None)
            recorder.close()


@pytest.fixture
def sim_control(request: pytest.FixtureRequest) -> Any:
    """A case's handle on what only a cellular network can do to a simulated module (``! sim_control pdpdeact 1``).

    Skips on a real module: those events cannot be caused from a bench.
    """
    state: RunState = request.config.stash[STATE]
    the_modem = state.pool.get(_dialect_of(request), request)
    sim = the_modem.link.port.info.get("sim")
    if sim is None:
        pytest.skip("sim_control: needs a simulated module; a real bench cannot make the cellular network do this")
    return SimControl(sim)


def _dialect_of(request: pytest.FixtureRequest) -> str:
    """The dialect a test speaks: its case's, its ``@pytest.mark.dialect(...)``, ``--dialect``, else bg96."""
    item = request.node
    marker = item.get_closest_marker("dialect")
    return getattr(item, "dialect", None) or (marker.args[0] if marker else None) or \
        request.config.getoption("dialect") or "bg96"


class SimControl:
    """Action target over a simulator's control channel: ``! sim_control <command> key=value ...``."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    def perform(self, verb: str, args: Sequence[object], *, deadline: float, context: Mapping[str, object]) -> str:
        kwargs: dict[str, Any] = {}
        for arg in args:
            text = arg.decode("latin-1") if isinstance(arg, bytes) else str(arg)
            key, sep, value = text.partition("=")
            if not sep:
                raise ActionFailed(f"sim_control {verb}: arguments are key=value, got {text!r}")
            kwargs[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
        try:
            reply = self.sim.control(verb, **kwargs)
        except Exception as exc:
            raise ActionFailed(f"sim_control {verb}: {exc}") from None
        return f"{verb} {kwargs}: {reply}"

