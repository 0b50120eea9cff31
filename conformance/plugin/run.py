"""Running one case item: the module, the peers, the matcher, the 'finally:' steps, the reset, the reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from .. import dialects
from ..errors import ConformanceError
from ..strategy import Outcome
from ..transcript import Case, Runner, Scope
from .modem import Modem, ModemWedged
from .results import case_ran
from .state import STATE, RunState

__all__ = ["CaseItem", "reset_after", "run_case", "stop_if_hopeless"]


class CaseItem(pytest.Function):
    """One case run against one dialect's module."""

    def __init__(self, *, case: Case, dialect: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.dialect = dialect

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        err = excinfo.value
        if isinstance(err, ConformanceError):
            state = self.config.stash[STATE]
            text = str(err)
            report = getattr(err, "report", "")
            if report:
                text += "\n\n" + report
            extra = getattr(self, "_finally_error", None)
            if extra:
                text += f"\n\nand the 'finally:' steps failed too: {extra}"
            after = getattr(self, "_state_error", None)
            if after:
                text += f"\n\n{after}"
            return state.redact_text(text, dialects.get(self.dialect))
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.location.line - 1, f"{self.case.title} [{self.dialect}]"


def run_case(request: pytest.FixtureRequest) -> None:
    """The body of every case item: resynchronise, the steps, the 'finally:' steps, back to the start state."""
    item = request.node
    assert isinstance(item, CaseItem)
    state: RunState = item.config.stash[STATE]
    case, dialect = item.case, dialects.get(item.dialect)
    if case.skip:
        pytest.skip(case.skip)
    provides = state.bench.get("provides")
    for need in case.needs:
        if provides is not None and need not in provides:
            pytest.skip(f"this bench does not provide {need!r}")
    modem = state.pool.get(item.dialect, request)
    context = _context(request, case.needs)
    recorder = state.recorder(item.nodeid, dialect, {"case": item.nodeid, "url": modem.url,
                                                    "source": "; ".join(case.sources)})
    modem.record_to(recorder)
    try:
        state.strategy.before_case(modem, item.nodeid)
    except ConformanceError as exc:
        exc.location = exc.location or case.location  # the report names the case that could not run
        modem.record_to(None)
        recorder.close()
        stop_if_hopeless(item, state)
        raise
    _point_sim_at_peers(modem, context)
    scope = Scope({**case.variables, **context, "bench": state.bench_scope(), "module": modem.info})
    runner = Runner(modem.session, scope, context, unexpected_urcs=case.unexpected_urcs,
                    flight_log=str(recorder.path), redact=recorder.redactor.text)
    error: BaseException | None = None
    try:
        runner.run(case.steps)
        runner.check_unexpected()
    except (Exception, pytest.fail.Exception) as exc:  # the backstop's timeout too; Ctrl+C and SIGTERM go straight up
        error = exc
    try:
        _run_finally(item, runner, case, raise_it=error is None)
    except (Exception, pytest.fail.Exception) as exc:
        error = error or exc
    try:
        stopping = bool(item.session.shouldstop or item.session.shouldfail)  # the run ends: no time for a recovery
        outcome = Outcome() if stopping else state.strategy.after_case(modem, item.nodeid)
    finally:
        unexpected = [token.text for token in runner.unexpected()]
        if unexpected:
            item.add_report_section("call", "unexpected URCs", "\n".join(unexpected))
        case_ran(item, runner, modem, recorder.path, context, lambda s: state.redact_text(s, dialect))
        modem.record_to(None)
        recorder.close()
    if not outcome.in_start_state:
        stop_if_hopeless(item, state)
    if outcome.problem:
        if error is not None:  # the case's own failure first; what happened to the module after it, below
            item._state_error = outcome.describe()
            if not isinstance(error, ConformanceError):  # a ConformanceError's report appends it (repr_failure)
                item.add_report_section("call", "module state", outcome.describe())
        else:
            raise ModemWedged(f"the case's steps passed, but {outcome.describe()}", case.location)
    if error is not None:
        raise error


def stop_if_hopeless(item: pytest.Item, state: RunState) -> None:
    """After ``--max-unrecoverable`` cases in a row with a module that could not be brought back, stop the run with
    one message (pytest finishes this case's report, then stops; under pytest-xdist every worker stops)."""
    reason = state.strategy.give_up
    if reason:
        item.session.shouldfail = (f"stopping the run: {reason}. Recoveries: {state.recoveries_path}")


def _point_sim_at_peers(modem: Modem, context: Mapping[str, Any]) -> None:
    """A real module learns its DNS server from the cellular network at activation; a simulated one is told the DNS
    peer's address and port (the AT commands name no port) through its control channel."""
    sim = modem.link.port.info.get("sim")
    dns = context.get("dns")
    if sim is not None and dns is not None:
        sim.control("configure", dns_servers=[dns.host], dns_port=dns.port)


def _run_finally(item: CaseItem, runner: Runner, case: Case, *, raise_it: bool) -> None:
    """The case's 'finally:' steps; their failure fails a passing case, and is shown beside a failing one."""
    if not case.final_steps:
        return
    try:
        runner.run(case.final_steps)
    except ConformanceError as exc:
        item._finally_error = exc
        if raise_it:
            raise


def reset_after(state: RunState, modem: Modem, test: pytest.Item) -> None:
    """After a Python test: back to the start state; a module that did not get there is an error of the test's."""
    outcome = state.strategy.after_case(modem, test.nodeid)
    if not outcome.in_start_state:
        stop_if_hopeless(test, state)
    if outcome.problem:
        raise ModemWedged(outcome.describe())


def _context(request: pytest.FixtureRequest, needs: Sequence[str]) -> dict[str, Any]:
    """The case's action targets: one fixture per capability it needs (a missing one skips the case)."""
    context: dict[str, Any] = {}
    for need in needs:
        try:
            context[need] = request.getfixturevalue(need)
        except pytest.FixtureLookupError:
            pytest.skip(f"this bench does not provide {need!r} (no fixture of that name)")
    if any(n.startswith("net_") for n in needs):
        context["net"] = request.getfixturevalue("net")
    return context

