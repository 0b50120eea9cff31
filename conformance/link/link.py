"""The link: bytes and time, nothing else.

A :class:`Link` owns an open port and a reader thread blocked in ``read`` (no sleep-and-poll). Every chunk the reader
gets is stamped with ``time.monotonic_ns()``, appended to one growing receive buffer and handed to the flight recorder.
Writes can be paced: an emulated line rate (a pty ignores the baud rate) or an explicit gap between bytes. Readers of
the buffer wait on a condition with a deadline, so a byte that arrives wakes them at once.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable

from ..errors import LinkClosed
from .ports import OpenedPort, open_port
from .recorder import Event, FlightRecorder

__all__ = ["BITS_PER_BYTE", "Link", "hold_silence"]

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
_SPIN_NS = 200_000  # the last 0.2 ms of a gap or silence wait spins: sleep() overshoots by about that much
# A paced write refills the line as a UART's transmit FIFO is refilled: in bursts of a 16550's 16 bytes, at most one
# burst a millisecond (faster line rates take bigger bursts), so the sender sleeps between bursts and never spins.
_FIFO_BYTES = 16
_MIN_BURST_NS = 1_000_000


class Link:
    """A byte-exact, time-exact connection to one module."""

    def __init__(self, port: OpenedPort, *, recorder: FlightRecorder | None = None,
                 line_rate: int | None = None) -> None:
        self.port = port
        self.url = port.url
        self.line_rate = line_rate  # bits per second to emulate on writes; None = as fast as the port takes them
        self.recorder = recorder
        self.last_tx_ns = 0  # when the last write returned
        self.last_rx_ns = 0  # when the last chunk arrived
        self.listeners: list[Callable[[Event], None]] = []  # called from the reader thread for rx, caller for tx
        self._rx = bytearray()  # received bytes from offset ``_base`` on (what readers no longer need is dropped)
        self._base = 0
        self._rx_ends: list[int] = []  # end offset of each received chunk ...
        self._rx_times: list[int] = []  # ... and when it arrived
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._closing = False
        self._eof = False
        self.error: BaseException | None = None  # why the reader stopped, if not by close()
        self._thread = threading.Thread(target=self._read_loop, name=f"link-reader {self.url}", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115200, recorder: FlightRecorder | None = None,
             line_rate: int | None = None) -> Link:
        """Open ``url`` (any pyserial URL or a registered scheme such as ``sim:bg96``) and start reading."""
        return cls(open_port(url, baudrate), recorder=recorder, line_rate=line_rate)

    # -- receiving -------------------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """How many bytes have been received since the link opened."""
        return self._base + len(self._rx)

    @property
    def base(self) -> int:
        """The offset of the oldest byte still kept (see :meth:`discard`)."""
        return self._base

    @property
    def closed(self) -> bool:
        """True once no more bytes can arrive (closed by us, or the reader hit end of file or an error)."""
        return self._eof

    def data(self, start: int, end: int | None = None) -> bytes:
        """Received bytes ``[start:end]`` (offsets count from the opening of the link)."""
        with self._cond:
            lo = max(start - self._base, 0)
            return bytes(self._rx[lo:] if end is None else self._rx[lo:max(end - self._base, 0)])

    def byte_at(self, offset: int) -> int:
        return self._rx[offset - self._base]

    def time_at(self, offset: int) -> int:
        """When the byte at ``offset`` arrived (``monotonic_ns``)."""
        i = bisect.bisect_right(self._rx_ends, offset)
        return self._rx_times[min(i, len(self._rx_times) - 1)]

    def discard(self, before: int) -> None:
        """Forget the bytes before offset ``before``: a reader has consumed them (they are in the flight log).

        Offsets keep counting from the opening of the link; :meth:`data` of a forgotten range returns what is left.
        """
        with self._cond:
            drop = min(before, self.size) - self._base
            if drop <= 0:
                return
            del self._rx[:drop]
            self._base += drop
            keep = bisect.bisect_right(self._rx_ends, self._base)  # chunks that ended before the new base go
            del self._rx_ends[:keep]
            del self._rx_times[:keep]

    def wait_for_size(self, size: int, deadline_ns: int) -> bool:
        """Block until at least ``size`` bytes have been received or ``deadline_ns`` passes; True if they have.

        Raises :class:`LinkClosed` if the link closed before.
        """
        with self._cond:
            while self._base + len(self._rx) < size:
                if self._eof:
                    raise LinkClosed(self._closed_reason())
                remaining = deadline_ns - time.monotonic_ns()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining / 1e9)
            return True

    # -- sending ---------------------------------------------------------------------------------------------------

    def write(self, data: bytes, *, gap_s: float | None = None, line_rate: int | None = None) -> tuple[int, int]:
        """Send ``data``; return (when its first byte went out, when its last did), in ``monotonic_ns``.

        ``gap_s`` spaces single bytes that far apart (start to start); otherwise ``line_rate`` (or the link's) paces
        the bytes as a UART at that rate with 8N1 framing would; otherwise the port takes them as fast as it can.
        """
        if self._eof:
            raise LinkClosed(self._closed_reason())
        rate = line_rate or self.line_rate
        with self._write_lock:
            if gap_s is not None and len(data) > 1:
                return self._write_spaced(data, int(gap_s * 1e9))
            if rate:
                return self._write_paced(data, BITS_PER_BYTE * 1_000_000_000 // rate)
            return self._write_now(data)

    def set_dtr(self, level: bool) -> None:
        self.port.set_dtr(level)
        self.note(f"DTR {'on' if level else 'off'}")

    def set_rts(self, level: bool) -> None:
        self.port.set_rts(level)
        self.note(f"RTS {'on' if level else 'off'}")

    def note(self, text: str) -> None:
        """Put a note in the flight log (e.g. "step 4 matched")."""
        self._emit(Event(time.monotonic_ns(), "note", note=text))

    def close(self) -> None:
        """Stop the reader and close the port (and, for a simulator, stop it)."""
        if self._closing:
            return
        self._closing = True
        cancel = getattr(self.port.serial, "cancel_read", None)
        try:
            if cancel is not None:
                cancel()
        except Exception:
            pass
        try:
            self.port.close()
        finally:
            self._thread.join(timeout=2.0)
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        ser = self.port.serial
        try:
            while not self._closing:
                chunk = ser.read(1)  # blocks: timeout=None
                t_ns = time.monotonic_ns()
                if not chunk:
                    if self._closing:
                        break
                    continue
                waiting = ser.in_waiting
                if waiting:
                    chunk += ser.read(waiting)
                with self._cond:
                    self._rx += chunk
                    self._rx_ends.append(self._base + len(self._rx))
                    self._rx_times.append(t_ns)
                    self.last_rx_ns = t_ns
                    self._cond.notify_all()
                self._emit(Event(t_ns, "rx", chunk))
        except Exception as exc:
            if not self._closing:
                self.error = exc
                self._emit(Event(time.monotonic_ns(), "note", note=f"link reader stopped: {exc!r}"))
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def _write_now(self, data: bytes) -> tuple[int, int]:
        start = time.monotonic_ns()
        self._emit(Event(start, "tx", data))  # logged before the write, so an echo can never precede it in the log
        self.port.serial.write(data)
        end = time.monotonic_ns()
        self.last_tx_ns = end
        return start, end

    def _write_spaced(self, data: bytes, gap_ns: int) -> tuple[int, int]:
        first, _ = self._write_now(data[:1])
        for i in range(1, len(data)):
            _sleep_until(first + i * gap_ns)
            _, last = self._write_now(data[i:i + 1])
        return first, last

    def _write_paced(self, data: bytes, byte_ns: int) -> tuple[int, int]:
        # Byte i is due when a UART at this rate would have sent the i bytes before it (t0 + i * byte_ns); none is
        # written before it is due. The sender wakes once a burst is due, writes every byte due by then, and sleeps:
        # the schedule is absolute, so a late wake-up is caught up by the next burst and the rate holds.
        burst = max(_FIFO_BYTES, -(-_MIN_BURST_NS // byte_ns))
        t0 = time.monotonic_ns()
        sent = 0
        first = last = t0
        while sent < len(data):
            due = min(len(data), (time.monotonic_ns() - t0) // byte_ns + 1)
            if due > sent:
                start, last = self._write_now(data[sent:due])
                if sent == 0:
                    first = start
                sent = due
            if sent < len(data):
                wake = t0 + (min(len(data), sent + burst) - 1) * byte_ns
                remaining = wake - time.monotonic_ns()
                if remaining > 0:
                    time.sleep(remaining / 1e9)
        return first, last

    def _emit(self, event: Event) -> None:
        if self.recorder is not None:
            self.recorder.record(event)
        for listener in list(self.listeners):
            listener(event)

    def _closed_reason(self) -> str:
        if self.error is not None:
            return f"link to {self.url} closed: {self.error}"
        return f"link to {self.url} is closed"


def hold_silence(seconds: float) -> None:
    """The host sends nothing for ``seconds`` (a guard time): there is no event to wait for, only the clock."""
    _sleep_until(time.monotonic_ns() + int(seconds * 1e9))


def _sleep_until(t_ns: int) -> None:
    """Wait until ``monotonic_ns() >= t_ns``: a pacing wait, precise to a few microseconds."""
    remaining = t_ns - time.monotonic_ns()
    if remaining > _SPIN_NS:
        time.sleep((remaining - _SPIN_NS) / 1e9)
    while time.monotonic_ns() < t_ns:
        pass
