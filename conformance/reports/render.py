"""The Allure HTML report of a run, generated and looked at for real: ``conformance report render RUN_DIR``.

1. The Allure command line (npm's ``allure-commandline``, which runs on Java) generates ``RUN_DIR/allure-report/``
   from ``RUN_DIR/allure-results/`` (and a single-file copy, ``allure-report-single/index.html``, to hand over).
2. Headless Chromium (Debian's ``chromium``) opens the report from a server on 127.0.0.1 and takes screenshots: the
   suites tree opened at one case (a failing one if there is one), and that case with its expected-vs-observed
   transcript open (and its timing diagram, if it has one). The page's DOM is checked too: the case list shows the
   cases' names, and the attachment shows its text.
3. Screenshots go to ``RUN_DIR/allure-*.png``.

What is missing is installed when it can be (``apt-get install chromium default-jre-headless`` as root, ``npm install``
into a cache folder, ``$CONFORMANCE_TOOLS_DIR`` or ``~/.cache/quectel-conformance``); otherwise a :class:`RenderError`
says what is missing and how to get it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["ALLURE_PACKAGE", "RenderError", "RenderResult", "missing_tools", "render"]

ALLURE_PACKAGE = "allure-commandline@2.46.1"  # Allure 2's command line, packaged for npm (needs Java 8+)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1400,1000", "--virtual-time-budget=15000")
_STEP_TIMEOUT_S = 300


class RenderError(RuntimeError):
    """The report could not be rendered: what is missing or what failed, and how to fix it."""


@dataclass
class RenderResult:
    """What was rendered and checked."""

    report: Path
    single_file: Path | None
    screenshots: list[Path] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok in self.checks)

    def lines(self) -> list[str]:
        out = [f"report: {self.report / 'index.html'}"]
        if self.single_file is not None:
            out.append(f"single file: {self.single_file}")
        out += [f"screenshot: {p}" for p in self.screenshots]
        out += [f"{'ok ' if ok else 'FAILED'}  {what}" for what, ok in self.checks]
        return out


def tools_dir() -> Path:
    return Path(os.environ.get("CONFORMANCE_TOOLS_DIR") or Path.home() / ".cache" / "quectel-conformance")


def _allure_bin() -> Path:
    return tools_dir() / ALLURE_PACKAGE.replace("@", "-") / "node_modules" / ".bin" / "allure"


def missing_tools() -> list[str]:
    """What rendering needs and this machine lacks (nothing is installed): names a test can skip with."""
    missing = []
    if not shutil.which("java"):
        missing.append("java (apt-get install default-jre-headless)")
    if not _allure_bin().exists():
        missing.append(f"the Allure command line ({ALLURE_PACKAGE} in {tools_dir()}; `conformance report render` "
                       "installs it with npm)")
    if not _chromium():
        missing.append("chromium (apt-get install chromium)")
    return missing


def render(run_dir: str | Path, *, install: bool = True) -> RenderResult:
    """Generate the Allure report of the run in ``run_dir``, open it in headless Chromium and check what it shows."""
    run = Path(run_dir)
    results = run / "allure-results"
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise RenderError(f"{results}: no Allure results (run the cases with --alluredir={results}, as "
                          "`make conformance` does)")
    allure = _ensure_allure(install)
    chromium = _ensure_chromium(install)
    report = run / "allure-report"
    _run([str(allure), "generate", "--clean", "-o", str(report), str(results)], "allure generate")
    single = run / "allure-report-single"
    _run([str(allure), "generate", "--clean", "--single-file", "-o", str(single), str(results)],
         "allure generate --single-file")
    out = RenderResult(report, single / "index.html" if (single / "index.html").exists() else None)
    test, group = _pick_case(report)
    with _serve(report) as base, tempfile.TemporaryDirectory(prefix="conformance-chromium-") as profile:
        browser = _Chromium(chromium, Path(profile))
        suites_url = f"{base}/index.html#suites/{group}/{test['uid']}/" if group else f"{base}/index.html#suites"
        shot = run / "allure-suites.png"
        browser.screenshot(suites_url, shot)
        out.screenshots.append(shot)
        names = _sibling_names(report, group) or [test["name"]]
        dom = browser.dom_until(suites_url, lambda d: all(n in d for n in [*names, test["name"]]))
        shown = [n for n in names if n in dom]
        out.checks.append((f"the case list shows the cases' names ({len(shown)} of {len(names)} in the opened "
                           "suite)", len(shown) == len(names)))
        out.checks.append((f"the case {test['name']!r} ({test['status']}) opens beside the list", test["name"] in dom))
        for name, file in (("expected vs observed", "allure-failure.png" if test["status"] in ("failed", "broken")
                            else "allure-case.png"), ("timing diagram", "allure-timing.png")):
            attachment = _attachment(test, name)
            if attachment is None:
                if name == "expected vs observed":
                    out.checks.append((f"the case has an attachment {name!r}", False))
                continue
            url = f"{base}/index.html#testresult/{test['uid']}?attachment={attachment['uid']}"
            shot = run / file
            browser.screenshot(url, shot)
            out.screenshots.append(shot)
            if attachment.get("type", "").startswith("text/"):
                text = (report / "data" / "attachments" / attachment["source"]).read_text(encoding="utf-8",
                                                                                          errors="replace")
                line = next((x.strip() for x in text.splitlines() if x.strip()), "")
                dom = browser.dom_until(url, lambda d, line=line: line[:40] in d)
                out.checks.append((f"the attachment {name!r} of {test['name']!r} shows its text ({line[:50]!r})",
                                   line[:40] in dom))
    return out


def _pick_case(report: Path) -> tuple[dict[str, Any], str]:
    """A failing case (one with a transcript first) if there is one, else one with a timing diagram, else the first;
    and its group in the tree."""
    cases = []
    for path in sorted((report / "data" / "test-cases").glob("*.json")):
        cases.append(json.loads(path.read_text(encoding="utf-8")))
    if not cases:
        raise RenderError(f"{report}: the generated report has no test cases")

    def rank(case: dict[str, Any]) -> int:
        transcript = _attachment(case, "expected vs observed") is not None
        if case.get("status") in ("failed", "broken"):  # a non-conformance before a case file that could not run
            return (0 if case["status"] == "failed" else 1) + (0 if transcript else 2)
        return 4 if _attachment(case, "timing diagram") else 5 if transcript else 6

    chosen = min(cases, key=rank)
    return chosen, _group_of(report, chosen["uid"]) or ""


def _attachment(case: dict[str, Any], name: str) -> dict[str, Any] | None:
    stage = case.get("testStage") or {}
    return next((a for a in stage.get("attachments", []) if a.get("name") == name), None)


def _tree(report: Path) -> dict[str, Any]:
    return json.loads((report / "data" / "suites.json").read_text(encoding="utf-8"))


def _group_of(report: Path, uid: str) -> str | None:
    def walk(node: dict[str, Any]) -> str | None:
        for child in node.get("children", []):
            if child.get("uid") == uid and "children" not in child:
                return node.get("uid")
            found = walk(child) if "children" in child else None
            if found:
                return found
        return None

    return walk(_tree(report))


def _sibling_names(report: Path, group: str) -> list[str]:
    """The names of the cases in the tree's group ``group`` (what the opened suite lists)."""
    def find(node: dict[str, Any]) -> dict[str, Any] | None:
        if node.get("uid") == group:
            return node
        for child in node.get("children", []):
            hit = find(child)
            if hit is not None:
                return hit
        return None

    node = find(_tree(report)) if group else None
    return [c["name"] for c in (node or {}).get("children", []) if "children" not in c]


