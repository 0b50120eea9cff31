"""What a Python conformance test covers, read from its source without running it.

A Python test under ``cases/`` (for what a case file cannot say: a loop, a matrix) cites the manual like a case
file's ``source:``, with a marker::

    @pytest.mark.dialect("m95")
    @pytest.mark.source("GSM TCP/IP Recommended Process V2.0 §6 procedure heartbeat")
    def test_heartbeat_on_a_healthy_path(modem, tcp_echo): ...

A ``pytestmark`` list at module level applies to every test of the file. ``conformance coverage`` reads these
statically (the AST), so importing the tests is never needed; reports read the same markers at run time.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Location

__all__ = ["PythonTest", "python_tests"]


@dataclass
class PythonTest:
    """A Python test seen as coverage sees a case: its name, dialects, sources and where it is written."""

    name: str
    dialects: tuple[str, ...]
    sources: tuple[str, ...]
    location: Location
    skip: str = ""
    source_lines: dict[str, int] = field(default_factory=dict)  # citation -> the line it is written on


def python_tests(path: Path) -> list[PythonTest]:
    """The test functions of ``path`` with their ``dialect`` and ``source`` markers; [] if it cannot be read."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    module_marks: list[ast.expr] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                 for t in node.targets):
            value = node.value
            module_marks = list(value.elts) if isinstance(value, (ast.List, ast.Tuple)) else [value]
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            marks = [*module_marks, *node.decorator_list]
            test = PythonTest(node.name, (), (), Location(str(path), node.lineno))
            dialects: list[str] = []
            sources: list[str] = []
            for mark in marks:
                name, args = _mark(mark)
                if name == "dialect":
                    dialects += [a for a, _ in args]
                elif name == "source":
                    for text, line in args:
                        sources.append(text)
                        test.source_lines[text] = line
                elif name == "skip":
                    test.skip = next((a for a, _ in args), "skipped")
            test.dialects, test.sources = tuple(dialects), tuple(sources)
            found.append(test)
    return found


def _mark(node: ast.expr) -> tuple[str, list[tuple[str, int]]]:
    """``pytest.mark.source("a", "b")`` -> ("source", [("a", line), ("b", line)]); anything else -> ("", [])."""
    if not isinstance(node, ast.Call):
        return "", []
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) and func.value.attr == "mark"):
        return "", []
    args = [(a.value, a.lineno) for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    args += [(k.value.value, k.value.lineno) for k in node.keywords
             if k.arg == "reason" and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)]
    return func.attr, args
