"""The modules of a run: the one given with ``--modem``, or one simulated module per dialect, started lazily.

Every module is put in its start state as its port opens (:mod:`conformance.strategy`). The module given with
``--modem`` is opened at start-up (see ``plugin.pytest_sessionstart``), so a bench mistake (a port that is not there
or is held by another program, a module that answers nothing the suite knows) is one usage error before any case.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from .. import dialects
from ..errors import ConformanceError, StepFailed
from ..link import FlightRecorder, Link
from ..session import Session
from ..strategy import CommandPowerCycle, PowerCycler, SimReboot, SimRestart, synchronise
from .modem import Modem, ModemWedged

if TYPE_CHECKING:
    from .state import RunState

__all__ = ["BenchError", "FamilyModelWarning", "ModemPool"]


class BenchError(ConformanceError):
    """The bench is not as the options say: a port that cannot be opened, a module that answers nothing known."""


class FamilyModelWarning(pytest.PytestWarning):
    """The module is of a dialect's family, but not a model its manual is written for: it is held to that manual."""


class ModemPool:
    """The modules of this run: the one given with --modem, or one simulated module per dialect, started lazily."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.config = state.config
        self.modems: dict[str, Modem] = {}
        self.started = False
        self.notes: list[str] = []  # what the reports should say about the modules (a model held to another's manual)
        self._described: dict[str, str] = {}
        self._environment: dict[str, str] = {}
        self.network: Any = None  # the session's network (conformance.plugin.capabilities), set by its fixture

    def get(self, dialect: str, request: pytest.FixtureRequest) -> Modem:
        """The module for ``dialect``: skips the test if the module under test speaks another one."""
        request.getfixturevalue("conformance_modems")  # its teardown closes the modules before the network goes
        url = self.config.getoption("modem")
        if url:
            modem = self.modems.get("real") or self.open_given(url)
            if modem.dialect.name != dialect:
                pytest.skip(f"the module under test speaks {modem.dialect.name}, this case is for {dialect}")
            return modem
        return self.modems.get(dialect) or self._start_sim(dialect)

    # -- opening ---------------------------------------------------------------------------------------------------

    def open_given(self, url: str) -> Modem:
        """Open the module given with ``--modem``: its dialect (``--dialect``, or detected), its start state, its
        model and firmware. Raises :class:`BenchError` naming the option and what is wrong."""
        url = self._with_sim_options(url) if url.startswith("sim:") else url
        given = self.config.getoption("dialect")
        recorder = self.state.recorder("modem-session", dialects.get(given) if given else None, {"url": url})
        try:
            link = self._open_link(url, recorder)
        except Exception as exc:  # pyserial, the OS, or the simulator's launcher: each says what is wrong
            recorder.close()
            raise BenchError(f"--modem {url}: {_port_problem(exc)}") from None
        try:
            dialect = self._held_to(dialects.get(given) if given else self._detect(link))
            recorder.redactor = self.state.redactor(dialect)
            modem = Modem(url, dialect, link, self._session(link, dialect), home_recorder=recorder)
            modem.info.update(_sim_info(link))
            self.state.strategy.start_state(modem)
            modem.info.update(modem.identify())
            self._check_model(modem)
        except BaseException:
            link.close()
            recorder.close()
            raise
        self.modems["real"] = modem
        self.started = True
        return modem

    def _start_sim(self, dialect_name: str) -> Modem:
        dialect = self._held_to(dialects.get(dialect_name))
        query: dict[str, str] = {}
        network = self.network
        if network is not None:
            if getattr(network, "module_netns", None):
                query["netns"] = network.module_netns
            if getattr(network, "module_ip", None):
                query["local_ip"] = network.module_ip
        url = self._with_sim_options(f"sim:{dialect_name}", query)
        recorder = self.state.recorder(f"sim-{dialect_name}-session", dialect, {"url": url})
        try:
            link = self._open_link(url, recorder)
        except Exception as exc:
            recorder.close()
            raise ModemWedged(f"the simulated {dialect_name} module did not start: {exc}") from None
        modem = Modem(url, dialect, link, self._session(link, dialect), home_recorder=recorder)
        modem.info.update(_sim_info(link))
        try:
            self.state.strategy.start_state(modem, why="the simulator started")
        except BaseException:
            modem.close()
            raise
        modem.info.update(modem.identify())
        modem.info["session_log"] = str(recorder.path)
        self.modems[dialect_name] = modem
        self.started = True
        return modem

    def _held_to(self, dialect: dialects.Dialect) -> dialects.Dialect:
        """The dialect with the response times of the document revision the run holds its modules to (--revision)."""
        from .options import revisions  # here, not above: pytest loads the options part as a plugin of its own

        revision = revisions(self.config).get(dialect.name)
        return dialect.with_revision(revision) if revision else dialect

    def _with_sim_options(self, url: str, query: dict[str, str] | None = None) -> str:
        """A ``sim:`` URL with the run's simulator settings (``--sim-timing``, ``--sim-seed``) added to its query."""
        query = dict(query or {})
        timing, seed = self.config.getoption("sim_timing", None), self.config.getoption("sim_seed", None)
        if timing and "timing=" not in url:
            query["timing"] = timing
        if seed is not None and "seed=" not in url:
            query["seed"] = str(seed)
        if not query:
            return url
        return url + ("&" if "?" in url else "?") + "&".join(f"{k}={quote(v)}" for k, v in query.items())

    def _open_link(self, url: str, recorder: FlightRecorder | None) -> Link:
        return Link.open(url, baudrate=self.config.getoption("baud"), recorder=recorder,
                         line_rate=self.config.getoption("line_rate"))

    def _session(self, link: Link, dialect: dialects.Dialect) -> Session:
        from .options import LINE_ENDS  # here, not above: pytest loads the options part as a plugin of its own

        session = Session(link, dialect)
        session.line_end = LINE_ENDS[self.config.getoption("line_end", "cr") or "cr"]
        return session

    def _detect(self, link: Link) -> dialects.Dialect:
        """Synchronise, then ask ``ATI`` and ``AT+GMM`` (each given the longest documented response time of the
        dialects) and match every registered dialect's identify patterns; a :class:`BenchError` if none matches."""
        names = dialects.names()
        probe_dialect = dialects.get(names[0])  # any dialect frames AT, ATI and AT+GMM's plain lines the same way
        probe = Modem(link.url, probe_dialect, link, self._session(link, probe_dialect))
        synced = synchronise(probe)
        if not synced.answered:
            raise BenchError(f"--modem {link.url}: {synced.describe()}; is the module powered, and is this its AT "
                             "port?")
        wait = max(dialects.get(name).default_response_s for name in names)
        said: list[str] = []
        for command in ("ATI", "AT+GMM"):
            try:
                lines = [line for line in probe.command(command, timeout=wait).lines if line]
            except StepFailed:
                continue
            said += lines
            for name in names:
                dialect = dialects.get(name)
                if any(re.fullmatch(p, line) for p in dialect.identify for line in lines):
                    return dialect
        raise BenchError(f"--modem {link.url}: could not tell the dialect of the module from ATI / AT+GMM "
                         f"({said!r}); give --dialect ({', '.join(names)})")

    def _check_model(self, modem: Modem) -> None:
        """A model of the family but not the manual's own: say so in the summary and as a warning."""
        model = modem.info.get("model")
        dialect = modem.dialect
        if not model or not dialect.manual_models or any(re.fullmatch(p, model) for p in dialect.manual_models):
            return
        note = (f"{model} is of the {dialect.name.upper()} family; the suite holds it to the "
                f"{' / '.join(dialect.manuals)}")
        if note in self.notes:
            return
        self.notes.append(note)
        if not self.state.is_worker:  # under pytest-xdist the controller has said it already
            self.config.issue_config_time_warning(FamilyModelWarning(note), stacklevel=2)

    # -- for the strategy ------------------------------------------------------------------------------------------

    def reopen(self, modem: Modem) -> None:
        """Open ``modem``'s port again (a module back on the bus, or a new simulator) and speak to it over it."""
        recorder = modem.link.recorder
        modem.link.close()
        link = self._open_link(modem.url, recorder)
        modem.attach(link)
        modem.info.update(_sim_info(link))

    def power_cycler(self, modem: Modem) -> PowerCycler | None:
        """How to power-cycle ``modem``: what its port provides (a labgrid place's power driver), a simulator's
        control channel, or the bench's command (None: no way)."""
        provided = modem.link.port.info.get("power_cycler")
        if provided is not None:
            return provided
        if modem.url.startswith("sim:"):
            sim = modem.link.port.info.get("sim")
            if sim is not None and sim.alive() and not modem.link.closed:
                return SimReboot(sim)
            return SimRestart()
        command = self.config.getoption("power_cycle_cmd") or self.state.bench.get("power_cycle")
        return CommandPowerCycle(command) if command else None

    # -- reports ---------------------------------------------------------------------------------------------------

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
        what = ", ".join(f"{k}={modem.info[k]}" for k in ("model", "revision", "firmware", "pty") if k in modem.info)
        held = f" (held to its documents' revision {modem.dialect.revision})" if modem.dialect.revision else ""
        return f"{kind} {modem.dialect.name} module at {modem.url}: {what}{held}"

    @staticmethod
    def _environment_of(modem: Modem) -> dict[str, str]:
        env = {f"{modem.dialect.name}.url": modem.url}
        if modem.dialect.revision:
            env[f"{modem.dialect.name}.manual_revision"] = modem.dialect.revision
        for key in ("model", "revision", "firmware", "ati"):
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


def _sim_info(link: Link) -> dict[str, Any]:
    """What a simulated module's port says of it, for reports (its pty, process and control socket)."""
    return {k: v for k, v in link.port.info.items() if k in ("pty", "pid", "control")}


def _port_problem(exc: BaseException) -> str:
    """What went wrong opening a port, in a line."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "exclusively lock" in text or "Resource temporarily unavailable" in text:
        return f"the port is held by another program (another run?): {text}"
    return f"cannot open the port: {text}"
