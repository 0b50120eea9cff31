"""The transcript line grammar: one step per line, each knowing its file line (docs/case-format.md).

A :class:`Reader` reads the lines of a case's ``setup:``, ``transcript:`` and ``finally:``, and of the shared blocks
they use (``= name args``): a block's lines are read where they are used, with the names the use binds, so every
problem names the block's file line and the case line that used it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CaseFileError, Location
from .limits import MAX_DURATION_S, MAX_LINE_RATE
from .model import (
    Action,
    Alternatives,
    Check,
    Cleanup,
    ExpectData,
    ExpectLine,
    ExpectPrompt,
    LineControl,
    Pause,
    SendData,
    SendLine,
    Silence,
    Step,
    Timing,
    UseBlock,
)
from .pattern import parse_pattern
from .template import Const, Template, parse_placeholder, parse_template

if TYPE_CHECKING:
    from .blocks import BlockLibrary, BlockNames

__all__ = ["BUILTIN_ROOTS", "CaseReading", "Reader", "parse_duration", "parse_transcript"]

# Placeholder roots every case may use besides its needs, vars and captures.
BUILTIN_ROOTS = frozenset({"bench", "module"})

_MARKER = re.compile(r"^(<<|<~|<\?|<\||<|>>|>|~|!|\?|=|\|>|\|)(?: (.*))?$")
_ANNOTATION = re.compile(r"^(.*?)\s{2,}\[([^\[\]]*)\]$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|min)$")
_ARG = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_USE_ARG = re.compile(r'([a-z][a-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S+)$')
_CHECK = re.compile(r"^(.*?)\s+(==|!=|<=|>=|<|>)\s+(.*)$")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_LINE_ENDS = {"CR": b"\r", "CRLF": b"\r\n", "LF": b"\n"}
_MARKERS_HELP = ("'> ' command, '>> ' data, '< ' response, '<~ ' URC in a window, '<? ' optional line, "
                 "'<< ' data from the module, '<|' alternatives, '~ ' timing, '! ' peer action, '? ' check, "
                 "'= ' block, '# ' comment")


def parse_duration(text: str, location: Location | None = None) -> float:
    """``150s`` / ``200ms`` / ``2min`` -> seconds (at most a day)."""
    m = _DURATION.match(text.strip())
    if not m:
        raise CaseFileError(f"{text.strip()!r} is not a duration: write e.g. 150s, 200ms or 2min", location)
    value = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "min": 60.0}[m.group(2)]
    if value > MAX_DURATION_S:
        raise CaseFileError(f"{text.strip()!r} is longer than any wait a case makes (at most "
                            f"{MAX_DURATION_S:g} s)", location)
    return value


def parse_transcript(text: str, start: tuple[str, int], names: set[str], *, blocks: BlockLibrary | None = None,
                     needs: set[str] | None = None) -> tuple[tuple[Step, ...], set[str]]:
    """Parse transcript ``text`` whose first line is file line ``start``; ``names`` are the placeholder roots known.

    ``blocks`` resolves ``= name`` lines; ``needs`` are the capabilities a block's peer parameters may name (default:
    ``names``). Returns the steps and the names they capture. The blocks' 'finally' steps are not among them: a case
    runs them after its own (:mod:`.parser`); a Python test leaves them to the module's reset.
    """
    path, first_line = start
    reading = CaseReading(set(names if needs is None else needs) - BUILTIN_ROOTS, (lambda: blocks) if blocks else None)
    reader = Reader(reading, set(names), lambda line: Location(path, line))
    steps = reader.read(text, first_line)
    return tuple(steps), reader.known - set(names)


@dataclass
class CaseReading:
    """What reading one case shares across its setup, transcript, finally and the blocks they use."""

    needs: set[str]
    library: Callable[[], BlockLibrary | None] | None = None  # the blocks file, read when first used
    uses: int = 0
    cleanups: list[Cleanup] = field(default_factory=list)
    alternatives_at: Location | None = None  # the first line of the case's own that accepts alternatives

    def cleanups_in_order(self) -> list[Cleanup]:
        """Blocks' 'finally' steps, last used first."""
        return list(reversed(self.cleanups))

    def target_names(self) -> set[str]:
        """What a '!' line may name: the needs, and the network when any fault is needed."""
        return self.needs | ({"net"} if any(n.startswith("net_") for n in self.needs) else set())


