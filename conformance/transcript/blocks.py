"""Shared step blocks: ``cases/<dialect>/blocks.yaml`` names blocks of steps a dialect's cases use.

A case uses a block with a line ``= context_active`` or ``= tcp_client_open peer=tcp_echo id=0`` in its transcript,
or lists it in ``setup:``. A block is read where it is used: its parameters take the use's values, its placeholders
and captures are its own (a capture is visible to the case after the use only if the block ``exports`` it), its
``needs`` are parameters naming capabilities of the case, and its ``finally`` steps run after the case's own, last
use first, if the use was reached. Its lines keep their own file and line in every report, with the case line that
used them. The blocks file is not a case file: it is never collected as one, and a broken block fails the cases that
use it, each with ``file:line``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..errors import CaseFileError, Location
from .limits import MAX_BLOCK_DEPTH
from .lines import BUILTIN_ROOTS, CaseReading, Reader, use_arguments
from .model import BlockLocation, Cleanup, Step, UseBlock
from .template import Const, Scope, Var, parse_placeholder, parse_template
from .yamlfile import check_schema, key_line, load_documents, node_at, read_file, text_start

__all__ = ["BLOCKS_FILE", "Block", "BlockLibrary", "BlockNames", "check_blocks_file", "expand_use",
           "find_blocks_file", "is_blocks_file"]

BLOCKS_FILE = "blocks.yaml"
_NAME = r"^[a-z][a-z0-9_]*$"
_SCALAR = {"type": ["string", "integer", "number", "boolean", "null"]}
_NAMES = {"type": "array", "items": {"type": "string", "pattern": _NAME}, "uniqueItems": True}
BLOCK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["steps"],
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string"},
        "source": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "note": {"type": "string"},
        "params": {"type": "object", "propertyNames": {"pattern": _NAME}, "additionalProperties": _SCALAR},
        "needs": _NAMES,
        "exports": _NAMES,
        "steps": {"type": "string"},
        "finally": {"type": "string"},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(BLOCK_SCHEMA)


def is_blocks_file(path: Path) -> bool:
    """True for a dialect's blocks file, which is not a case file."""
    return path.name == BLOCKS_FILE


def find_blocks_file(case_file: Path) -> Path | None:
    """The blocks file a case file sees: the nearest ``blocks.yaml`` in its folder or above, up to the ``cases``
    folder (or only its own folder outside one)."""
    folder = case_file.parent
    top = next((p for p in [folder, *folder.parents] if p.name == "cases"), folder)
    for candidate in [folder, *folder.parents]:
        if (candidate / BLOCKS_FILE).is_file():
            return candidate / BLOCKS_FILE
        if candidate == top:
            break
    return None


@dataclass(frozen=True)
class Block:
    """One named block, as written."""

    name: str
    path: str
    line: int  # the line of its name
    params: dict[str, Any]  # value parameters and their defaults (None: the use must give it)
    needs: tuple[str, ...]  # parameters naming a capability of the case (default: the capability of that name)
    exports: tuple[str, ...]
    note: str
    steps: str
    steps_line: int
    final: str | None = None
    final_line: int = 0
    exports_line: int = 0


@dataclass
class BlockLibrary:
    """The blocks of one file; a block that is malformed keeps its error for the cases that use it."""

    path: str
    blocks: dict[str, Block] = field(default_factory=dict)
    errors: dict[str, CaseFileError] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> BlockLibrary:
        """The library in ``path`` (read once per version of the file); a file that cannot be read raises."""
        try:
            stat = path.stat()
            key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = (str(path), 0, 0)
        cached = _CACHE.get(key[0])
        if cached is not None and cached[0] == key:
            return cached[1]
        library = cls._read(path)
        _CACHE[key[0]] = (key, library)
        return library

    @classmethod
    def _read(cls, path: Path) -> BlockLibrary:
        name = str(path)
        documents = load_documents(read_file(path), name)
        if len(documents) != 1 or not isinstance(documents[0][1], dict):
            line = documents[1][0].start_mark.line + 1 if len(documents) > 1 else 1
            raise CaseFileError("a blocks file is one mapping: block name -> {params, needs, exports, steps, "
                                "finally, note}", Location(name, line))
        node, data = documents[0]
        library = cls(name)
        for block_name, definition in data.items():
            line = key_line(node, block_name)
            try:
                library.blocks[block_name] = _block(block_name, definition, node_at(node, [block_name]), name, line)
            except CaseFileError as exc:
                library.errors[block_name] = exc
        return library

    def get(self, name: str, used_at: Location) -> Block:
        if name in self.errors:
            raise _relocate(self.errors[name], name, used_at)
        if name not in self.blocks:
            raise CaseFileError(f"= {name}: no block of that name in {self.path} (known: "
                                f"{', '.join(sorted({*self.blocks, *self.errors})) or 'none'})", used_at)
        return self.blocks[name]


_CACHE: dict[str, tuple[tuple[str, int, int], BlockLibrary]] = {}


