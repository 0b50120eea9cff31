"""What a run leaves for the reports: ``results.json`` in the run's folder (the summary and the diff read it), and
for Allure, each case's steps and attachments, ``categories.json`` and ``environment.properties``.

A case item calls :func:`case_ran` when its steps are done (``run.py``); the outcome comes from pytest's reports,
which under pytest-xdist travel from the workers to the controller with the case's data on them. The controller
writes the files at the end of the run. Everything written is redacted (the bench's secrets, the dialects' secret
patterns; the IMEI cut to its last 4 digits).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .. import dialects
from ..reports.exchanges import exchange_rows
from ..reports.results import FORMAT, RESULTS_FILE, classify
from ..reports.warnings import case_warnings
from ..transcript import Runner
from . import allure_report
from .secrets import run_redactor
from .state import STATE

__all__ = ["case_ran", "module_description", "write_results"]

_CASE = pytest.StashKey[dict[str, Any]]()
_DETAILS_MAX = 20_000  # characters of a failure's full text kept in results.json (the rest is in the flight log)


def case_ran(item: pytest.Item, runner: Runner, modem: Any, log_path: Path | None,
             context: Mapping[str, Any] | None = None, redact: Callable[[str], str] | None = None) -> None:
    """Keep what a case's run left (rows, warnings, the module) for ``results.json``, and report it to Allure.

    Call it once the case's steps (and its 'finally' steps) are done, before the module is handed to the next case.
    A fault of the reports never changes the case's verdict: it is shown beside it, as a warning of the run.
    """
    try:
        _case_ran(item, runner, modem, log_path, context, redact)
    except Exception as exc:
        problem = f"the reports could not record this case: {type(exc).__name__}: {exc}"
        item.add_report_section("call", "reports", problem)
        item.warn(pytest.PytestWarning(problem))


def _case_ran(item: pytest.Item, runner: Runner, modem: Any, log_path: Path | None,
              context: Mapping[str, Any] | None, redact: Callable[[str], str] | None) -> None:
    case = getattr(item, "case", None)
    dialect_name = getattr(item, "dialect", "") or modem.dialect.name
    dialect = dialects.get(dialect_name)
    redact = redact or run_redactor(item.config).text
    unexpected = [token.text for token in runner.unexpected()]
    warnings = case_warnings(runner.records, dialect, steps=case.steps if case is not None else (),
                             unexpected=unexpected,
                             unexpected_policy=case.unexpected_urcs if case is not None else "record")
    warnings = [{**w, "text": redact(str(w["text"]))} for w in warnings]
    rows = exchange_rows(runner.records, runner.t0_ns, runner.scope)
    for row in rows:
        for key in ("observed", "normalised", "detail", "step"):
            if key in row:
                row[key] = redact(row[key])
    state = item.config.stash[STATE]
    item.stash[_CASE] = {
        "warnings": warnings,
        "exchanges": rows,
        # relative to the run's folder (a pytest-xdist worker records into a folder of its own inside it)
        "flight_log": _relative(log_path, state.run_dir.parent if state.is_worker else state.run_dir)
        if log_path is not None else "",
        "module": module_description(modem),
    }
    if case is not None and allure_report.enabled(item.config):
        transcript = runner.render()
        allure_report.report_case(case, dialect_name, runner.records, log_path, redact, transcript=transcript,
                                  module=modem.info, url=modem.url, warnings=warnings, peers=context,
                                  config=item.config)


def module_description(modem: Any) -> dict[str, Any]:
    """The module as the reports name it: dialect, model, revision, firmware, IMEI (last 4 digits), port."""
    info = getattr(modem, "info", {}) or {}
    out: dict[str, Any] = {"dialect": modem.dialect.name, "url": modem.url, "simulated": modem.url.startswith("sim:")}
    for key in ("model", "revision", "firmware"):
        if info.get(key):
            out[key] = str(info[key])
    if info.get("imei"):
        out["imei"] = allure_report.redact_imei(str(info["imei"]))
    return out


# -- pytest's side ---------------------------------------------------------------------------------------------------

class _Collector:
    """Every test's reports, in the order they finished; the controller (or the only process) writes them out."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = _dt.datetime.now(_dt.UTC)
        self.tests: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.tests.setdefault(report.nodeid, {"id": report.nodeid, "verdict": "passed", "duration_s": 0.0})
        entry.update(getattr(report, "conformance_test", None) or {})
        entry.update(getattr(report, "conformance_case", None) or {})
        entry["duration_s"] = round(entry["duration_s"] + report.duration, 3)
        if report.skipped and entry["verdict"] == "passed":
            entry["verdict"] = "skipped"
            entry["message"] = _skip_reason(report)
        elif report.failed and entry["verdict"] in ("passed", "skipped"):
            entry["verdict"] = getattr(report, "conformance_status", "broken")
            lines = report.longreprtext.splitlines()
            message = getattr(report, "conformance_message", "") or (lines[-1] if lines else "")
            entry["message"] = message if report.when == "call" else f"({report.when}) {message}"
            entry["details"] = report.longreprtext[:_DETAILS_MAX]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = self.config
        state = config.stash.get(STATE, None)
        if hasattr(config, "workerinput") or state is None or not self.tests or config.option.collectonly:
            return
        write_results(state.run_dir, self.results(session.exitstatus))
        alluredir = getattr(config.option, "allure_report_dir", None)
        if alluredir and allure_report.enabled(config):
            allure_report.write_categories(alluredir)
            modules = self.results(session.exitstatus)["modules"]
            allure_report.write_environment(alluredir, allure_report.environment_values(modules))

    def results(self, exit_status: int) -> dict[str, Any]:
        """The run as ``results.json`` holds it (redacted)."""
        redact = run_redactor(self.config).text
        cases = []
        for entry in self.tests.values():
            entry = dict(entry)
            for key in ("message", "details"):
                if key in entry:
                    entry[key] = redact(entry[key])
            entry["category"] = classify(entry["verdict"], entry.get("message", ""))
            cases.append(entry)
        modules = _unique(c["module"] for c in cases if c.get("module"))
        names = sorted({m["dialect"] for m in modules} | {c["dialect"] for c in cases if c.get("dialect")})
        env = allure_report.environment_values(())
        config = self.config
        return {
            "format": FORMAT,
            "run": config.stash[STATE].run_dir.name,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "host": env["host"],
            "suite_version": env["suite.version"],
            "modules": modules,
            "manuals": {name: list(dialects.get(name).manuals) for name in names if name in dialects.names()},
            "options": {"modem": config.getoption("modem", None), "dialect": config.getoption("dialect", None),
                        "bench": config.getoption("bench", None)},
            "exit_status": int(exit_status),
            "cases": cases,
        }


