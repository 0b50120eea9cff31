"""A stand-in for the simulator's serial side, for tests that drive a module object in-process (no pty)."""

from __future__ import annotations

import time


class FakePort:
    """Keeps what the module wrote, each write with the monotonic time it happened."""

    def __init__(self) -> None:
        self.stamped: list[tuple[int, bytes]] = []

    @property
    def writes(self) -> list[bytes]:
        return [data for _, data in self.stamped]

    @property
    def out(self) -> bytes:
        return b"".join(self.writes)

    def write(self, data: bytes) -> None:
        self.stamped.append((time.monotonic_ns(), data))

    def pending_output(self) -> int:
        return 0

    def set_input_paused(self, paused: bool) -> None:
        pass

    def discard_output(self) -> None:
        pass
