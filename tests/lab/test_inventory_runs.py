"""Runs on an inventory: each process takes one module under its lock, a lost module is traded for a spare or its
remaining cases are reported as not run, and a run never asks for more workers than modules. Scripted modules on
real ptys (tests/helpers/modules.py) stand for real ones: one of them drops off the bus for good.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.modules import ScriptedModule

pytest.importorskip("filelock", reason="filelock is not installed (pip install -e '.[lab]')")

PASSING = """\
    title: activate a context
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.2
    dialects: [bg96]
    transcript: |
      > AT+QIACT=1
      < OK
    """

OPENING = """\
    title: open a socket
    source: BG96 TCP/IP AT Commands Manual V1.0 §2.1.4
    dialects: [bg96]
    transcript: |
      > AT+QIACT=1
      < OK
      > AT+QIOPEN=1,0,"TCP","10.0.0.1",7,0,0
      < OK                                       [within 2s]
    """


@pytest.fixture
def modules() -> Iterator[list[ScriptedModule]]:
    with ScriptedModule() as first, ScriptedModule() as second:
        yield [first, second]


def write_cases(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    folder = pytester.path / "cases" / "bg96"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "b.yaml").write_text(textwrap.dedent(OPENING), encoding="utf-8")
    for name in ("c.yaml", "d.yaml", "e.yaml"):
        (folder / name).write_text(textwrap.dedent(PASSING), encoding="utf-8")


def write_inventory(pytester: pytest.Pytester, modules: list[ScriptedModule]) -> Path:
    path = pytester.path / "lab.yaml"
    path.write_text("locks: locks\nmodules:\n" + "".join(
        f"  - {{name: mod-{i}, url: '{m.path}', dialect: bg96}}\n" for i, m in enumerate(modules)), encoding="utf-8")
    return path


def run(pytester: pytest.Pytester, inventory: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--inventory", str(inventory), "--results-dir", str(pytester.path / "out"),
                              "--run-name", "r1", "--power-cycle-wait", "1", "-p", "no:cacheprovider", "-rs", *args)


def claims(pytester: pytest.Pytester) -> list[str]:
    lines = (pytester.path / "out" / "r1" / "inventory-claims.jsonl").read_text().splitlines()
    return [json.loads(line)["module"] for line in lines]


def test_a_lost_module_is_traded_for_a_spare_and_the_run_goes_on(pytester: pytest.Pytester,
                                                                  modules: list[ScriptedModule]) -> None:
    first, second = modules
    first.misbehave_on(b"AT+QIOPEN", "unplugged")  # gone for good: nothing brings it back
    write_cases(pytester)
    result = run(pytester, write_inventory(pytester, modules))
    result.assert_outcomes(failed=1, passed=3)
    assert claims(pytester) == ["mod-0", "mod-1"]
    assert second.host_opens == 1


def test_without_a_spare_the_rest_is_reported_as_not_run(pytester: pytest.Pytester,
                                                         modules: list[ScriptedModule]) -> None:
    first, _ = modules
    first.misbehave_on(b"AT+QIOPEN", "unplugged")
    write_cases(pytester)
    result = run(pytester, write_inventory(pytester, [first]))
    result.assert_outcomes(failed=1, skipped=3)
    result.stdout.fnmatch_lines(["*not run: module mod-0 (*) was lost (*) and the inventory has no spare module*"])


def test_more_workers_than_modules_is_a_usage_error(pytester: pytest.Pytester, modules: list[ScriptedModule]) -> None:
    write_cases(pytester)
    result = run(pytester, write_inventory(pytester, modules), "-n", "3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*-n 3 workers for 2 modules; one worker per module*"])


def test_a_malformed_inventory_is_one_usage_error_with_its_line(pytester: pytest.Pytester) -> None:
    write_cases(pytester)
    bad = pytester.path / "lab.yaml"
    bad.write_text("modules:\n  - name: a\n    url: /dev/ttyUSB0\n    speed: 9600\n", encoding="utf-8")
    result = run(pytester, bad)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--inventory {bad}:4: unknown key 'speed'*"])
