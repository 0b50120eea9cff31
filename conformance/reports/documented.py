"""The documented list of a dialect: every item its documents document, as data (``<dialect>_documented.yaml``).

A list names one manual (``manual:`` and ``items:``), or several (``manuals:``, each with its own ``items:``); an
item belongs to the document it is listed under, and its id is what a citation of that document writes after the
``§``. Where documents disagree, an item says so with ``differs:`` (docs/coverage.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import dialects
from ..errors import ConformanceError

__all__ = [
    "KINDS",
    "Difference",
    "Documented",
    "DocumentedError",
    "DocumentedItem",
    "default_documented_path",
    "load_documented",
]

KINDS = ("section", "example", "command_form", "urc", "error_code", "behaviour", "procedure")
MARK = "§"
SECTION_ID = re.compile(r"^\d+(?:\.\d+)*$")


class DocumentedError(ConformanceError):
    """The documented list itself is malformed."""


@dataclass(frozen=True)
class Difference:
    """Where another document (or another place of the same one) says otherwise than an item."""

    manual: str
    text: str  # what it says instead
    id: str = ""  # its item, if it has one


@dataclass(frozen=True)
class DocumentedItem:
    """One thing a manual documents: ``id`` is what a citation writes after the ``§``."""

    id: str
    kind: str
    text: str
    manual: str = ""
    differs: tuple[Difference, ...] = ()

    @property
    def section(self) -> str:
        return self.id.split(" ", 1)[0]

    @property
    def key(self) -> str:
        """What follows the section in the id (``AT+QIOPEN=?``); empty for a section."""
        return self.id.split(" ", 1)[1] if " " in self.id else ""

    @property
    def ref(self) -> str:
        """The item as a citation writes it: ``<manual> §<id>``."""
        return f"{self.manual} {MARK}{self.id}"


@dataclass
class Documented:
    """A dialect's documented list: its manuals' names, and the items in each manual's order."""

    dialect: str
    manuals: list[str]
    items: list[DocumentedItem]
    path: Path
    by_ref: dict[tuple[str, str], DocumentedItem] = field(init=False)
    by_id: dict[str, DocumentedItem] = field(init=False)  # the first (or only) manual's items by id
    differed_by: dict[tuple[str, str], list[DocumentedItem]] = field(init=False)  # items whose differs name this one

    def __post_init__(self) -> None:
        self.by_ref = {(item.manual, item.id): item for item in self.items}
        self.by_id = {item.id: item for item in self.items if item.manual == self.manuals[0]}
        self.differed_by = {}
        for item in self.items:
            for diff in item.differs:
                if diff.id:
                    self.differed_by.setdefault((diff.manual, diff.id), []).append(item)

    @property
    def manual(self) -> str:
        """The first (for most dialects the only) manual."""
        return self.manuals[0]

    def of(self, manual: str) -> list[DocumentedItem]:
        """The items of one manual, in its order."""
        return [item for item in self.items if item.manual == manual]


def default_documented_path(dialect: str) -> Path:
    return Path(dialects.__file__).parent / f"{dialect}_documented.yaml"


