"""Case files collected as test items: one item per case and dialect; a malformed file is one failing item.

A dialect's blocks file (``cases/<dialect>/blocks.yaml``) is no case file: it yields nothing, or one failing item
naming every malformed block in it (the cases using such a block fail on their own as well).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..errors import CaseFileError, ConformanceError
from ..transcript import Case, parse_file
from ..transcript.blocks import check_blocks_file, is_blocks_file
from ..transcript.model import BlockLocation
from .run import CaseItem, run_case

__all__ = ["BlocksFile", "BrokenCaseFile", "CaseFile"]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and "cases" in file_path.parts:
        if is_blocks_file(file_path):
            return BlocksFile.from_parent(parent, path=file_path)
        return CaseFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """A malformed case file stays in the run whatever -m / -k select: it has no metadata to select it by."""
    broken = [item for item in items if isinstance(item, BrokenCaseFile)]
    yield
    items.extend(item for item in broken if item not in items)


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
                item = CaseItem.from_parent(self, name=f"{case.name}[{dialect}]", callobj=run_case,
                                            case=case, dialect=dialect)
                _mark(item, case, dialect)
                yield item


class BlocksFile(pytest.File):
    """A dialect's blocks file: no items when it is sound, one failing item listing its problems when not."""

    def collect(self) -> Iterator[pytest.Item]:
        problems = check_blocks_file(self.path)
        if problems:
            first, rest = problems[0], problems[1:]
            error = CaseFileError(first.message + "".join(f"\n{p}" for p in rest), first.location)
            yield BrokenCaseFile.from_parent(self, name=self.path.name, error=error)


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
        self.fixturenames: tuple[str, ...] = ()  # no fixtures; plugins that look (labgrid's) find none

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(self.error)

    def reportinfo(self) -> tuple[Path, int, str]:
        where = self.error.location
        if isinstance(where, BlockLocation) and where.used_at is not None:
            where = where.case_line  # the item is the case file: point at its line that used the block
        line = where.line - 1 if where else 0
        return self.path, line, f"case file {self.path.name}"

