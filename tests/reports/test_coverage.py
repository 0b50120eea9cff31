"""``conformance coverage``: documented items, citations in case files, and the exit status."""

from __future__ import annotations

import json
import re
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


# -- several documents, and where they disagree ----------------------------------------------------------------------

AN = "GSM TCPIP Application Notes V1.1"
V20 = "GSM TCP/IP Recommended Process V2.0"
V11 = "GSM TCP/IP Recommended Process V1.1"

SEVERAL = f"""\
dialect: m95
manuals:
  - manual: {AN}
    items:
      - {{id: "5", kind: section, text: "Related configuration"}}
      - {{id: "5.5", kind: section, text: "Deactivate PDP context"}}
      - {{id: "5.5 example", kind: example, text: "AT+QIDEACT -> DEACT OK, up to about 2.5 minutes"}}
  - manual: {V20}
    items:
      - {{id: "9", kind: section, text: "TCP/IP Recommended Process"}}
      - id: "9 timeouts"
        kind: procedure
        text: "Reboot if AT+QIDEACT has no response in 40 s"
        differs:
          - {{manual: {V11}, id: "9 timeouts", text: "AT+QIDEACT 90 s"}}
          - {{manual: {AN}, text: "about 2.5 minutes (no reboot rule)"}}
  - manual: {V11}
    items:
      - {{id: "9", kind: section, text: "TCPIP Recommended Process Flow Chart"}}
      - {{id: "9 timeouts", kind: procedure, text: "Reboot if AT+QIDEACT has no response in 90 s"}}
"""


def m95_case(name: str, sources: list[str]) -> str:
    return yaml.safe_dump({"title": name.replace("_", " "), "name": name, "source": sources, "dialects": ["m95"],
                           "transcript": "> AT\n< OK\n"}, sort_keys=False)


@pytest.fixture
def several(tmp_path: Path) -> Path:
    path = tmp_path / "several.yaml"
    path.write_text(SEVERAL, encoding="utf-8")
    return path


def run_m95(documented: Path, cases: Path, *extra: str) -> int:
    return coverage_main(["m95", "--documented", str(documented), "--cases", str(cases), *extra])


def test_each_item_belongs_to_its_document(several, tmp_path):
    doc = load_documented(several, "m95")
    assert doc.manuals == [AN, V20, V11]
    assert doc.by_ref[(V20, "9 timeouts")].text.endswith("40 s")
    assert doc.by_ref[(V11, "9 timeouts")].text.endswith("90 s")
    # the same id in two documents: citing one covers that one only
    cases = write_cases(tmp_path, m95_case("newer", [f"{V20} §9 timeouts"]))
    cov = Coverage.build(doc, [cases])
    assert cov.covering(doc.by_ref[(V20, "9 timeouts")])
    assert not cov.covering(doc.by_ref[(V11, "9 timeouts")])
    assert [c.via for c in cov.covering(doc.by_ref[(V20, "9")])] == ["9 timeouts"]
    assert not cov.covering(doc.by_ref[(V11, "9")])


def test_several_documents_report_each_and_fail_until_all_are_covered(several, tmp_path, capsys):
    cases = write_cases(tmp_path, m95_case("newer", [f"{V20} §9 timeouts", f"{AN} §5.5 example"]))
    assert run_m95(several, cases) == 1
    out = capsys.readouterr().out
    assert f"== {AN}" in out and f"== {V20}" in out and f"== {V11}" in out
    assert out.index(f"== {V20}") < out.index("§9 timeouts  [procedure]  Reboot if AT+QIDEACT has no response in 40 s")
    assert f"by document: {AN} 3/3, {V20} 2/2, {V11} 0/2" in out
    assert f"UNCOVERED (2): {V11}: §9, §9 timeouts" in out
    cases = write_cases(tmp_path, m95_case("older", [f"{V11} §9 timeouts"]), name="older.yaml")
    assert run_m95(several, cases) == 0


def test_a_disagreement_is_shown_under_both_items(several, tmp_path, capsys):
    cases = write_cases(tmp_path, m95_case("none", [f"{AN} §5"]))
    run_m95(several, cases)
    out = capsys.readouterr().out
    newer = out[out.index("§9 timeouts  [procedure]  Reboot if AT+QIDEACT has no response in 40 s"):]
    assert newer.splitlines()[1:3] == [f"    differs: {V11} §9 timeouts: AT+QIDEACT 90 s",
                                       f"    differs: {AN}: about 2.5 minutes (no reboot rule)"]
    older = out[out.index("§9 timeouts  [procedure]  Reboot if AT+QIDEACT has no response in 90 s"):]
    assert older.splitlines()[1] == f"    differs: {V20} §9 timeouts: Reboot if AT+QIDEACT has no response in 40 s"
    assert "disagreements between the documents: 1 item(s)" in out