class Reader:
    """Reads transcript lines into steps, keeping the placeholder roots known as it goes (captures add theirs).

    For a block's lines, ``names`` binds its parameters and renames its captures, ``depth`` counts blocks used inside
    blocks, and ``note`` says whether the block has a note (which alternatives need).
    """

    def __init__(self, reading: CaseReading, known: set[str], locate: Callable[[int], Location], *,
                 names: BlockNames | None = None, depth: int = 0, note: bool = True) -> None:
        self.reading = reading
        self.known = set(known)  # placeholder roots usable at this point (a block: its own names)
        self.locate = locate
        self.names = names
        self.depth = depth
        self.note = note  # a block without a note may not accept alternatives

    def read(self, text: str, first_line: int) -> list[Step]:
        """The steps of ``text``, whose first line is file line ``first_line``."""
        lines = [(first_line + i, raw.strip()) for i, raw in enumerate(text.splitlines())]
        steps, rest = self._read_lines(lines, 0, closing=False)
        assert rest == len(lines)
        return steps

    # -- lines -----------------------------------------------------------------------------------------------------

    def _read_lines(self, lines: list[tuple[int, str]], i: int, *, closing: bool) -> tuple[list[Step], int]:
        """Steps from ``lines[i:]``; inside alternatives (``closing``) stop at their ``|`` or ``|>``."""
        steps: list[Step] = []
        while i < len(lines):
            number, line = lines[i]
            loc = self.locate(number)
            if not line or line.startswith("#"):
                i += 1
                continue
            m = _MARKER.match(line)
            if not m:
                raise CaseFileError(f"{line!r} does not start with a marker: {_MARKERS_HELP}", loc)
            marker, body = m.group(1), (m.group(2) or "").strip()
            if marker in ("|", "|>"):
                if not closing:
                    raise CaseFileError(f"'{marker}' outside alternatives: they open with a '<|' line", loc)
                if body:
                    raise CaseFileError(f"'{marker}' stands alone on its line (a branch's lines follow it)", loc)
                return steps, i
            if marker == "<|":
                step, i = self._alternatives_block(lines, i, body, loc)
                steps.append(step)
                continue
            if marker == "=":
                steps.extend(self._use(body, line, loc))
            else:
                steps.append(self._line(marker, body, line, loc))
            i += 1
        if closing:
            raise CaseFileError("alternatives opened here are not closed: end them with a '|>' line",
                                self.locate(lines[-1][0]) if lines else None)
        return steps, i

    def _line(self, marker: str, body: str, line: str, loc: Location) -> Step:
        timing = Timing()
        annotation = _ANNOTATION.match(body)
        if annotation and marker in _TIMING_KEYS:
            body, timing = annotation.group(1).rstrip(), _parse_timing(annotation.group(2), marker, loc)
        step = self._step(marker, body, timing, line, loc)
        self._check_roots(step, loc)
        self.known |= self._captured_names(step)
        return step

    def _step(self, marker: str, body: str, timing: Timing, line: str, loc: Location) -> Step:
        if marker in (">", ">>", "<<") and not body:
            raise CaseFileError(f"'{marker}' needs something after it", loc)
        if marker == ">":
            return SendLine(loc, line, self._template(body, loc), timing)
        if marker == ">>":
            return SendData(loc, line, self._template(body, loc), timing)
        if marker == "<<":
            return ExpectData(loc, line, self._template(body, loc), timing)
        if marker in ("<", "<~", "<?"):
            if not body:
                raise CaseFileError(f"'{marker}' needs the expected line after it", loc)
            pieces = _split_alternatives(body, loc)
            if len(pieces) > 1:
                if marker != "<":
                    raise CaseFileError(f"alternatives (' | ') are for '<' lines, not '{marker}': write \\| for a "
                                        "literal '|'", loc)
                if timing.until_s is not None:
                    raise CaseFileError("[until D] polls for one expected line, not for alternatives", loc)
                self._alternatives_used(loc)
                branches = tuple((self._expected("<", piece, timing, f"< {piece}", loc),) for piece in pieces)
                return Alternatives(loc, line, branches, timing)
            return self._expected(marker, body, timing, line, loc)
        if marker == "~":
            return _parse_directive(body, line, loc)
        if marker == "!":
            return self._action(body, line, timing, loc)
        return self._check(body, line, loc)

    def _expected(self, marker: str, body: str, timing: Timing, line: str, loc: Location) -> Step:
        window, optional = marker == "<~", marker == "<?"
        if body == ">" and marker == "<":
            return ExpectPrompt(loc, line, timing)
        if len(body) > 1 and body.startswith("/") and body.endswith("/"):
            pattern = parse_pattern(body[1:-1], loc, self.names)
            return ExpectLine(loc, line, None, pattern, window or optional, timing, optional)
        text = parse_template(body, loc, keys=False, captures=True, names=self.names)
        return ExpectLine(loc, line, text, None, window or optional, timing, optional)

    def _template(self, body: str, loc: Location) -> Template:
        return parse_template(body, loc, names=self.names)

    # -- alternatives ----------------------------------------------------------------------------------------------

    def _alternatives_block(self, lines: list[tuple[int, str]], i: int, body: str,
                            loc: Location) -> tuple[Alternatives, int]:
        """``<|`` branch ``|`` branch ... ``|>``: each branch's first line is what the module says to choose it."""
        if body:
            raise CaseFileError("'<|' stands alone on its line; the branches follow it, separated by '|' lines",
                                loc)
        self._alternatives_used(loc)
        before = set(self.known)
        branches: list[tuple[Step, ...]] = []
        captured: set[str] | None = None
        i += 1
        while True:
            self.known = set(before)
            steps, i = self._read_lines(lines, i, closing=True)
            number, line = lines[i]
            end_loc = self.locate(number)
            if not steps:
                raise CaseFileError("an empty branch: each branch of '<|' has at least its expected line", end_loc)
            first = steps[0]
            if not isinstance(first, (ExpectLine, ExpectPrompt)) or getattr(first, "window", False):
                raise CaseFileError(f"{first.source!r}: a branch starts with what the module says ('< ' line or "
                                    "'< >'), by which it is chosen", first.location)
            if first.timing.until_s is not None:
                raise CaseFileError("[until D] polls for one expected line, not for the first line of a branch",
                                    first.location)
            if any(isinstance(s, (UseBlock, Alternatives)) for s in steps):
                bad = next(s for s in steps if isinstance(s, (UseBlock, Alternatives)))
                raise CaseFileError(f"{bad.source!r}: no block or alternatives inside a branch", bad.location)
            branches.append(tuple(steps))
            made = self.known - before
            captured = made if captured is None else captured & made
            i += 1
            if line.startswith("|>"):
                break
        if len(branches) < 2:
            raise CaseFileError("alternatives need two branches at least, separated by a '|' line", loc)
        self.known = before | (captured or set())  # a name is known after them only if every branch makes it
        # the choice waits as long as the most patient branch: the default unless every branch gives its own
        within = [_within(b[0]) for b in branches]
        timing = Timing(within_s=max(w for w in within if w is not None)) if None not in within else Timing()
        shown = " | ".join(b[0].source.split(" ", 1)[1] if " " in b[0].source else b[0].source for b in branches)
        return Alternatives(loc, f"<| {shown}", tuple(branches), timing), i

    def _alternatives_used(self, loc: Location) -> None:
        if not self.note:
            raise CaseFileError("a block that accepts alternatives says why in its 'note:'", loc)
        if self.reading.alternatives_at is None and self.names is None:
            self.reading.alternatives_at = loc

    # -- blocks ----------------------------------------------------------------------------------------------------

    def _use(self, body: str, line: str, loc: Location) -> list[Step]:
        from .blocks import expand_use

        return expand_use(self, body, line, loc)

    # -- actions and checks ----------------------------------------------------------------------------------------

    def _action(self, body: str, line: str, timing: Timing, loc: Location) -> Action:
        tokens = _ARG.findall(body)
        if len(tokens) < 2:
            raise CaseFileError("an action is '! <target> <verb> [arguments]', e.g. ! tcp_echo received \"test\"",
                                loc)
        target, verb = tokens[0], tokens[1]
        if not _IDENT.match(target) or not _IDENT.match(verb):
            raise CaseFileError(f"! {target} {verb}: target and verb are lower-case words", loc)
        if self.names is not None:
            target = self.names.target(target, loc)
        elif target not in self.reading.target_names():
            raise CaseFileError(f"! {target}: not a need of this case; add it to 'needs:'", loc)
        args: list[Template | int | float | str] = []
        for tok in tokens[2:]:
            if tok.startswith('"'):
                if len(tok) < 2 or not tok.endswith('"'):
                    raise CaseFileError(f"{tok}: a quoted argument is not closed", loc)
                args.append(self._template(tok[1:-1], loc))
            elif re.fullmatch(r"[+-]?\d+", tok):
                args.append(int(tok))
            elif re.fullmatch(r"[+-]?\d+\.\d*", tok):
                args.append(float(tok))
            elif re.fullmatch(r"\{[^{}]*\}", tok) and self.names is not None:
                part = parse_placeholder(tok[1:-1], lambda msg: CaseFileError(msg, loc), loc, self.names)
                args.append(part.value if isinstance(part, Const) else Template((part,), loc))
            elif "{" in tok:
                args.append(parse_template(tok, loc, keys=False, names=self.names))
            else:
                args.append(tok)
        return Action(loc, line, target, verb, tuple(args), timing)

    def _check(self, body: str, line: str, loc: Location) -> Check:
        m = _CHECK.match(body)
        if not m:
            raise CaseFileError("a check is '? <value> <op> <value>' with op one of == != < <= > >=, "
                                "e.g. ? {unacked} > 0", loc)
        left, op, right = m.groups()
        return Check(loc, line, parse_template(left, loc, keys=False, names=self.names), op,
                     parse_template(right, loc, keys=False, names=self.names))

    # -- names -----------------------------------------------------------------------------------------------------

    def _check_roots(self, step: Step, loc: Location) -> None:
        if self.names is not None:
            return  # a block's names were checked as they were bound
        for root in step_roots(step):
            if root not in self.known:
                hint = "a need, a var or an earlier capture" if self.known else "declared"
                raise CaseFileError(f"{{{root}...}}: {root!r} is not {hint} (known here: "
                                    f"{', '.join(sorted(self.known)) or 'none'})", loc)

    def _captured_names(self, step: Step) -> set[str]:
        made = step_captures(step)
        if isinstance(step, Alternatives):
            sets = [set().union(*(step_captures(s) for s in branch)) for branch in step.branches]
            made = set.intersection(*sets) if sets else set()
        return {self.names.original(n) for n in made} if self.names is not None else made


