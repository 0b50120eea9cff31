"""How received data reaches the host: the receive-delivery policies a socket service can have.

- :class:`Buffered`: the module keeps the data until the host reads it with a command; it says so once, with a
  notification, until the buffer has been read empty (BG96 buffer access mode, §2.2.2 ``+QIURC: "recv",<id>``; GSM
  ``AT+QINDI=1`` and ``+QIRDI``; GSM transparent mode after ``+++``, with no notification).
- :class:`Pushed`: the data goes straight to the host, framed by the dialect (BG96 direct push
  ``+QIURC: "recv",<id>,<len><CR><LF><data>``; BC660K ``+QIURC: "recv",<id>,<len>,<data>``; GSM ``IPD<len>TCP:``).
- Transparent: while a service is the data mode's, its data goes to the host raw (datamode.py).

The socket layer asks the policy whether to read the kernel now and how much: while the module holds data it cannot
deliver, it stops reading, and TCP flow control pushes back on the peer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .module import Module
    from .sockets import Service

__all__ = ["OUTPUT_HIGH_WATER", "Buffered", "Delivery", "Pushed"]

OUTPUT_HIGH_WATER = 64 * 1024  # stop reading sockets while the host has this much output unread

Peer = tuple[str, int] | None


class Delivery(Protocol):
    """A receive-delivery policy."""

    def read_size(self, module: Module, svc: Service) -> int:
        """How many bytes to take from a stream socket now (0: leave them in the kernel)."""
        ...

    def deliver(self, module: Module, svc: Service, data: bytes, peer: Peer) -> None:
        """``data`` arrived on ``svc`` (from ``peer`` for a UDP service)."""
        ...


class Buffered:
    """Kept in the module until read; ``notify(svc)`` once per batch (None: silently)."""

    def __init__(self, notify: Callable[[Service], None] | None = None) -> None:
        self.notify = notify

    def read_size(self, module: Module, svc: Service) -> int:
        return max(0, min(4096, module.config.recv_buffer_bytes - svc.buffered))

    def deliver(self, module: Module, svc: Service, data: bytes, peer: Peer) -> None:
        if peer is not None:
            svc.datagrams.append((data, peer[0], peer[1]))
        else:
            svc.stream += data
        if svc.notify_armed and self.notify is not None:
            svc.notify_armed = False
            self.notify(svc)


class Pushed:
    """Straight to the host: ``emit(svc, data, peer)`` frames one piece of at most ``chunk`` bytes.

    ``split_datagrams``: a datagram longer than ``chunk`` is pushed in several pieces (BC660K §2.4 note 5); otherwise
    each datagram is one piece.
    """

    def __init__(self, emit: Callable[[Service, bytes, Peer], None], chunk: int, *,
                 split_datagrams: bool = False) -> None:
        self.emit = emit
        self.chunk = chunk
        self.split_datagrams = split_datagrams

    def read_size(self, module: Module, svc: Service) -> int:
        # pushed data waits in the kernel while a prompt or data mode owns the port, or the host is not reading
        if module.urcs_held() or module.output.pending() >= OUTPUT_HIGH_WATER:
            return 0
        return self.chunk

    def deliver(self, module: Module, svc: Service, data: bytes, peer: Peer) -> None:
        svc.have_read += len(data)
        if peer is not None and not self.split_datagrams:
            self.emit(svc, data, peer)
            return
        for start in range(0, len(data), self.chunk):
            self.emit(svc, data[start:start + self.chunk], peer)
