"""One request to a simulated module's control channel, from a shell: what a lab's power command runs.

``python -m conformance.lab.simctl SOCKET reboot`` reboots the simulator whose control socket is ``SOCKET`` (printed
by ``conformance sim bg96``), as a power switch would power-cycle a real module. labgrid's ``ExternalPowerDriver``
runs it as its ``cmd_cycle``; ``--power-cycle-cmd`` can run it too. Arguments after the command are ``key=value``
(``python -m conformance.lab.simctl SOCKET dtr level=0``); the reply is printed as JSON, an error reply exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..sim.process import SimError, control_request

__all__ = ["main"]


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.lab.simctl", description=__doc__.split("\n\n")[0])
    parser.add_argument("socket", help="the simulator's control socket (conformance sim prints it)")
    parser.add_argument("command", help="reboot, dtr, rts, state, ping ... (docs/simulator.md, Control channel)")
    parser.add_argument("args", nargs="*", metavar="KEY=VALUE", help="arguments, values as JSON where they parse")
    args = parser.parse_args(argv)
    kwargs: dict[str, Any] = {}
    for item in args.args:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"{item!r}: arguments are KEY=VALUE")
        kwargs[key] = _value(value)
    try:
        answer = control_request(args.socket, args.command, **kwargs)
    except SimError as exc:
        print(f"control socket {args.socket}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