def _within(step: Step) -> float | None:
    timing = getattr(step, "timing", None)
    return timing.within_s if timing is not None else None


def step_roots(step: Step) -> set[str]:
    """The first names of the placeholders of ``step``."""
    roots: set[str] = set()
    if isinstance(step, (SendLine,)):
        roots |= step.text.roots()
    elif isinstance(step, (SendData, ExpectData)):
        roots |= step.payload.roots()
    elif isinstance(step, ExpectLine):
        roots |= step.text.roots() if step.text is not None else step.regex.roots() if step.regex else set()
    elif isinstance(step, Action):
        for a in step.args:
            if isinstance(a, Template):
                roots |= a.roots()
    elif isinstance(step, Check):
        roots |= step.left.roots() | step.right.roots()
    elif isinstance(step, Alternatives):
        for branch in step.branches:
            for s in branch:
                roots |= step_roots(s)
    return roots


def step_captures(step: Step) -> set[str]:
    """The names ``step`` binds when it matches."""
    if isinstance(step, ExpectLine):
        if step.regex is not None:
            return step.regex.captures()
        if step.text is not None:
            return {c.name for c in step.text.captures()}
    return set()


def _split_alternatives(body: str, loc: Location) -> list[str]:
    """``OK | ERROR`` -> ``["OK", "ERROR"]``: a ``|`` with white space on each side separates (``\\|`` is a literal
    one); a ``/regex/`` runs to its closing slash."""
    pieces: list[str] = []
    pos, n = 0, len(body)
    while True:
        j = pos
        if body.startswith("/", pos):
            j = pos + 1
            while j < n and not (body[j] == "/" and (j + 1 == n or re.match(r"\s+\|\s", body[j + 1:]))):
                j += 2 if body[j] == "\\" else 1
            j = min(j + 1, n)
        else:
            depth = 0
            while j < n:
                c = body[j]
                if c == "\\":
                    j += 2
                    continue
                depth += (c == "{") - (c == "}" and depth > 0)
                if c == "|" and depth == 0 and 0 < j < n - 1 and body[j - 1].isspace() and body[j + 1].isspace():
                    break
                j += 1
        pieces.append(body[pos:j].strip())
        sep = re.match(r"\s*\|\s+", body[j:])
        if j >= n or sep is None:
            break
        pos = j + sep.end()
    if any(not p for p in pieces):
        raise CaseFileError("an empty alternative: write 'A | B' (\\| for a literal '|')", loc)
    return pieces