def test_several_documents_as_json(several, tmp_path, capsys):
    cases = write_cases(tmp_path, m95_case("newer", [f"{V20} §9 timeouts"]))
    assert run_m95(several, cases, "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["manuals"] == [AN, V20, V11]
    item = next(i for i in data["items"] if i["manual"] == V20 and i["id"] == "9 timeouts")
    assert item["differs"][0] == {"manual": V11, "id": "9 timeouts", "text": "AT+QIDEACT 90 s"}
    assert item["covered_by"][0]["case"].endswith("::newer")


def test_a_citation_names_its_document(several, tmp_path, capsys):
    # §5.5 example is an item of the application note, not of the recommended process
    cases = write_cases(tmp_path, m95_case("wrong_document", [f"{V20} §5.5 example"]))
    assert run_m95(several, cases) == 2
    err = capsys.readouterr().err
    assert f"§5.5 example is not a documented item of {V20}" in err


@pytest.mark.parametrize("mutation, problem", [
    (SEVERAL.replace(f'manual: {V11}, id: "9 timeouts"', f'manual: {V11}, id: "9 reboot"'),
     "§9 reboot is not an item of the list"),
    (SEVERAL.replace(f'{{manual: {AN}, text:', '{manual: Some Other Note, text:'),
     "'Some Other Note' is not a manual of this list"),
    (SEVERAL.replace(', text: "AT+QIDEACT 90 s"', ''), "differs gives manual and text"),
    (SEVERAL.replace(f"  - manual: {V11}", f"  - manual: {AN}"), "listed twice"),
    (SEVERAL.replace("manuals:", "manual: x\nmanuals:"), "manual and items (one document) or manuals"),
])
def test_a_malformed_list_of_several_documents_is_refused(tmp_path, mutation, problem):
    path = tmp_path / "several.yaml"
    path.write_text(mutation, encoding="utf-8")
    with pytest.raises(DocumentedError, match=re.escape(problem)):
        load_documented(path)


def test_a_manual_the_dialect_does_not_have_is_refused(tmp_path, capsys):
    path = tmp_path / "several.yaml"
    path.write_text(SEVERAL.replace(V11, "GSM TCP/IP Recommended Process V9.9"), encoding="utf-8")
    assert run_m95(path, write_cases(tmp_path, m95_case("x", [f"{AN} §5"]))) == 2
    assert "'GSM TCP/IP Recommended Process V9.9' is not one of the m95 dialect's" in capsys.readouterr().err


# -- the real M95 list -----------------------------------------------------------------------------------------------

def test_the_m95_list_is_well_formed_and_matches_the_dialect():
    doc = load_documented(default_documented_path("m95"), "m95")
    m95 = dialects.get("m95")
    assert doc.manuals == list(m95.manuals) == [AN, V20, V11]
    sections = {m: [i.id for i in doc.of(m) if i.kind == "section"] for m in doc.manuals}
    assert sections[AN] == ["2", "2.1", "2.2", "3", "3.1", "3.2", "3.3", "3.4", "4", "4.1", "4.2", "5", "5.1", "5.2",
                            "5.2.1", "5.2.1.1", "5.2.1.2", "5.2.1.3", "5.2.2", "5.3", "5.3.1", "5.3.2", "5.4", "5.5",
                            "5.6", "5.6.1", "5.6.2", "6", "6.1", "6.2", "6.3", "7", "7.1", "7.2", "8", "8.1", "8.2",
                            "9"]
    assert sections[V20] == ["2", "3", "3.1", "3.2", "4", "4.1", "4.2", "5", "5.1", "5.2", "6", "7", "8", "8.1", "8.2",
                             "9"]
    assert sections[V11] == ["2", "3", "4", "4.1", "4.2", "5", "5.1", "5.2", "6", "7", "8", "8.1", "8.2", "9"]
    # every leaf section shows at least one example, but for §2.1, §2.2 and §5.6.1 of the application note (their
    # figures lost), its §7.1 (text only), and §9 of both recommended processes (a flow chart and its notes)
    for manual in doc.manuals:
        leaves = [s for s in sections[manual] if not any(o.startswith(s + ".") for o in sections[manual])]
        without = {s for s in leaves if not any(i.kind == "example" and i.section == s for i in doc.of(manual))}
        assert without == {AN: {"2.1", "2.2", "5.6.1", "7.1"}, V20: {"9"}, V11: {"9"}}[manual], manual
    # every state of the stack has its item; every error analysis of AT+QIOPEN is there in both revisions
    states = {i.key.removeprefix("state ") for i in doc.of(AN) if i.key.startswith("state ")}
    from conformance.dialects import m95 as m95_data
    assert states == set(m95_data.STATES)
    analyses = {"error format", "error state tcp connecting", "error state other", "already connect",
                "connect fail tcp connecting", "connect fail other", "qideact wait"}
    assert {i.key for i in doc.of(V20) if i.section == "3.1"} >= analyses
    assert {i.key for i in doc.of(V11) if i.section == "3"} >= analyses


def test_the_m95_response_times_are_the_documented_ones():
    doc = load_documented(default_documented_path("m95"), "m95")
    m95 = dialects.get("m95")
    assert m95.revision == "V2.0" and set(m95.revisions) == {"V2.0", "V1.1"}
    for revision, manual in (("V2.0", V20), ("V1.1", V11)):
        held = m95.with_revision(revision)
        rule = doc.by_ref[(manual, "9 timeouts")].text
        for command in ("AT+QIACT", "AT+QIDEACT", "AT+QICLOSE"):
            timing = held.response_time(command)
            assert timing.source.startswith(manual)
            written = f"{timing.seconds * 1000:g} ms" if timing.seconds < 1 else f"{timing.seconds:g} s"
            assert command in rule and written in rule, (revision, command, written)
    assert m95.with_revision("V1.1").response_time("AT+QIOPEN=\"TCP\",\"1.2.3.4\",80").seconds == 90
    assert m95.response_time("AT+QIOPEN=\"TCP\",\"1.2.3.4\",80").seconds == 60  # V2.0 gives none: any command's 60 s


def test_m95_coverage_without_cases_lists_everything_uncovered(tmp_path, capsys):
    empty = tmp_path / "cases"
    empty.mkdir()
    assert coverage_main(["m95", "--cases", str(empty)]) == 1
    out = capsys.readouterr().out
    doc = load_documented(default_documented_path("m95"), "m95")
    assert f"{len(doc.items)} documented items: 0 covered, {len(doc.items)} uncovered" in out
