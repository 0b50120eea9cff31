"""Allure results for a case: labels from its metadata, a step per exchange with its timing, the transcripts and
the flight log attached, warnings for deviations that did not fail it; ``environment.properties`` and
``categories.json`` for the run.

Labels: epic = dialect, feature = manual, story = manual section, severity from the tags (:data:`SEVERITY_BY_TAG`),
and a tag per case tag (each is a marker of the item, which allure-pytest makes a tag); the suite tree is dialect >
manual > §section of the case's first source. Set as the case's setup ends, so a skipped case is filed like a run one.
Does nothing when allure-pytest is not installed or not enabled (no ``--alluredir``).
"""

from __future__ import annotations

import json
import platform
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from html import escape
from importlib import metadata
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from .. import dialects
from ..link import format_log
from ..reports.exchanges import reference_times
from ..reports.results import REPORTS_DIR, split_source
from ..reports.timing import timing_svg, wants_diagram
from ..transcript import Case, Record
from ..transcript.model import Action, SendData, SendLine

try:
    import allure
    from allure_commons.model2 import Label, Parameter, Status, StatusDetails, TestStepResult
    from allure_commons.types import AttachmentType
except ImportError:  # pragma: no cover - allure-pytest is a core dependency, but a bench may strip it
    allure = None

__all__ = ["SEVERITY_BY_TAG", "enabled", "environment_values", "report_case", "write_categories",
           "write_environment"]

# A case's severity is the highest its tags give (default normal). The manual's own examples are what host drivers
# are written against, and escape timing and binary data are where a host loses data or its connection.
SEVERITY_BY_TAG = {"example": "critical", "escape": "critical", "binary": "critical", "urc": "normal",
                   "command_form": "normal", "error_code": "normal", "line_end": "normal", "limit": "minor",
                   "slow": "normal"}
_SEVERITY_ORDER = ("trivial", "minor", "normal", "critical", "blocker")
_IMEI_KEY = re.compile(r"(^|\.)imei$")


def enabled(config: Any) -> bool:
    return allure is not None and bool(getattr(config.option, "allure_report_dir", None))


