"""Reading the YAML of case and blocks files, bounded: whatever the file holds, the answer is its documents or one
:class:`CaseFileError` with ``file:line``, never a crash, a hang or an exhausted stack.

On top of YAML's own syntax: the file's size is bounded, characters YAML cannot hold are named with their line,
aliases (``*name``) are refused (their expansion is how a small file becomes an endless walk), nesting is bounded,
keys are names (text), and a key given twice is an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..errors import CaseFileError, Location
from .limits import MAX_FILE_BYTES, MAX_NESTING

__all__ = ["Document", "check_schema", "key_line", "load_documents", "node_at", "read_file", "text_start"]

Document = tuple[yaml.Node, Any]  # a document's node (for line numbers) and its value

# What YAML 1.1 cannot hold (PyYAML's own test, named here so the error can say where and what).
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STR_TAG = "tag:yaml.org,2002:str"
_CONTROL_NAMES = {0x00: "NUL", 0x1B: "ESC", 0x7F: "DEL"}
_KINDS = {"int": "a number", "float": "a number", "bool": "true or false", "null": "nothing (null)",
          "timestamp": "a date", "merge": "a merge key (<<)", "binary": "binary data"}


def read_file(path: Path) -> str:
    """The text of the file at ``path``, at most :data:`MAX_FILE_BYTES`, as UTF-8."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CaseFileError(f"the file is {size} bytes; a case file is at most {MAX_FILE_BYTES} bytes "
                                "(split it)", Location(str(path), 1))
        data = path.read_bytes()
    except OSError as exc:
        raise CaseFileError(f"cannot read: {exc.strerror or exc}", Location(str(path), 1)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CaseFileError(f"byte 0x{data[exc.start]:02X} is not UTF-8: write the file as UTF-8 (a byte of a "
                            r"payload is written \xNN)", Location(str(path), line)) from None


def load_documents(text: str, path: str) -> list[Document]:
    """Every non-empty YAML document in ``text`` (as read from ``path``), checked as the module says."""
    if len(text) > MAX_FILE_BYTES:
        raise CaseFileError(f"the text is {len(text)} characters; a case file is at most {MAX_FILE_BYTES}",
                            Location(path, 1))
    _check_characters(text, path)
    documents: list[Document] = []
    try:
        loader = _BoundedLoader(text)
    except yaml.YAMLError as exc:  # pragma: no cover - the characters were checked above
        raise CaseFileError(f"not valid YAML: {exc}", Location(path, 1)) from None
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_keys(node, path)
            documents.append((node, loader.construct_document(node)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise CaseFileError(f"not valid YAML: {exc.problem or exc.context}", Location(path, line)) from None
    except yaml.YAMLError as exc:
        raise CaseFileError(f"not valid YAML: {exc}", Location(path, 1)) from None
    except RecursionError:  # pragma: no cover - nesting is bounded long before the stack
        raise CaseFileError("nested too deeply to read", Location(path, loader.line + 1)) from None
    finally:
        loader.dispose()
    return documents


def node_at(node: yaml.Node, keys: list[Any]) -> yaml.Node:
    """The deepest node along ``keys`` (a jsonschema error path), for its line."""
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


def key_line(node: yaml.Node, key: str) -> int:
    """The file line of ``key`` in mapping ``node`` (the node's own line if it has no such key)."""
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if getattr(k, "value", None) == key:
                return k.start_mark.line + 1
    return node.start_mark.line + 1


def check_schema(validator: jsonschema.protocols.Validator, data: Any, node: yaml.Node, path: str,
                 what: str = "case") -> None:
    """Raise the first (by line) violation of ``validator``'s schema in ``data`` as ``file:line: field: problem``."""
    errors = sorted(validator.iter_errors(data), key=lambda e: (node_at(node, list(e.absolute_path)).start_mark.line,
                                                                 list(map(str, e.absolute_path))))
    if not errors:
        return
    err = errors[0]
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = list(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(known))
        where = node_at(node, list(err.absolute_path))
        line = key_line(where, extra[0]) if extra else where.start_mark.line + 1
        field = ".".join(str(p) for p in err.absolute_path)
        raise CaseFileError(f"{field + ': ' if field else ''}unknown key {extra[0]!r} (known: {', '.join(known)})",
                            Location(path, line))
    at = node_at(node, list(err.absolute_path))
    field = ".".join(str(p) for p in err.absolute_path) or what
    raise CaseFileError(f"{field}: {err.message}", Location(path, at.start_mark.line + 1))


def text_start(node: yaml.Node, key: str, path: str) -> int:
    """The file line of the first line of the text under ``key`` (written ``key: |``, it starts on the next line)."""
    value = node_at(node, [key])
    if not isinstance(value, yaml.ScalarNode):
        return value.start_mark.line + 1
    if value.style == ">":
        raise CaseFileError(f"{key}: a folded block ('>') joins lines; write '{key}: |'",
                            Location(path, value.start_mark.line + 1))
    if value.style == "|":
        return value.start_mark.line + 2
    return value.start_mark.line + 1


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases and nesting past :data:`MAX_NESTING` while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"an alias ({event.anchor and '*' + event.anchor}) is not allowed in a case file: write "
                "the value out (aliases can make a small file expand without end)", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_NESTING and self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent):
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_NESTING} levels deep; a case needs a few", self.peek_event()
                    .start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_characters(text: str, path: str) -> None:
    m = _NOT_PRINTABLE.search(text)
    if m is None:
        return
    code = ord(m.group())
    line = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    name = _CONTROL_NAMES.get(code) or (f"Ctrl+{chr(code + 0x40)}" if code < 0x20 else f"U+{code:04X}")
    raise CaseFileError(f"character 0x{code:02X} ({name}) at column {column} cannot be written raw in a case file: "
                        rf"write it as \x{code:02X} (or <{name}> for a key) in a transcript line",
                        Location(path, line))


def _check_keys(node: yaml.Node, path: str) -> None:
    """Keys are names given once; the walk is bounded by the nesting limit."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if not isinstance(key, yaml.ScalarNode):
                raise CaseFileError("a key must be a name, not a list or a mapping", Location(path, line))
            if key.tag != _STR_TAG:
                kind = _KINDS.get(key.tag.rsplit(":", 1)[-1], "something other than text")
                raise CaseFileError(f"key {key.value!r} reads as {kind} in YAML: keys are names (quote it if it must "
                                    "be)", Location(path, line))
            if key.value in seen:
                raise CaseFileError(f"key {key.value!r} given twice (first at line {seen[key.value]})",
                                    Location(path, line))
            seen[key.value] = line
            _check_keys(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_keys(item, path)
