"""``conformance coverage``: documented items, citations in case files, and the exit status."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from conformance import dialects
from conformance.cli import main as cli_main
from conformance.reports.coverage import (
    Coverage,
    DocumentedError,
    coverage_main,
    default_documented_path,
    load_documented,
    parse_citation,
)

MANUAL = "BG96 TCP/IP AT Commands Manual V1.0"

DOCUMENTED = f"""\
dialect: bg96
manual: {MANUAL}
items:
  - {{id: "2", kind: section, text: "Description of TCP/IP AT Commands"}}
  - {{id: "2.1.4", kind: section, text: "AT+QIOPEN Open a Socket Service"}}
  - {{id: "2.1.4 AT+QIOPEN=?", kind: command_form, text: "test form"}}
  - {{id: "2.1.4 AT+QIOPEN write", kind: command_form, text: "write form"}}
  - {{id: "4", kind: section, text: "Summary of Error Codes"}}
  - {{id: "4 error 566", kind: error_code, text: "Socket connect failed"}}
  - {{id: "4 error 553", kind: error_code, text: "Memory not enough"}}
"""


def case(name: str, sources: list[str], *, skip: str = "") -> str:
    doc = {"title": name.replace("_", " "), "name": name, "source": sources, "dialects": ["bg96"],
           "transcript": "> AT\n< OK\n"}
    if skip:
        doc["skip"] = skip
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def documented(tmp_path: Path) -> Path:
    path = tmp_path / "documented.yaml"
    path.write_text(DOCUMENTED, encoding="utf-8")
    return path


def write_cases(tmp_path: Path, *docs: str, name: str = "some.yaml") -> Path:
    folder = tmp_path / "cases"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("---\n".join(docs), encoding="utf-8")
    return folder


def run(documented: Path, cases: Path, *extra: str) -> int:
    return coverage_main(["bg96", "--documented", str(documented), "--cases", str(cases), *extra])


ALL = [f"{MANUAL} §2.1.4 AT+QIOPEN=?", f"{MANUAL} §2.1.4 AT+QIOPEN write", f"{MANUAL} §4 error 566",
       f"{MANUAL} §4 error 553"]


def test_every_item_covered_exits_zero_and_lists_the_cases(tmp_path, documented, capsys):
    cases = write_cases(tmp_path, case("opens", ALL[:2]), case("errors", ALL[2:]))
    assert run(documented, cases) == 0
    out = capsys.readouterr().out
    assert "§2.1.4 AT+QIOPEN=?  [command_form]" in out
    assert "cases/some.yaml::opens" in out.replace(str(tmp_path) + "/", "")
    assert "7 documented items: 7 covered, 0 uncovered" in out


def test_an_uncovered_item_exits_non_zero_and_is_named(tmp_path, documented, capsys):
    cases = write_cases(tmp_path, case("opens", ALL[:3]))  # nothing cites §4 error 553
    assert run(documented, cases) == 1
    out = capsys.readouterr().out
    assert "§4 error 553  [error_code]  Memory not enough\n    UNCOVERED" in out
    assert "UNCOVERED (1): §4 error 553" in out
    assert "1 uncovered" in out


def test_uncovered_only_prints_just_the_missing(tmp_path, documented, capsys):
    cases = write_cases(tmp_path, case("opens", ALL[:3]))
    assert run(documented, cases, "--uncovered") == 1
    out = capsys.readouterr().out
    assert "§4 error 553" in out
    assert "§4 error 566  [" not in out


def test_a_skipped_case_covers_and_says_why(tmp_path, documented, capsys):
    cases = write_cases(tmp_path, case("opens", ALL[:3]),
                        case("no_memory", [ALL[3]], skip="no bench can exhaust the module's memory"))
    assert run(documented, cases) == 0
    out = capsys.readouterr().out
    assert "::no_memory  skipped: no bench can exhaust the module's memory" in out
    assert "covered only by skipped cases (1): §4 error 553" in out


def test_a_section_is_covered_through_its_items(tmp_path, documented):
    cases = write_cases(tmp_path, case("opens", ALL))
    cov = Coverage.build(load_documented(documented), [cases])
    by_id = cov.documented.by_id
    assert [c.via for c in cov.covering(by_id["2"])] == ["2.1.4 AT+QIOPEN=?"]
    assert cov.covering(by_id["2.1.4"])[0].case.endswith("::opens")
    # but an item is covered only by a citation of that very item
    only_section = write_cases(tmp_path, case("section", [f"{MANUAL} §2.1.4"]), name="other.yaml")
    cov = Coverage.build(load_documented(documented), [only_section / "other.yaml"])
    assert not cov.covering(cov.documented.by_id["2.1.4 AT+QIOPEN=?"])
    assert cov.covering(cov.documented.by_id["2.1.4"])


def test_a_citation_of_no_documented_item_is_an_error(tmp_path, documented, capsys):
    cases = write_cases(tmp_path, case("typo", [*ALL, f"{MANUAL} §2.1.4 AT+QIOPEN test"]))
    assert run(documented, cases) == 2
    err = capsys.readouterr().err
    assert "some.yaml:" in err and "case 'typo'" in err
    assert "§2.1.4 AT+QIOPEN test is not a documented item" in err
    assert "did you mean" in err


@pytest.mark.parametrize("source, problem", [
    (MANUAL, "names no section"),
    ("BG95 TCP/IP AT Commands Manual V1.0 §2.1.4", "is not a manual of this case's dialects"),
    (f"{MANUAL} § 2.1.4", "single-spaced, right after §"),
    (f"{MANUAL} §2.1.4  AT+QIOPEN=?", "single-spaced"),
    (f"{MANUAL} §chapter 4", "starts with a section number"),
])
def test_malformed_citations_are_errors(tmp_path, documented, capsys, source, problem):
    cases = write_cases(tmp_path, case("bad", [*ALL, source]))
    assert run(documented, cases) == 2
    assert problem in capsys.readouterr().err


def test_the_error_names_the_line_of_the_source(tmp_path, documented, capsys):
    text = case("good", ALL) + "---\n" + textwrap.dedent(f"""\
        title: bad one
        source:
          - {MANUAL} §4 error 566
          - {MANUAL} §4 error 999
        dialects: [bg96]
        transcript: |
          > AT
          < OK
        """)
    cases = write_cases(tmp_path, text)
    assert run(documented, cases) == 2
    lines = text.splitlines()
    expected = next(i for i, line in enumerate(lines, 1) if "error 999" in line)
    assert f"some.yaml:{expected}: case 'bad_one'" in capsys.readouterr().err


def test_a_malformed_case_file_is_an_error(tmp_path, documented, capsys):
    cases = write_cases(tmp_path, case("opens", ALL))
    (cases / "broken.yaml").write_text("title: x\nsource: y\n", encoding="utf-8")
    assert run(documented, cases) == 2
    assert "broken.yaml" in capsys.readouterr().err


def test_json_output(tmp_path, documented, capsys):
    cases = write_cases(tmp_path, case("opens", ALL))
    assert run(documented, cases, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    item = next(i for i in data["items"] if i["id"] == "4 error 566")
    assert item["covered_by"][0]["case"].endswith("::opens")


def test_the_cli_delegates(tmp_path, documented, capsys):
    cases = write_cases(tmp_path, case("opens", ALL[:1]))
    assert cli_main(["coverage", "bg96", "--documented", str(documented), "--cases", str(cases)]) == 1
    assert "UNCOVERED" in capsys.readouterr().out


def test_unknown_dialect(capsys):
    assert coverage_main(["nosuch"]) == 2
    assert "unknown dialect" in capsys.readouterr().err


def test_parse_citation():
    assert parse_citation(f"{MANUAL} §3.2.2 example", [MANUAL]) == (MANUAL, "3.2.2 example")
    assert parse_citation(f"{MANUAL} §2.1.4 AT+QIOPEN=?", [MANUAL]) == (MANUAL, "2.1.4 AT+QIOPEN=?")
    with pytest.raises(ValueError):
        parse_citation(f"{MANUAL}, §3.2", [MANUAL])


@pytest.mark.parametrize("mutation, problem", [
    ('  - {id: "4 error 566", kind: error_code, text: "again"}\n', "listed twice"),
    ('  - {id: "5 note", kind: behaviour, text: "x"}\n', "section 5 is not listed"),
    ('  - {id: "2.1.5", kind: command_form, text: "x"}\n', "only a section's is"),
    ('  - {id: "2.1.4 AT+QIRD", kind: thing, text: "x"}\n', "kind 'thing'"),
    ('  - {id: "2.1.4 AT+QIRD", kind: command_form}\n', "exactly id, kind and text"),
])
def test_a_malformed_documented_list_is_refused(tmp_path, mutation, problem):
    path = tmp_path / "documented.yaml"
    path.write_text(DOCUMENTED + mutation, encoding="utf-8")
    with pytest.raises(DocumentedError, match=problem):
        load_documented(path)


# -- the real list ---------------------------------------------------------------------------------------------------

def test_the_bg96_list_is_well_formed_and_matches_the_dialect():
    doc = load_documented(default_documented_path("bg96"), "bg96")
    bg96 = dialects.get("bg96")
    assert doc.manual in bg96.manuals
    codes = {int(i.key.split()[1]) for i in doc.items if i.kind == "error_code"}
    assert codes == {0} | {e.code for e in bg96.errors} == {0, *range(550, 575)}
    sections = {i.id for i in doc.items if i.kind == "section"}
    assert {f"2.1.{n}" for n in range(1, 18)} <= sections
    assert {f"2.2.{n}" for n in range(1, 6)} <= sections
    examples = {i.section for i in doc.items if i.kind == "example"}
    chapter3_leaves = {s for s in sections if s.startswith("3.") and not any(o.startswith(s + ".") for o in sections)}
    assert examples == chapter3_leaves | {"2.1.1"}
    urcs = {i.key for i in doc.items if i.kind == "urc"}
    assert urcs == {"urc closed", "urc recv buffer", "urc recv direct push", "urc recv udp service direct push",
                    "urc incoming full", "urc incoming", "urc pdpdeact", "urc dnsgip"}
    # every command of §2.1 has its test form
    for n in range(1, 18):
        assert any(i.section == f"2.1.{n}" and i.key.endswith("=?") for i in doc.items), f"§2.1.{n}"