def load_documented(path: str | Path, dialect: str | None = None) -> Documented:
    """Read and check a documented list; :class:`DocumentedError` (naming the item) if anything is wrong."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DocumentedError(f"{path}: cannot read the documented list: {exc}") from None
    if not isinstance(data, dict) or ("manual" in data) == ("manuals" in data):
        raise DocumentedError(f"{path}: a documented list is a mapping with dialect, and manual and items (one "
                              "document) or manuals (several, each with manual and items)")
    name = data.get("dialect")
    if not isinstance(name, str):
        raise DocumentedError(f"{path}: give 'dialect' (the dialect's name)")
    if dialect is not None and name != dialect:
        raise DocumentedError(f"{path}: lists the items of dialect {name!r}, not {dialect!r}")
    groups = [data] if "manual" in data else data["manuals"]
    if not isinstance(groups, list) or not groups:
        raise DocumentedError(f"{path}: 'manuals' is a list of mappings, each with manual and items")
    manuals: list[str] = []
    items: list[DocumentedItem] = []
    for group in groups:
        if not isinstance(group, dict) or not isinstance(group.get("items"), list):
            raise DocumentedError(f"{path}: a documented list is a mapping with dialect, manual and items "
                                  "(or manuals, each with manual and items)")
        manual = group.get("manual")
        if not isinstance(manual, str) or not manual or MARK in manual:
            raise DocumentedError(f"{path}: give 'manual' (the manual's name as cases cite it)")
        if manual in manuals:
            raise DocumentedError(f"{path}: manual {manual!r} listed twice")
        manuals.append(manual)
        items.extend(_items(path, manual, group["items"], several=len(groups) > 1))
    documented = Documented(name, manuals, items, path)
    _check_differs(documented)
    return documented


def _items(path: Path, manual: str, raws: list[Any], *, several: bool) -> list[DocumentedItem]:
    items: list[DocumentedItem] = []
    seen: set[str] = set()
    sections: set[str] = set()
    for n, raw in enumerate(raws, 1):
        where = f"{path}: {manual}: item {n}" if several else f"{path}: item {n}"
        if not isinstance(raw, dict) or not {"id", "kind", "text"} <= set(raw) <= {"id", "kind", "text", "differs"}:
            raise DocumentedError(f"{where}: an item has exactly id, kind and text (and may say where another "
                                  f"document differs); got {raw!r}")
        item_id, kind, text = raw["id"], raw["kind"], raw["text"]
        if not isinstance(item_id, str) or item_id != " ".join(item_id.split()) or \
                not SECTION_ID.match(item_id.split(" ", 1)[0]):
            raise DocumentedError(f"{where}: id {item_id!r} is '<section>' or '<section> <key>', single-spaced")
        if kind not in KINDS:
            raise DocumentedError(f"{where} ({item_id}): kind {kind!r} is not one of {', '.join(KINDS)}")
        if not isinstance(text, str) or not text.strip():
            raise DocumentedError(f"{where} ({item_id}): give a short text")
        if item_id in seen:
            raise DocumentedError(f"{where}: id {item_id!r} listed twice")
        item = DocumentedItem(item_id, kind, text, manual, _differs(where, item_id, raw.get("differs")))
        if (kind == "section") != (item.key == ""):
            raise DocumentedError(f"{where}: {item_id!r}: a section's id is its number alone, and only a "
                                  "section's is")
        if kind != "section" and item.section not in sections:
            raise DocumentedError(f"{where}: {item_id!r}: section {item.section} is not listed before it")
        seen.add(item_id)
        if kind == "section":
            sections.add(item_id)
        items.append(item)
    return items


def _differs(where: str, item_id: str, raw: Any) -> tuple[Difference, ...]:
    """``differs:`` is one mapping or a list of them, each with manual and text, and optionally id."""
    if raw is None:
        return ()
    entries = raw if isinstance(raw, list) else [raw]
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or not {"manual", "text"} <= set(entry) <= {"manual", "text", "id"} or \
                not all(isinstance(v, str) and v.strip() for v in entry.values()):
            raise DocumentedError(f"{where} ({item_id}): differs gives manual and text (and optionally the other "
                                  f"document's item id) for each disagreement; got {entry!r}")
        found.append(Difference(entry["manual"], entry["text"], entry.get("id", "")))
    return tuple(found)


def _check_differs(documented: Documented) -> None:
    """Every ``differs`` names a manual of the list, and an item of it where it names one."""
    for item in documented.items:
        for diff in item.differs:
            where = f"{documented.path}: {item.ref}: differs"
            if diff.manual not in documented.manuals:
                raise DocumentedError(f"{where}: {diff.manual!r} is not a manual of this list "
                                      f"({', '.join(documented.manuals)})")
            if diff.id and (diff.manual, diff.id) not in documented.by_ref:
                raise DocumentedError(f"{where}: {diff.manual} {MARK}{diff.id} is not an item of the list")
            if (diff.manual, diff.id) == (item.manual, item.id):
                raise DocumentedError(f"{where}: names the item itself")
