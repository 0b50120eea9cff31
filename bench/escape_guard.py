#!/usr/bin/env python3
"""The guard time after "+++" as a host measures it, against simulated BG96 modules. Prints figures, judges nothing.

Each escape: data mode on a TCP connection to a local sink, a pause longer than the guard before, "+++" written
through the project's link (the reference is when the write returned, as the case runner takes it), then the time
until the last byte of the module's ``OK`` arrived, then ATO. The rule (BG96 §1.2 item 4) is that nothing comes
within 1 s after the sequence; the simulator must never answer earlier as the host measures it.

Several modules run at once (``--parallel``), which also loads the machine as a full test run does.

Run: .venv/bin/python bench/escape_guard.py [--count 200] [--parallel 4] [--timing instant|realistic]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conformance import dialects
from conformance.link import Link

GUARD_S = dialects.get("bg96").escape.guard_after_s  # type: ignore[union-attr]


def sink() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=_drain, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def _drain(conn: socket.socket) -> None:
    while conn.recv(65536):
        pass


def expect(link: Link, start: int, pattern: bytes, timeout: float = 10.0) -> tuple[int, int]:
    """Wait until ``pattern`` is received after offset ``start``; return (offset after it, arrival of its last byte)."""
    deadline = time.monotonic_ns() + int(timeout * 1e9)
    while True:
        at = link.data(start).find(pattern)
        if at >= 0:
            end = start + at + len(pattern)
            return end, link.time_at(end - 1)
        if not link.wait_for_size(link.size + 1, deadline):
            raise TimeoutError(f"no {pattern!r}; got {link.data(start)!r}")


def run(count: int, timing: str, port: int, results: list[float]) -> None:
    link = Link.open("sim:bg96?dns_servers=127.0.0.1" + (f"&timing={timing}" if timing != "instant" else ""))
    try:
        pos = link.size
        opening = f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,2\r'.encode()
        for line in (b"ATE0\r", b'AT+QICSGP=1,1,""\r', b"AT+QIACT=1\r", opening):
            link.write(line)
            pos, _ = expect(link, pos, b"CONNECT\r\n" if b"QIOPEN" in line else b"OK\r\n")
        for _ in range(count):
            link.write(b"data")
            time.sleep(GUARD_S + 0.2)
            _, written = link.write(b"+++")
            pos, ok_at = expect(link, pos, b"\r\nOK\r\n")
            results.append((ok_at - written) / 1e9)
            link.write(b"ATO\r")
            pos, _ = expect(link, pos, b"CONNECT\r\n")
    finally:
        link.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200, help="escapes in all")
    ap.add_argument("--parallel", type=int, default=4, help="modules escaping at the same time")
    ap.add_argument("--timing", default="instant", choices=("instant", "realistic"))
    args = ap.parse_args()
    srv, port = sink()
    results: list[float] = []
    per_module = max(1, args.count // args.parallel)
    threads = [threading.Thread(target=run, args=(per_module, args.timing, port, results))
               for _ in range(args.parallel)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    srv.close()
    if not results:
        print("no escape completed")
        return 1
    early = [r for r in results if r < GUARD_S]
    print(f"escapes: {len(results)} on {args.parallel} modules, timing {args.timing}, "
          f"{time.monotonic() - started:.0f} s")
    print(f"OK after '+++' (host: end of its write -> last byte of OK): min {min(results):.4f} s, "
          f"median {statistics.median(results):.4f} s, max {max(results):.4f} s")
    print(f"earlier than the {GUARD_S:g} s guard: {len(early)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
