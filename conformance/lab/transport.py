"""What a module's port can carry besides bytes: whether it crosses a network, whether DTR/RTS reach the module.

A case that drops DTR needs modem lines; a bare pty has none (its ioctl fails with "Inappropriate ioctl"), and
``socket://`` carries bytes only. A case whose point is timing (guard times of an escape sequence) measures the
network's delays too when the port is ``rfc2217://`` or ``socket://``. :func:`port_traits` tells both, from the open
port, so the plugin can skip or explain such a case instead of letting it fail for a reason the module has no part in.
"""

from __future__ import annotations

import fcntl
import os
import termios
from dataclasses import dataclass

from serial import rfc2217
from serial.urlhandler import protocol_loop, protocol_socket

from ..link.ports import OpenedPort

__all__ = ["PortTraits", "port_traits"]


@dataclass(frozen=True)
class PortTraits:
    """What the port carries: ``network`` (bytes cross a TCP connection, with its delays), ``modem_lines`` (the host's
    DTR/RTS reach the module) and, when they do not, ``why_no_lines`` in a phrase."""

    network: bool
    modem_lines: bool
    why_no_lines: str = ""


def port_traits(port: OpenedPort) -> PortTraits:
    """The traits of an open port. An opener may say them itself in ``port.info`` (``network``, ``modem_lines``)."""
    network = port.info.get("network")
    lines = port.info.get("modem_lines")
    why = str(port.info.get("why_no_lines", ""))
    ser = port.serial
    if port.lines is not None:  # a simulator's control channel stands for the lines
        return PortTraits(bool(network), True)
    if isinstance(ser, rfc2217.Serial):
        # pyserial sends SET_CONTROL; whether the lines reach the module is the server's business (ser2net on a UART
        # sets them; on a bare pty it cannot: docs/lab.md)
        return PortTraits(True if network is None else bool(network), True if lines is None else bool(lines), why)
    if isinstance(ser, protocol_socket.Serial):
        return PortTraits(True if network is None else bool(network), False,
                          why or "socket:// carries bytes only, no modem lines (use rfc2217://)")
    if isinstance(ser, protocol_loop.Serial):
        return PortTraits(False, False, "loop:// has no module behind it")
    if lines is not None:
        return PortTraits(bool(network), bool(lines), why)
    fd = getattr(ser, "fd", None)
    if fd is None:
        return PortTraits(bool(network), True)  # a port type this module does not know: let DTR/RTS be tried
    try:
        fcntl.ioctl(fd, termios.TIOCMGET, b"\0\0\0\0")
    except OSError as exc:
        name = _device_name(fd)
        return PortTraits(bool(network), False, f"{name} has no modem control lines ({exc.strerror}): a "
                          "pseudo-terminal or a port without DTR")
    return PortTraits(bool(network), True)


def _device_name(fd: int) -> str:
    try:
        return os.ttyname(fd)
    except OSError:
        return "the port"
