"""What one pytest run shares: the results folder, the bench description, the modules."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from .. import dialects
from ..link import FlightRecorder
from . import allure_report
from .modem import make_redactor
from .pool import ModemPool

__all__ = ["STATE", "RunState"]

STATE = pytest.StashKey["RunState"]()


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
        return self.redactor(dialect).text(text)

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

