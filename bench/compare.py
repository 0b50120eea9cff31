#!/usr/bin/env python3
"""This suite beside the harnesses a user would otherwise pick, on the same pty responder, interleaved. Prints
figures, judges nothing.

One responder process serves one pty per harness. Each round, every harness in turn sends ``AT`` and waits for the
responder's ``AT\\r\\r\\nOK\\r\\n``; the latency is from the moment the responder's write returned to the moment the
harness has the ``OK`` (CLOCK_MONOTONIC is shared by both processes). Harnesses:

- ``suite step``: this suite's link + session + matcher running the transcript step ``< OK`` (what a case does);
- ``suite modem``: the ``modem`` fixture's ``command("AT")`` (what a Python test does);
- ``pytest-embedded``: ``SerialDut.expect_exact`` as pytest-embedded builds it (redirect thread, message queue,
  listener process, pexpect on its log file);
- ``pexpect``: ``pexpect.fdpexpect`` over a pyserial port;
- ``pyserial readline``: a bare ``Serial.readline()``, the floor a Python harness can reach;
- ``os.read``: the raw file descriptor, for scale.

Then: the same exchanges at random moments (2-30 ms apart, so the reader has gone cold), the idle CPU of each while
waiting for text that never comes (this process and its children), the throughput of a 1 MB stream, and this suite's
paced sender: its CPU and achieved rate at ``--line-rate 115200``, and the precision of gap-spaced bytes.

pytest-embedded and pexpect come from the ``bench`` extra, installed in a virtual environment of its own (pytest-
embedded's pytest plugin takes ``--baud`` too, so it cannot live beside this suite's plugin):

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -e '.[bench]'
    .venv-bench/bin/python bench/compare.py [--exchanges 500] [--random 200] [--idle 5] [--runs 1]

A harness whose package is missing is left out, with a line saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import serial

from conformance import dialects
from conformance.link import BITS_PER_BYTE, Link
from conformance.plugin.modem import Modem
from conformance.session import Session
from conformance.transcript import Runner, Scope
from conformance.transcript.parser import parse_transcript

BULK = 1 << 20
PACED_RATE = 115200
BYTE_NS = BITS_PER_BYTE * 1e9 / PACED_RATE
END = b"\r\nEND\r\n"

# The responder: one pty per harness; answers "AT" with echo + OK and stamps the end of its write; "BULK n" sends n
# bytes then END; "SINK n" counts the next n bytes, stamping each read (for the paced sender); "QUIT" reports.
RESPONDER = r"""
import json, os, select, sys, time, tty
n = int(sys.argv[1])
pairs = [os.openpty() for _ in range(n)]
for m, s in pairs:
    tty.setraw(m); tty.setraw(s)
