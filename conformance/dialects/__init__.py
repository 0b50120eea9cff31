"""Module families as data: what the session, the matcher and the simulators need to know about a dialect.

Every fact here is cited to the manual section it comes from. Code elsewhere asks a :class:`Dialect` for limits,
response times, URC shapes and error codes; it never writes them as literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property

__all__ = [
    "Cleanup",
    "CommandTiming",
    "Completion",
    "DataHeader",
    "Dialect",
    "ErrorCode",
    "EscapeRules",
    "InlineFrame",
    "command_names",
    "get",
    "names",
    "register",
]


@dataclass(frozen=True)
class CommandTiming:
    """The documented maximum response time of one command (matched by its name, e.g. ``+QIOPEN``)."""

    command: str
    seconds: float
    source: str
    seconds_param: int | None = None  # index of a parameter that sets the time instead (AT+QICLOSE=<id>,<timeout>)
    # the result URC that comes after the final result may take this long (BC660K: OK within 5 s, then "+QIOPEN:"
    # within 60 s); None: the command's own time covers it
    result_s: float | None = None

    def for_command(self, command: str) -> float:
        """The time for this very command line: its own timeout parameter where it has one, else ``seconds``."""
        if self.seconds_param is not None:
            _, _, params = command.partition("=")
            fields = params.split(",")
            if len(fields) > self.seconds_param and fields[self.seconds_param].strip().isdigit():
                return float(fields[self.seconds_param])
        return self.seconds


@dataclass(frozen=True)
class ErrorCode:
    """One code of the dialect's error table, with how the suite provokes it."""

    code: int
    meaning: str
    trigger: str  # the condition that produces it, in the manual's words where it has some
    source: str
    provokable: bool = True  # False: no bench can produce it on demand (the case skips, saying why)


@dataclass(frozen=True)
class EscapeRules:
    """How transparent (data) mode is left with an escape sequence."""

    sequence: bytes
    guard_before_s: float  # no input for at least this long before the sequence
    guard_after_s: float  # no input for at least this long after it
    max_sequence_s: float  # the whole sequence typed within this time
    source: str
    max_gap_s: float | None = None  # each byte of the sequence less than this long after the one before (M95 20 ms)


@dataclass(frozen=True)
class DataHeader:
    """A response or URC line after which exactly ``len`` raw bytes follow (e.g. ``+QIRD: 5<CR><LF>test1``)."""

    pattern: str  # a regular expression with a named group ``len``
    source: str
    # Inline data (BC660K: +QIURC: "recv",0,5,"12345"): the payload is on the header line itself. ``pattern`` then
    # matches the line's beginning up to the payload's first byte, with an optional group ``quote`` (the opening quote,
    # which must close the payload); ``len`` counts the bytes the module received, written on the line as
    # ``len * factor`` bytes for one of ``wire_factors`` (1: raw text, 2: hex digits). See :meth:`frame`.
    inline: bool = False
    wire_factors: tuple[int, ...] = (1,)
    # False: nothing closes an inline payload (M95 IPD<len>TCP:<data>, no quote, no line end after it); ``len`` alone
    # gives its extent.
    ends_with_line: bool = True

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    def frame(self, data: bytes) -> InlineFrame | None:
        """The layout of the inline-data URC at the start of ``data``; None if ``data`` does not start with one.

        The header is matched on the line up to its first CR or LF. The payload may hold any byte, CR and LF included,
        so its extent comes from ``len`` (times a wire factor) and is confirmed by the closing quote and a line end
        right after it; a factor that is not confirmed is not the one. Without a ``len`` group the payload runs to the
        first closing quote followed by a line end. With ``ends_with_line`` False, ``len`` alone gives it (``end`` is
        the payload's end). A frame whose ``end`` is None needs more bytes to be sure.
        """
        if not self.inline:
            return None
        cut = min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0), default=len(data))
        m = self.regex.match(data[:cut].decode("latin-1"))
        if m is None:
            return None
        start = m.end()
        close = (m.groupdict().get("quote") or "").encode("latin-1")
        count = m.groupdict().get("len")
        if count is None:
            ends = [i for i in (data.find(close + b"\r", start), data.find(close + b"\n", start)) if i >= 0]
            if not ends:
                return InlineFrame(start, start, None, False)
            return _closed_frame(data, start, min(ends), close, hex_digits=False)
        if not self.ends_with_line:
            payload_end = start + int(count)
            return InlineFrame(start, payload_end, payload_end if len(data) >= payload_end else None, False)
        waiting = False
        for factor in self.wire_factors:
            payload_end = start + int(count) * factor
            if len(data) <= payload_end + len(close):  # the closing quote and the line end are not all here yet
                # worth waiting for only if what has come fits this factor (hex digits for hex)
                waiting = waiting or factor != 2 or bool(_HEX_DIGITS.fullmatch(data[start:payload_end]))
                continue
            if data[payload_end:payload_end + len(close)] != close or data[payload_end + len(close)] not in b"\r\n":
                continue
            if factor == 2 and not _HEX_DIGITS.fullmatch(data[start:payload_end]):
                continue
            return _closed_frame(data, start, payload_end, close, hex_digits=factor == 2)
        return InlineFrame(start, start, None, False) if waiting else None


