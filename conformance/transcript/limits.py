"""The bounds a case file must keep, in one place (docs/case-format.md, "Limits").

A case file is input like any other: one written by mistake (or on purpose) must fail alone with ``file:line``, never
exhaust the memory, the stack or the time of a run. Every bound is far above what a real case needs.
"""

from __future__ import annotations

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_DURATION_S",
    "MAX_FILE_BYTES",
    "MAX_GENERATED_BYTES",
    "MAX_LINE_RATE",
    "MAX_NESTING",
]

MAX_FILE_BYTES = 1024 * 1024  # a case or blocks file; the largest BG96 file is about 25 kB
MAX_NESTING = 16  # YAML mappings and lists inside each other; a case needs 3 (vars: {peer: {port: ...}})
MAX_GENERATED_BYTES = 1024 * 1024  # one generator ({pattern:N}, {repeat:N:XX}); 1 MiB is ~18 min at 9600 bit/s
MAX_DURATION_S = 86_400.0  # any duration or timeout: a day; the default backstop of a case is 900 s
MAX_LINE_RATE = 10_000_000  # [rate N] in bit/s; UARTs of these modules stop at a few Mbit/s
MAX_BLOCK_DEPTH = 4  # a block using a block using a block ...
