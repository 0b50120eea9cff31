"""The modules of a run: the one given with ``--modem``, or one simulated module per dialect, started lazily."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from .. import dialects
from ..errors import ConformanceError
from ..link import Link
from ..session import Session
from .modem import Modem, ModemWedged

if TYPE_CHECKING:
    from .state import RunState

__all__ = ["ModemPool"]


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
        recorder.redactor = self.state.redactor(dialect)
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

