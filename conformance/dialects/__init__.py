"""Module families as data: what the session, the matcher and the simulators need to know about a dialect.

Every fact here is cited to the manual section it comes from. Code elsewhere asks a :class:`Dialect` for limits,
response times, URC shapes and error codes; it never writes them as literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

__all__ = [
    "Cleanup",
    "CommandTiming",
    "DataHeader",
    "Dialect",
    "ErrorCode",
    "EscapeRules",
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


@dataclass(frozen=True)
class DataHeader:
    """A response or URC line after which exactly ``len`` raw bytes follow (e.g. ``+QIRD: 5<CR><LF>test1``)."""

    pattern: str  # a regular expression with a named group ``len``
    source: str

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


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

    @cached_property
    def final_regex(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.final_results))

    @cached_property
    def urc_regex(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.urcs))

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
            m = header.regex.fullmatch(line)
            if m:
                return int(m.group("len"))
        return None

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
    from . import bg96  # noqa: F401  (registers itself)
