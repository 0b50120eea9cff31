"""The flight recorder: every byte in both directions and every note, streamed to disk as it happens.

A log is JSON lines. The first line describes the recording; each following line is one event::

    {"t": 1234567890123, "d": "rx", "b": "\\r\\nOK\\r\\n"}
    {"t": 1234567891123, "d": "tx", "b": "AT+QIACT?\\r"}
    {"t": 1234567892000, "d": "note", "n": "step 4 matched (cases/bg96/x.yaml:12)"}

``t`` is ``time.monotonic_ns()`` when the reader thread got the bytes (rx) or the write was issued (tx). ``b`` holds the
bytes as a latin-1 string, so JSON's escapes keep every byte value 0x00-0xFF exactly. Each event is flushed on its own:
a run killed with SIGKILL keeps everything up to the kill.

With a redactor, secrets never reach the file: bytes are redacted on the assembled stream of each direction, so a
partial line is held back until its line end (at most a few hundred bytes; see :mod:`conformance.redact`) and events
may then appear slightly out of time order; ``t`` is always the truth, and ``conformance log`` sorts by it. Notes are
redacted too.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..redact import Redactor

__all__ = ["MAX_BYTES", "Event", "FlightRecorder", "LogError", "read_log"]

MAX_BYTES = 64 << 20  # size of one log beyond which events are counted, not written (a module flooding the line)


@dataclass(frozen=True)
class Event:
    """One recorded happening: bytes received (``rx``), bytes sent (``tx``), or a ``note``."""

    t_ns: int
    direction: str  # "rx" | "tx" | "note"
    data: bytes = b""
    note: str = ""


class FlightRecorder:
    """Appends events to a ``.atlog`` file, one flushed JSON line each; thread-safe."""

    def __init__(self, path: str | os.PathLike[str], *, meta: dict[str, Any] | None = None,
                 redact: Redactor | None = None, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._written = 0
        self._dropped_bytes = 0
        self._dropped_events = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.redactor = redact or Redactor()
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        header = {
            "atlog": 1,
            "t0": time.monotonic_ns(),
            "wall": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
            **(meta or {}),
        }
        self._write(header)

    @property
    def redactor(self) -> Redactor:
        return self._redactor

    @redactor.setter
    def redactor(self, redactor: Redactor) -> None:
        """Redact with ``redactor`` from now on (what was held for the old one is written first)."""
        old = getattr(self, "_streams", None)
        if old is not None:
            self._flush_held()
        self._redactor = redactor
        self._streams = {"rx": redactor.stream(), "tx": redactor.stream()}

    def record(self, event: Event) -> None:
        """Write ``event`` now (bytes: as soon as their line is whole, redacted)."""
        if event.direction == "note":
            self._write_capped({"t": event.t_ns, "d": "note", "n": self._redactor.text(event.note)}, 0)
            return
        with self._lock:
            stream = self._streams.get(event.direction)
            pieces = stream.feed(event.t_ns, event.data) if stream is not None else [(event.t_ns, event.data)]
        for t_ns, data in pieces:
            self._write_capped({"t": t_ns, "d": event.direction, "b": data.decode("latin-1")}, len(data))

    def _write_capped(self, obj: dict[str, Any], size: int) -> None:
        """Write ``obj`` unless the log has reached :attr:`max_bytes`; past it, count what is dropped."""
        with self._lock:  # the reader thread and the caller's both write: the count must see every line
            room = self.max_bytes - self._written
            if room <= 0:
                if self._dropped_events == 0:
                    self._write_locked({"t": obj["t"], "d": "note", "n": f"the log reached its cap of "
                                        f"{self.max_bytes} bytes: events from here on are counted, not written"})
                self._dropped_bytes += size
                self._dropped_events += 1
                return
            if "b" in obj and 2 * len(obj["b"]) > room:  # a big read at the edge: what fits (JSON escapes double)
                kept = obj["b"][: room // 2]
                self._dropped_bytes += size - len(kept)
                self._dropped_events += 1
                obj = {**obj, "b": kept}
            self._written += self._write_locked(obj)

    def note(self, text: str, t_ns: int | None = None) -> None:
        self.record(Event(t_ns if t_ns is not None else time.monotonic_ns(), "note", note=text))

    def close(self) -> None:
        """Write what is held back, then close the file."""
        self._flush_held()
        if self._dropped_events:
            self._write({"t": time.monotonic_ns(), "d": "note",
                         "n": f"not recorded (over the cap of {self.max_bytes} bytes): {self._dropped_events} events, "
                              f"{self._dropped_bytes} bytes of them received or sent"})
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _flush_held(self) -> None:
        with self._lock:
            held = [(d, t, b) for d, stream in self._streams.items() for t, b in stream.flush()]
        for direction, t_ns, data in sorted(held, key=lambda x: x[1]):
            self._write_capped({"t": t_ns, "d": direction, "b": data.decode("latin-1")}, len(data))

    def _write(self, obj: dict[str, Any]) -> int:
        """Write one JSON line; return its length."""
        with self._lock:
            return self._write_locked(obj)

    def _write_locked(self, obj: dict[str, Any]) -> int:
        if self._file is None:
            return 0
        text = json.dumps(obj, ensure_ascii=True) + "\n"
        self._file.write(text)
        self._file.flush()  # line buffering already flushes; explicit so the contract does not hang on it
        return len(text)


class LogError(ValueError):
    """A file that is not a flight log (binary, a directory, not JSON lines with a header)."""


def read_log(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Iterator[Event]]:
    """Read a ``.atlog``: its header and its events.

    A torn last line (a kill mid-write) and lines without their fields are skipped; :class:`LogError` if the file is
    not a flight log at all.
    """
    try:
        f = open(path, encoding="utf-8", errors="strict")  # noqa: SIM115
        first = f.readline()
    except IsADirectoryError:
        raise LogError(f"{os.fspath(path)} is a directory, not a flight log") from None
    except UnicodeDecodeError:
        f.close()
        raise LogError(f"{os.fspath(path)} is not a flight log (binary data; a .atlog is JSON lines)") from None
    try:
        header = json.loads(first) if first.strip() else {}
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or (first.strip() and "atlog" not in header):
        f.close()
        raise LogError(f"{os.fspath(path)} is not a flight log (its first line is not an atlog header)")

    def events() -> Iterator[Event]:
        with f:
            try:
                for raw in f:
                    event = _event(raw)
                    if event is not None:
                        yield event
            except UnicodeDecodeError:
                return  # binary garbage appended: what came before it stands

    return header, events()


def _event(raw: str) -> Event | None:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or "atlog" in obj:  # junk, or a second recording appended to the same file
        return None
    t, d = obj.get("t"), obj.get("d")
    if not isinstance(t, int) or d not in ("rx", "tx", "note"):
        return None
    if d == "note":
        return Event(t, "note", note=str(obj.get("n", "")))
    data = obj.get("b", "")
    if not isinstance(data, str):
        return None
    try:
        return Event(t, d, data=data.encode("latin-1"))
    except UnicodeEncodeError:
        return None