@dataclass(frozen=True)
class InlineFrame:
    """Where the parts of a URC carrying its data inline lie, as offsets into the bytes given to :meth:`frame`."""

    payload_start: int
    payload_end: int
    end: int | None  # just past the line end closing the URC; None while not all of it has arrived
    hex: bool  # the payload is hex digits, two per byte the module received

    @property
    def complete(self) -> bool:
        return self.end is not None


_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]*")


def _closed_frame(data: bytes, start: int, payload_end: int, close: bytes, *, hex_digits: bool) -> InlineFrame:
    """The frame of a payload confirmed to end at ``payload_end``: its line end is CR LF, or a lone CR or LF."""
    end = payload_end + len(close) + 1
    if data[end - 1] == 0x0D and end < len(data) and data[end] == 0x0A:
        end += 1
    return InlineFrame(start, payload_end, end, hex_digits)


@dataclass(frozen=True)
class Completion:
    """A command whose response goes on after ``OK``: one more result line ends it (AT+QICLOSE: OK, then CLOSE OK).

    It holds for the response to the command line and, for a command answered with the ``>`` prompt, for the answer to
    the data sent after the prompt (BC660K AT+QISEND: ``>``, data, then OK and SEND OK). An error result (``ERROR``,
    ``+CME ERROR: <err>``) ends the response as always.
    """

    command: str  # a regular expression over the whole command line, matched without regard to case
    results: tuple[str, ...]  # regular expressions for the lines that end the response after OK
    source: str

    @cached_property
    def command_regex(self) -> re.Pattern[str]:
        return re.compile(self.command, re.IGNORECASE)

    @cached_property
    def results_regex(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.results))


@dataclass(frozen=True)
class Cleanup:
    """How to undo what a case left behind: a query, the lines naming what is open, and the command closing each."""

    query: str  # e.g. AT+QISTATE?
    pattern: str  # a regular expression over one response line, with a named group "id"
    command: str  # with {id}, e.g. AT+QICLOSE={id}
    source: str


