"""Opening a module's serial port by URL.

Every pyserial URL works as pyserial defines it (``/dev/ttyUSB2``, ``socket://host:port``, ``rfc2217://host:port``,
``loop://``, ``spy://...``). Schemes that pyserial does not know, such as ``sim:bg96`` for a simulated module, are
served by openers registered here: the simulator package registers ``sim``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import serial

__all__ = ["ModemLines", "OpenedPort", "open_port", "register_scheme", "schemes"]


class ModemLines(Protocol):
    """The control lines of a port that has them another way than a UART's ioctl (a pty has none)."""

    def set_dtr(self, level: bool) -> None: ...

    def set_rts(self, level: bool) -> None: ...


@dataclass
class OpenedPort:
    """An open port: the pyserial object the link reads and writes, plus what came with it."""

    serial: serial.SerialBase
    url: str
    lines: ModemLines | None = None  # None: DTR/RTS go through pyserial
    info: dict[str, Any] = field(default_factory=dict)  # e.g. {"pty": "/dev/pts/7", "pid": 1234}
    on_close: Callable[[], None] | None = None

    def set_dtr(self, level: bool) -> None:
        if self.lines is not None:
            self.lines.set_dtr(level)
        else:
            self.serial.dtr = level

    def set_rts(self, level: bool) -> None:
        if self.lines is not None:
            self.lines.set_rts(level)
        else:
            self.serial.rts = level

    def close(self) -> None:
        try:
            self.serial.close()
        finally:
            if self.on_close is not None:
                self.on_close()


Opener = Callable[[str, int], OpenedPort]
_OPENERS: dict[str, Opener] = {}


def register_scheme(scheme: str, opener: Opener) -> None:
    """Serve URLs ``<scheme>:...`` with ``opener(url, baudrate)``."""
    _OPENERS[scheme] = opener


def schemes() -> list[str]:
    _load_builtin()
    return sorted(_OPENERS)


def open_port(url: str, baudrate: int = 115200) -> OpenedPort:
    """Open ``url``: a registered scheme (``sim:bg96``) or anything ``serial.serial_for_url`` accepts.

    The port is opened blocking (``timeout=None``): the link's reader thread blocks in ``read`` and never polls.
    """
    _load_builtin()
    scheme, sep, _ = url.partition(":")
    if sep and scheme in _OPENERS:
        return _OPENERS[scheme](url, baudrate)
    with warnings.catch_warnings():
        # pyserial 3.5's RFC 2217 client starts its reader thread with Thread.setDaemon/setName: noise in every run
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="serial.rfc2217")
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=None, exclusive=_exclusive(url))
    return OpenedPort(serial=port, url=url)


def _exclusive(url: str) -> bool | None:
    # A local device is locked (TIOCEXCL + flock) so two runs cannot share a module; URL handlers take no such flag.
    return True if "://" not in url else None


def _load_builtin() -> None:
    try:
        import conformance.sim  # noqa: F401  (registers "sim")
    except ImportError:  # the simulator package is optional for a bench that only drives real modules
        pass