_TIMING_KEYS = {
    ">": {"gap", "rate", "end"},
    ">>": {"gap", "rate"},
    "<": {"within", "not before", "until", "every"},
    "<~": {"within", "not before"},
    "<?": {"within", "not before"},
    "<<": {"within", "not before"},
    "!": {"within"},
}


def _parse_timing(text: str, marker: str, loc: Location) -> Timing:
    values: dict[str, Any] = {}
    allowed = _TIMING_KEYS.get(marker, set())
    for item in (i.strip() for i in text.split(",")):
        m = re.fullmatch(r"(within|not before|gap|rate|until|every|end)\s+(.+)", item)
        if not m:
            raise CaseFileError(f"[{text}]: {item!r} is not a timing annotation (known: within D, not before D, gap D, "
                                "rate N, until D, every D, end CR|CRLF|LF)", loc)
        key, value = m.groups()
        if key not in allowed:
            raise CaseFileError(f"[{item}] does not apply to a '{marker}' line (it takes: "
                                f"{', '.join(sorted(allowed)) or 'nothing'})", loc)
        if key == "rate":
            if not value.isdigit() or not 0 < int(value) <= MAX_LINE_RATE:
                raise CaseFileError(f"[rate {value}]: give the line rate in bit/s, 1 to {MAX_LINE_RATE}, e.g. "
                                    "rate 9600", loc)
            values["line_rate"] = int(value)
        elif key == "end":
            if value.upper() not in _LINE_ENDS:
                raise CaseFileError(f"[end {value}]: the line end is CR, CRLF or LF", loc)
            values["line_end"] = _LINE_ENDS[value.upper()]
        else:
            values[{"within": "within_s", "not before": "not_before_s", "gap": "gap_s", "until": "until_s",
                    "every": "every_s"}[key]] = parse_duration(value, loc)
    if "every_s" in values and "until_s" not in values:
        raise CaseFileError(f"[{text}]: 'every' paces a poll: give 'until D' too", loc)
    return Timing(**values)


