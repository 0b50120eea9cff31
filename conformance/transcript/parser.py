"""Reading case files: YAML with source line numbers, schema validation, the case's blocks and its transcript lines.

Every problem is a :class:`CaseFileError` carrying ``file:line``; a file holds one or more cases (YAML documents).
Whatever a file holds, reading it ends in cases or in one such error (see :mod:`.yamlfile` and :mod:`.limits`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .. import dialects
from ..errors import CaseFileError, Location
from .blocks import BlockLibrary, expand_use, find_blocks_file
from .limits import MAX_DURATION_S
from .lines import BUILTIN_ROOTS, CaseReading, Reader, parse_duration, parse_transcript
from .model import Case, Step
from .yamlfile import check_schema, key_line, load_documents, node_at, read_file, text_start

__all__ = ["BUILTIN_ROOTS", "CASE_SCHEMA", "FORMAT_VERSION", "parse_duration", "parse_file", "parse_text",
           "parse_transcript"]

FORMAT_VERSION = "1.1"  # docs/case-format.md

CASE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["title", "source", "dialects", "transcript"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$"},
        "title": {"type": "string", "minLength": 1},
        "source": {"anyOf": [{"type": "string", "minLength": 1},
                             {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}]},
        "dialects": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
        "needs": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
                  "uniqueItems": True},
        "tags": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"}, "uniqueItems": True},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION_S},
        "unexpected_urcs": {"enum": ["ignore", "record", "fail"]},
        "vars": {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}},
        "note": {"type": "string"},
        "skip": {"type": "string", "minLength": 1},
        "setup": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "transcript": {"type": "string"},
        "finally": {"type": "string"},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(CASE_SCHEMA)


def parse_file(path: str | Path) -> list[Case]:
    """All cases in the file at ``path``; any problem is one :class:`CaseFileError` with ``file:line``."""
    path = Path(path)
    try:
        return parse_text(read_file(path), str(path))
    except CaseFileError:
        raise
    except Exception as exc:  # a file no rule foresaw still fails alone, never the run
        raise CaseFileError(f"cannot read this case file ({type(exc).__name__}: {exc})",
                            Location(str(path), 1)) from None


def parse_text(text: str, path: str = "<string>", *, blocks: BlockLibrary | None = None) -> list[Case]:
    """All cases in ``text`` (YAML, one case per document), as read from ``path``.

    ``blocks`` is the library ``= name`` lines use (default: the blocks file nearest to ``path``, read when a case
    first uses a block).
    """
    cases: list[Case] = []
    names: dict[str, int] = {}
    for node, data in load_documents(text, path):
        case = _build_case(data, node, path, text, blocks)
        if case.name in names:
            raise CaseFileError(f"a second case named {case.name!r} (the first is at line {names[case.name]}); "
                                "give each case its own 'name:'", case.location)
        names[case.name] = case.location.line
        cases.append(case)
    if not cases:
        raise CaseFileError("no case in this file", Location(path, 1))
    return cases


def _build_case(data: Any, node: yaml.Node, path: str, text: str, blocks: BlockLibrary | None) -> Case:
    doc_loc = Location(path, node.start_mark.line + 1)
    if not isinstance(data, dict):
        raise CaseFileError("a case is a mapping with title, source, dialects and transcript", doc_loc)
    check_schema(_VALIDATOR, data, node, path)
    for i, dialect in enumerate(data["dialects"]):
        if dialect not in dialects.names():
            at = node_at(node, ["dialects", i])
            raise CaseFileError(f"unknown dialect {dialect!r} (known: {', '.join(dialects.names())})",
                                Location(path, at.start_mark.line + 1))
    timeout = data.get("timeout")
    if timeout is not None and not math.isfinite(timeout):
        raise CaseFileError(f"timeout: {timeout} is not a number of seconds (at most {MAX_DURATION_S:g})",
                            Location(path, key_line(node, "timeout")))

    needs = tuple(data.get("needs", ()))
    variables = dict(data.get("vars", {}))
    scope_names = set(needs) | set(variables) | BUILTIN_ROOTS
    if any(n.startswith("net_") for n in needs):
        scope_names.add("net")
    reading = CaseReading(set(needs), _library_for(path, blocks))
    reader = Reader(reading, scope_names, lambda line: Location(path, line))
    steps: list[Step] = []
    for i, use in enumerate(data.get("setup", ())):
        at = Location(path, node_at(node, ["setup", i]).start_mark.line + 1)
        steps.extend(expand_use(reader, use, f"= {use}  (setup)", at))
    own = reader.read(data["transcript"], text_start(node, "transcript", path))
    if not own and not data.get("skip"):
        raise CaseFileError("the transcript has no steps", Location(path, key_line(node, "transcript")))
    steps.extend(own)
    final_steps: list[Step] = []
    if "finally" in data:
        final_steps = reader.read(data["finally"], text_start(node, "finally", path))
    if reading.alternatives_at is not None and not data.get("note", "").strip():
        raise CaseFileError("this case accepts alternatives: say why in its 'note:' (the manual's reading, or what "
                            "real modules do)", reading.alternatives_at)

    source = data["source"]
    title = data["title"]
    start, end = node.start_mark.index, node.end_mark.index
    return Case(
        path=path,
        name=data.get("name") or _slug(title),
        title=title,
        sources=tuple([source] if isinstance(source, str) else source),
        dialects=tuple(data["dialects"]),
        location=doc_loc,
        steps=tuple(steps),
        final_steps=(*final_steps, *reading.cleanups_in_order()),
        needs=needs,
        tags=tuple(data.get("tags", ())),
        timeout_s=timeout,
        unexpected_urcs=data.get("unexpected_urcs", "record"),
        variables=variables,
        note=data.get("note", ""),
        skip=data.get("skip", ""),
        text=text[start:end],
    )


def _library_for(path: str, given: BlockLibrary | None) -> Any:
    """A function reading the case file's blocks file when a case first uses a block."""
    if given is not None:
        return lambda: given

    def load() -> BlockLibrary | None:
        found = find_blocks_file(Path(path))
        return BlockLibrary.load(found) if found is not None else None

    return load


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:60] or "case"
