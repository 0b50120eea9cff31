"""What a run leaves for the reports: results.json, and Allure results a vendor can read a failure in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.reports.results import load_run
from conftest import Runs, line_of


def _allure(run: Path) -> dict[str, dict[str, Any]]:
    results = [json.loads(p.read_text()) for p in (run / "allure-results").glob("*-result.json")]
    return {r["name"]: r for r in results}


def test_results_json_holds_every_verdict_with_its_category_and_reason(two_runs: Runs) -> None:
    run = load_run(two_runs.a)
    verdicts = {c.name or c.file: c.verdict for c in run.cases}
    assert verdicts == {"activate": "passed", "state": "passed", "dns_config": "passed", "open": "failed",
                        "deactivate": "passed", "viewmode": "passed", "skipped": "skipped",
                        "needs_peer": "skipped", "broken.yaml": "broken"}
    cases = {c.name: c for c in run.cases}
    assert cases["open"].category == "Wrong result code"
    assert "+QIOPEN: 0,566" in cases["open"].message
    assert cases["open"].where == f"cases/bg96/reports.yaml:{line_of('title: open refused')}"
    assert cases["skipped"].message == "the module's memory cannot be filled on demand"
    assert "does not provide 'tcp_echo'" in cases["needs_peer"].message
    broken = next(c for c in run.cases if c.verdict == "broken")
    assert broken.category == "Case file error"
    b = {c.name: c for c in load_run(two_runs.b).cases}
    assert b["deactivate"].verdict == "failed" and b["deactivate"].category == "Timing violation"
    module = run.modules[0]
    assert (module["model"], module["revision"]) == ("BG96", "BG96MAR02A07M1G")
    assert run.meta["manuals"] == {"bg96": ["BG96 TCP/IP AT Commands Manual V1.0"]}


def test_deviations_that_did_not_fail_are_warnings_on_the_case(two_runs: Runs) -> None:
    a = {c.name: c for c in load_run(two_runs.a).cases}
    assert [w["kind"] for w in a["viewmode"].warnings] == ["final result code without its line end"]
    assert [(w["kind"], w["text"]) for w in a["activate"].warnings] == [("unexpected URC", '+QIURC: "pdpdeact",1')]
    b = {c.name: c for c in load_run(two_runs.b).cases}
    slow = [w for w in b["dns_config"].warnings if w["kind"] == "slower than typical"]
    assert len(slow) == 1 and slow[0]["line"] == line_of("> AT+QIDNSCFG") + 1 and slow[0]["seconds"] >= 0.5
    assert not [w for w in a["dns_config"].warnings if w["kind"] == "slower than typical"]
    viewmode = _allure(two_runs.a)["view mode [bg96]"]
    assert viewmode["status"] == "passed"
    assert "result code without its line end" in viewmode["descriptionHtml"]
    warning_steps = [s for s in viewmode["steps"] if s["name"].startswith("warning")]
    assert [s["status"] for s in warning_steps] == ["broken"]  # Allure's yellow; the case stays passed


def test_allure_labels_parameters_timed_steps_and_attachments(two_runs: Runs) -> None:
    results = _allure(two_runs.a)
    failed = results["open refused [bg96]"]
    assert failed["status"] == "failed"
    labels = {(label["name"], label["value"]) for label in failed["labels"]}
    assert {("epic", "bg96"), ("feature", "BG96 TCP/IP AT Commands Manual V1.0"), ("story", "§2.1.4"),
            ("severity", "normal"), ("tag", "error_code")} <= labels
    assert ("severity", "critical") in {(lab["name"], lab["value"]) for lab in results["activate a context [bg96]"]
                                        ["labels"]}
    assert failed["description"].startswith("BG96 TCP/IP AT Commands Manual V1.0 §2.1.4")
    params = {p["name"]: p["value"] for p in failed["parameters"]}
    assert params["module"] == "'BG96'" and params["firmware"] == "'BG96MAR02A07M1G'"
    assert "/dev/pts/" in params["port"]
    (step,) = [s for s in failed["steps"] if s["name"].startswith(">")]
    assert step["status"] == "failed" and step["start"] <= step["stop"]
    assert step["parameters"][0]["name"] == "answered after"
    names = [a["name"] for a in failed["attachments"]]
    assert {"expected vs observed", "case file", "flight log", "flight log (raw .atlog)"} <= set(names)
    table = (two_runs.a / "allure-results" / next(a["source"] for a in failed["attachments"]
                                                  if a["name"] == "expected vs observed")).read_text()
    assert "+QIOPEN: 0,566" in table and "FAILED" in table
    skipped = results["a path no bench provokes [bg96]"]  # filed like a case that ran
    assert skipped["status"] == "skipped" and ("story", "§2.1.4") in {(lab["name"], lab["value"])
                                                                      for lab in skipped["labels"]}


def test_allure_environment_and_categories(two_runs: Runs) -> None:
    allure = two_runs.a / "allure-results"
    env = dict(line.split("=", 1) for line in (allure / "environment.properties").read_text().splitlines())
    assert env["bg96.model"] == "BG96" and env["bg96.revision"] == "BG96MAR02A07M1G"
    assert env["bg96.manuals"] == "BG96 TCP/IP AT Commands Manual V1.0"
    assert env["suite.version"] and env["host"]
    categories = [c["name"] for c in json.loads((allure / "categories.json").read_text())]
    assert {"Timing violation", "Wrong result code", "Missing URC", "Unexpected URC", "Byte mismatch at the peer",
            "Module unresponsive", "Case file error"} <= set(categories)
    broken = next(r for r in _allure(two_runs.a).values() if r["status"] == "broken")
    assert "CaseFileError" in broken["statusDetails"]["message"]  # what the "Case file error" category matches