def _parse_directive(body: str, line: str, loc: Location) -> Step:
    word, _, rest = body.partition(" ")
    rest = rest.strip()
    if word in ("pause", "silence"):
        if not rest:
            raise CaseFileError(f"~ {word}: give a duration, e.g. ~ {word} 1s", loc)
        seconds = parse_duration(rest, loc)
        return Pause(loc, line, seconds) if word == "pause" else Silence(loc, line, seconds)
    if word in ("dtr", "rts"):
        if rest not in ("on", "off"):
            raise CaseFileError(f"~ {word}: say 'on' or 'off'", loc)
        return LineControl(loc, line, word, rest == "on")
    raise CaseFileError(f"~ {word}: unknown timing directive (known: pause D, silence D, dtr on|off, rts on|off)", loc)


def use_arguments(body: str, loc: Location) -> tuple[str, list[tuple[str, str]]]:
    """``tcp_client_open id=0 peer=tcp_echo`` -> the block's name and its ``name=value`` arguments as written."""
    tokens = _ARG.findall(body)
    if not tokens or not _IDENT.match(tokens[0]):
        raise CaseFileError(f"'= {body}': a block use is '= <block> [name=value ...]', e.g. = context_active", loc)
    args: list[tuple[str, str]] = []
    for tok in tokens[1:]:
        m = _USE_ARG.match(tok)
        if m is None:
            raise CaseFileError(f"{tok!r}: a block's argument is name=value (quote a value with spaces)", loc)
        args.append((m.group(1), m.group(2)))
    return tokens[0], args
