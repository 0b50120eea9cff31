"""Allure results for a case: a step per exchange, the transcript and the flight log attached, labels from metadata.

Does nothing when allure-pytest is not installed or not enabled (no ``--alluredir``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..link import format_log
from ..transcript import Case, Record
from ..transcript.model import SendData, SendLine

try:
    import allure
    from allure_commons.types import AttachmentType
except ImportError:  # pragma: no cover - allure-pytest is a core dependency, but a bench may strip it
    allure = None

__all__ = ["enabled", "report_case", "write_environment"]

_SECTION = re.compile(r"§\s*([\d.]+)")


def enabled(config: Any) -> bool:
    return allure is not None and bool(getattr(config.option, "allure_report_dir", None))


def report_case(case: Case, dialect: str, records: Sequence[Record], log_path: Path | None,
                redact: Callable[[str], str]) -> None:
    """Labels, one Allure step per exchange (a host line and what followed it), and the attachments."""
    if allure is None:
        return
    allure.dynamic.title(f"{case.title} [{dialect}]")
    allure.dynamic.label("dialect", dialect)
    allure.dynamic.parent_suite(dialect)
    # One place in the Suites tab per case (its first source); every source is still a label to filter by.
    first = case.sources[0]
    allure.dynamic.suite(first.split("§")[0].strip())
    m = _SECTION.search(first)
    if m:
        allure.dynamic.sub_suite(f"§{m.group(1)}")
    for source in case.sources:
        allure.dynamic.label("manual", source.split("§")[0].strip())
        m = _SECTION.search(source)
        if m:
            allure.dynamic.label("section", m.group(1))
    for tag in case.tags:
        allure.dynamic.tag(tag)
    if case.note:
        allure.dynamic.description(case.note)
    for title, rows, failed in _exchanges(records):
        with _step(redact(title)) as _:
            allure.attach(redact("\n".join(rows)), name="exchange", attachment_type=AttachmentType.TEXT)
            if failed:
                raise _StepFailedMarker()
    allure.attach(redact(case.text), name="case file", attachment_type=AttachmentType.YAML)
    if log_path is not None and log_path.exists():
        allure.attach(redact("\n".join(format_log(log_path))), name="flight log", attachment_type=AttachmentType.TEXT)
        allure.attach.file(str(log_path), name="flight log (raw .atlog)", extension="atlog")


class _StepFailedMarker(Exception):
    """Marks an Allure step failed without a traceback of its own."""


class _step:
    def __init__(self, title: str) -> None:
        self._ctx = allure.step(title)

    def __enter__(self) -> None:
        self._ctx.__enter__()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._ctx.__exit__(exc_type, exc, tb)
        return exc_type is _StepFailedMarker


def _exchanges(records: Sequence[Record]) -> list[tuple[str, list[str], bool]]:
    """Group records: each host line or peer action opens an exchange that runs to the next one."""
    groups: list[tuple[str, list[str], bool]] = []
    for rec in records:
        opens = rec.step is not None and (isinstance(rec.step, (SendLine, SendData)) or rec.step.marker == "!")
        line = f"{rec.step.source if rec.step else '':<50} | {rec.observed}"
        if opens or not groups:
            title = rec.step.source if rec.step is not None else rec.observed
            groups.append((title, [line], rec.status == "fail"))
        else:
            title, rows, failed = groups[-1]
            rows.append(line)
            groups[-1] = (title, rows, failed or rec.status == "fail")
    return groups


def write_environment(alluredir: str, values: dict[str, str]) -> None:
    """Allure's environment.properties: the module's model and revision, the dialects, the URL."""
    path = Path(alluredir)
    path.mkdir(parents=True, exist_ok=True)
    lines = [f"{k.replace(' ', '.')}={v}" for k, v in sorted(values.items())]
    (path / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