print(json.dumps([os.ttyname(s) for _, s in pairs]), flush=True)
masters = [m for m, _ in pairs]
stamps = {i: [] for i in range(n)}
lines = {i: b"" for i in range(n)}
sink = {i: 0 for i in range(n)}
arrivals = {i: [] for i in range(n)}
while True:
    ready, _, _ = select.select(masters + [0], [], [])
    if 0 in ready:
        sys.stdin.readline()
        print(json.dumps({"stamps": stamps, "arrivals": arrivals}), flush=True)
        raise SystemExit
    for i, m in enumerate(masters):
        if m not in ready:
            continue
        data = os.read(m, 65536)
        t = time.monotonic_ns()
        if sink[i]:
            arrivals[i].append((t, len(data)))
            sink[i] = max(0, sink[i] - len(data))
            continue
        lines[i] += data.replace(b"\n", b"")
        while b"\r" in lines[i]:
            cmd, lines[i] = lines[i].split(b"\r", 1)
            if cmd == b"AT":
                os.write(m, b"AT\r\r\nOK\r\n")
                stamps[i].append(time.monotonic_ns())
            elif cmd.startswith(b"BULK "):
                size = int(cmd[5:])
                block = bytes(range(33, 127)) * (size // 94 + 1)
                view = memoryview(block[:size] + b"\r\nEND\r\n")
                while view:
                    view = view[os.write(m, view):]
            elif cmd.startswith(b"SINK "):
                sink[i] = int(cmd[5:])
                arrivals[i] = []
"""


# -- the harnesses ---------------------------------------------------------------------------------------------------

class Harness:
    """One way of talking to a pty: ``exchange()`` sends AT and returns when it has the OK (monotonic_ns)."""

    name = ""

    def exchange(self) -> int:
        raise NotImplementedError

    def idle(self, seconds: float) -> None:
        """Wait ``seconds`` for a text that never comes."""
        raise NotImplementedError

    def bulk(self, size: int) -> None:
        """Ask for ``size`` bytes and take them all (up to END)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class SuiteStep(Harness):
    name = "suite step"

    def __init__(self, pty: str) -> None:
        self.link = Link.open(pty)
        self.session = Session(self.link, dialects.get("bg96"))
        self.steps, _ = parse_transcript("> AT\n< OK", ("bench", 1), set())
        self.accepted = 0

    def _on_record(self, record: object) -> None:
        if getattr(record, "status", "") == "ok":
            self.accepted = time.monotonic_ns()

    def exchange(self) -> int:
        Runner(self.session, Scope(), on_record=self._on_record).run(self.steps)
        return self.accepted

    def idle(self, seconds: float) -> None:
        assert self.session.next_token(time.monotonic_ns() + int(seconds * 1e9)) is None

    def bulk(self, size: int) -> None:
        self.session.send_command(f"BULK {size}")
        self.session.expect_no_echo()  # the responder answers BULK with the data alone
        token = self.session.read_data(size + len(END), time.monotonic_ns() + 60_000_000_000)
        assert token is not None and token.raw.endswith(END), "the 1 MB stream did not come whole"

    def close(self) -> None:
        self.link.close()


class SuiteModem(SuiteStep):
    name = "suite modem"

    def __init__(self, pty: str) -> None:
        super().__init__(pty)
        self.modem = Modem(pty, dialects.get("bg96"), self.link, self.session)

    def exchange(self) -> int:
        assert self.modem.command("AT").ok
        return time.monotonic_ns()


class PyserialReadline(Harness):
    name = "pyserial readline"

    def __init__(self, pty: str) -> None:
        self.port = serial.Serial(pty, timeout=10)

    def exchange(self) -> int:
        self.port.write(b"AT\r")
        while self.port.readline() != b"OK\r\n":
            pass
        return time.monotonic_ns()

    def idle(self, seconds: float) -> None:
        self.port.timeout = seconds
        assert self.port.readline() == b""
        self.port.timeout = 10

    def bulk(self, size: int) -> None:
        self.port.write(f"BULK {size}\r".encode())
        assert self.port.read(size + len(END)).endswith(END)

    def close(self) -> None:
        self.port.close()


class OsRead(Harness):
    name = "os.read"

    def __init__(self, pty: str) -> None:
        self.port = serial.Serial(pty)  # pyserial only to set the port up; reads and writes on the raw fd
        self.fd = self.port.fileno()
        os.set_blocking(self.fd, True)

    def exchange(self) -> int:
        os.write(self.fd, b"AT\r")
        got = b""
        while not got.endswith(b"OK\r\n"):
            got += os.read(self.fd, 4096)
        return time.monotonic_ns()

    def idle(self, seconds: float) -> None:
        import select

        assert select.select([self.fd], [], [], seconds)[0] == []

    def bulk(self, size: int) -> None:
        os.write(self.fd, f"BULK {size}\r".encode())
        got = bytearray()
        while not got.endswith(END):
            got += os.read(self.fd, 65536)

    def close(self) -> None:
        self.port.close()


class Pexpect(Harness):
    name = "pexpect"

    def __init__(self, pty: str) -> None:
        from pexpect import fdpexpect

        self.port = serial.Serial(pty)
        self.child = fdpexpect.fdspawn(self.port.fileno(), timeout=10)

    def exchange(self) -> int:
        self.child.send(b"AT\r")
        self.child.expect_exact(b"OK\r\n")
        return time.monotonic_ns()

    def idle(self, seconds: float) -> None:
        import pexpect

        assert self.child.expect_exact([b"NEVER", pexpect.TIMEOUT], timeout=seconds) == 1

    def bulk(self, size: int) -> None:
        self.child.send(f"BULK {size}\r".encode())
        self.child.maxread = 65536
        self.child.expect_exact(END, timeout=60)

    def close(self) -> None:
        self.port.close()


class PytestEmbedded(Harness):
    name = "pytest-embedded"

    def __init__(self, pty: str, workdir: str) -> None:
        from pytest_embedded.app import App
        from pytest_embedded.dut_factory import _listener_gn, _pexpect_fr_gn
        from pytest_embedded.log import MessageQueueManager, PexpectProcess
        from pytest_embedded_serial.dut import SerialDut
        from pytest_embedded_serial.serial import Serial

        # as pytest-embedded's plugin builds a serial Dut: a queue in a manager process, a listener process writing
        # the log file, pexpect reading that file
        self.manager = MessageQueueManager()
        self.manager.start()
        self.queue = self.manager.MessageQueue()
        logfile = os.path.join(workdir, "dut.txt")
        with _stdout_to_devnull():  # the listener echoes every line to its stdout
            self.listener = _listener_gn(self.queue, logfile, True, 0, 1)
            self.reader = _pexpect_fr_gn(logfile, self.listener)
        self.serial = Serial(self.queue, port=pty)
        self.dut = SerialDut(serial=self.serial, pexpect_proc=PexpectProcess(self.reader), msg_queue=self.queue,
                             app=App(), pexpect_logfile=logfile, test_case_name="bench")

    def exchange(self) -> int:
        self.dut.write("AT\r")
        self.dut.expect_exact("OK\r\n", timeout=10)
        return time.monotonic_ns()

    def idle(self, seconds: float) -> None:
        import pexpect

        try:
            self.dut.expect_exact("NEVER", timeout=seconds)
        except (pexpect.TIMEOUT, Exception):
            pass

    def bulk(self, size: int) -> None:
        self.dut.write(f"BULK {size}\r")
        self.dut.expect_exact("\r\nEND\r\n", timeout=120)

    def close(self) -> None:
        self.serial.close()
        self.listener.terminate()
        self.listener.join(5)
        self.reader.close()
        self.manager.shutdown()


@contextmanager
def _stdout_to_devnull():
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _children_cpu_s(exclude: int) -> float:
    """CPU seconds (user + system) of this process's living children other than ``exclude``, from /proc."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == exclude:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # field 4: ppid
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / tick


# -- the measurements ------------------------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


def interleaved(harnesses: list[Harness], count: int, pause: Callable[[], float] | None) -> list[list[int]]:
    """``count`` rounds; in each, every harness in turn does one exchange (after ``pause()`` seconds, if given)."""
    done: list[list[int]] = [[] for _ in harnesses]
    for _ in range(count):
        for i, harness in enumerate(harnesses):
            if pause is not None:
                time.sleep(pause())
            done[i].append(harness.exchange())
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exchanges", type=int, default=500, help="back-to-back exchanges per harness")
    ap.add_argument("--random", type=int, default=200, help="exchanges per harness at random moments (2-30 ms)")
    ap.add_argument("--idle", type=float, default=5.0, help="seconds each harness waits for text that never comes")
    ap.add_argument("--paced", type=int, default=32768, help="bytes the paced sender sends at 115200 bit/s")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    random.seed(args.seed)
    workdir = tempfile.mkdtemp(prefix="conformance-bench-")

    makers: list[tuple[str, Callable[[str], Harness]]] = [
        ("suite step", SuiteStep), ("suite modem", SuiteModem),
        ("pytest-embedded", lambda pty: PytestEmbedded(pty, workdir)),
        ("pexpect", Pexpect), ("pyserial readline", PyserialReadline), ("os.read", OsRead),
    ]
    # two more ptys: the paced sender's and the gap writes'
    proc = subprocess.Popen([sys.executable, "-c", RESPONDER, str(len(makers) + 2)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    ptys = json.loads(proc.stdout.readline())
    harnesses: list[Harness] = []
    slots: list[int] = []
    for slot, (name, make) in enumerate(makers):
        try:
            harnesses.append(make(ptys[slot]))
            slots.append(slot)
        except ImportError as exc:
            print(f"{name}: left out ({exc.name} is not installed: pip install -e '.[bench]')")
    for h in harnesses:  # warm up every path once
        h.exchange()

    back_to_back = interleaved(harnesses, args.exchanges, None)
    at_random = interleaved(harnesses, args.random, lambda: random.uniform(0.002, 0.030))

    throughput: dict[str, float] = {}
    for h in harnesses:
        started = time.monotonic()
        h.bulk(BULK)
        throughput[h.name] = BULK / (time.monotonic() - started) / 1e6

    # Idle CPU: this process and its children while one harness waits; pytest-embedded first, then it is closed, as
    # its reader thread polls whether anyone waits or not and would be counted against the others.
    idle: dict[str, float] = {}
    for h in sorted(harnesses, key=lambda h: not isinstance(h, PytestEmbedded)):
        cpu0, kids0, wall0 = time.process_time(), _children_cpu_s(proc.pid), time.monotonic()
        h.idle(args.idle)
        wall = time.monotonic() - wall0
        idle[h.name] = 100 * (time.process_time() - cpu0 + _children_cpu_s(proc.pid) - kids0) / wall
        if isinstance(h, PytestEmbedded):
            h.close()

    paced = paced_sender(ptys[len(makers)], args.paced)
    gaps_sent = gap_writes(ptys[len(makers) + 1])

    proc.stdin.write("QUIT\n")
    proc.stdin.flush()
    report = json.loads(proc.stdout.readline())
    proc.wait(10)
    for h in harnesses:
        if not isinstance(h, PytestEmbedded):
            h.close()

    print(f"\n{len(harnesses)} harnesses on one pty responder, interleaved; {args.exchanges} exchanges back to back, "
          f"{args.random} at random moments (2-30 ms apart)\n")
    rows = []
    for i, (h, slot) in enumerate(zip(harnesses, slots)):
        stamps = report["stamps"][str(slot)][1:]  # after the warm-up's
        lat = [(a - w) / 1e6 for a, w in zip(back_to_back[i], stamps[:args.exchanges])]
        rnd = [(a - w) / 1e6 for a, w in zip(at_random[i], stamps[args.exchanges:])]
        rows.append((h.name, lat, rnd))
    floor = next((statistics.median(lat) for name, lat, _ in rows if name == "pyserial readline"), None)
    print(f"{'harness':<18} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'x floor':>8} | {'random p50':>10} "
          f"{'p99':>7} {'max':>7} | {'idle CPU %':>10} {'1 MB MB/s':>9}")
    for name, lat, rnd in rows:
        ratio = f"{statistics.median(lat) / floor:8.1f}" if floor else f"{'-':>8}"
        print(f"{name:<18} {statistics.median(lat):8.3f} {percentile(lat, 99):8.3f} {max(lat):8.3f} {ratio} | "
              f"{statistics.median(rnd):10.3f} {percentile(rnd, 99):7.3f} {max(rnd):7.3f} | {idle[name]:10.3f} "
              f"{throughput[name]:9.2f}")
    paced_arrivals = report["arrivals"][str(len(makers))]
    print()
    print(f"paced sender (--line-rate 115200, {args.paced} bytes): CPU {paced['cpu_pct']:.1f} % of a core; achieved "
          f"{paced['sender_pct']:.2f} % of line rate as sent, {receiver_pct(paced_arrivals, args.paced):.2f} % as "
          "received")
    received = gap_errors(report["arrivals"][str(len(makers) + 1)])
    for gap, errors in gap_errors(gaps_sent).items():
        sent = [abs(e) for e in errors]
        seen = [abs(e) for e in received[gap]]
        print(f"gap-spaced bytes [gap {gap:g}ms], {len(sent)} gaps: error as written mean {statistics.mean(sent):.0f} "
              f"us, max {max(sent):.0f} us; as received mean {statistics.mean(seen):.0f} us, max {max(seen):.0f} us")
    return 0


def paced_sender(pty: str, size: int) -> dict[str, float]:
    """This suite's link sending ``size`` bytes at 115200 bit/s: the sending thread's CPU, the rate as sent."""
    link = Link.open(pty)
    try:
        link.write(f"SINK {size}\r".encode())
        time.sleep(0.2)  # the responder has switched to counting
        cpu0, wall0 = time.thread_time(), time.monotonic()
        first, last = link.write(b"x" * size, line_rate=PACED_RATE)
        cpu, wall = time.thread_time() - cpu0, time.monotonic() - wall0
        time.sleep(0.2)
    finally:
        link.close()
    return {"cpu_pct": 100 * cpu / wall, "sender_pct": 100 * (size - 1) * BYTE_NS / (last - first)}


def receiver_pct(arrivals: list[list[int]], size: int) -> float:
    """The rate the responder saw: the bytes after its first read, over the time from that read to its last."""
    (t_first, n_first), t_last = arrivals[0], arrivals[-1][0]
    return 100 * (size - n_first) * BYTE_NS / (t_last - t_first) if t_last > t_first else float("nan")


GAPS_MS = (10, 20)
GAP_REPEATS = 20


def gap_writes(pty: str) -> list[list[int]]:
    """``+++`` written with [gap 10ms] and [gap 20ms], each 20 times, 50 ms apart; returns when each byte was written
    (the link's own stamps, as ``(t_ns, 1)`` like the responder's arrivals)."""
    link = Link.open(pty)
    written: list[list[int]] = []
    link.listeners.append(lambda e: written.append([e.t_ns, len(e.data)]) if e.direction == "tx" and
                          e.data == b"+" else None)
    try:
        link.write(f"SINK {3 * GAP_REPEATS * len(GAPS_MS)}\r".encode())
        time.sleep(0.2)
        for gap in GAPS_MS:
            for _ in range(GAP_REPEATS):
                link.write(b"+++", gap_s=gap / 1000)
                time.sleep(0.05)
        time.sleep(0.1)
    finally:
        link.close()
    return written


def gap_errors(arrivals: list[list[int]]) -> dict[int, list[float]]:
    """Each gap as the responder saw it, minus the gap asked for, in microseconds."""
    times = [t for t, n in arrivals for _ in range(n)]  # a read holding two bytes: they came together
    errors: dict[int, list[float]] = {}
    for k, gap in enumerate(GAPS_MS):
        errors[gap] = []
        for r in range(GAP_REPEATS):
            base = 3 * (k * GAP_REPEATS + r)
            for j in (1, 2):
                errors[gap].append((times[base + j] - times[base + j - 1]) / 1e3 - gap * 1000)
    return errors


if __name__ == "__main__":
    sys.exit(main())