# -- tools -----------------------------------------------------------------------------------------------------------

def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _can_apt() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_install(*packages: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", "install", "-y", "-q", *packages], capture_output=True, text=True, env=env,
                          timeout=900)
    if done.returncode != 0:  # a fresh machine's package lists may be stale or empty
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env, timeout=600)
        done = subprocess.run(["apt-get", "install", "-y", "-q", *packages], capture_output=True, text=True, env=env,
                              timeout=900)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RenderError(f"apt-get install {' '.join(packages)} failed: {' | '.join(tail)}")


def _ensure_chromium(install: bool) -> str:
    found = _chromium()
    if found:
        return found
    if not install or not _can_apt():
        raise RenderError("chromium is not installed: apt-get install chromium (Debian's package; headless Chromium "
                          "opens the report)")
    _apt_install("chromium")
    found = _chromium()
    if not found:
        raise RenderError("apt-get installed chromium, but no chromium command is on PATH")
    return found


def _ensure_allure(install: bool) -> Path:
    if not shutil.which("java"):
        if not install or not _can_apt():
            raise RenderError("java is not installed: the Allure command line runs on Java (apt-get install "
                              "default-jre-headless)")
        _apt_install("default-jre-headless")
    allure = _allure_bin()
    if allure.exists():
        return allure
    if not install:
        raise RenderError(f"the Allure command line is not installed: npm install --prefix {allure.parents[2]} "
                          f"{ALLURE_PACKAGE}")
    if not shutil.which("npm"):
        if not _can_apt():
            raise RenderError("npm is not installed (Node.js's package manager), so the Allure command line cannot be "
                              "installed: apt-get install npm")
        _apt_install("npm")
    prefix = allure.parents[2]
    prefix.mkdir(parents=True, exist_ok=True)
    _run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), ALLURE_PACKAGE],
         f"npm install {ALLURE_PACKAGE}")
    if not allure.exists():
        raise RenderError(f"npm installed {ALLURE_PACKAGE}, but {allure} is not there")
    return allure


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RenderError(f"{what} did not finish within {_STEP_TIMEOUT_S} s") from None
    except OSError as exc:
        raise RenderError(f"{what} could not run: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RenderError(f"{what} exited with status {done.returncode}: {' | '.join(tail)}")
    return done.stdout


class _Chromium:
    """Headless Chromium with a fresh profile: a screenshot of a page, or its DOM once its scripts have run."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.binary, self.profile = binary, profile

    def _argv(self, *extra: str) -> list[str]:
        return [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", *extra]

    def screenshot(self, url: str, path: Path) -> None:
        path.unlink(missing_ok=True)
        _run(self._argv(f"--screenshot={path}", url), f"chromium --screenshot {url}")
        if not path.exists() or path.stat().st_size == 0:
            raise RenderError(f"chromium wrote no screenshot of {url}")

    def dom(self, url: str) -> str:
        """The page's DOM as text (HTML entities resolved), once its scripts have run."""
        return unescape(_run(self._argv("--dump-dom", url), f"chromium --dump-dom {url}"))

    def dom_until(self, url: str, shows: Callable[[str], bool], tries: int = 3) -> str:
        """The DOM of a page that loads its data from the server: asked again (up to ``tries`` times) while it does
        not show what is expected yet, as a loaded machine may be slow to serve it."""
        dom = ""
        for _ in range(tries):
            dom = self.dom(url)
            if shows(dom):
                break
        return dom


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the base class names it format
        pass


@contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """The folder over HTTP on 127.0.0.1 (the report loads its data with requests a file:// page may not make)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="report-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
