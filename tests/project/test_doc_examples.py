"""Every example in README.md and docs/ is run or checked, so an example cannot drift from what the suite does.

- ``python`` blocks are tests: they run against the simulated modules, as a newcomer who copies them would run them;
- ``yaml`` blocks are what they look like: a case (run against the simulator), an excerpt of one (parsed), a blocks
  file, a bench file, a known-deviations file, a documented list or a lab file (each read by what reads it);
- ``sh`` blocks: every ``make`` target exists, every ``pytest`` option is one pytest knows, every ``conformance``
  command answers ``--help``.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "fixtures").rglob("*.md"))]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)
PYTHON = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:labgrid", "-q"]


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    language: str
    text: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _examples(language: str) -> list[Example]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) == language:
                found.append(Example(path, text.count("\n", 0, m.start()) + 2, language, m.group(2)))
    return found


def _ids(examples: list[Example]) -> list[str]:
    return [str(e) for e in examples]


# -- python ----------------------------------------------------------------------------------------------------------

PY_EXAMPLES = _examples("python")


@pytest.mark.parametrize("example", PY_EXAMPLES, ids=_ids(PY_EXAMPLES))
def test_a_python_example_runs_against_the_simulator(example: Example, tmp_path: Path) -> None:
    code = textwrap.dedent(example.text)
    if "def test_" not in code:  # an API sketch for a bench: what it imports must exist
        imports = [node for node in ast.parse(code).body if isinstance(node, (ast.Import, ast.ImportFrom))]
        assert imports, f"{example}: neither a test nor an API sketch that imports anything"
        exec(compile(ast.Module(body=imports, type_ignores=[]), str(example), "exec"), {})
        return
    if not re.search(r"^import pytest", code, re.MULTILINE):
        code = "import pytest\n\n" + code
    (tmp_path / "test_example.py").write_text(code, encoding="utf-8")
    done = subprocess.run([*PYTHON, "test_example.py", "--results-dir", str(tmp_path / "out")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{example}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"


# -- yaml ------------------------------------------------------------------------------------------------------------

YAML_EXAMPLES = _examples("yaml")
CASE_KEYS = {"title", "source", "dialects", "transcript"}


def _kind(example: Example, data: object) -> str:
    first = example.text.lstrip().splitlines()[0] if example.text.strip() else ""
    if first.startswith("# blocks.yaml"):
        return "blocks"
    if not isinstance(data, dict):
        return "other"
    keys = set(data)
    if "transcript" in keys or "setup" in keys:
        return "case" if keys >= CASE_KEYS and "..." not in example.text else "excerpt"
    if keys == {"source"}:
        return "sources"
    if "quirks" in keys:
        return "quirks"
    if keys & {"vars", "secrets", "provides", "power_cycle"}:
        return "bench"
    if "items" in keys or "manuals" in keys:
        return "documented"
    return "other"


def _load(example: Example) -> object:
    text = "\n".join(line for line in example.text.splitlines() if line.strip() != "...")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


@pytest.mark.parametrize("example", YAML_EXAMPLES, ids=_ids(YAML_EXAMPLES))
def test_a_yaml_example_is_what_it_shows(example: Example, tmp_path: Path) -> None:
    data = _load(example)
    assert data is not None, f"{example}: not valid YAML"
    kind = _kind(example, data)
    if kind == "case":
        _run_case(example, data, tmp_path)
    elif kind == "excerpt":
        _parse_excerpt(example, data, tmp_path)
    elif kind == "blocks":
        from conformance.transcript.blocks import check_blocks_file

        path = tmp_path / "cases" / "bg96" / "blocks.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(example.text, encoding="utf-8")
        assert check_blocks_file(path) == [], f"{example}"
    elif kind == "quirks":
        from conformance.reports.quirks import load_quirks

        path = tmp_path / "quirks.yaml"
        path.write_text(example.text, encoding="utf-8")
        load_quirks(path)
    elif kind == "bench":
        path = tmp_path / "bench.yaml"
        path.write_text(example.text, encoding="utf-8")
        done = subprocess.run([*PYTHON, "--bench", str(path), "--collect-only", "cases/bg96/basics.yaml"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{example}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    elif kind == "sources":
        _check_citations(example, data["source"])
    elif kind == "documented":
        from conformance.reports.documented import load_documented

        path = tmp_path / "documented.yaml"
        path.write_text(example.text, encoding="utf-8")
        assert load_documented(path).items, f"{example}: no items"
    else:
        pytest.fail(f"{example}: a YAML example this test does not know how to check; teach it")


def _run_case(example: Example, data: dict, tmp_path: Path) -> None:
    dialect = data["dialects"][0]
    folder = tmp_path / "cases" / dialect
    folder.mkdir(parents=True)
    blocks = ROOT / "cases" / dialect / "blocks.yaml"
    if blocks.exists():
        (folder / "blocks.yaml").write_text(blocks.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "example.yaml").write_text(example.text, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\ntestpaths = cases\n")
    done = subprocess.run([*PYTHON, "--results-dir", str(tmp_path / "out")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"{example}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"


def _check_citations(example: Example, sources: list[str]) -> None:
    from conformance import dialects
    from conformance.reports.coverage import parse_citation
    from conformance.reports.documented import default_documented_path, load_documented

    lists = [load_documented(default_documented_path(name), name) for name in dialects.names()]
    for source in sources:
        for documented in lists:
            try:
                manual, ref = parse_citation(source, documented.manuals)
            except ValueError:
                continue
            assert (manual, ref) in documented.by_ref, f"{example}: {source!r} names no documented item"
            break
        else:
            pytest.fail(f"{example}: {source!r} names no manual of any dialect")


def _parse_excerpt(example: Example, data: dict, tmp_path: Path) -> None:
    from conformance.transcript import parse_file

    case = {"title": "an excerpt of a documented example", "source": "BG96 TCP/IP AT Commands Manual V1.0 §1",
            "dialects": ["bg96"], **data}
    if "transcript" not in case:
        case["transcript"] = "> AT\n< OK\n"
    folder = tmp_path / "cases" / case["dialects"][0]
    folder.mkdir(parents=True)
    blocks = ROOT / "cases" / case["dialects"][0] / "blocks.yaml"
    if blocks.exists():
        (folder / "blocks.yaml").write_text(blocks.read_text(encoding="utf-8"), encoding="utf-8")
    path = folder / "excerpt.yaml"
    path.write_text(yaml.safe_dump(case, sort_keys=False, allow_unicode=True), encoding="utf-8")
    parse_file(path)


# -- sh --------------------------------------------------------------------------------------------------------------

SH_EXAMPLES = _examples("sh")
OTHER_PROGRAMS = {"xdg-open", "apt-get", "sudo", "ser2net", "labgrid-client", "labgrid-coordinator",
                  "labgrid-exporter", "picocom", "socat", "npm", "git", "cd", "export", "python3", "chromium"}


@cache
def _pytest_help() -> str:
    return subprocess.run([*PYTHON, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120).stdout


@cache
def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][\w-]*):", text, re.MULTILINE))


def _commands(example: Example) -> list[list[str]]:
    commands = []
    for raw in example.text.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"&&|\|\||;", line):
            try:
                words = shlex.split(part)
            except ValueError:
                words = part.split()
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value before a command
            if words:
                commands.append(words)
    return commands


@pytest.mark.parametrize("example", SH_EXAMPLES, ids=_ids(SH_EXAMPLES))
def test_a_shell_example_names_what_exists(example: Example) -> None:
    for words in _commands(example):
        program = os.path.basename(words[0])
        if program == "make":
            for target in (w for w in words[1:] if not w.startswith("-") and "=" not in w):
                assert target in _make_targets(), f"{example}: make {target}: no such target"
        elif program == "pytest" or words[:3] == [".venv/bin/python", "-m", "pytest"]:
            for word in words:
                option = word.split("=", 1)[0]
                if option.startswith("--"):
                    assert re.search(rf"^\s+{re.escape(option)}[ =,\n]", _pytest_help(), re.MULTILINE), \
                        f"{example}: pytest knows no option {option}"
        elif program == "conformance":
            subcommands = [w for w in words[1:3] if (not w.startswith("-") and "/" not in w and "." not in w
                           and w.isidentifier()) or w == "check-cases"]
            done = subprocess.run([sys.executable, "-m", "conformance", *subcommands[:2], "--help"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{example}: conformance {' '.join(subcommands)} --help: {done.stderr}"
        else:
            assert program in OTHER_PROGRAMS or program.startswith("."), \
                f"{example}: {program}: a program this test does not know; add it to OTHER_PROGRAMS if it is real"
