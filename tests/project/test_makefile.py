"""The Makefile a newcomer runs: one run, one results folder, and the failures listed at the end."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_make_conformance_names_one_results_folder_however_long_the_install_takes(tmp_path: Path) -> None:
    # a `date` that answers a new time at every call, as the clock does while the install runs
    fake = tmp_path / "bin"
    fake.mkdir()
    counter = tmp_path / "count"
    (fake / "date").write_text(f'#!/bin/sh\nn=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); '
                               f'echo $n > {counter}; echo 20261202-0000$n\n')
    (fake / "date").chmod(0o755)
    done = subprocess.run(["make", "-n", "-B", "conformance"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    names = set(re.findall(r"20261202-0000\d+", done.stdout))
    assert len(names) == 1, done.stdout


def test_make_conformance_lists_failures_as_well_as_skips() -> None:
    done = subprocess.run(["make", "-n", "conformance", "RUN=x"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    flags = re.search(r" -r(\w+)", done.stdout)
    assert flags is not None and {"f", "E", "s"} <= set(flags.group(1)), done.stdout