def _block(name: str, data: Any, node: yaml.Node, path: str, line: int) -> Block:
    where = Location(path, line)
    if not re.match(_NAME, name):
        raise CaseFileError(f"block name {name!r}: lower-case letters, digits and _", where)
    if not isinstance(data, dict):
        raise CaseFileError(f"block {name}: a mapping with 'steps:' (and params, needs, exports, finally, note)",
                            where)
    check_schema(_VALIDATOR, data, node, path, what=f"block {name}")
    params = dict(data.get("params") or {})
    needs = tuple(data.get("needs") or ())
    for param in params:
        if param in needs or param in BUILTIN_ROOTS:
            raise CaseFileError(f"block {name}: parameter {param!r} is also "
                                f"{'a need' if param in needs else 'a name every case has'}",
                                Location(path, key_line(node_at(node, ["params"]), param)))
    return Block(
        name=name, path=path, line=line, params=params, needs=needs, exports=tuple(data.get("exports") or ()),
        note=data.get("note", ""), steps=data["steps"], steps_line=text_start(node, "steps", path),
        final=data.get("finally"), final_line=text_start(node, "finally", path) if "finally" in data else 0,
        exports_line=key_line(node, "exports"),
    )


def _relocate(error: CaseFileError, block: str, used_at: Location | None) -> CaseFileError:
    """``error`` (a line of the blocks file) as seen from the case line that used the block."""
    where = error.location
    if where is None or isinstance(where, BlockLocation):
        return error
    return CaseFileError(error.message, BlockLocation(where.path, where.line, block=block, used_at=used_at))


class BlockNames:
    """The names of one use of a block: parameters bound to the use's values, the block's captures renamed to
    names of this use (unless exported), its peer parameters bound to the case's needs."""

    def __init__(self, block: str, binding: dict[str, Var | Const], needs: dict[str, str], exports: set[str],
                 use: int, reader: Callable[[], Reader]) -> None:
        self.block = block
        self.binding = binding  # value parameters (and peer parameters as placeholders of the need)
        self.needs = needs  # peer parameter -> the case's capability
        self.exports = exports
        self.prefix = f"_{use}_"
        self._reader = reader  # the reader of the block's lines: what it has captured so far

    def var(self, var: Var) -> Var | Const:
        root, rest = var.path[0], var.path[1:]
        if root in self.binding:
            bound = self.binding[root]
            if isinstance(bound, Const):
                if rest:
                    raise CaseFileError(f"{var}: {root!r} is a value ({bound.value!r}) of block {self.block}; it "
                                        "has no attributes")
                return bound
            return Var(bound.path + rest, var.default if var.default is not None else bound.default)
        if root in BUILTIN_ROOTS:
            return var
        if root in self._reader().known:
            return Var((self.capture(root), *rest), var.default)
        known = sorted(set(self.binding) | self._reader().known - BUILTIN_ROOTS)
        raise CaseFileError(f"{var}: {root!r} is not a parameter of block {self.block} nor a capture made before "
                            f"this line (known here: {', '.join(known) or 'none'})")

    def capture(self, name: str) -> str:
        return name if name in self.exports else self.prefix + name

    def original(self, name: str) -> str:
        return name[len(self.prefix):] if name.startswith(self.prefix) else name

    def target(self, name: str, loc: Location) -> str:
        if name in self.needs:
            return self.needs[name]
        raise CaseFileError(f"! {name}: block {self.block} does not declare {name!r} in its 'needs:' (a block "
                            "names the capabilities it acts on)", loc)


def expand_use(reader: Reader, body: str, line: str, loc: Location) -> list[Step]:
    """The steps of the block use ``= body`` at ``loc``: a :class:`UseBlock` marker, then the block's steps (its
    'finally' steps go to the case's cleanups)."""
    name, args = use_arguments(body, loc)
    if reader.depth >= MAX_BLOCK_DEPTH:
        raise CaseFileError(f"= {name}: blocks used inside blocks more than {MAX_BLOCK_DEPTH} deep (does a block "
                            "use itself?)", loc)
    library = _library(reader.reading, name, loc)
    block = library.get(name, loc)
    binding, needs = _bind(block, args, reader, loc)
    return _instantiate(reader, block, binding, needs, loc, line)


def _library(reading: CaseReading, name: str, loc: Location) -> BlockLibrary:
    library = None
    if reading.library is not None:
        try:
            library = reading.library()
        except CaseFileError as exc:
            raise _relocate(exc, name, loc) from None
    if library is None:
        raise CaseFileError(f"= {name}: there is no {BLOCKS_FILE} beside this case file or above it", loc)
    return library


