"""What every peer shares: the recording of what it received, verb dispatch for transcript actions, argument reading.

A peer is a real server or client on a real socket. Everything it receives is recorded with its arrival time
(``time.monotonic_ns()``) and its sender. A case drives it through :meth:`Peer.perform` with transcript lines such as
``! tcp_echo received "test"``; the recording starts empty at the start of each case (:meth:`Peer.begin_case`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from conformance.errors import ActionFailed
from conformance.network.faults import Endpoint

from .loop import PeerLoop, shared_loop

__all__ = ["Args", "Arrival", "Peer", "Recorder", "VerbSpec", "describe_mismatch", "show", "verb"]

log = logging.getLogger(__name__)

P = TypeVar("P", bound="Peer")


@dataclass(frozen=True)
class Arrival:
    """What one read returned (TCP) or one datagram held (UDP), when it arrived and from where."""

    data: bytes
    t_ns: int  # time.monotonic_ns() when the peer read it
    source: tuple[str, int] | None = None  # the sender's address and port
    conn: int = 0  # TCP: number of the connection within the case (1-based); UDP: 0


class Recorder:
    """Everything a peer received during one case, in arrival order; writers notify the peer's condition."""

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond
        self._arrivals: list[Arrival] = []
        self._data = bytearray()

    def add(self, data: bytes, source: tuple[str, int] | None = None, conn: int = 0) -> Arrival:
        """Record an arrival stamped now and wake every waiter."""
        arrival = Arrival(bytes(data), time.monotonic_ns(), source, conn)
        with self._cond:
            self._arrivals.append(arrival)
            self._data += arrival.data
            self._cond.notify_all()
        return arrival

    def clear(self) -> None:
        """Forget everything (start of a case)."""
        with self._cond:
            self._arrivals.clear()
            self._data.clear()
            self._cond.notify_all()

    @property
    def size(self) -> int:
        """Bytes received so far."""
        return len(self._data)

    @property
    def count(self) -> int:
        """Reads (TCP) or datagrams (UDP) so far."""
        return len(self._arrivals)

    def data(self, start: int = 0) -> bytes:
        """The received bytes joined, from offset ``start``."""
        with self._cond:
            return bytes(self._data[start:])

    def arrivals(self) -> list[Arrival]:
        """A snapshot of every arrival, oldest first."""
        with self._cond:
            return list(self._arrivals)


# ------------------------------------------------------------------------------------------------- diagnostics