def write_results(run_dir: Path, results: Mapping[str, Any]) -> Path:
    """Write ``results.json`` into ``run_dir``; return its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RESULTS_FILE
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Collector(config), "conformance-results")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Put the test's description and (after its call) its run's data on the report, so it reaches the controller."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    exc = call.excinfo
    if exc is not None and report.failed:
        conforms = exc.errisinstance((AssertionError, pytest.fail.Exception))
        report.conformance_status = "failed" if conforms else "broken"  # type: ignore[attr-defined]
        report.conformance_message = run_redactor(item.config).text(exc.exconly())  # type: ignore[attr-defined]
    if call.when == "setup":
        report.conformance_test = _describe_item(item)  # type: ignore[attr-defined]
    data = item.stash.get(_CASE, None)
    if data is not None and call.when == "call":
        report.conformance_case = data  # type: ignore[attr-defined]


def _describe_item(item: pytest.Item) -> dict[str, Any]:
    """What a test is, before it runs: for a case its file, line, title, sources and tags."""
    path, line, title = item.reportinfo()
    out: dict[str, Any] = {"file": _relative(Path(str(path)), Path.cwd()), "line": (line or 0) + 1,
                           "name": item.name, "title": title or item.name}
    case = getattr(item, "case", None)
    if case is not None:
        out.update(title=case.title, name=case.name, line=case.location.line, sources=list(case.sources),
                   tags=list(case.tags), dialect=getattr(item, "dialect", ""))
    else:
        marker = item.get_closest_marker("dialect")
        if marker is not None and marker.args:
            out["dialect"] = str(marker.args[0])
    return out


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(getattr(report, "wasxfail", "") or report.longrepr or "")


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


def _unique(modules: Any) -> list[dict[str, Any]]:
    """The run's modules, each once: one module is one model, firmware and IMEI, whatever port each worker saw it on
    (a simulated module's URL names the worker's network namespace)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for module in modules:
        key = tuple(module.get(k) for k in ("dialect", "model", "revision", "firmware", "imei", "simulated"))
        if module.get("simulated") is False:
            key += (module.get("url"),)
        out.setdefault(key, module)
    return list(out.values())
