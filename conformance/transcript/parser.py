"""Reading case files: YAML with source line numbers, schema validation, and the transcript line grammar.

Every problem is a :class:`CaseFileError` carrying ``file:line``; a file holds one or more cases (YAML documents).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .. import dialects
from ..errors import CaseFileError, Location
from .model import (
    Action,
    Case,
    Check,
    ExpectData,
    ExpectLine,
    ExpectPrompt,
    LineControl,
    Pause,
    SendData,
    SendLine,
    Silence,
    Step,
    Timing,
)
from .template import Template, parse_template

__all__ = ["BUILTIN_ROOTS", "CASE_SCHEMA", "parse_duration", "parse_file", "parse_text", "parse_transcript"]

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
        "timeout": {"type": "number", "exclusiveMinimum": 0},
        "unexpected_urcs": {"enum": ["ignore", "record", "fail"]},
        "vars": {"type": "object", "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}},
        "note": {"type": "string"},
        "skip": {"type": "string", "minLength": 1},
        "transcript": {"type": "string"},
        "finally": {"type": "string"},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(CASE_SCHEMA)

# Placeholder roots every case may use besides its needs, vars and captures.
BUILTIN_ROOTS = frozenset({"bench", "module"})

_MARKER = re.compile(r"^(<<|<~|<|>>|>|~|!|\?)(?: (.*))?$")
_ANNOTATION = re.compile(r"^(.*?)\s{2,}\[([^\[\]]*)\]$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|min)$")
_ARG = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_CHECK = re.compile(r"^(.*?)\s+(==|!=|<=|>=|<|>)\s+(.*)$")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_file(path: str | Path) -> list[Case]:
    """All cases in the file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseFileError(f"cannot read: {exc}", Location(str(path), 1)) from None
    return parse_text(text, str(path))


def parse_text(text: str, path: str = "<string>") -> list[Case]:
    """All cases in ``text`` (YAML, one case per document), as read from ``path``."""
    loader = yaml.SafeLoader(text)
    cases: list[Case] = []
    names: dict[str, int] = {}
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_duplicate_keys(node, path)
            data = loader.construct_document(node)
            case = _build_case(data, node, path, text)
            if case.name in names:
                raise CaseFileError(f"a second case named {case.name!r} (the first is at line {names[case.name]}); "
                                    "give each case its own 'name:'", case.location)
            names[case.name] = case.location.line
            cases.append(case)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise CaseFileError(f"not valid YAML: {exc.problem or exc.context}", Location(path, line)) from None
    except yaml.YAMLError as exc:
        raise CaseFileError(f"not valid YAML: {exc}", Location(path, 1)) from None
    finally:
        loader.dispose()
    if not cases:
        raise CaseFileError("no case in this file", Location(path, 1))
    return cases


def _check_duplicate_keys(node: yaml.Node, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise CaseFileError(f"key {key.value!r} given twice (first at line {seen[key.value]})",
                                        Location(path, key.start_mark.line + 1))
                seen[key.value] = key.start_mark.line + 1
            _check_duplicate_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item, path)


def _node_at(node: yaml.Node, keys: list[Any]) -> yaml.Node:
    """The deepest node along ``keys`` (a jsonschema error path)."""
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if found is None:
                return node
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return node
    return node


def _key_line(node: yaml.Node, key: str) -> int:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if getattr(k, "value", None) == key:
                return k.start_mark.line + 1
    return node.start_mark.line + 1


def _build_case(data: Any, node: yaml.Node, path: str, text: str) -> Case:
    doc_loc = Location(path, node.start_mark.line + 1)
    if not isinstance(data, dict):
        raise CaseFileError("a case is a mapping with title, source, dialects and transcript", doc_loc)
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: (_node_at(node, list(e.absolute_path)).start_mark.line,
                                                                 list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        if err.validator == "additionalProperties":
            extra = sorted(set(data) - set(CASE_SCHEMA["properties"]))
            where = _key_line(node, extra[0]) if extra else node.start_mark.line + 1
            raise CaseFileError(f"unknown key {extra[0]!r} (known: {', '.join(CASE_SCHEMA['properties'])})",
                                Location(path, where))
        at = _node_at(node, list(err.absolute_path))
        field = ".".join(str(p) for p in err.absolute_path) or "case"
        raise CaseFileError(f"{field}: {err.message}", Location(path, at.start_mark.line + 1))

    for i, dialect in enumerate(data["dialects"]):
        if dialect not in dialects.names():
            at = _node_at(node, ["dialects", i])
            raise CaseFileError(f"unknown dialect {dialect!r} (known: {', '.join(dialects.names())})",
                                Location(path, at.start_mark.line + 1))

    needs = tuple(data.get("needs", ()))
    variables = dict(data.get("vars", {}))
    scope_names = set(needs) | set(variables) | BUILTIN_ROOTS
    if any(n.startswith("net_") for n in needs):
        scope_names.add("net")
    steps, captured = parse_transcript(data["transcript"], _block_start(node, "transcript", path), scope_names)
    final_steps: tuple[Step, ...] = ()
    if "finally" in data:
        final_steps, _ = parse_transcript(data["finally"], _block_start(node, "finally", path),
                                          scope_names | captured)
    if not steps and not data.get("skip"):
        raise CaseFileError("the transcript has no steps", Location(path, _key_line(node, "transcript")))

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
        steps=steps,
        final_steps=final_steps,
        needs=needs,
        tags=tuple(data.get("tags", ())),
        timeout_s=data.get("timeout"),
        unexpected_urcs=data.get("unexpected_urcs", "record"),
        variables=variables,
        note=data.get("note", ""),
        skip=data.get("skip", ""),
        text=text[start:end],
    )


