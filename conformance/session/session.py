"""The session: an AT conversation over a link.

The session reads the link's receive buffer with a cursor and cuts it into tokens on demand: lines (ended by CRLF, CR
or LF), the ``> `` data prompt (no line end; its space may come late), echoes of what the host sent, and raw data
(the bytes after a data header such as ``+QIRD: 5``, or the stream of transparent data mode). It never drops a byte:
whatever is not consumed stays in the buffer, and the link has recorded it all anyway.

Parsing is lazy because only the reader of the stream knows what comes next: a step that expects a line asks for a
line; a step that expects transparent-mode data asks for bytes. Looking ahead (to find URCs a case waits for in a
window) only ever cuts lines in command mode.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from ..dialects import Dialect
from ..errors import ModuleFlooded
from ..link import Link

__all__ = ["CTRL_Z", "ESC", "Session", "Token"]

CR, LF, SPACE, PROMPT = 0x0D, 0x0A, 0x20, 0x3E
CTRL_Z, ESC = 0x1A, 0x1B
# A final result code with no line end stands alone once the module has been quiet this long after it: long enough
# for the CR LF of a result the module writes in two pieces, short beside any response time.
UNTERMINATED_SETTLE_NS = 100_000_000
UNTERMINATED = "final result code without its line end (V.250 frames result codes with CR LF)"
# More lines than this with nothing sent by the host in between is a module flooding the line, not a conversation:
# at 115200 bit/s it is about 15 s of back-to-back 30-byte URCs.
FLOOD_LINES = 5000
TRIM_BYTES = 1 << 20  # consumed bytes the link may drop once this many have piled up (they are in the flight log)


@dataclass(frozen=True)
class Token:
    """A piece of what the module said, with where it lies in the received stream and when it arrived."""

    kind: str  # "line" | "prompt" | "echo" | "data"
    raw: bytes  # the bytes this token stands for, terminators included
    start: int  # offset of its first byte in the link's receive buffer
    end: int  # offset after its last byte
    t_first_ns: int
    t_last_ns: int
    deviation: str = ""  # how the module's framing departs from V.250 here (the token was still read), for reports
    text_length: int | None = None  # a URC with its data inline: its text is raw[:text_length] (the data may end
    # in CR or LF bytes of its own)

    @property
    def text(self) -> str:
        """The token as text: a line without its terminator, the prompt as ``>``, data as latin-1."""
        if self.kind == "prompt":
            return ">"
        if self.text_length is not None:
            return self.raw[:self.text_length].decode("latin-1")
        return self.raw.rstrip(b"\r\n").decode("latin-1") if self.kind in ("line", "echo") else self.raw.decode(
            "latin-1")


class Session:
    """One AT conversation: commands and data out, tokens in."""

    def __init__(self, link: Link, dialect: Dialect) -> None:
        self.link = link
        self.dialect = dialect
        self.cursor = link.size  # first received byte not yet cut into a token: a session starts at the present
        self.mode = "command"  # "data" after CONNECT: bytes are not lines
        self.last_tx_ns = time.monotonic_ns()  # end of the last host write: the reference for response timing
        self.last_command = ""
        # How the host ends a command line: CR (S3, V.250's default), or CR LF as many host drivers send it.
        self.line_end = b"\r"
        self._ahead: deque[Token] = deque()  # cut but not yet consumed
        self._echo: bytes | None = None  # the command line whose echo may still come
        self._data_echo: bytes | None = None  # the payload whose echo (AT+QISDE=1) may still come
        self._swallow_space = False  # a prompt's space that had not arrived when the prompt was cut
        self._swallow_lf = False  # the LF of a CR LF line end that had not arrived when the line was cut
        self._lines_since_tx = 0
        self._flood_start_ns = 0
        self._inline = any(h.inline for h in dialect.data_headers)  # URCs with their data on the line itself

    # -- sending ---------------------------------------------------------------------------------------------------

    def send_command(self, command: str, *, gap_s: float | None = None, line_rate: int | None = None,
                     line_end: bytes | None = None) -> int:
        """Send ``command`` and its line end (:attr:`line_end` unless given); expect its echo. Returns when the last
        byte went out (ns)."""
        data = command.encode("latin-1")
        self._echo = data
        self.last_command = command
        _, end = self.link.write(data + (self.line_end if line_end is None else line_end), gap_s=gap_s,
                                 line_rate=line_rate)
        self._lines_since_tx = 0
        self.last_tx_ns = end
        return end

    def send_data(self, payload: bytes, *, gap_s: float | None = None, line_rate: int | None = None,
                  echo: bool = True) -> int:
        """Send raw ``payload`` (data after a prompt, or in transparent mode). Returns when it went out (ns).

        With ``echo`` (command mode only), an echo of the payload, as AT+QISDE=1 makes a module send, is recognised
        and set apart instead of being read as lines. A trailing Ctrl+Z or ESC is not expected back.
        """
        if echo and self.mode == "command":
            body = payload[:-1] if payload[-1:] in (b"\x1a", b"\x1b") else payload
            self._data_echo = body or None
        _, end = self.link.write(payload, gap_s=gap_s, line_rate=line_rate)
        self.last_tx_ns = end
        self._lines_since_tx = 0
        return end

    # -- receiving -------------------------------------------------------------------------------------------------

    def next_token(self, deadline_ns: int) -> Token | None:
        """The next line, prompt, echo or data token; None if none is complete by ``deadline_ns``.

        Reading a line leaves data mode: a case that expects a line after CONNECT says the module left it.
        """
        if self._ahead:
            return self._ahead.popleft()
        mode, self.mode, cursor = self.mode, "command", self.cursor
        while True:
            size = self.link.size
            token = self._cut(size)
            if token is not None:
                self._trim()
                return token
            if mode == "command" and self._unterminated_result(size):
                quiet_until = self.link.time_at(size - 1) + UNTERMINATED_SETTLE_NS
                if self.link.wait_for_size(size + 1, min(deadline_ns, quiet_until)):
                    continue  # more bytes: its line end, or whatever follows it
                if time.monotonic_ns() >= quiet_until:
                    start, self.cursor = self.cursor, size
                    self._echo = None
                    return self._token("line", start, size, UNTERMINATED)
            elif self.link.wait_for_size(size + 1, deadline_ns):
                continue
            if mode == "data" and self.mode == "command":
                self.mode, self.cursor = mode, cursor  # no line came: still data mode, its bytes untouched
            return None

    def read_data(self, count: int, deadline_ns: int) -> Token | None:
        """The next ``count`` raw bytes (a data payload or transparent-mode data); None if they don't come in time.

        A payload already cut after a data header is returned first, whatever its length.
        """
        if self._ahead and self._ahead[0].kind == "data":
            return self._ahead.popleft()
        if self._swallow_lf and self.link.wait_for_size(self.cursor + 1, deadline_ns):
            self._swallow_lf = False
            if self.link.byte_at(self.cursor) == LF:
                self.cursor += 1
        start = self.cursor
        if not self.link.wait_for_size(start + count, deadline_ns):
            return None
        self.cursor = start + count
        token = self._token("data", start, self.cursor)
        self._trim()
        return token

    def take_payload(self) -> Token | None:
        """The data payload cut after the last data header line, if it is next; None otherwise."""
        if self._ahead and self._ahead[0].kind == "data":
            return self._ahead.popleft()
        return None

    def look_ahead(self) -> list[Token]:
        """Cut every complete line already received (command mode only) and return all tokens not yet consumed."""
        if self.mode == "command":
            size = self.link.size
            while True:
                at = len(self._ahead)  # a data header's payload is queued by _cut itself: the header goes before it
                token = self._cut(size)
                if token is None:
                    break
                self._ahead.insert(at, token)
        return list(self._ahead)

    def take(self, token: Token) -> None:
        """Consume ``token`` out of order (a URC a window was waiting for)."""
        self._ahead.remove(token)
        if token.kind == "line" and self._ahead and self._ahead[0].kind == "data" and \
                self.dialect.data_length(token.text):
            self._ahead.popleft()  # its payload goes with it

    def absorb_late_lf(self) -> bool:
        """Consume the next byte if it is the LF of a CR LF line end that had not arrived when its line was cut."""
        if not self._swallow_lf or self.cursor >= self.link.size:
            return False
        self._swallow_lf = False
        if self.link.byte_at(self.cursor) != LF:
            return False
        self.cursor += 1
        return True

    def unconsumed(self) -> bytes:
        """Received bytes no token has consumed yet (after the ones cut ahead)."""
        return self.link.data(self.cursor)

    def pending_tokens(self) -> list[Token]:
        return list(self._ahead)

    def expect_no_echo(self) -> None:
        """Forget pending echoes (after ATE0, or when a case takes echoes as lines itself)."""
        self._echo = None
        self._data_echo = None

    # -- cutting tokens --------------------------------------------------------------------------------------------

    def _cut(self, size: int) -> Token | None:
        """Cut one token from ``[cursor:size]`` if a whole one is there, else None (the cursor moves past blanks)."""
        link = self.link
        pos = self.cursor
        if self._swallow_space and pos < size:
            self._swallow_space = False
            if link.byte_at(pos) == SPACE:
                pos += 1
                self.cursor = pos
        if self._swallow_lf and pos < size:
            self._swallow_lf = False
            if link.byte_at(pos) == LF:
                pos += 1
                self.cursor = pos
        if self._data_echo is not None and pos < size:
            token, complete = self._cut_data_echo(pos, size)
            if not complete:
                return None
            if token is not None:
                return token
        while pos < size and link.byte_at(pos) in (CR, LF):  # blank lines and the CRLF that opens a response
            pos += 1
        self.cursor = pos
        if pos >= size:
            return None
        if link.byte_at(pos) == PROMPT:
            end = pos + 1
            if end < size and link.byte_at(end) == SPACE:
                end += 1
            else:
                self._swallow_space = True
            self.cursor = end
            return self._token("prompt", pos, end)
        if self._inline:
            framed = self._cut_inline(pos, size)
            if framed is not None:
                return framed or None
        end = self._line_end(pos, size)
        if end is None:
            return None
        text_end = end
        while text_end > pos and link.byte_at(text_end - 1) in (CR, LF):
            text_end -= 1
        text = link.data(pos, text_end).decode("latin-1")
        payload_len = self.dialect.data_length(text)
        if payload_len is not None:
            if link.byte_at(end - 1) == CR:  # its LF may still be on the way, and the payload starts after it
                if end >= size:
                    return None
                if link.byte_at(end) == LF:
                    end += 1
            if size < end + payload_len:
                return None
        echo = self._echo
        if echo is not None:
            raw_text = text.encode("latin-1")
            if raw_text == echo:
                self._echo = None
                self.cursor = end
                return self._token("echo", pos, end)
            if raw_text.endswith(echo) and len(raw_text) > len(echo):
                # a result with no line end, run into the next command's echo: cut the result, leave the echo
                split = text_end - len(echo)
                self.cursor = split
                return self._token("line", pos, split, UNTERMINATED if self.dialect.is_final(text[:split - pos])
                                   else "line without its line end, run into the echo of the next command")
            if self.dialect.is_final(text):
                self._echo = None  # echo is off: the response is complete without one
        self.cursor = end
        token = self._token("line", pos, end)
        self._count_line(token)
        # A line framed CR LF (ATV1) whose LF is still on the way: the LF belongs to it, whatever the read boundaries,
        # and must not become the first byte of the data mode or prompt that may follow.
        self._swallow_lf = end == size and link.byte_at(end - 1) == CR and pos > 0 and link.byte_at(pos - 1) == LF
        if payload_len:
            self._ahead.append(self._token("data", end, end + payload_len))
            self.cursor = end + payload_len
        if self.dialect.enters_data_mode(text):
            self.mode = "data"
        return token

    def _cut_data_echo(self, pos: int, size: int) -> tuple[Token | None, bool]:
        """Match the echo of sent data at ``pos``: (token, True) if whole, (None, False) to wait, (None, True) if none.
        """
        echo = self._data_echo
        assert echo is not None
        have = self.link.data(pos, min(size, pos + len(echo)))
        if not echo.startswith(have):
            self._data_echo = None
            return None, True
        if len(have) < len(echo):
            return None, False
        self._data_echo = None
        self.cursor = pos + len(echo)
        return self._token("echo", pos, self.cursor), True

    def _count_line(self, token: Token) -> None:
        """Fail a module that floods the line: :data:`FLOOD_LINES` lines with nothing sent by the host."""
        if self._lines_since_tx == 0:
            self._flood_start_ns = token.t_first_ns
        self._lines_since_tx += 1
        if self._lines_since_tx > FLOOD_LINES:
            seconds = (token.t_last_ns - self._flood_start_ns) / 1e9
            self._lines_since_tx = 0
            raise ModuleFlooded(f"the module flooded the line: {FLOOD_LINES} lines in {seconds:.2f} s with nothing "
                                f"sent by the host (the last: {token.text[:80]!r})")

    def _trim(self) -> None:
        if self.cursor - self.link.base > TRIM_BYTES:
            self.link.discard(self.cursor)

    def _cut_inline(self, pos: int, size: int) -> Token | bool | None:
        """A URC carrying its data inline at ``pos`` (BC660K ``+QIURC: "recv",0,5,"12345"``, M95 ``IPD5TCP:12345``),
        framed by its length, so the data may hold any byte. The token, False to wait for more, None if none is here.
        """
        frame = self.dialect.inline_frame(self.link.data(pos, size))
        if frame is None:
            return None
        if frame.end is None:
            return False
        end = pos + frame.end
        text_end = frame.end
        while text_end > frame.payload_end and self.link.byte_at(pos + text_end - 1) in (CR, LF):
            text_end -= 1
        self.cursor = end
        token = self._token("line", pos, end)
        token = Token(token.kind, token.raw, token.start, token.end, token.t_first_ns, token.t_last_ns,
                      text_length=text_end)
        self._count_line(token)
        return token

    def _unterminated_result(self, size: int) -> bool:
        """True if the bytes not yet cut are a whole final result code with no line end after it (yet)."""
        if self._data_echo is not None or self.cursor >= size or size - self.cursor > 64:
            return False
        text = self.link.data(self.cursor, size).decode("latin-1")
        return self.dialect.is_final(text)

    def _line_end(self, pos: int, size: int) -> int | None:
        """Offset just past the line end of the line at ``pos`` (CRLF, CR or LF), or None if it has not arrived."""
        link = self.link
        i = pos
        while i < size:
            b = link.byte_at(i)
            if b == LF:
                return i + 1
            if b == CR:
                return i + 2 if i + 1 < size and link.byte_at(i + 1) == LF else i + 1
            i += 1
        return None

    def _token(self, kind: str, start: int, end: int, deviation: str = "") -> Token:
        link = self.link
        return Token(kind, link.data(start, end), start, end, link.time_at(start), link.time_at(max(start, end - 1)),
                     deviation)