def _bind(block: Block, args: list[tuple[str, str]], reader: Reader,
          loc: Location) -> tuple[dict[str, Var | Const], dict[str, str]]:
    given: dict[str, str] = {}
    for key, value in args:
        if key in given:
            raise CaseFileError(f"= {block.name}: {key} given twice", loc)
        if key not in block.params and key not in block.needs:
            known = ", ".join([*block.needs, *block.params]) or "none"
            raise CaseFileError(f"= {block.name}: no parameter {key!r} (parameters: {known})", loc)
        given[key] = value
    binding: dict[str, Var | Const] = {}
    needs: dict[str, str] = {}
    for param in block.needs:
        word = given.get(param, param)
        if not re.match(_NAME, word):
            raise CaseFileError(f"= {block.name}: {param}={word}: give the name of a need of the case, e.g. "
                                f"{param}=tcp_echo", loc)
        if reader.names is not None:
            capability = reader.names.target(word, loc)
        elif word in reader.reading.target_names():
            capability = word
        else:
            how = "" if param in given else f" (or give {param}=<one of its needs>)"
            raise CaseFileError(f"= {block.name}: the block acts on {word!r}, which is not a need of this case: add "
                                f"it to 'needs:'{how}", loc)
        needs[param] = capability
        binding[param] = Var((capability,))
    for param, default in block.params.items():
        if param in given:
            binding[param] = _value(given[param], param, block, reader, loc)
        elif default is None:
            raise CaseFileError(f"= {block.name}: give {param}=... (it has no default)", loc)
        else:
            binding[param] = Const(default, param)
    return binding, needs


def _value(text: str, param: str, block: Block, reader: Reader, loc: Location) -> Var | Const:
    """A use's argument: a number, a word, "quoted text", or one placeholder ``{name}`` standing for its value."""

    def fail(msg: str) -> CaseFileError:
        return CaseFileError(msg, loc)

    if text.startswith('"'):
        template = parse_template(text[1:-1], loc, names=reader.names)
        if not all(isinstance(p, bytes) for p in template.parts):
            raise fail(f"= {block.name}: {param}={text}: quoted text is plain; a placeholder stands alone, "
                       f"{param}={{name}}")
        return Const(template.render_text(Scope()), param)
    if text.startswith("{") and text.endswith("}"):
        part = parse_placeholder(text[1:-1], fail, loc, reader.names)
        if not isinstance(part, (Var, Const)):
            raise fail(f"= {block.name}: {param}={text}: a generator is not a value; pass it in the block's line")
        if isinstance(part, Var) and reader.names is None and part.path[0] not in reader.known:
            raise fail(f"= {block.name}: {param}={text}: {part.path[0]!r} is not a need, a var or an earlier "
                       "capture")
        return part
    if re.fullmatch(r"[+-]?\d+", text):
        return Const(int(text), param)
    if re.fullmatch(r"[+-]?\d+\.\d+", text):
        return Const(float(text), param)
    return Const(text, param)


def _instantiate(reader: Reader, block: Block, binding: dict[str, Var | Const], needs: dict[str, str],
                 loc: Location | None, line: str) -> list[Step]:
    reading = reader.reading
    reading.uses += 1
    use = reading.uses

    def locate(number: int) -> Location:
        return BlockLocation(block.path, number, block=block.name, used_at=loc)

    current: list[Reader] = []
    names = BlockNames(block.name, binding, needs, set(block.exports), use, lambda: current[-1])
    inner = Reader(reading, set(binding) | BUILTIN_ROOTS, locate, names=names, depth=reader.depth + 1,
                   note=bool(block.note))
    current.append(inner)
    steps = inner.read(block.steps, block.steps_line)
    missing = sorted(set(block.exports) - inner.known)
    if missing:
        raise CaseFileError(f"exports {', '.join(missing)}: block {block.name} captures no such name",
                            locate(block.exports_line))
    if block.final is not None:
        final = Reader(reading, inner.known, locate, names=names, depth=reader.depth + 1, note=bool(block.note))
        current.append(final)
        cleanup = final.read(block.final, block.final_line)
        reading.cleanups.append(Cleanup(loc or locate(block.line), line, block.name, use, tuple(cleanup)))
    reader.known |= set(block.exports)
    return [UseBlock(loc or locate(block.line), line, block.name, use, Location(block.path, block.line)), *steps]


def check_blocks_file(path: Path) -> list[CaseFileError]:
    """Every problem of the blocks file at ``path``, each block read on its own (with its defaults; a parameter
    without one stands for a word), as ``conformance check-cases`` reports them."""
    try:
        library = BlockLibrary.load(path)
    except CaseFileError as exc:
        return [exc]
    problems = [library.errors[name] for name in sorted(library.errors)]
    for block in library.blocks.values():
        reading = CaseReading(set(block.needs), lambda library=library: library)
        reader = Reader(reading, set(BUILTIN_ROOTS), lambda n: Location(str(path), n))
        binding: dict[str, Var | Const] = {p: Var((p,)) for p in block.needs}
        binding.update({p: Const("x" if d is None else d, p) for p, d in block.params.items()})
        try:
            _instantiate(reader, block, binding, {p: p for p in block.needs}, None, f"= {block.name}")
        except CaseFileError as exc:
            problems.append(exc)
    return problems