def _block_start(node: yaml.MappingNode, key: str, path: str) -> tuple[str, int]:
    """(path, the file line of the block's first line) for a transcript given as ``key: |``."""
    value = _node_at(node, [key])
    if not isinstance(value, yaml.ScalarNode):
        return path, value.start_mark.line + 1
    if value.style == ">":
        raise CaseFileError(f"{key}: a folded block ('>') joins lines; write '{key}: |'",
                            Location(path, value.start_mark.line + 1))
    if value.style == "|":
        return path, value.start_mark.line + 2  # the first content line follows the '|' line
    return path, value.start_mark.line + 1


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:60] or "case"


def parse_duration(text: str, location: Location | None = None) -> float:
    """``150s`` / ``200ms`` / ``2min`` -> seconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise CaseFileError(f"{text.strip()!r} is not a duration: write e.g. 150s, 200ms or 2min", location)
    value = float(m.group(1))
    return value * {"ms": 0.001, "s": 1.0, "min": 60.0}[m.group(2)]


_TIMING_KEYS = {
    ">": {"gap", "rate"},
    ">>": {"gap", "rate"},
    "<": {"within", "not before", "until", "every"},
    "<~": {"within", "not before"},
    "<<": {"within", "not before"},
    "!": {"within"},
}


def _parse_timing(text: str, marker: str, loc: Location) -> Timing:
    values: dict[str, Any] = {}
    allowed = _TIMING_KEYS.get(marker, set())
    for item in (i.strip() for i in text.split(",")):
        m = re.fullmatch(r"(within|not before|gap|rate|until|every)\s+(.+)", item)
        if not m:
            raise CaseFileError(f"[{text}]: {item!r} is not a timing (known: within D, not before D, gap D, "
                                "rate N, until D, every D)", loc)
        key, value = m.groups()
        if key not in allowed:
            raise CaseFileError(f"[{item}] does not apply to a '{marker}' line (it takes: "
                                f"{', '.join(sorted(allowed)) or 'nothing'})", loc)
        if key == "rate":
            if not value.isdigit() or int(value) <= 0:
                raise CaseFileError(f"[rate {value}]: give the line rate in bit/s, e.g. rate 9600", loc)
            values["line_rate"] = int(value)
        else:
            values[{"within": "within_s", "not before": "not_before_s", "gap": "gap_s", "until": "until_s",
                    "every": "every_s"}[key]] = parse_duration(value, loc)
    if "every_s" in values and "until_s" not in values:
        raise CaseFileError(f"[{text}]: 'every' paces a poll: give 'until D' too", loc)
    return Timing(**values)


def parse_transcript(text: str, start: tuple[str, int], names: set[str]) -> tuple[tuple[Step, ...], set[str]]:
    """Parse transcript ``text`` whose first line is file line ``start``; ``names`` are the placeholder roots known.

    Returns the steps and the names they capture.
    """
    path, first_line = start
    steps: list[Step] = []
    known = set(names)
    for offset, raw in enumerate(text.splitlines()):
        loc = Location(path, first_line + offset)
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _MARKER.match(line)
        if not m:
            raise CaseFileError(f"{line!r} does not start with a marker: '> ' command, '>> ' data, '< ' response, "
                                "'<~ ' URC in a window, '<< ' data from the module, '~ ' timing, '! ' peer action, "
                                "'? ' check, '# ' comment", loc)
        marker, body = m.group(1), (m.group(2) or "").strip()
        timing = Timing()
        annotation = _ANNOTATION.match(body)
        if annotation and marker in _TIMING_KEYS:
            body, timing = annotation.group(1).rstrip(), _parse_timing(annotation.group(2), marker, loc)
        step = _parse_step(marker, body, timing, line, loc)
        for root in _roots(step):
            if root not in known:
                hint = "a need, a var or an earlier capture" if known else "declared"
                raise CaseFileError(f"{{{root}...}}: {root!r} is not {hint} (known here: "
                                    f"{', '.join(sorted(known)) or 'none'})", loc)
        if isinstance(step, Action) and step.target not in known - BUILTIN_ROOTS:
            raise CaseFileError(f"! {step.target}: not a need of this case; add it to 'needs:'", loc)
        known |= _captured(step)
        steps.append(step)
    return tuple(steps), known - set(names)


def _parse_step(marker: str, body: str, timing: Timing, line: str, loc: Location) -> Step:
    if marker in (">", ">>", "<<") and not body:
        raise CaseFileError(f"'{marker}' needs something after it", loc)
    if marker == ">":
        return SendLine(loc, line, parse_template(body, loc), timing)
    if marker == ">>":
        return SendData(loc, line, parse_template(body, loc), timing)
    if marker == "<<":
        return ExpectData(loc, line, parse_template(body, loc), timing)
    if marker in ("<", "<~"):
        window = marker == "<~"
        if not body:
            raise CaseFileError(f"'{marker}' needs the expected line after it", loc)
        if body == ">" and not window:
            return ExpectPrompt(loc, line, timing)
        if len(body) > 1 and body.startswith("/") and body.endswith("/"):
            try:
                regex = re.compile(body[1:-1])
            except re.error as exc:
                raise CaseFileError(f"{body}: not a regular expression: {exc}", loc) from None
            return ExpectLine(loc, line, None, regex, window, timing)
        return ExpectLine(loc, line, parse_template(body, loc, keys=False, captures=True), None, window, timing)
    if marker == "~":
        return _parse_directive(body, line, loc)
    if marker == "!":
        return _parse_action(body, line, timing, loc)
    return _parse_check(body, line, loc)


def _parse_directive(body: str, line: str, loc: Location) -> Step:
    word, _, rest = body.partition(" ")
    rest = rest.strip()
    if word in ("pause", "silence"):
        if not rest:
            raise CaseFileError(f"~ {word}: give a duration, e.g. ~ {word} 1s", loc)
        seconds = parse_duration(rest, loc)
        return Pause(loc, line, seconds) if word == "pause" else Silence(loc, line, seconds)
    if word in ("dtr", "rts"):
        if rest not in ("on", "off"):
            raise CaseFileError(f"~ {word}: say 'on' or 'off'", loc)
        return LineControl(loc, line, word, rest == "on")
    raise CaseFileError(f"~ {word}: unknown timing directive (known: pause D, silence D, dtr on|off, rts on|off)", loc)


def _parse_action(body: str, line: str, timing: Timing, loc: Location) -> Action:
    tokens = _ARG.findall(body)
    if len(tokens) < 2:
        raise CaseFileError("an action is '! <target> <verb> [arguments]', e.g. ! tcp_echo received \"test\"", loc)
    target, verb = tokens[0], tokens[1]
    if not _IDENT.match(target) or not _IDENT.match(verb):
        raise CaseFileError(f"! {target} {verb}: target and verb are lower-case words", loc)
    args: list[Template | int | float | str] = []
    for tok in tokens[2:]:
        if tok.startswith('"'):
            if len(tok) < 2 or not tok.endswith('"'):
                raise CaseFileError(f"{tok}: a quoted argument is not closed", loc)
            args.append(parse_template(tok[1:-1], loc))
        elif re.fullmatch(r"[+-]?\d+", tok):
            args.append(int(tok))
        elif re.fullmatch(r"[+-]?\d+\.\d*", tok):
            args.append(float(tok))
        elif "{" in tok:
            args.append(parse_template(tok, loc, keys=False))
        else:
            args.append(tok)
    return Action(loc, line, target, verb, tuple(args), timing)


def _parse_check(body: str, line: str, loc: Location) -> Check:
    m = _CHECK.match(body)
    if not m:
        raise CaseFileError("a check is '? <value> <op> <value>' with op one of == != < <= > >=, "
                            "e.g. ? {unacked} > 0", loc)
    left, op, right = m.groups()
    return Check(loc, line, parse_template(left, loc, keys=False), op, parse_template(right, loc, keys=False))


def _roots(step: Step) -> set[str]:
    roots: set[str] = set()
    templates: list[Template] = []
    if isinstance(step, (SendLine,)):
        templates.append(step.text)
    elif isinstance(step, (SendData, ExpectData)):
        templates.append(step.payload)
    elif isinstance(step, ExpectLine) and step.text is not None:
        templates.append(step.text)
    elif isinstance(step, Action):
        templates.extend(a for a in step.args if isinstance(a, Template))
    elif isinstance(step, Check):
        templates.extend((step.left, step.right))
    for t in templates:
        roots |= t.roots()
    return roots


def _captured(step: Step) -> set[str]:
    if isinstance(step, ExpectLine):
        if step.regex is not None:
            return set(step.regex.groupindex)
        if step.text is not None:
            return {c.name for c in step.text.captures()}
    return set()
