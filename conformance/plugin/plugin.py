"""The pytest plugin: options, case files collected as test items, the ``modem`` fixture, markers, reports.

Registered through the ``pytest11`` entry point, so an installed suite is active in any pytest run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from .. import dialects
from ..errors import ActionFailed, ConformanceError
from ..link import FlightRecorder, Link
from ..session import Session
from ..transcript import Case, Runner, Scope, parse_file
from . import allure_report
from .modem import Modem, ModemWedged, make_redactor

__all__ = ["CaseFile", "CaseItem", "ModemPool", "RunState"]

DEFAULT_CASE_TIMEOUT_S = 900.0  # the backstop for a case with no timeout of its own: longer than any documented wait
STATE = pytest.StashKey["RunState"]()

# The peers' and network faults' fixtures and options, registered with this plugin (before options are parsed).
pytest_plugins = ["conformance.plugin.capabilities"]


# -- options ---------------------------------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "conformance suite (Quectel TCP/IP AT commands)")
    group.addoption("--modem", metavar="URL", default=None,
                    help="the module under test, as a pyserial URL: /dev/ttyUSB2, rfc2217://bench7:4001, "
                         "socket://host:port, or sim:bg96. Default: a simulated module for each dialect a case "
                         "declares. Example: pytest --modem /dev/ttyUSB2")
    group.addoption("--dialect", metavar="NAME", default=None,
                    help=f"the module family: {', '.join(dialects.names())}. Default: detected from ATI / AT+GMM; "
                         "with no --modem, collects only that dialect's cases. Example: --dialect bg96")
    group.addoption("--baud", metavar="N", type=int, default=115200,
                    help="serial line rate for a real port (default 115200). Example: --baud 921600")
    group.addoption("--line-rate", metavar="BPS", type=int, default=None,
                    help="pace every write as a UART at this rate with 8N1 framing would (a pty ignores the baud "
                         "rate). Default: unpaced. Example: --line-rate 115200")
    group.addoption("--results-dir", metavar="DIR", default="reports/out",
                    help="where runs write flight logs (one folder per run). Default: reports/out")
    group.addoption("--run-name", metavar="NAME", default=None,
                    help="the run's folder name under --results-dir. Default: the start time, YYYYmmdd-HHMMSS")
    group.addoption("--bench", metavar="FILE", default=None,
                    help="a bench description (YAML): vars such as apn, secrets such as apn_password and pin "
                         "(redacted in every artifact), the capabilities it provides, a power-cycle command. "
                         "Example: --bench benches/desk7.yaml")
    group.addoption("--case-timeout", metavar="S", type=float, default=DEFAULT_CASE_TIMEOUT_S,
                    help="backstop for a case without 'timeout:' (pytest-timeout), in seconds; a case's own "
                         f"deadlines fire long before. Default: {DEFAULT_CASE_TIMEOUT_S:g}")
    group.addoption("--power-cycle-cmd", metavar="CMD", default=None,
                    help="a command that power-cycles a real module that stopped answering; the run goes on "
                         "after it. Example: --power-cycle-cmd 'usbrelay R1_1=0 && sleep 2 && usbrelay R1_1=1'")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    _claim_modem_path(early_config)


def _claim_modem_path(config: pytest.Config) -> None:
    """``pytest --modem /dev/ttyUSB2``: pytest locates its rootdir and config before plugins add options, so it takes
    an existing device path for a test path and loses the project's configuration. Run again as ``--modem=PATH``.

    Only for a command line (not pytest.main from a program), and only once.
    """
    argv = list(config.invocation_params.args)
    if sys.argv[1:] != argv or os.environ.get("CONFORMANCE_REEXEC"):
        return
    for i, arg in enumerate(argv[:-1]):
        if arg == "--modem" and os.path.exists(argv[i + 1]):
            fixed = [*argv[:i], f"--modem={argv[i + 1]}", *argv[i + 2:]]
            os.environ["CONFORMANCE_REEXEC"] = "1"
            capture = config.pluginmanager.getplugin("capturemanager")
            if capture is not None:  # it has the terminal's file descriptors by now: give them back
                capture.stop_global_capturing()
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, "-m", "pytest", *fixed])


def pytest_configure(config: pytest.Config) -> None:
    for name in dialects.names():
        config.addinivalue_line("markers", f"{name}: a case for the {dialects.get(name).title} dialect")
    config.addinivalue_line("markers", "dialect(name): the dialect a Python test's `modem` fixture speaks")
    config.addinivalue_line("markers", "case: an item collected from a case file")
    config.stash[STATE] = RunState(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE]
    modem = config.getoption("modem") or "simulated (sim:<dialect>, started per dialect as cases need it)"
    return [f"conformance: modem {modem}; flight logs in {state.run_dir}"]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "cases" in file_path.parts:
        return CaseFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """A malformed case file stays in the run whatever -m / -k select: it has no metadata to select it by."""
    broken = [item for item in items if isinstance(item, BrokenCaseFile)]
    yield
    items.extend(item for item in broken if item not in items)


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
    if state is None or not state.pool.started:
        return
    tr = terminalreporter
    tr.section("conformance")
    for line in state.pool.describe():
        tr.write_line(line)
    tr.write_line(f"flight logs: {state.run_dir}  (print one with: conformance log FILE)")


# -- run state -------------------------------------------------------------------------------------------------------

class RunState:
    """What one pytest run shares: the results folder, the bench, the modems."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        name = config.getoption("run_name", None) or os.environ.get("CONFORMANCE_RUN") or \
            time.strftime("%Y%m%d-%H%M%S")
        os.environ.setdefault("CONFORMANCE_RUN", name)  # xdist workers inherit it: one folder per run
        self.run_dir = Path(config.getoption("results_dir", "reports/out") or "reports/out") / name
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker:
            self.run_dir = self.run_dir / worker
        self.bench = _load_bench(config.getoption("bench", None))
        self.secrets = [str(v) for v in self.bench.get("secrets", {}).values()]
        self.pool = ModemPool(self)

    def redactor(self, dialect: dialects.Dialect | None) -> Any:
        return make_redactor(dialect, self.secrets)

    def redact_text(self, text: str, dialect: dialects.Dialect | None) -> str:
        return self.redactor(dialect)(text.encode("latin-1", "replace")).decode("latin-1")

    def bench_scope(self) -> dict[str, Any]:
        return {**self.bench.get("vars", {}), **self.bench.get("secrets", {})}

    def recorder(self, name: str, dialect: dialects.Dialect | None, meta: dict[str, Any]) -> FlightRecorder:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:180]
        return FlightRecorder(self.run_dir / f"{safe}.atlog", meta=meta, redact=self.redactor(dialect))

    def close(self) -> None:
        alluredir = getattr(self.config.option, "allure_report_dir", None)
        if alluredir and self.pool.started:
            allure_report.write_environment(alluredir, self.pool.environment())
        self.pool.close_all()


