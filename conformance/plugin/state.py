"""What one pytest run shares: the results folder, the bench description, the modules."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from .. import dialects
from ..link import FlightRecorder
from ..strategy import ModuleStrategy, RecoveryJournal
from . import allure_report
from .modem import make_redactor
from .pool import ModemPool

__all__ = ["BENCH_KEYS", "STATE", "RunState", "xdist_worker"]

BENCH_KEYS = ("vars", "secrets", "provides", "power_cycle")  # what a bench file (--bench) may hold
RECOVERIES_FILE = "recoveries.json"  # in the run's folder: every recovery of the run (an empty list if none)

STATE = pytest.StashKey["RunState"]()


def xdist_worker(config: pytest.Config) -> str | None:
    """This process's pytest-xdist worker id (``gw3``); None in the controller or a run without xdist.

    Read from the config, not from ``PYTEST_XDIST_WORKER``: a run started inside an xdist worker (a test of a test
    run, a wrapper script) inherits that variable without being a worker itself.
    """
    workerinput = getattr(config, "workerinput", None)
    return workerinput.get("workerid") if workerinput else None


class RunState:
    """What one pytest run shares: the results folder, the bench, the modems."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        name = config.getoption("run_name", None) or os.environ.get("CONFORMANCE_RUN") or \
            time.strftime("%Y%m%d-%H%M%S")
        os.environ.setdefault("CONFORMANCE_RUN", name)  # xdist workers inherit it: one folder per run
        self.run_dir = Path(config.getoption("results_dir", "reports/out") or "reports/out") / name
        worker = xdist_worker(config)
        if worker:
            self.run_dir = self.run_dir / worker
        self.bench = _load_bench(config.getoption("bench", None))
        self.secrets = [str(v) for v in self.bench.get("secrets", {}).values()]
        self.pool = ModemPool(self)
        self.journal = RecoveryJournal()
        self.strategy = ModuleStrategy(reopen=self.pool.reopen, power_cycler=self.pool.power_cycler,
                                       power_cycle_wait_s=config.getoption("power_cycle_wait", 60.0),
                                       max_unrecoverable=config.getoption("max_unrecoverable", 3),
                                       journal=self.journal)
        self.is_worker = bool(worker)

    def redactor(self, dialect: dialects.Dialect | None) -> Any:
        return make_redactor(dialect, self.secrets)

    def redact_text(self, text: str, dialect: dialects.Dialect | None) -> str:
        return self.redactor(dialect).text(text)

    def bench_scope(self) -> dict[str, Any]:
        return {**self.bench.get("vars", {}), **self.bench.get("secrets", {})}

    def recorder(self, name: str, dialect: dialects.Dialect | None, meta: dict[str, Any]) -> FlightRecorder:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:180]
        return FlightRecorder(self.run_dir / f"{safe}.atlog", meta=meta, redact=self.redactor(dialect))

    @property
    def recoveries_path(self) -> Path:
        return self.run_dir / RECOVERIES_FILE

    def close(self) -> None:
        alluredir = getattr(self.config.option, "allure_report_dir", None)
        if alluredir and self.pool.started:
            allure_report.write_environment(alluredir, self.pool.environment())
        self.pool.close_all()
        if not self.is_worker and (self.pool.started or self.journal.records):  # a worker's go to the controller
            self.journal.write(self.recoveries_path)


def _load_bench(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise pytest.UsageError(f"--bench {path}: {exc}") from None
    if not isinstance(data, dict):
        raise pytest.UsageError(f"--bench {path}: a bench file is a mapping ({', '.join(BENCH_KEYS)})")
    _check_bench(path, data)
    return data


def _check_bench(path: str, data: dict[Any, Any]) -> None:
    """The bench file's shape: one usage error naming the key and what is wrong (a secret's value is never shown)."""
    def fail(what: str) -> NoReturn:
        raise pytest.UsageError(f"--bench {path}: {what}")

    for key in data:
        if key not in BENCH_KEYS:
            fail(f"unknown key {key!r}; a bench file has {', '.join(BENCH_KEYS)}")
    for key in ("vars", "secrets"):
        section = data.get(key)
        if section is None:
            continue
        if not isinstance(section, dict):
            fail(f"{key} is a mapping of names to values, e.g. {{apn: internet}} (got {_kind(section)})")
        for name, value in section.items():
            if not isinstance(name, str) or not name.isidentifier():
                fail(f"{key}: {name!r} is not a name (letters, digits and _, as in {{bench.{key}_name}})")
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                fail(f"{key}.{name} is a text or a number (got {_kind(value)})")
    provides = data.get("provides")
    if provides is not None and (not isinstance(provides, list) or
                                 not all(isinstance(need, str) and need for need in provides)):
        fail("provides is a list of capability names, e.g. [tcp_echo, dns]")
    command = data.get("power_cycle")
    if command is not None and (not isinstance(command, str) or not command.strip()):
        fail(f"power_cycle is a shell command, as text (got {_kind(command)})")


def _kind(value: Any) -> str:
    """What a YAML value is, in words (never the value: it may be a secret)."""
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)