# -- labels, set at collection --------------------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Name, labels and description of a case's Allure result, set as its setup ends (after allure-pytest's own), so
    a case skipped before it runs is filed like one that ran."""
    yield
    if not enabled(item.config):
        return
    case, dialect = getattr(item, "case", None), getattr(item, "dialect", None)
    sources = [str(a) for mark in item.iter_markers("source") for a in mark.args]
    if not isinstance(case, Case) and not sources:
        return
    test = _current_test(item.config)
    if test is None:
        return
    if isinstance(case, Case):
        test.name = f"{case.title} [{dialect}]"
        test.description = _description(case)
        labels = case_labels(case, str(dialect))
    else:  # a Python conformance test citing the manual with @pytest.mark.source(...)
        marker = item.get_closest_marker("dialect")
        labels = source_labels(sources, str(marker.args[0]) if marker else "", ())
    test.labels.extend(Label(name=name, value=value) for name, value in labels)


def case_labels(case: Case, dialect: str) -> list[tuple[str, str]]:
    """The Allure labels of ``case`` run against ``dialect``."""
    return source_labels(case.sources, dialect, case.tags)


def source_labels(sources: Sequence[str], dialect: str, tags: Iterable[str]) -> list[tuple[str, str]]:
    """The Allure labels of a test citing ``sources``, run against ``dialect``, tagged ``tags``."""
    labels = [("epic", dialect), ("dialect", dialect), ("parentSuite", dialect)] if dialect else []
    first_manual, first_section = split_source(sources[0]) if sources else ("", "-")
    labels.append(("suite", first_manual))
    if first_section != "-":
        labels.append(("subSuite", f"§{first_section}"))
    for source in sources:
        manual, section = split_source(source)
        labels += [("feature", manual), ("manual", manual)]
        if section != "-":
            labels += [("story", f"§{section}"), ("section", section)]
    labels.append(("severity", _severity(tags)))  # the case's tags are tags already: allure-pytest makes a
    # tag of every marker without arguments, and each tag is a marker of the case's item
    seen: set[tuple[str, str]] = set()
    return [label for label in labels if not (label in seen or seen.add(label))]


def _severity(tags: Iterable[str]) -> str:
    ranks = [_SEVERITY_ORDER.index(SEVERITY_BY_TAG[t]) for t in tags if t in SEVERITY_BY_TAG]
    return _SEVERITY_ORDER[max(ranks)] if ranks else "normal"


def _description(case: Case) -> str:
    text = "\n".join(case.sources)
    text += f"\n\n{_where(case)}"
    return text + (f"\n\n{case.note}" if case.note else "")


# -- one case's run --------------------------------------------------------------------------------------------------

def report_case(case: Case, dialect: str, records: Sequence[Record], log_path: Path | None,
                redact: Callable[[str], str], *, transcript: str = "", module: Mapping[str, Any] | None = None,
                url: str = "", warnings: Sequence[Mapping[str, Any]] = (), peers: Mapping[str, Any] | None = None,
                config: Any = None) -> None:
    """Everything Allure shows of one case's run (call it from inside the test, while Allure's result is open).

    ``transcript`` is the matcher's expected-vs-observed table; ``module`` the module's description (model,
    revision ...) and ``url`` its port; ``warnings`` the deviations that did not fail the case; ``peers`` the case's
    action targets, whose recordings are attached as what each peer received.
    """
    if allure is None:
        return
    allure.dynamic.title(f"{case.title} [{dialect}]")
    module = module or {}
    for name, value in (("module", module.get("model")), ("firmware", module.get("firmware") or
                                                          module.get("revision")),
                        ("port", "simulated module (" + url + ")" if url.startswith("sim:") else url)):
        if value:
            allure.dynamic.parameter(name, redact(str(value)), excluded=True)  # firmware must not split a history
    allure.dynamic.description_html(_description_html(case, warnings, redact))
    reporter = _reporter(config)
    for title, rows, failed, t0, t1, after in _exchanges(records):
        _step(reporter, redact(title), "\n".join(redact(r) for r in rows), failed, t0, t1, after)
    if warnings:
        _warning_steps(reporter, warnings, redact)
    if transcript:
        allure.attach(redact(transcript), name="expected vs observed", attachment_type=AttachmentType.TEXT)
    allure.attach(redact(case.text), name="case file", attachment_type=AttachmentType.YAML)
    if log_path is not None and log_path.exists():
        allure.attach(redact("\n".join(format_log(log_path))), name="flight log", attachment_type=AttachmentType.TEXT)
        allure.attach.file(str(log_path), name="flight log (raw .atlog)", extension="atlog")
        if wants_diagram(case.steps):
            rules = dialects.get(dialect).escape
            svg = timing_svg(log_path, records, escape_rules=rules, title=f"{case.title} [{dialect}]")
            allure.attach(redact(svg), name="timing diagram", attachment_type=AttachmentType.SVG)
    received = peer_received(peers or {}, records[0].t_ns if records else None)
    if received:
        allure.attach(redact(received), name="peer received", attachment_type=AttachmentType.TEXT)


def peer_received(peers: Mapping[str, Any], t0_ns: int | None) -> str:
    """What each peer of the case received, arrival by arrival, with times from the case's first record."""
    from ..link import escape_bytes

    out: list[str] = []
    for name, peer in peers.items():
        recorder = getattr(peer, "recorder", None)
        arrivals = getattr(recorder, "arrivals", None)
        if not callable(arrivals):
            continue
        got = arrivals()
        out.append(f"# {name}: {len(got)} arrival(s), {sum(len(a.data) for a in got)} bytes")
        for a in got:
            stamp = f"{(a.t_ns - t0_ns) / 1e9:+.6f}s" if t0_ns is not None else ""
            source = f" from {a.source[0]}:{a.source[1]}" if a.source else ""
            conn = f" conn {a.conn}" if a.conn else ""
            out.append(f"{stamp}{conn}{source}  {escape_bytes(a.data)}")
    return "\n".join(out)


def _description_html(case: Case, warnings: Sequence[Mapping[str, Any]], redact: Callable[[str], str]) -> str:
    parts = ["<p>" + "<br>".join(escape(s) for s in case.sources) + "</p>",
             f"<p><code>{escape(_where(case))}</code></p>"]
    if case.note:
        parts.append(f"<p>{escape(case.note)}</p>")
    if warnings:
        rows = "".join(f"<li><b>{escape(w['kind'])}</b>{_at(w)}: <code>{escape(redact(str(w['text'])))}</code></li>"
                       for w in warnings)
        parts.append("<div style='border-left:4px solid #e0a800;background:#fff8e1;padding:4px 10px'>"
                     f"<b>{len(warnings)} warning(s): deviations that did not fail the case</b><ul>{rows}</ul></div>")
    return "\n".join(parts)


def _where(case: Case) -> str:
    """The case's file (relative to the working folder when it is below it) and line."""
    path = Path(case.location.path)
    try:
        path = path.resolve().relative_to(Path.cwd())
    except (ValueError, OSError):
        pass
    return f"{path}:{case.location.line}"


def _at(warning: Mapping[str, Any]) -> str:
    return f" (line {warning['line']})" if warning.get("line") else ""


def _exchanges(records: Sequence[Record]) -> list[tuple[str, list[str], bool, int, int, float | None]]:
    """Group records: each host line or peer action opens an exchange that runs to the next one. Each group has its
    title, rows, whether it failed, its first and last time, and how long the last answer took."""
    groups: list[tuple[str, list[str], bool, int, int, float | None]] = []
    for rec, ref in zip(records, reference_times(records)):
        opens = rec.step is not None and (isinstance(rec.step, (SendLine, SendData, Action)) or rec.step.marker == "!")
        after = (rec.t_ns - ref) / 1e9 if ref is not None and rec.status != "sent" else None
        line = f"{rec.step.source if rec.step else '':<50} | {rec.observed}" + (
            f"  (+{after:.3f} s)" if after is not None else "") + (f"  {rec.detail}" if rec.detail else "")
        if opens or not groups:
            title = rec.step.source if rec.step is not None else rec.observed
            groups.append((title, [line], rec.status == "fail", rec.t_ns, rec.t_ns, None))
        else:
            title, rows, failed, t0, _, last_after = groups[-1]
            rows.append(line)
            groups[-1] = (title, rows, failed or rec.status == "fail", t0, rec.t_ns,
                          after if after is not None else last_after)
    return groups