def _load_bench(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise pytest.UsageError(f"--bench {path}: {exc}") from None
    if not isinstance(data, dict):
        raise pytest.UsageError(f"--bench {path}: a bench file is a mapping (vars, secrets, provides, power_cycle)")
    return data


# -- modems ----------------------------------------------------------------------------------------------------------

class ModemPool:
    """The modules of this run: the one given with --modem, or one simulated module per dialect, started lazily."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.config = state.config
        self.modems: dict[str, Modem] = {}
        self.started = False
        self._described: dict[str, str] = {}
        self._environment: dict[str, str] = {}
        self.network: Any = None  # the session's network (conformance.plugin.capabilities), set by its fixture

    def get(self, dialect: str, request: pytest.FixtureRequest) -> Modem:
        """The module for ``dialect``: skips the test if the module under test speaks another one."""
        request.getfixturevalue("conformance_modems")  # its teardown closes the modules before the network goes
        url = self.config.getoption("modem")
        if url:
            modem = self.modems.get("real") or self._open_real(url)
            if modem.dialect.name != dialect:
                pytest.skip(f"the module under test speaks {modem.dialect.name}, this case is for {dialect}")
            return modem
        modem = self.modems.get(dialect)
        if modem is None or modem.link.closed:
            if modem is not None:
                modem.close()
            modem = self._start_sim(dialect, request)
        return modem

    def recover(self, modem: Modem) -> None:
        """A module that stopped answering: restart a simulator, or power-cycle a real one (if a command is given)."""
        if modem.url.startswith("sim:"):
            modem.close()
            self.modems = {k: v for k, v in self.modems.items() if v is not modem}
            return
        cmd = self.config.getoption("power_cycle_cmd") or self.state.bench.get("power_cycle")
        if cmd:
            modem.link.note(f"power cycle: {cmd}")
            subprocess.run(cmd, shell=True, check=False, timeout=120)
            modem.answers(within=30)

    def _open_real(self, url: str) -> Modem:
        given = self.config.getoption("dialect")
        recorder = self.state.recorder("modem-session", None, {"url": url})
        link = Link.open(url, baudrate=self.config.getoption("baud"), recorder=recorder,
                         line_rate=self.config.getoption("line_rate"))
        dialect = dialects.get(given) if given else _detect(link)
        modem = Modem(url, dialect, link, Session(link, dialect), home_recorder=recorder)
        modem.info.update(modem.identify())
        recorder._redact = self.state.redactor(dialect)
        self.modems["real"] = modem
        self.started = True
        return modem

    def _start_sim(self, dialect_name: str, request: pytest.FixtureRequest) -> Modem:
        dialect = dialects.get(dialect_name)
        query: dict[str, str] = {}
        network = self.network
        if network is not None:
            if getattr(network, "module_netns", None):
                query["netns"] = network.module_netns
            if getattr(network, "module_ip", None):
                query["local_ip"] = network.module_ip
        url = f"sim:{dialect_name}" + ("?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()) if query else "")
        recorder = self.state.recorder(f"sim-{dialect_name}-session", dialect, {"url": url})
        link = Link.open(url, baudrate=self.config.getoption("baud"), recorder=recorder,
                         line_rate=self.config.getoption("line_rate"))
        modem = Modem(url, dialect, link, Session(link, dialect), home_recorder=recorder)
        modem.info.update({k: v for k, v in link.port.info.items() if k in ("pty", "pid", "control")})
        if not modem.answers(within=10):
            link.close()
            raise ModemWedged(f"the simulated {dialect_name} module did not answer AT after starting")
        modem.info.update(modem.identify())
        modem.info["session_log"] = str(recorder.path)
        self.modems[dialect_name] = modem
        self.started = True
        return modem

    def _remember(self) -> None:
        """Keep what the reports say of the modules (the terminal summary and Allure come after they close)."""
        for modem in self.modems.values():
            self._described[modem.url] = self._describe(modem)
            self._environment.update(self._environment_of(modem))

    def describe(self) -> list[str]:
        self._remember()
        return list(self._described.values())

    def environment(self) -> dict[str, str]:
        self._remember()
        return dict(self._environment)

    @staticmethod
    def _describe(modem: Modem) -> str:
        kind = "simulated" if modem.url.startswith("sim:") else "real"
        what = ", ".join(f"{k}={v}" for k, v in modem.info.items() if k in ("model", "revision", "pty"))
        return f"{kind} {modem.dialect.name} module at {modem.url}: {what}"

    @staticmethod
    def _environment_of(modem: Modem) -> dict[str, str]:
        env = {f"{modem.dialect.name}.url": modem.url}
        for key in ("model", "revision", "ati"):
            if key in modem.info:
                env[f"{modem.dialect.name}.{key}"] = str(modem.info[key])
        return env

    def close_all(self) -> None:
        self._remember()
        for modem in self.modems.values():
            try:
                modem.close()
            except Exception:
                pass
        self.modems.clear()


def _detect(link: Link) -> dialects.Dialect:
    """Ask ``ATI``, then ``AT+GMM``, and match every dialect's identify patterns; a UsageError if none matches."""
    probe_dialect = dialects.get(dialects.names()[0])  # any dialect frames ATI's plain lines the same way
    probe = Modem(link.url, probe_dialect, link, Session(link, probe_dialect))
    said: list[str] = []
    for command in ("ATI", "AT+GMM"):
        try:
            lines = probe.command(command, timeout=2.0).lines
        except ConformanceError:
            continue
        said += lines
        for name in dialects.names():
            dialect = dialects.get(name)
            if any(re.fullmatch(p, line) for p in dialect.identify for line in lines):
                return dialect
    raise pytest.UsageError(f"could not tell the dialect of the module at {link.url} from ATI / AT+GMM "
                            f"({said!r}); give --dialect ({', '.join(dialects.names())})")


# -- case files ------------------------------------------------------------------------------------------------------

class CaseFile(pytest.File):
    """A YAML case file: one item per case and dialect; a malformed file is one failing item, not a crash."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            cases = parse_file(self.path)
        except ConformanceError as exc:
            yield BrokenCaseFile.from_parent(self, name=self.path.name, error=exc)
            return
        only = self.config.getoption("dialect") if not self.config.getoption("modem") else None
        for case in cases:
            for dialect in case.dialects:
                if only and dialect != only:
                    continue
                item = CaseItem.from_parent(self, name=f"{case.name}[{dialect}]", callobj=_run_case,
                                            case=case, dialect=dialect)
                _mark(item, case, dialect)
                yield item


def _mark(item: pytest.Item, case: Case, dialect: str) -> None:
    config = item.config
    item.add_marker("case")
    item.add_marker(dialect)
    for name in (*case.needs, *case.tags):
        config.addinivalue_line("markers", f"{name}: from case metadata (needs / tags)")
        item.add_marker(name)
    timeout = case.timeout_s or config.getoption("case_timeout")
    item.add_marker(pytest.mark.timeout(timeout))


class BrokenCaseFile(pytest.Item):
    """Stands for a case file that cannot be parsed: fails with ``file:line: what is wrong``."""

    def __init__(self, *, error: ConformanceError, **kw: Any) -> None:
        super().__init__(**kw)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(self.error)

    def reportinfo(self) -> tuple[Path, int, str]:
        line = self.error.location.line - 1 if self.error.location else 0
        return self.path, line, f"case file {self.path.name}"


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


def _run_case(request: pytest.FixtureRequest) -> None:
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
                    flight_log=str(recorder.path))
    failed = True
    try:
        runner.run(case.steps)
        runner.check_unexpected()
        failed = False
    finally:
        try:
            _run_finally(item, runner, case, raise_it=not failed)
            _reset(state, modem)
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


def _reset(state: RunState, modem: Modem) -> None:
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

    Records to its own flight log, and is reset to its start state afterwards.
    """
    state: RunState = request.config.stash[STATE]
    marker = request.node.get_closest_marker("dialect")
    name = marker.args[0] if marker else request.config.getoption("dialect") or "bg96"
    the_modem = state.pool.get(name, request)
    recorder = state.recorder(request.node.nodeid, the_modem.dialect, {"test": request.node.nodeid})
    the_modem.record_to(recorder)
    try:
        yield the_modem
    finally:
        try:
            _reset(state, the_modem)
        finally:
            the_modem.record_to(None)
            recorder.close()


@pytest.fixture
def sim_control(request: pytest.FixtureRequest) -> Any:
    """A case's handle on what only a cellular network can do to a simulated module (``! sim_control pdpdeact 1``).

    Skips on a real module: those events cannot be caused from a bench.
    """
    state: RunState = request.config.stash[STATE]
    item = request.node
    name = getattr(item, "dialect", None) or request.config.getoption("dialect") or "bg96"
    the_modem = state.pool.get(name, request)
    sim = the_modem.link.port.info.get("sim")
    if sim is None:
        pytest.skip("sim_control: needs a simulated module; a real bench cannot make the cellular network do this")
    return SimControl(sim)


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

