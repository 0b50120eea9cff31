#!/usr/bin/env python3
"""Latency and idle-CPU figures of the link + session + matcher stack on a real pty. Prints figures, judges nothing.

1. Response latency: a responder in another process answers ``AT`` with its echo and ``\\r\\nOK\\r\\n`` in one write and
   notes ``monotonic_ns()`` as soon as the write returns; the matcher notes when it accepts the ``< OK`` step. Over
   1000 exchanges, p50 / p99 / max of (accepted - written). CLOCK_MONOTONIC is shared by both processes.
2. Idle CPU: the matcher waits 10 s for a URC that never comes; the process's CPU time over that wait, as a share of
   one core.

Run: .venv/bin/python bench/latency.py [--exchanges 1000] [--idle 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance import dialects
from conformance.link import Link
from conformance.session import Session
from conformance.transcript import Runner, Scope
from conformance.transcript.parser import parse_transcript

RESPONDER = r"""
import os, sys, time, tty
master, slave = os.openpty()
tty.setraw(master); tty.setraw(slave)
print(os.ttyname(slave), flush=True)
stamps = []
line = b""
while True:
    data = os.read(master, 4096)
    line += data
    while b"\r" in line:
        cmd, line = line.split(b"\r", 1)
        if cmd == b"QUIT":
            sys.stdout.write(" ".join(map(str, stamps)) + "\n")
            sys.stdout.flush()
            raise SystemExit
        os.write(master, cmd + b"\r\r\nOK\r\n")
        stamps.append(time.monotonic_ns())
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exchanges", type=int, default=1000)
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of waiting for a URC that never comes")
    args = ap.parse_args()

    proc = subprocess.Popen([sys.executable, "-c", RESPONDER], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    pty = proc.stdout.readline().strip()
    link = Link.open(pty)
    session = Session(link, dialects.get("bg96"))
    steps, _ = parse_transcript("> AT\n< OK", ("bench", 1), set())
    accepted: list[int] = []

    def on_record(record) -> None:
        if record.status == "ok":
            accepted.append(time.monotonic_ns())

    for _ in range(args.exchanges):
        Runner(session, Scope(), on_record=on_record).run(steps)
    cpu0, wall0 = time.process_time(), time.monotonic()
    token = session.next_token(time.monotonic_ns() + int(args.idle * 1e9))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    assert token is None

    link.write(b"QUIT\r")
    written = [int(x) for x in proc.stdout.readline().split()]
    proc.wait(5)
    link.close()
    latencies_ms = [(a - w) / 1e6 for a, w in zip(accepted, written)]

    print(f"exchanges: {len(latencies_ms)} (AT -> echo + OK on a pty, responder in another process)")
    print(f"latency p50: {statistics.median(latencies_ms):.3f} ms")
    print(f"latency p99: {percentile(latencies_ms, 99):.3f} ms")
    print(f"latency max: {max(latencies_ms):.3f} ms")
    print(f"idle wait: {wall:.1f} s for a URC that never came")
    print(f"idle CPU: {100 * cpu / wall:.3f} % of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
