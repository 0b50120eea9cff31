"""The flight recorder: every byte in both directions and every note, streamed to disk as it happens.

A log is JSON lines. The first line describes the recording; each following line is one event::

    {"t": 1234567890123, "d": "rx", "b": "\\r\\nOK\\r\\n"}
    {"t": 1234567891123, "d": "tx", "b": "AT+QIACT?\\r"}
    {"t": 1234567892000, "d": "note", "n": "step 4 matched (cases/bg96/x.yaml:12)"}

``t`` is ``time.monotonic_ns()`` when the reader thread got the bytes (rx) or the write was issued (tx). ``b`` holds the
bytes as a latin-1 string, so JSON's escapes keep every byte value 0x00-0xFF exactly. Each event is flushed on its own:
a run killed with SIGKILL keeps everything up to the kill.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["Event", "FlightRecorder", "Redactor", "read_log"]

Redactor = Callable[[bytes], bytes]


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
                 redact: Redactor | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._redact = redact
        self._lock = threading.Lock()
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        header = {
            "atlog": 1,
            "t0": time.monotonic_ns(),
            "wall": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
            **(meta or {}),
        }
        self._write(header)

    def record(self, event: Event) -> None:
        """Write ``event`` now (redacted where a redactor is set)."""
        line: dict[str, Any] = {"t": event.t_ns, "d": event.direction}
        if event.direction == "note":
            line["n"] = event.note
        else:
            data = self._redact(event.data) if self._redact else event.data
            line["b"] = data.decode("latin-1")
        self._write(line)

    def note(self, text: str, t_ns: int | None = None) -> None:
        self.record(Event(t_ns if t_ns is not None else time.monotonic_ns(), "note", note=text))

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _write(self, obj: dict[str, Any]) -> None:
        text = json.dumps(obj, ensure_ascii=True) + "\n"
        with self._lock:
            if self._file is None:
                return
            self._file.write(text)
            self._file.flush()  # line buffering already flushes; explicit so the contract does not hang on it


def read_log(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Iterator[Event]]:
    """Read a ``.atlog``: its header and its events. A torn last line (a kill mid-write) is skipped."""
    f = open(path, encoding="utf-8")  # noqa: SIM115
    first = f.readline()
    header: dict[str, Any] = json.loads(first) if first.strip() else {}

    def events() -> Iterator[Event]:
        with f:
            for raw in f:
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if "atlog" in obj:  # a second recording appended to the same file
                    continue
                if obj["d"] == "note":
                    yield Event(obj["t"], "note", note=obj.get("n", ""))
                else:
                    yield Event(obj["t"], obj["d"], data=obj.get("b", "").encode("latin-1"))

    return header, events()
