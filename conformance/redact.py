"""Secrets out of every artifact: the bench's listed secrets and the dialect's secret-bearing lines, masked.

Redaction is line-bounded: a pattern is applied to one line at a time, so it can never run across a line end and
swallow what follows (a report row's time, its ``FAILED`` marker). Bytes that arrive or leave a piece at a time (a
paced write sends ``AT+CPIN=1234`` byte by byte) are redacted on the assembled stream: :class:`StreamRedactor` holds a
partial line back until its line end comes, so no piece of a secret is ever written anywhere on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["MASK", "Redactor", "StreamRedactor"]

MASK = b"***"
HOLD_MAX = 512  # a partial line longer than this is let through: secrets sit in short command lines
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class Redactor:
    """Masks ``secrets`` (literal values) and the ``secret`` group of each regular expression in ``patterns``."""

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        values = {s.encode("latin-1", "replace") for s in secrets if s}
        self._fixed = sorted(values, key=len, reverse=True)  # the longest first: one secret may contain another
        self._patterns = [re.compile(p.encode("latin-1")) for p in patterns]

    @property
    def active(self) -> bool:
        """True if there is anything to redact."""
        return bool(self._fixed or self._patterns)

    def __call__(self, data: bytes) -> bytes:
        """``data`` with every secret masked, line by line."""
        if not self.active or not data:
            return data
        return b"".join(self._line(m.group()) for m in _LINE.finditer(data))

    def text(self, text: str) -> str:
        """The same for text (anything beyond latin-1 passes through unchanged)."""
        if not self.active or not text:
            return text
        return "".join(self._text_line(m.group()) for m in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+", text))

    def stream(self) -> StreamRedactor:
        """A redactor for one direction of a byte stream that arrives in pieces."""
        return StreamRedactor(self)

    def _line(self, line: bytes) -> bytes:
        for secret in self._fixed:
            line = line.replace(secret, MASK)
        for regex in self._patterns:
            line = regex.sub(_mask_group, line)
        return line

    def _text_line(self, line: str) -> str:
        try:
            raw = line.encode("latin-1")
        except UnicodeEncodeError:
            # text beyond latin-1 (a report's prose): secrets are latin-1, so mask them in the text itself
            for secret in self._fixed:
                line = line.replace(secret.decode("latin-1"), MASK.decode())
            return line
        return self._line(raw).decode("latin-1")


def _mask_group(m: re.Match[bytes]) -> bytes:
    whole, start = m.group(0), m.start()
    return whole[: m.start("secret") - start] + MASK + whole[m.end("secret") - start:]


@dataclass
class StreamRedactor:
    """One direction of a stream, redacted on whole lines: :meth:`feed` pieces, get back what may be written now.

    Each piece comes with its time; what comes back keeps the pieces' boundaries and times wherever redaction changed
    nothing (timing analysis needs them), and gives a line that held a secret as one piece, at the time of its end.
    """

    redactor: Redactor
    _pieces: list[tuple[int, bytes]] = field(default_factory=list)
    _held: int = 0

    def feed(self, t_ns: int, data: bytes) -> list[tuple[int, bytes]]:
        """Add a piece received (or sent) at ``t_ns``; return the pieces that are now safe to write."""
        if not self.redactor.active:
            return [(t_ns, data)]
        self._pieces.append((t_ns, data))
        self._held += len(data)
        joined = b"".join(p for _, p in self._pieces)
        cut = max(joined.rfind(b"\r"), joined.rfind(b"\n")) + 1
        if cut == 0 and self._held <= HOLD_MAX:
            return []
        if cut == 0:
            cut = len(joined)
        return self._release(cut)

    def flush(self) -> list[tuple[int, bytes]]:
        """Everything still held (the recording ends)."""
        if not self._pieces:
            return []
        return self._release(self._held)

    def _release(self, cut: int) -> list[tuple[int, bytes]]:
        """Redact and return the first ``cut`` bytes held, keep the rest."""
        out: list[tuple[int, bytes]] = []
        pending: list[tuple[int, bytes]] = []  # pieces of the line being assembled
        line = bytearray()
        taken = 0
        rest: list[tuple[int, bytes]] = []
        for t_ns, data in self._pieces:
            if taken >= cut:
                rest.append((t_ns, data))
                continue
            use = data[: cut - taken]
            if len(use) < len(data):
                rest.append((t_ns, data[len(use):]))
            taken += len(use)
            start = 0
            for m in re.finditer(rb"\r\n|\r|\n", use):
                pending.append((t_ns, use[start:m.end()]))
                line += use[start:m.end()]
                out += self._redacted_line(pending, bytes(line))
                pending, line, start = [], bytearray(), m.end()
            if start < len(use):
                pending.append((t_ns, use[start:]))
                line += use[start:]
        if pending:
            out += self._redacted_line(pending, bytes(line))
        self._pieces = rest
        self._held = sum(len(p) for _, p in rest)
        return out

    def _redacted_line(self, pieces: list[tuple[int, bytes]], line: bytes) -> list[tuple[int, bytes]]:
        redacted = self.redactor(line)
        if redacted == line:
            return [(t, p) for t, p in pieces if p]
        return [(pieces[-1][0], redacted)]