@dataclass(frozen=True)
class Dialect:
    """A module family: the facts of its manual that shape a conversation."""

    name: str
    title: str
    manuals: tuple[str, ...]
    final_results: tuple[str, ...]  # regular expressions for lines that end a command's response
    urcs: tuple[str, ...]  # regular expressions for unsolicited result codes
    data_headers: tuple[DataHeader, ...]
    timings: tuple[CommandTiming, ...]
    default_response_s: float  # for a command the manual gives no time for
    default_response_source: str
    limits: dict[str, int]
    errors: tuple[ErrorCode, ...] = ()
    escape: EscapeRules | None = None
    identify: tuple[str, ...] = ()  # regular expressions matched against ATI / AT+GMM output
    socket_states: dict[int, str] = field(default_factory=dict)
    data_mode_results: tuple[str, ...] = ()  # result lines after which the stream is transparent data
    secrets: tuple[str, ...] = ()  # regular expressions whose group "secret" is redacted in every artifact
    cleanup: tuple[Cleanup, ...] = ()  # run in order after each case
    reset_commands: tuple[str, ...] = ()  # settings a case may change, put back after each case (value: the default)
    # Unsolicited lines of the module's other subsystems (SIM, network, SMS, calls, GNSS, MQTT, HTTP, SSL ...): a line
    # equal to an entry, or starting with the entry and ":", is unsolicited unless it answers the command in progress.
    urc_prefixes: tuple[str, ...] = ()
    # Commands whose response does not end at OK (AT+QICLOSE: OK, then CLOSE OK); see :meth:`ends_after_ok`.
    completions: tuple[Completion, ...] = ()
    # Commands answered with no result code at all: a line matching ``results`` is the whole response (M95 AT+QILOCIP
    # answers its address alone); see :meth:`bare_result`.
    bare_results: tuple[Completion, ...] = ()
    # What the module says when it has started (power-on, reset), in order; the last line means it takes commands.
    # Waited for after a power cycle (a port opened late may have missed them: the wait has a deadline).
    startup_lines: tuple[str, ...] = ()
    # Regular expressions for the models the dialect's manual is written for. Another model that ``identify`` matches
    # is of the family: it is held to this manual, with a warning. Empty: every model ``identify`` matches is its own.
    manual_models: tuple[str, ...] = ()
    # Documents of one family that give different response times (M95 recommended process V2.0 / V1.1): ``timings``
    # are those of ``revision``; :meth:`with_revision` gives the dialect held to another.
    revision: str = ""
    revisions: dict[str, tuple[CommandTiming, ...]] = field(default_factory=dict)

    @cached_property
    def final_regex(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.final_results))

    @cached_property
    def urc_regex(self) -> re.Pattern[str]:
        # DOTALL: a URC carrying its data inline may hold CR and LF bytes in its data
        return re.compile("|".join(f"(?:{p})" for p in self.urcs), re.DOTALL)

    @cached_property
    def secret_regexes(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p) for p in self.secrets)

    @cached_property
    def data_mode_regex(self) -> re.Pattern[str] | None:
        return re.compile("|".join(f"(?:{p})" for p in self.data_mode_results)) if self.data_mode_results else None

    def enters_data_mode(self, line: str) -> bool:
        """True if ``line`` (``CONNECT``) means the module is now in transparent data mode."""
        regex = self.data_mode_regex
        return regex is not None and regex.fullmatch(line) is not None

    def is_final(self, line: str) -> bool:
        """True if ``line`` ends a command's response (``OK``, ``ERROR``, ``SEND OK`` ...)."""
        return self.final_regex.fullmatch(line) is not None

    def is_urc(self, line: str) -> bool:
        """True if ``line`` has the shape of an unsolicited result code of this dialect."""
        return self.urc_regex.fullmatch(line) is not None

    def is_unsolicited(self, line: str, command: str = "") -> bool:
        """True if ``line`` is not part of the response to ``command`` (the command in progress) but unsolicited.

        A line is unsolicited if it has the shape of one of the dialect's URCs; or it is one of the family's known
        unsolicited lines (:attr:`urc_prefixes`); or, following 3GPP TS 27.007 §4.1 / V.250, it is an information
        line ``+NAME: ...`` whose ``+NAME`` is not the name of a command in ``command``.
        """
        if self.is_urc(line):
            return True
        own = command_names(command)
        prefix = _INFO_PREFIX.match(line)
        if prefix is not None and prefix.group(1).upper() in own:
            return False
        for entry in self.urc_prefixes:
            if line == entry or line.startswith(entry + ":"):
                return True
        return prefix is not None

    def data_length(self, line: str) -> int | None:
        """The number of raw bytes that follow ``line``, or None if it is not a data header."""
        for header in self.data_headers:
            if header.inline:
                continue  # its payload is on the line itself: inline_frame()
            m = header.regex.fullmatch(line)
            if m:
                return int(m.group("len"))
        return None

    def inline_frame(self, data: bytes) -> InlineFrame | None:
        """The layout of a URC carrying its data inline at the start of ``data`` (:meth:`DataHeader.frame`), or None.

        The first header, in the dialect's order, whose frame is confirmed wins; if none is confirmed yet but one may
        be once more bytes arrive, that frame is returned with ``end`` None.
        """
        waiting = None
        for header in self.data_headers:
            frame = header.frame(data)
            if frame is not None:
                if frame.complete:
                    return frame
                waiting = waiting or frame
        return waiting

    def ends_after_ok(self, command: str) -> re.Pattern[str] | None:
        """For a command whose response goes on after ``OK`` (:attr:`completions`): the lines that end it; else None.

        ``AT+QICLOSE=0`` in BC660K -> a pattern matching ``CLOSE OK``: the session reads on past ``OK`` until it.
        """
        for completion in self.completions:
            if completion.command_regex.fullmatch(command.strip()):
                return completion.results_regex
        return None

    def bare_result(self, command: str) -> re.Pattern[str] | None:
        """For a command answered with no result code (:attr:`bare_results`): the line that is its response; else None.

        ``AT+QILOCIP`` in M95 -> a pattern matching ``10.7.3.2``: that line ends the response (as ``ERROR`` would).
        """
        for bare in self.bare_results:
            if bare.command_regex.fullmatch(command.strip()):
                return bare.results_regex
        return None

    def with_revision(self, revision: str) -> Dialect:
        """This dialect with the response times of document revision ``revision`` (a key of :attr:`revisions`)."""
        if revision == self.revision:
            return self
        try:
            timings = self.revisions[revision]
        except KeyError:
            known = ", ".join(sorted(self.revisions)) or "none"
            raise KeyError(f"{self.name}: no revision {revision!r} (known: {known})") from None
        return replace(self, timings=timings, revision=revision)

    def response_time(self, command: str) -> CommandTiming:
        """The documented maximum response time for the command line ``command`` (e.g. ``AT+QIOPEN=1,0,...``)."""
        name = command_name(command)
        for timing in self.timings:
            if timing.command == name:
                return timing
        return CommandTiming(name, self.default_response_s, self.default_response_source)

    def error(self, code: int) -> ErrorCode:
        for e in self.errors:
            if e.code == code:
                return e
        raise KeyError(f"{self.name}: no error code {code}")