def _step(reporter: Any, title: str, body: str, failed: bool, t0_ns: int, t1_ns: int, after: float | None,
          status: str | None = None) -> None:
    """One step with its real start and stop (from the records' monotonic times) and its rows attached."""
    status = status or (Status.FAILED if failed else Status.PASSED)
    if reporter is None:  # an Allure without the reporter we know: steps still show, stamped now
        with allure.step(title):
            allure.attach(body, name="exchange", attachment_type=AttachmentType.TEXT)
        return
    offset_ms = time.time() * 1000 - time.monotonic_ns() / 1e6
    uuid = str(uuid4())
    params = [Parameter(name="answered after", value=f"{after:.3f} s")] if after is not None else []
    start = int(t0_ns / 1e6 + offset_ms)
    stop = max(int(t1_ns / 1e6 + offset_ms), start + 1)  # a step that took no time still shows
    step = TestStepResult(name=title, start=start, parameters=params)
    reporter.start_step(None, uuid, step)
    reporter.attach_data(str(uuid4()), body, name="exchange", attachment_type=AttachmentType.TEXT, parent_uuid=uuid)
    reporter.stop_step(uuid, stop=stop, status=status, statusDetails=StatusDetails(message=title) if failed else None)


def _warning_steps(reporter: Any, warnings: Sequence[Mapping[str, Any]], redact: Callable[[str], str]) -> None:
    """A step per warning, marked broken (Allure's yellow) so it stands out; the case's own status is untouched."""
    now = time.monotonic_ns()
    for w in warnings:
        title = f"warning (did not fail the case): {w['kind']}{_at(w)}"
        _step(reporter, title, redact(str(w["text"])), False, now, now, None, status=Status.BROKEN)


def _reporter(config: Any) -> Any:
    """allure-pytest's reporter, to give steps their real times; None if it cannot be found."""
    listener = config.pluginmanager.get_plugin("allure_listener") if config is not None else None
    return getattr(listener, "allure_logger", None)


def _current_test(config: Any) -> Any:
    reporter = _reporter(config)
    return reporter.get_test(None) if reporter is not None else None


# -- the run ----------------------------------------------------------------------------------------------------------

def environment_values(modules: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``environment.properties`` entries for the run's modules (model, firmware, IMEI's last 4 digits, port), the
    manuals they are held to, the host and the suite's version."""
    values = {"host": platform.node(), "suite.version": _version(), "python": platform.python_version()}
    for module in modules:
        prefix = str(module.get("dialect") or "module")
        for key in ("model", "revision", "firmware", "imei", "url"):
            if module.get(key):
                values[f"{prefix}.{key}"] = str(module[key])
        try:
            dialect = dialects.get(prefix)
        except KeyError:
            continue
        values[f"{prefix}.manuals"] = " / ".join(dialect.manuals) + (
            f" (times of revision {dialect.revision})" if dialect.revision else "")
    return values


def write_environment(alluredir: str, values: Mapping[str, str]) -> None:
    """Allure's environment.properties: merged into what the run wrote there already, the IMEI cut to its last 4
    digits whoever gives it."""
    path = Path(alluredir)
    path.mkdir(parents=True, exist_ok=True)
    file = path / "environment.properties"
    merged: dict[str, str] = {}
    if file.exists():
        for line in file.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                merged[key] = value
    merged.update({k.replace(" ", "."): str(v) for k, v in values.items()})
    for key, value in merged.items():
        if _IMEI_KEY.search(key):
            merged[key] = redact_imei(value)
    lines = [f"{k}={_property(v)}" for k, v in sorted(merged.items())]
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")


def redact_imei(value: str) -> str:
    """An IMEI (or what stands for one) with all but its last 4 digits masked: ``***********0001``."""
    if "*" in value:  # masked already
        return value
    digits = re.sub(r"\D", "", value)
    return "*" * max(len(digits) - 4, 0) + digits[-4:] if digits else value


def write_categories(alluredir: str, source: Path | None = None) -> None:
    """Copy the suite's failure categories (``reports/categories.json``) into the Allure results."""
    file = source or REPORTS_DIR / "categories.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    path = Path(alluredir)
    path.mkdir(parents=True, exist_ok=True)
    entries = [{k: v for k, v in c.items() if k != "description"} for c in data]  # Allure's own keys only
    (path / "categories.json").write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")


def _property(value: str) -> str:
    """A value as a .properties line holds it: backslashes doubled, line ends escaped."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _version() -> str:
    try:
        return metadata.version("quectel-conformance")
    except metadata.PackageNotFoundError:
        return "unknown"
