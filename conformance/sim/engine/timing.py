"""Timing profiles: how long the simulated module takes to answer.

``instant`` answers as fast as the host's kernel does (the default: quick, deterministic runs). ``realistic`` takes
the time a module on a cellular link takes: every delay is drawn from a range well inside the command's documented
maximum response time, from a random stream seeded by ``seed`` (one stream per kind of delay, so a run is
reproducible), and responses are written in a few pieces with short gaps, as a module's UART and USB stack deliver
them. A host that works only against instant answers fails here as it would on hardware.

The ranges are kept modest (a whole case run takes a few minutes, not hours); each is an ASSUMPTION about typical
values, all far below the maxima the manuals give (BG96 §2.1.2 150 s for +QIACT, §2.1.4 150 s for +QIOPEN, §2.1.14
60 s for +QIDNSGIP).
"""

from __future__ import annotations

import random

__all__ = ["ESCAPE_REACTION_S", "REALISTIC_RANGES", "TimingProfile"]

# The module's reaction to the end of the guard time after "+++": its OK is written this long after the guard has
# passed, measured from the arrival of the last "+". A host times the guard from the moment its own write returned,
# which can be a few milliseconds after the bytes reached the module (scheduling, the interpreter's lock); without
# this margin the host could measure an OK a millisecond before the guard ended. ASSUMPTION: tens of ms, as firmware
# timers tick.
ESCAPE_REACTION_S = 0.05

# kind -> (shortest, longest) delay in seconds under the realistic profile
REALISTIC_RANGES: dict[str, tuple[float, float]] = {
    "command": (0.003, 0.02),  # a command answered from the module's own state
    "activate": (0.2, 0.8),  # AT+QIACT: the network grants a context
    "deactivate": (0.05, 0.2),  # AT+QIDEACT
    "connect": (0.05, 0.3),  # before a TCP connect or a UDP open leaves the module (radio latency)
    "dns": (0.05, 0.25),  # before a DNS answer is reported
    "send": (0.01, 0.08),  # SEND OK after the data was handed over
    "escape": (ESCAPE_REACTION_S, 0.1),  # OK after the guard time of "+++"
}
CHUNK_GAP_S = (0.0005, 0.003)  # between two pieces of one response
CHUNK_MAX_PIECES = 3


class TimingProfile:
    """Delays by kind of event, and how a response is cut into pieces."""

    def __init__(self, name: str = "instant", seed: int = 0) -> None:
        self.reset(name, seed)

    def reset(self, name: str, seed: int) -> None:
        """Switch to profile ``name`` with fresh random streams from ``seed``."""
        if name not in ("instant", "realistic"):
            raise ValueError(f"unknown timing profile {name!r}: instant or realistic")
        self.name = name
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    @property
    def realistic(self) -> bool:
        return self.name == "realistic"

    def delay(self, kind: str) -> float:
        """Seconds the module takes for an event of ``kind`` (see REALISTIC_RANGES); 0 when instant."""
        if not self.realistic:
            return ESCAPE_REACTION_S if kind == "escape" else 0.0
        low, high = REALISTIC_RANGES[kind]
        return self._stream(kind).uniform(low, high)

    def pieces(self, data: bytes) -> list[tuple[float, bytes]]:
        """``data`` as (gap before it in seconds, piece); one piece with no gap when instant."""
        if not self.realistic or len(data) < 4:
            return [(0.0, data)]
        rng = self._stream("chunk")
        count = rng.randint(1, CHUNK_MAX_PIECES)
        cuts = sorted(rng.sample(range(1, len(data)), min(count - 1, len(data) - 1)))
        bounds = [0, *cuts, len(data)]
        return [(0.0 if i == 0 else rng.uniform(*CHUNK_GAP_S), data[bounds[i]:bounds[i + 1]])
                for i in range(len(bounds) - 1)]

    def _stream(self, kind: str) -> random.Random:
        stream = self._streams.get(kind)
        if stream is None:
            stream = self._streams[kind] = random.Random(f"{self.seed}/{kind}")
        return stream
