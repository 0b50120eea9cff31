"""Run a dialect's cases against one simulated module directly on its pty, then through a real ser2net over RFC 2217
and over raw TCP, and compare the verdicts: what CI runs to show that a lab's network ports change nothing.

    python -m conformance.lab.ser2net_run [--dialect bg96] [--paths pty,rfc2217,socket] [--out DIR] [-- PYTEST ARGS]

The chain: simulator (pty + control socket) <- RFC 2217 endpoint (DTR/RTS to the control channel) <- ser2net
(``telnet(rfc2217),tcp(nodelay)`` and ``tcp(nodelay)`` accepters, the lab configuration of docs/lab.md) <- pytest
``--modem rfc2217://127.0.0.1:<port>`` / ``socket://127.0.0.1:<port>``. A module that stops answering is
power-cycled through the simulator's control channel (``--power-cycle-cmd``), as a lab's power switch would.

Prints, per path, the counts and the wall time, then every case whose verdict differs between the paths with the
reasons. Exits 1 if a case failed on any path (or ser2net is missing: it says how to install it), else 0.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ..sim import launch
from .rfc2217_endpoint import Rfc2217Endpoint
from .ser2net import Ser2net, Ser2netConnection, Ser2netError, find_ser2net

__all__ = ["PathResult", "main", "read_junit"]

PATHS = ("pty", "rfc2217", "socket")


@dataclass
class PathResult:
    """One run of the cases: its verdict per case id (``passed``, ``failed``, ``skipped: why`` ...), its wall time."""

    path: str
    url: str
    wall_s: float = 0.0
    status: int = 0
    verdicts: dict[str, str] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return sum(v.split(":", 1)[0] == kind for v in self.verdicts.values())


def read_junit(path: Path) -> dict[str, str]:
    """Each testcase of a JUnit XML file (``classname::name``) with its verdict and, for skips, the reason."""
    verdicts: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        verdict = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                verdict = "failed"
                break
            if child.tag == "skipped":
                kind = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
                verdict = f"{kind}: {(child.get('message') or '').strip()}"
        verdicts[key] = verdict
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.lab.ser2net_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialect", default="bg96")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"which of {', '.join(PATHS)} (default: all)")
    parser.add_argument("--cases", default=None, help="case folder or file (default: cases/<dialect>)")
    parser.add_argument("--out", default="reports/out/ser2net", help="JUnit XML and flight logs go here")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"--paths: unknown {', '.join(unknown)}; choose from {', '.join(PATHS)}")
    if find_ser2net() is None and any(p != "pty" for p in paths):
        print("ser2net is not installed: apt-get install ser2net (Debian; ser2net 4 or later)", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cases = args.cases or f"cases/{args.dialect}"
    results: list[PathResult] = []
    sim = launch(args.dialect)
    try:
        with Rfc2217Endpoint(sim.pty, sim.control_path) as endpoint:
            connector = f"telnet(rfc2217),tcp(nodelay),127.0.0.1,{endpoint.port}"
            connections = [Ser2netConnection("module_rfc2217", _free_port(), connector, host="127.0.0.1"),
                           Ser2netConnection("module_raw", _free_port(), connector, host="127.0.0.1", rfc2217=False)]
            with Ser2net(connections) as ser2net:
                urls = {"pty": sim.pty, "rfc2217": connections[0].url(), "socket": connections[1].url()}
                power = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "conformance.lab.simctl",
                                                          sim.control_path, "reboot"))
                for path in paths:
                    results.append(_run(path, urls[path], args.dialect, cases, power, out, args.pytest_args))
                    if not ser2net.alive():
                        print(f"ser2net died: {ser2net.log()}", file=sys.stderr)
                        return 1
    except Ser2netError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        sim.close()
    _print_summary(results)
    return 1 if any(r.count("failed") or r.status not in (0, 5) for r in results) else 0


def _run(path: str, url: str, dialect: str, cases: str, power: str, out: Path, extra: list[str]) -> PathResult:
    junit = out / f"{path}.xml"
    # the simulator's sockets are this host's: peers on loopback, and the module dialled at 127.0.0.1
    command = [sys.executable, "-m", "pytest", cases, f"--modem={url}", "--dialect", dialect,
               "--power-cycle-cmd", power, "--power-cycle-wait", "20", "--peer-bind", "127.0.0.1",
               "--module-ip", "127.0.0.1", f"--junitxml={junit}",
               "--results-dir", str(out), "--run-name", path, "-p", "no:cacheprovider", "-q", "-rfEsx", *extra]
    print(f"== {path}: {url}", flush=True)
    started = time.monotonic()
    status = subprocess.run(command, check=False).returncode
    result = PathResult(path, url, time.monotonic() - started, status)
    if junit.is_file():
        result.verdicts = read_junit(junit)
    return result


def _print_summary(results: list[PathResult]) -> None:
    if not results:
        return
    base = results[0].wall_s or 1.0
    print()
    print(f"{'path':<9} {'passed':>6} {'failed':>6} {'skipped':>7} {'xfailed':>7} {'wall':>8}  ratio  url")
    for r in results:
        print(f"{r.path:<9} {r.count('passed'):>6} {r.count('failed'):>6} {r.count('skipped'):>7} "
              f"{r.count('xfailed'):>7} {r.wall_s:>7.1f}s  {r.wall_s / base:>5.2f}  {r.url}")
    keys = sorted(set().union(*(r.verdicts for r in results)))
    differing = [k for k in keys if len({r.verdicts.get(k, 'absent').split(':', 1)[0] for r in results}) > 1]
    print(f"cases whose verdict differs between the paths: {len(differing)}")
    for key in differing:
        print(f"  {key}")
        for r in results:
            print(f"    {r.path:<8} {r.verdicts.get(key, 'absent')}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