_COMMAND_NAME = re.compile(r"^AT([+&][A-Z]+|[A-Z]\d?)", re.IGNORECASE)


def command_name(command: str) -> str:
    """``AT+QIOPEN=1,0`` -> ``+QIOPEN``; ``ATE0`` -> ``E``; ``AT&D1`` -> ``&D``; anything else -> ``""``."""
    m = _COMMAND_NAME.match(command.strip())
    if not m:
        return ""
    name = m.group(1).upper()
    return name if name[0] in "+&" else name[0]


_INFO_PREFIX = re.compile(r"^(\+[A-Za-z][A-Za-z0-9]*):")


def command_names(command: str) -> set[str]:
    """The extended-command names of a command line: ``AT+QIACT=1;+QIACT?`` -> ``{"+QIACT"}`` (upper case)."""
    body = command.strip()
    if body[:2].upper() != "AT":
        return set()
    return {m.upper() for m in re.findall(r"[+][A-Za-z][A-Za-z0-9]*", body[2:])}


_REGISTRY: dict[str, Dialect] = {}


def register(dialect: Dialect) -> Dialect:
    _REGISTRY[dialect.name] = dialect
    return dialect


def get(name: str) -> Dialect:
    """The dialect called ``name`` (``bg96`` ...); a KeyError lists the known ones."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown dialect {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    from . import (  # noqa: F401  (each registers itself)
        bc660k,
        bg96,
        m95,
    )
