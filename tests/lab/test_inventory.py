"""The bench inventory: what a lab writes, read back; every mistake reported at its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.lab.inventory import InventoryError, load_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "lab"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["inventory.yaml", "inventory-lab.yaml"])
def test_the_example_inventories_load(name: str) -> None:
    inventory = load_inventory(EXAMPLES / name)
    names = [m.name for m in inventory.modules]
    assert len(names) == len(set(names)) >= 2
    assert all(m.url for m in inventory.modules)


def test_urls_places_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "benches").mkdir()
    (tmp_path / "benches" / "desk.yaml").write_text("vars: {apn: internet}\n")
    inventory = load_inventory(write(tmp_path, """
modules:
  - name: desk
    url: /dev/ttyUSB2
    dialect: bg96
    bench: benches/desk.yaml
    power_cycle: usbrelay R1_1=0 && usbrelay R1_1=1
  - name: rack-3
    place: bg96-rack3
    coordinator: lab-gw:20408
locks: locks
"""))
    desk, rack = inventory.modules
    assert desk.url == "/dev/ttyUSB2" and desk.dialect == "bg96" and desk.line == 3
    assert desk.bench == str((tmp_path / "benches" / "desk.yaml").resolve())
    assert desk.power_cycle == "usbrelay R1_1=0 && usbrelay R1_1=1"
    assert rack.url == "labgrid:bg96-rack3?coordinator=lab-gw:20408" and rack.dialect is None
    assert inventory.lock_dir == (tmp_path / "locks").resolve()


@pytest.mark.parametrize(("text", "line", "says"), [
    ("modules: [\n", 2, "not YAML"),
    ("- name: a\n", 1, "an inventory is a mapping"),
    ("locks: /tmp\n", 1, "no 'modules:' list"),
    ("modules: []\n", 1, "at least one module"),
    ("modules:\n  - name: a\n    url: /dev/ttyUSB0\nextra: 1\n", 4, "unknown key 'extra'"),
    ("modules:\n  - name: a\n    url: /dev/ttyUSB0\n    baud: 9600\n", 4, "unknown key 'baud'"),
    ("modules:\n  - url: /dev/ttyUSB0\n", 2, "needs a name"),
    ("modules:\n  - name: a b\n    url: /dev/ttyUSB0\n", 2, "letters, digits"),
    ("modules:\n  - name: a\n", 2, "either url (a port) or place"),
    ("modules:\n  - name: a\n    url: /dev/ttyUSB0\n    place: p\n", 2, "either url"),
    ("modules:\n  - name: a\n    url: /dev/ttyUSB0\n    coordinator: x:1\n", 4, "coordinator goes with a labgrid"),
    ("modules:\n  - name: a\n    url: [1, 2]\n", 3, "url is a text (got a list)"),
    ("modules:\n  - name: a\n    url: /dev/ttyUSB0\n    dialect: bg97\n", 4, "no dialect 'bg97'"),
    ("modules:\n  - name: a\n    url: /dev/ttyUSB0\n    bench: nowhere.yaml\n", 4, "is not there"),
    ("modules:\n  - name: a\n    url: /dev/ttyUSB0\n  - name: a\n    url: /dev/ttyUSB1\n", 4,
     "used twice (first at line 2)"),
    ("modules:\n  - name: a\n    url: /dev/ttyUSB0\n  - name: b\n    url: /dev/ttyUSB0\n", 4,
     "name the same port"),
    ("modules:\n  - just a text\n", 2, "a module is a mapping"),
])
def test_each_mistake_is_reported_at_its_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert says in str(err.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read the inventory"):
        load_inventory(tmp_path / "absent.yaml")


def test_simulated_modules_may_repeat_their_url(tmp_path: Path) -> None:
    # sim:bg96 starts a simulator of its own for each module: two entries are two modules
    text = "modules:\n  - {name: a, url: 'sim:bg96'}\n  - {name: b, url: 'sim:bg96'}\n"
    inventory = load_inventory(write(tmp_path, text))
    assert [m.name for m in inventory.modules] == ["a", "b"]
