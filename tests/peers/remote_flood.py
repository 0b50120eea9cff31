"""A stranger flooding `conformance peers serve`: many connections, each sending one endless line, never a hello.

Used by the tests of the control channel's limits, and a script that prints what it measures::

    .venv/bin/python tests/peers/remote_flood.py [connections] [MiB per connection]

It starts a server in a process of its own, floods it, and prints the server's peak memory (VmHWM) before and after
and whether a legitimate client still gets in.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).parents[2]
TOKEN = b"correct horse battery staple 42"


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


@contextmanager
def serve(token_file: Path) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    """``python -m conformance.peers serve`` on 127.0.0.1 (any free port): the process, its port and its log lines.

    The log keeps filling while the server runs (a thread drains the pipe, so the server never blocks on it).
    """
    token_file.write_bytes(TOKEN + b"\n")
    proc = subprocess.Popen([sys.executable, "-m", "conformance.peers", "serve", "--bind", "127.0.0.1",
                             "--control-port", "0", "--token-file", str(token_file)],
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    log: list[str] = []
    try:
        assert proc.stderr is not None
        port = 0
        for line in proc.stderr:
            log.append(line)
            found = re.search(r"peer control on 127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found[1])
                break
        if not port:
            raise RuntimeError("the server did not start: " + "".join(log))
        threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
        yield proc, port, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def flood(port: int, connections: int, line_bytes: int, *, timeout: float = 30.0) -> list[str]:
    """Open ``connections`` at once, each sending ``line_bytes`` without a newline; return how each one ended."""
    chunk = b"A" * (1 << 20)
    endings: list[str] = [""] * connections

    def one(index: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
                sent = 0
                while sent < line_bytes:
                    piece = chunk[:line_bytes - sent]
                    sock.sendall(piece)
                    sent += len(piece)
                sock.shutdown(socket.SHUT_WR)
                received = b""
                while data := sock.recv(65536):
                    received += data
                last = received.rstrip(b"\n").rpartition(b"\n")[2]
                endings[index] = f"closed after all {sent} bytes, last line: {last.decode(errors='replace')}"
        except OSError as exc:
            endings[index] = f"cut: {type(exc).__name__}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 5)
    return endings


def main(argv: list[str]) -> int:
    """Flood a server and print its peak memory before and after."""
    sys.path.insert(0, str(REPO))
    from conformance.peers import RemotePeers

    connections = int(argv[0]) if argv else 30
    mib = int(argv[1]) if len(argv) > 1 else 16
    import tempfile
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "token") as (proc, port, log):
        before = peak_rss_kib(proc.pid)
        started = time.monotonic()
        endings = flood(port, connections, mib << 20)
        took = time.monotonic() - started
        after = peak_rss_kib(proc.pid)
        peers = RemotePeers(f"127.0.0.1:{port}", TOKEN).connect()
        echo = peers.start("tcp_echo")
        peers.close()
    print(f"{connections} connections x {mib} MiB line: flood took {took:.2f} s")
    print(f"server peak RSS before: {before / 1024:.1f} MiB, after: {after / 1024:.1f} MiB "
          f"(+{(after - before) / 1024:.1f} MiB)")
    print(f"a legitimate client afterwards: started tcp_echo on port {echo.port}")
    kinds: dict[str, int] = {}
    for ending in endings:
        key = ending.split(":")[0] if ending.startswith("cut") else ending
        kinds[key] = kinds.get(key, 0) + 1
    for kind, count in sorted(kinds.items()):
        print(f"  {count} x {kind}")
    print(f"server log: {len(log)} lines, {sum('Traceback' in line for line in log)} tracebacks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
