"""The ``conformance`` command: read flight logs, start a simulated module, serve peers, report coverage.

    conformance log FILE.atlog           print a flight log for a human
    conformance sim bg96                 start a simulated module on a pty and print its path
    conformance peers serve ...          run the peers on a remote host (see docs/peers.md)
    conformance coverage bg96            list what the manual documents and the cases covering it
    conformance check-cases [PATH ...]   parse case files, report every malformed one as file:line
    conformance report summary RUN_DIR   the acceptance summary of a run; also: report diff RUN_A RUN_B, report render
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_log = sub.add_parser("log", help="print a flight log (.atlog) for a human")
    p_log.add_argument("file", type=Path)
    sub.add_parser("sim", help="start a simulated module (conformance sim bg96 --help)", add_help=False)
    sub.add_parser("peers", help="run the network peers (conformance peers serve --help)", add_help=False)
    sub.add_parser("coverage", help="what the manual documents, and the cases that cover it", add_help=False)
    sub.add_parser("report", help="a run's acceptance summary, two runs' diff, the rendered Allure report "
                                  "(conformance report --help)", add_help=False)
    p_check = sub.add_parser("check-cases", help="parse case files; print file:line for each malformed one")
    p_check.add_argument("paths", nargs="*", type=Path, default=[Path("cases")])

    if args and args[0] in ("sim", "peers", "coverage", "report"):  # these parse their own arguments
        return _delegate(args[0], args[1:])
    ns = parser.parse_args(args)
    if ns.command == "log":
        return _log(ns.file)
    return _check_cases(ns.paths)


def _delegate(command: str, rest: list[str]) -> int:
    if command == "sim":
        from .sim import cli_main as sim_main

        return sim_main(rest)
    if command == "peers":
        from .peers import serve_main

        if not rest or rest[0] != "serve":
            print("usage: conformance peers serve [options]  (see conformance peers serve --help)", file=sys.stderr)
            return 2
        return serve_main(rest[1:])
    if command == "report":
        from .reports.cli import report_main

        return report_main(rest)
    from .reports.coverage import coverage_main

    return coverage_main(rest)


def _log(path: Path) -> int:
    from .link import LogError, format_log

    try:
        for line in format_log(path):
            print(line)
    except FileNotFoundError:
        print(f"conformance log: no such file: {path}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # piped into head
        pass
    except (LogError, OSError) as exc:
        print(f"conformance log: {exc}", file=sys.stderr)
        return 2
    return 0


def _check_cases(paths: list[Path]) -> int:
    """Parse every case file (and read every block of each blocks file) under ``paths``; print each problem as
    ``file:line: what is wrong``; 1 if there was any."""
    from .errors import ConformanceError
    from .transcript import parse_file
    from .transcript.blocks import check_blocks_file, is_blocks_file

    files = [p for path in paths for p in (sorted(path.rglob("*.y*ml")) if path.is_dir() else [path])]
    bad_cases = bad_blocks = cases = 0
    block_files = [file for file in files if is_blocks_file(file)]
    for file in files:
        if file in block_files:
            problems = check_blocks_file(file)
            for problem in problems:
                print(problem)
            bad_blocks += bool(problems)
            continue
        try:
            cases += len(parse_file(file))
        except ConformanceError as exc:
            bad_cases += 1
            print(exc)
    case_files = len(files) - len(block_files)
    bad = bad_cases + bad_blocks
    print(f"{cases} cases in {case_files - bad_cases} files parsed; {bad} malformed files"
          + (f" ({len(block_files)} blocks files read)" if block_files else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
