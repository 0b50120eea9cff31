"""``python -m conformance.sim <dialect> [--control PATH] [--config JSON] [--watch-stdin]``: one simulator process.

This is the process :func:`conformance.sim.launch` starts; a person wants ``conformance sim bg96`` instead
(:func:`conformance.sim.cli_main`), which starts this and cleans up after it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m conformance.sim", description=__doc__)
    parser.add_argument("dialect", help="the module family to simulate, e.g. bg96")
    parser.add_argument("--control", help="path of the control socket (default: in a new temporary directory)")
    parser.add_argument("--config", default="{}", help="JSON object of initial settings (see docs/simulator.md)")
    parser.add_argument("--watch-stdin", action="store_true",
                        help="stop on a line 'stop' on stdin; at end of file without one, the launcher is gone")
    parser.add_argument("--workdir", help="the launcher's folder for this simulator: removed here if the launcher dies")
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config)
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        parser.error(f"--config: {e}")
    from .server import serve

    own_dir = None
    control = args.control
    if control is None:
        own_dir = tempfile.mkdtemp(prefix="conformance-sim-")
        control = os.path.join(own_dir, "control.sock")
    try:
        return serve(args.dialect, control, config, watch_stdin=args.watch_stdin, workdir=args.workdir)
    except (KeyError, ValueError) as e:
        print(f"conformance.sim: {e}", file=sys.stderr)
        return 2
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
