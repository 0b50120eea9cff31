"""Running one case item: the module, the peers, the matcher, the 'finally:' steps, the reset, the reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from .. import dialects
from ..errors import ConformanceError
from ..transcript import Case, Runner, Scope
from . import allure_report
from .modem import Modem, ModemWedged
from .state import STATE, RunState

__all__ = ["CaseItem", "reset_after", "run_case"]


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
            return state.redact_text(text, dialects.get(self.dialect))
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.location.line - 1, f"{self.case.title} [{self.dialect}]"


def run_case(request: pytest.FixtureRequest) -> None:
    """The body of every case item."""
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
    _point_sim_at_peers(modem, context)
    scope = Scope({**case.variables, **context, "bench": state.bench_scope(), "module": modem.info})
    runner = Runner(modem.session, scope, context, unexpected_urcs=case.unexpected_urcs,
                    flight_log=str(recorder.path), redact=recorder.redactor.text)
    failed = True
    try:
        runner.run(case.steps)
        runner.check_unexpected()
        failed = False
    finally:
        try:
            _run_finally(item, runner, case, raise_it=not failed)
            reset_after(state, modem)
        finally:
            unexpected = [token.text for token in runner.unexpected()]
            if unexpected:
                item.add_report_section("call", "unexpected URCs", "\n".join(unexpected))
            if allure_report.enabled(item.config):
                allure_report.report_case(case, item.dialect, runner.records, recorder.path,
                                          lambda s: state.redact_text(s, dialect))
            modem.record_to(None)
            recorder.close()


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


def reset_after(state: RunState, modem: Modem) -> None:
    try:
        modem.reset()
    except ConformanceError as exc:
        modem.link.note(f"teardown failed: {exc}")
        state.pool.recover(modem)
        raise ModemWedged(f"the module did not return to its start state after the case: {exc}") from None


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

