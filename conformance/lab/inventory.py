"""A bench inventory: the modules a lab host can test at once, each with its port (a URL or a labgrid place), its
dialect and its bench file. ``pytest -n N --inventory lab.yaml`` gives each pytest-xdist worker one of them.

The format (``fixtures/lab/inventory.yaml`` is an example)::

    modules:
      - name: bg96-desk            # unique; shown in reports and lock names
        url: /dev/ttyUSB2          # any --modem URL: rfc2217://bench7:4001, socket://..., sim:bg96
        dialect: bg96              # optional: detected from ATI otherwise
        bench: benches/desk.yaml   # optional: the --bench file of this module (vars, secrets, provides, power_cycle)
        power_cycle: usbrelay R1_1=0 && sleep 2 && usbrelay R1_1=1   # optional: --power-cycle-cmd
      - name: bg96-rack3
        place: bg96-rack3          # a labgrid place instead of a URL (its power switch comes with it)
        coordinator: lab-gw:20408  # optional: LG_COORDINATOR otherwise
    locks: /var/lock/conformance   # optional: where the per-module locks live (default: the temporary directory)

Relative paths (``bench``, ``locks``) are taken from the inventory file's folder. Every problem is reported as
``file:line: what is wrong``.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from .. import dialects

__all__ = ["DEFAULT_LOCK_DIR", "Inventory", "InventoryError", "InventoryModule", "load_inventory"]

MODULE_KEYS = ("name", "url", "place", "coordinator", "dialect", "bench", "power_cycle")
TOP_KEYS = ("modules", "locks")
DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "conformance-locks"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class InventoryError(ValueError):
    """An inventory file that cannot be used, with the file and line of the problem."""


@dataclass(frozen=True)
class InventoryModule:
    """One module of the inventory."""

    name: str
    url: str  # what --modem takes: the URL as given, or labgrid:<place>[?coordinator=...]
    dialect: str | None = None
    bench: str | None = None  # absolute path of its bench file
    power_cycle: str | None = None
    line: int = 0  # where it is written, for messages

    @property
    def lock_name(self) -> str:
        return f"{self.name}.lock"


@dataclass(frozen=True)
class Inventory:
    """The modules of an inventory file, and the folder of their locks."""

    path: Path
    modules: tuple[InventoryModule, ...]
    lock_dir: Path

    def get(self, name: str) -> InventoryModule:
        for module in self.modules:
            if module.name == name:
                return module
        raise KeyError(name)


def load_inventory(path: str | Path) -> Inventory:
    """Read and check an inventory file. Raises :class:`InventoryError` naming the file, the line and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read the inventory: {exc.strerror or exc}") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise InventoryError(f"{where}: not YAML: {getattr(exc, 'problem', None) or exc}") from None
    base = path.resolve().parent

    def fail(node: yaml.Node | None, what: str) -> InventoryError:
        line = node.start_mark.line + 1 if node is not None else 1
        return InventoryError(f"{path}:{line}: {what}")

    if not isinstance(root, yaml.MappingNode):
        raise fail(root, "an inventory is a mapping with a list of modules: modules: [{name: ..., url: ...}]")
    top = _mapping(root)
    for key, (key_node, _) in top.items():
        if key not in TOP_KEYS:
            raise fail(key_node, f"unknown key {key!r}; an inventory has {', '.join(TOP_KEYS)}")
    if "modules" not in top:
        raise fail(root, "no 'modules:' list")
    modules_node = top["modules"][1]
    if not isinstance(modules_node, yaml.SequenceNode) or not modules_node.value:
        raise fail(modules_node, "'modules' is a list of at least one module")
    lock_dir = DEFAULT_LOCK_DIR
    if "locks" in top:
        locks_node = top["locks"][1]
        value = _scalar(locks_node)
        if not isinstance(value, str) or not value:
            raise fail(locks_node, "'locks' is a folder path")
        lock_dir = (base / value).resolve()
    modules: list[InventoryModule] = []
    seen: dict[str, int] = {}
    ports: dict[str, tuple[str, int]] = {}
    for node in modules_node.value:
        module = _module(node, base, fail)
        if module.name in seen:
            raise fail(node, f"module name {module.name!r} is used twice (first at line {seen[module.name]})")
        if module.url in ports and not module.url.startswith("sim:"):
            other, line = ports[module.url]
            raise fail(node, f"{module.name} and {other} (line {line}) name the same port {module.url}: one port "
                             "is one module")
        seen[module.name] = module.line
        ports[module.url] = (module.name, module.line)
        modules.append(module)
    return Inventory(path, tuple(modules), lock_dir)


def _module(node: yaml.Node, base: Path, fail: Any) -> InventoryModule:
    if not isinstance(node, yaml.MappingNode):
        raise fail(node, "a module is a mapping: {name: ..., url: ... or place: ..., dialect: ...}")
    fields = _mapping(node)
    values: dict[str, Any] = {}
    for key, (key_node, value_node) in fields.items():
        if key not in MODULE_KEYS:
            raise fail(key_node, f"unknown key {key!r}; a module has {', '.join(MODULE_KEYS)}")
        value = _scalar(value_node)
        if not isinstance(value, str) or not value.strip():
            raise fail(value_node, f"{key} is a text (got {_kind(value_node)})")
        values[key] = value.strip()
    name = values.get("name")
    if name is None:
        raise fail(node, "a module needs a name")
    if not _NAME.match(name):
        raise fail(fields["name"][1], f"name {name!r}: letters, digits, '.', '_' and '-' (it names a lock file)")
    if ("url" in values) == ("place" in values):
        raise fail(node, f"module {name}: give either url (a port) or place (a labgrid place)")
    if "coordinator" in values and "place" not in values:
        raise fail(fields["coordinator"][0], f"module {name}: coordinator goes with a labgrid place")
    if "place" in values:
        url = f"labgrid:{values['place']}"
        if "coordinator" in values:
            url += f"?coordinator={quote(values['coordinator'], safe=':')}"
    else:
        url = values["url"]
    dialect = values.get("dialect")
    if dialect is not None and dialect not in dialects.names():
        raise fail(fields["dialect"][1], f"module {name}: no dialect {dialect!r}; known: {', '.join(dialects.names())}")
    bench = values.get("bench")
    if bench is not None:
        bench_path = (base / bench).resolve()
        if not bench_path.is_file():
            raise fail(fields["bench"][1], f"module {name}: bench file {bench_path} is not there")
        bench = str(bench_path)
    return InventoryModule(name=name, url=url, dialect=dialect, bench=bench, power_cycle=values.get("power_cycle"),
                           line=node.start_mark.line + 1)


def _mapping(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        out[str(key_node.value)] = (key_node, value_node)
    return out


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return None
    return yaml.safe_load(yaml.serialize(node))


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    value = _scalar(node)
    return "nothing" if value is None else type(value).__name__
