"""One request to a simulated module's control channel, from a shell: what a lab's power command runs.

``python -m conformance.lab.simctl SOCKET reboot`` reboots the simulator whose control socket is ``SOCKET`` (printed
by ``conformance sim bg96``), as a power switch would power-cycle a real module. labgrid's ``ExternalPowerDriver``
runs it as its ``cmd_cycle``; ``--power-cycle-cmd`` can run it too. Arguments after the command are ``key=value``
(``python -m conformance.lab.simctl SOCKET dtr level=0``); the reply is printed as JSON, an error reply exits 1.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from typing import Any

__all__ = ["CONTROL_TIMEOUT_S", "ControlError", "control_request", "main"]

CONTROL_TIMEOUT_S = 10.0  # one request and its reply (a reboot answers at once; the start-up lines follow)


class ControlError(RuntimeError):
    """The control socket could not be reached, or the simulator refused the request."""


def control_request(path: str, cmd: str, *, timeout_s: float = CONTROL_TIMEOUT_S, **args: Any) -> dict[str, Any]:
    """Send ``{"cmd": cmd, **args}`` to the control socket at ``path``; return the reply (raises :class:`ControlError`
    for an error reply or a socket that does not answer)."""
    request = json.dumps({"cmd": cmd, **args}).encode() + b"\n"
    reply = bytearray()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(path)
            sock.sendall(request)
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        raise ControlError(f"control socket {path}: {exc}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        raise ControlError(f"control socket {path}: no reply to {cmd!r}") from None
    if not answer.get("ok"):
        raise ControlError(f"control socket {path}: {cmd} refused: {answer.get('error', answer)}")
    return answer


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
    except ControlError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