def show(data: bytes, limit: int = 64) -> str:
    """``data`` as a Python bytes literal (every byte escaped as needed), cut in the middle when long."""
    if len(data) <= limit:
        return repr(data)
    head, tail = data[: limit * 2 // 3], data[-(limit // 3):]
    return f"{head!r}...{tail!r} ({len(data)} bytes)"


def describe_mismatch(expected: bytes, got: bytes) -> str:
    """Expected versus received bytes, saying whether bytes are missing, extra, or where they first differ."""
    if got == expected:
        return f"received {show(got)} as expected"
    if not got:
        return f"expected {len(expected)} bytes {show(expected)}, received nothing by the deadline"
    if expected.startswith(got):
        return (f"expected {len(expected)} bytes {show(expected)}, received {len(got)} by the deadline: "
                f"{show(got)}")
    if got.startswith(expected):
        return (f"expected {len(expected)} bytes {show(expected)}, received {len(got) - len(expected)} more: "
                f"{show(got)}")
    at = next(i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b)
    return (f"expected {len(expected)} bytes {show(expected)}, received {len(got)} bytes {show(got)}; first "
            f"difference at byte {at}: expected {show(expected[at:at + 16])}, received {show(got[at:at + 16])}")


# ------------------------------------------------------------------------------------------------------- verbs


@dataclass(frozen=True)
class VerbSpec:
    """A transcript verb of a target: its name, how its arguments are written, and what it does."""

    name: str
    usage: str
    summary: str
    method: Callable[..., str | None]


def verb(name: str, usage: str = "") -> Callable[[Callable[..., str | None]], Callable[..., str | None]]:
    """Mark a method ``(self, args: Args, deadline: float, context) -> str | None`` as the transcript verb ``name``.

    The method's docstring's first line is the verb's summary in ``docs/peers.md``.
    """

    def mark(fn: Callable[..., str | None]) -> Callable[..., str | None]:
        fn.__verb__ = (name, usage)  # type: ignore[attr-defined]
        return fn

    return mark


_MISSING: Any = object()


class Args:
    """Reads a verb's decoded arguments in order, failing with the verb's usage when one is missing or wrong."""

    def __init__(self, where: str, usage: str, values: Sequence[object]) -> None:
        self.where = where
        self.usage = usage
        self._values = list(values)
        self._next = 0

    def _fail(self, problem: str) -> ActionFailed:
        return ActionFailed(f"{self.where}: {problem}; usage: {self.where} {self.usage}".rstrip())

    def _take(self, what: str, default: Any) -> object:
        if self._next < len(self._values):
            self._next += 1
            return self._values[self._next - 1]
        if default is _MISSING:
            raise self._fail(f"missing {what}")
        return default

    def has_more(self) -> bool:
        """Whether arguments are left."""
        return self._next < len(self._values)

    def peek(self) -> object:
        """The next argument without taking it (None when none is left)."""
        return self._values[self._next] if self.has_more() else None

    def data(self, what: str = "bytes") -> bytes:
        """The next argument as bytes (a quoted string; a bare word is taken as its Latin-1 bytes)."""
        value = self._take(what, _MISSING)
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        if isinstance(value, str):
            return value.encode("latin-1")
        raise self._fail(f"{what} must be a quoted string, not {value!r}")

    def integer(self, what: str, default: Any = _MISSING) -> int:
        """The next argument as an int (a number or a word of digits)."""
        if not self.has_more() and default is not _MISSING:
            return default
        value = self._take(what, default)
        if isinstance(value, bool):
            raise self._fail(f"{what} must be a whole number, not {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str | bytes) and value.strip().isdigit():
            return int(value)
        raise self._fail(f"{what} must be a whole number, not {value!r}")

    def number(self, what: str, default: Any = _MISSING) -> float:
        """The next argument as a float (seconds)."""
        if not self.has_more() and default is not _MISSING:
            return default
        value = self._take(what, default)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value.decode() if isinstance(value, bytes) else str(value))
        except ValueError:
            raise self._fail(f"{what} must be a number, not {value!r}") from None

    def word(self, what: str, default: Any = _MISSING) -> str:
        """The next argument as text (bare word or quoted string)."""
        value = self._take(what, default)
        if isinstance(value, bytes):
            return value.decode("latin-1")
        return value if isinstance(value, str) or value is None else str(value)

    def end(self) -> None:
        """Fail when arguments are left over."""
        if self.has_more():
            raise self._fail(f"unexpected argument {self._values[self._next]!r}")


# -------------------------------------------------------------------------------------------------------- peer


class Peer:
    """A network peer of the module: a real socket, a recording, and transcript verbs.

    ``host`` and ``port`` are what the module dials (``{tcp_echo.host}``, ``{tcp_echo.port}``); ``bind`` is the
    address the socket is bound to (different on a real bench behind NAT); ``netns`` the namespace it lives in.
    """

    transport: ClassVar[str] = "tcp"
    count_unit: ClassVar[str] = "bytes"  # what received_count counts
    _verbs: ClassVar[dict[str, VerbSpec]]

    def __init__(self, capability: str, *, host: str, bind: str | None = None, port: int = 0,
                 netns: str | None = None, loop: PeerLoop | None = None) -> None:
        self.capability = capability
        self.host = host
        self.bind = bind if bind is not None else host
        self.port = port
        self.netns = netns
        self.loop = loop or shared_loop()
        self.cond = threading.Condition()
        self.recorder = Recorder(self.cond)
        self._checked = 0  # bytes already consumed by `received` checks in this case
        self._started = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        verbs: dict[str, VerbSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                mark = getattr(attr, "__verb__", None)
                if mark:
                    summary = (attr.__doc__ or "").strip().splitlines()[0] if attr.__doc__ else ""
                    verbs[mark[0]] = VerbSpec(mark[0], mark[1], summary, attr)
        cls._verbs = verbs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.capability} {self.host}:{self.port}>"

    # ---------------------------------------------------------------------------------------------- lifecycle

    def start(self: P) -> P:
        """Open the socket(s) on the peer loop; ``port`` is the bound port afterwards."""
        if not self._started:
            self.loop.run(self._open)
            self._started = True
            log.info("%s on %s:%s (the module sees %s:%s)%s", self.capability, self.bind, self.port, self.host,
                     self.port, f" in namespace {self.netns}" if self.netns else "")
        return self

    def stop(self) -> None:
        """Close every socket."""
        if self._started and self.loop.running:
            self.loop.run(self._close)
        self._started = False

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    def begin_case(self) -> None:
        """Start of a case: empty recording, default behaviour."""
        with self.cond:
            self.recorder.clear()
            self._checked = 0
            self._reset_case()

    def end_case(self) -> None:
        """End of a case: drop what the case left open (connections), so the next case starts clean."""

    def _reset_case(self) -> None:
        """Subclasses reset their per-case state here (called with ``cond`` held)."""

    # ----------------------------------------------------------------------------------------------- actions

    @classmethod
    def verbs(cls) -> dict[str, VerbSpec]:
        """Every verb of this kind of peer, by name."""
        return dict(cls._verbs)

    def perform(self, verb: str, args: Sequence[object], *, deadline: float,
                context: Mapping[str, object]) -> str | None:
        """Do the transcript action ``! <capability> <verb> <args>``; raise :class:`ActionFailed` when it fails."""
        spec = self._verbs.get(verb)
        if spec is None:
            raise ActionFailed(f"{self.capability}: unknown verb {verb!r}; known: {', '.join(sorted(self._verbs))}")
        reader = Args(f"{self.capability} {verb}", spec.usage, args)
        try:
            note = spec.method(self, reader, deadline, context)
        except ActionFailed:
            raise
        except (OSError, TimeoutError) as exc:
            raise ActionFailed(f"{self.capability} {verb}: {exc}") from exc
        log.debug("%s %s -> %s", self.capability, verb, note)
        return note

    def endpoints(self) -> list[Endpoint]:
        """The traffic a network fault on this peer selects."""
        return [Endpoint(self.transport, self.host, self.port)]

    def attributes(self) -> dict[str, object]:
        """What a case may use in placeholders (``{dns.name}``), as plain values."""
        return {"capability": self.capability, "transport": self.transport, "host": self.host, "port": self.port}

    def wait_for(self, predicate: Callable[[], bool], deadline: float) -> bool:
        """Wait until ``predicate()`` (checked with ``cond`` held) or the absolute monotonic ``deadline``."""
        with self.cond:
            return self.cond.wait_for(predicate, timeout=max(0.0, deadline - time.monotonic()))

    def received_total(self) -> int:
        """What ``received_count`` compares: bytes (streams) or datagrams."""
        return self.recorder.size if self.count_unit == "bytes" else self.recorder.count

    # -------------------------------------------------------------------------------------- recording verbs

    @verb("received", "<bytes>")
    def _received(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """The bytes received since the previous ``received`` check are exactly these (waits for as many)."""
        expected = args.data()
        args.end()
        start = self._checked
        self.wait_for(lambda: self.recorder.size - start >= len(expected), deadline)
        got = self.recorder.data(start)
        self._checked = start + len(got)
        if got != expected:
            raise ActionFailed(f"{args.where}: {describe_mismatch(expected, got)}")
        return f"{len(got)} bytes as expected"

    @verb("received_count", "<n>")
    def _received_count(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Exactly n bytes (datagrams for UDP peers, queries for DNS/NTP, echo requests for ping) in this case."""
        expected = args.integer("n")
        args.end()
        self.wait_for(lambda: self.received_total() >= expected, deadline)
        got = self.received_total()
        if got != expected:
            more = "by the deadline" if got < expected else f"({got - expected} more)"
            raise ActionFailed(f"{args.where}: expected {expected} {self.count_unit} in this case, received {got} "
                               f"{more}")
        return f"{got} {self.count_unit}"

    @verb("idle", "<seconds>")
    def _idle(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Nothing arrives for that many seconds (the seconds given rule, not the action's deadline)."""
        seconds = args.number("seconds")
        args.end()
        before = self.recorder.count
        began = time.monotonic()
        if self.wait_for(lambda: self.recorder.count > before, began + seconds):
            first = self.recorder.arrivals()[before]
            after = first.t_ns / 1e9 - began
            raise ActionFailed(f"{args.where}: expected nothing for {seconds:g} s, received {show(first.data)} after "
                               f"{max(after, 0.0):.3f} s")
        return f"nothing for {seconds:g} s"
