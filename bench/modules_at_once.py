#!/usr/bin/env python3
"""How many simulated modules one machine tests at once before an escape-timing case fails. Prints figures, judges
nothing.

For N = 1, 2, 4, ... (up to ``--max``), N test runs start together, each with a simulated BG96 of its own (one
simulator process and one pytest process per module, as ``pytest -n N`` gives each worker its module), each running
the escape-timing cases (``cases/bg96/escape_timing.yaml``: guard times of 1 s before and after ``+++``, ``+``
typed 300 ms and 600 ms apart, DTR). The largest N at which every case of every run passed is the answer; the first
N with a failure is shown with what failed. Each step also prints its wall time and the machine's load.

Run: .venv/bin/python bench/modules_at_once.py [--max 32] [--steps 1,2,4,8,12,16,24,32] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = "cases/bg96/escape_timing.yaml"


def run_step(n: int, out: Path) -> tuple[int, int, list[str], float]:
    """N runs at once; (passed, failed, failures, wall seconds)."""
    started = time.monotonic()
    procs = []
    for i in range(n):
        junit = out / f"n{n}-{i}.xml"
        cmd = [sys.executable, "-m", "pytest", CASES, "-q", "-p", "no:cacheprovider", "--peer-netns", "off",
               "--results-dir", str(out), "--run-name", f"n{n}-{i}", f"--junitxml={junit}"]
        procs.append((subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), junit))
    passed = failed = 0
    failures: list[str] = []
    for proc, junit in procs:
        proc.wait()
        if not junit.is_file():
            failed += 1
            failures.append(f"{junit.stem}: no results (exit {proc.returncode})")
            continue
        for case in ET.parse(junit).getroot().iter("testcase"):
            bad = next((c for c in case if c.tag in ("failure", "error")), None)
            if bad is None:
                passed += all(c.tag != "skipped" for c in case)
            else:
                failed += 1
                first = (bad.get("message") or "").strip().splitlines()[:1]
                failures.append(f"{junit.stem} {case.get('name')}: {first[0] if first else bad.tag}")
    return passed, failed, failures, time.monotonic() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="1,2,4,8,12,16,24,32", help="the numbers of modules to try, in order")
    ap.add_argument("--max", type=int, default=32, help="try no more modules than this")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each step (a step counts as held if all held)")
    args = ap.parse_args()
    steps = [n for n in (int(s) for s in args.steps.split(",")) if n <= args.max]
    out = Path(tempfile.mkdtemp(prefix="conformance-modules-"))
    held = 0
    print(f"{os.cpu_count()} cores; escape-timing cases ({CASES}) on N simulated modules at once")
    print(f"{'modules':>7} {'passed':>7} {'failed':>7} {'wall s':>7} {'load1':>6}")
    for n in steps:
        ok = True
        for _ in range(args.repeat):
            passed, failed, failures, wall = run_step(n, out)
            print(f"{n:>7} {passed:>7} {failed:>7} {wall:>7.1f} {os.getloadavg()[0]:>6.2f}", flush=True)
            for line in failures[:5]:
                print(f"          {line}")
            ok = ok and failed == 0
        if not ok:
            print(f"modules at once before an escape-timing case failed: {held} (the first failure came at {n})")
            return 0
        held = n
    print(f"modules at once before an escape-timing case failed: at least {held} (none failed up to {held})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
