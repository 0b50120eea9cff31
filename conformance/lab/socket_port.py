"""``socket://host:port`` (raw TCP, ser2net's ``tcp`` accepter) read as fast as it arrives.

pyserial's ``socket://`` handler answers ``in_waiting`` with 1 whenever anything is there (a ``select``), so a reader
that takes "one byte, then what is waiting" gets two bytes per call: a 1460-byte echo costs 730 wake-ups. This
handler is pyserial's own with ``in_waiting`` asking the kernel how many bytes are queued (``FIONREAD``). Registered
for the ``socket`` scheme by the lab plugin; everything else about the URL is pyserial's.
"""

from __future__ import annotations

import array
import fcntl
import termios

from serial.urlhandler import protocol_socket

from ..link.ports import OpenedPort

__all__ = ["QueuedSocketSerial", "open_socket_url"]


class QueuedSocketSerial(protocol_socket.Serial):
    """pyserial's ``socket://`` port whose ``in_waiting`` is the number of bytes the kernel holds for it."""

    @property
    def in_waiting(self) -> int:
        if self._socket is None:
            return super().in_waiting
        count = array.array("i", [0])
        fcntl.ioctl(self._socket.fileno(), termios.FIONREAD, count)
        return count[0]


def open_socket_url(url: str, baudrate: int) -> OpenedPort:
    """The opener of ``socket://``: as pyserial opens it, blocking (``timeout=None``)."""
    port = QueuedSocketSerial(None, baudrate=baudrate, timeout=None)
    port.port = url
    port.open()
    return OpenedPort(serial=port, url=url, info={"network": True})
