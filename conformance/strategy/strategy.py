"""Moving a module between the states a run needs, as labgrid's strategies move a board between its states.

- **start state**: synchronised (``AT`` -> ``OK``), nothing open, no context active, every setting at its default.
  A module is put there when its port opens, before the first case (a real module may come up with a context already
  active), and after every case.
- **resynchronised**: before each case, whatever the module is still saying is dropped and ``AT`` gets ``OK``, so a
  late answer to something earlier is never blamed on the case.
- **recovered**: a module that stops answering, or whose port goes away, is synchronised as Quectel recommends, then
  power-cycled (the bench's command, or a simulator's control channel), its port reopened when it comes back, its
  start-up lines waited for, and it is reset. Every recovery is recorded in the run's :class:`RecoveryJournal`.

After ``max_unrecoverable`` cases in a row after which the module could not be brought back, :attr:`give_up` says
why, and the plugin stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConformanceError, LinkClosed
from ..plugin.modem import Modem, ModemWedged
from .journal import Recovery, RecoveryJournal
from .power import PowerCycleFailed, PowerCycler
from .sync import SYNC_INTERVAL_S, SyncResult, synchronise

__all__ = ["MAX_SYNC_INTERVAL_S", "PORT_RETRY_S", "ModuleStrategy", "Outcome"]

PORT_RETRY_S = 0.25  # how often a port that went away is tried again: no event tells when a device node returns
# ASSUMPTION: AT commands of a module that has been seen to take long over AT are spaced wider, up to this, so that
# its answers do not pile up; the Recommended Process's 500 ms stays the minimum.
MAX_SYNC_INTERVAL_S = 2.0


class _NotRecovered(Exception):
    """Why a recovery gave up."""


@dataclass
class Outcome:
    """How the module came out of a case: in its start state the routine way, recovered, or lost."""

    problem: str = ""  # what went wrong with the routine way back ("" if nothing did)
    recovery: Recovery | None = None

    @property
    def in_start_state(self) -> bool:
        return not self.problem or (self.recovery is not None and self.recovery.recovered)

    def describe(self) -> str:
        """For a case's failure report: what went wrong after the case, and what the recovery did."""
        if not self.problem:
            return ""
        text = f"after the case, the module did not return to its start state: {self.problem}"
        if self.recovery is not None:
            steps = "; ".join(self.recovery.steps) or "nothing could be done"
            text += f"\nrecovery: {steps} -> {self.recovery.outcome} ({self.recovery.duration_s:.1f} s)"
        return text


class ModuleStrategy:
    """Brings modules to their start state and back from the dead; counts the cases after which that failed.

    ``reopen(modem)`` opens the module's port again (and starts a new simulator for a simulated one);
    ``power_cycler(modem)`` says how to power-cycle it, or None if the bench gives no way.
    """

    def __init__(self, *, reopen: Callable[[Modem], None], power_cycler: Callable[[Modem], PowerCycler | None],
                 power_cycle_wait_s: float, max_unrecoverable: int, journal: RecoveryJournal) -> None:
        self.reopen_port = reopen
        self.power_cycler = power_cycler
        self.power_cycle_wait_s = power_cycle_wait_s
        self.max_unrecoverable = max_unrecoverable
        self.journal = journal
        self.unrecoverable = 0  # cases in a row after (or before) which the module could not be brought back
        self.last_problem = ""
        self._latency: dict[int, float] = {}  # id(modem) -> how long it took to answer AT when last synchronised

    # -- the states ------------------------------------------------------------------------------------------------

    def start_state(self, modem: Modem, *, why: str = "the port opened") -> None:
        """Synchronise and reset a module just opened. Raises :class:`ModemWedged` if it cannot be brought there."""
        modem.link.note(f"start state ({why}): synchronise, then reset")
        problem, resynced = self._routine(modem)
        if problem:
            recovery = self.recover(modem, f"({why})", problem, resynced=resynced)
            if not recovery.recovered:
                raise ModemWedged(f"{modem.url}: {problem}; {recovery.outcome}")

    def before_case(self, modem: Modem, case: str) -> None:
        """Resynchronise before a case; recover a module that does not answer. Raises :class:`ModemWedged` (the case
        does not run) if it cannot be brought back."""
        modem.link.note("before the case: resynchronise")
        problem = self._resync(modem, [])
        if not problem:
            return
        recovery = self.recover(modem, case, problem, resynced=True)
        if not recovery.recovered:
            self._lost(problem)
            raise ModemWedged(f"the module is not answering, so the case did not run: {problem}\n"
                              f"recovery: {'; '.join(recovery.steps) or 'nothing could be done'} -> "
                              f"{recovery.outcome} ({recovery.duration_s:.1f} s)")

    def after_case(self, modem: Modem, case: str) -> Outcome:
        """Back to the start state after a case; recover a module that does not get there. Never raises for the
        module's sake: the outcome says what happened."""
        modem.link.note("after the case: back to the start state")
        problem, resynced = self._routine(modem)
        if not problem:
            self.unrecoverable = 0
            return Outcome()
        recovery = self.recover(modem, case, problem, resynced=resynced)
        if recovery.recovered:
            self.unrecoverable = 0
        else:
            self._lost(problem)
        return Outcome(problem, recovery)

    @property
    def give_up(self) -> str:
        """Why the run should stop ("" while it should go on)."""
        if self.unrecoverable < self.max_unrecoverable:
            return ""
        return (f"the module could not be brought back for {self.unrecoverable} cases in a row "
                f"(--max-unrecoverable {self.max_unrecoverable}); last: {self.last_problem}")

    # -- recovery --------------------------------------------------------------------------------------------------

    def recover(self, modem: Modem, case: str, trigger: str, *, resynced: bool) -> Recovery:
        """Bring back a module that did not return to its start state; the record says how it went.

        ``resynced``: the synchronisation and the escape from data mode were just tried, and failed.
        """
        record = Recovery(url=modem.url, case=case, trigger=trigger)
        started = time.monotonic()
        modem.link.note(f"recovery: {trigger}")
        try:
            self._recover(modem, record, resynced=resynced)
            record.recovered = True
            record.outcome = "recovered"
        except _NotRecovered as exc:
            record.outcome = f"not recovered: {exc}"
        record.duration_s = round(time.monotonic() - started, 3)
        modem.link.note(f"recovery: {'; '.join(record.steps)} -> {record.outcome}")
        self.journal.add(record)
        return record

    def _recover(self, modem: Modem, record: Recovery, *, resynced: bool) -> None:
        if not resynced and not modem.link.closed:
            problem = self._resync(modem, record.steps)
            if not problem:
                self._reset_or_fail(modem, record)
                return
        deadline = time.monotonic() + self.power_cycle_wait_s
        cycler = self.power_cycler(modem)
        if cycler is None:
            if not modem.link.closed:
                raise _NotRecovered("no way to power-cycle it (give --power-cycle-cmd, or power_cycle in the bench "
                                    "file)")
            record.steps.append("no power-cycle command: waiting for the port to come back")
            self._reopen(modem, record, deadline)
        else:
            if not modem.link.closed:
                modem.drain()  # the start-up lines are looked for from here on
            try:
                record.steps.append(cycler.cycle())
            except PowerCycleFailed as exc:
                record.steps.append(str(exc))  # it may have done enough: the module is given its chance below
            if cycler.reopens_port:
                self._reopen(modem, record, deadline)
            if cycler.announces:
                self._await_startup(modem, record, deadline)
        self._sync_until(modem, record, deadline)
        self._reset_or_fail(modem, record)

    def _reopen(self, modem: Modem, record: Recovery, deadline: float) -> None:
        """Open the port again, trying until ``deadline`` (a USB module's port returns when it has enumerated)."""
        started = time.monotonic()
        modem.link.close()
        last_error = ""
        while True:
            try:
                self.reopen_port(modem)
                record.steps.append(f"port open again after {time.monotonic() - started:.1f} s")
                return
            except Exception as exc:  # whatever the port's opener raises: pyserial, OS, simulator errors
                last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if time.monotonic() + PORT_RETRY_S > deadline:
                raise _NotRecovered(f"the port did not come back within {self.power_cycle_wait_s:g} s "
                                    f"({last_error})")
            time.sleep(PORT_RETRY_S)

    def _await_startup(self, modem: Modem, record: Recovery, deadline: float) -> None:
        """Wait for the dialect's start-up lines (its last one means the module takes commands), up to ``deadline``.

        The port may close meanwhile (a USB module dropping off the bus as it powers down): it is opened again.
        """
        lines = modem.dialect.startup_lines
        if not lines:
            return
        started = time.monotonic()
        seen: list[str] = []
        while True:
            try:
                token = modem.session.next_token(int(deadline * 1e9))  # monotonic() and monotonic_ns() share a clock
            except LinkClosed:
                record.steps.append("the port went away")
                self._reopen(modem, record, deadline)
                continue
            if token is None:
                said = f" (it said: {', '.join(seen)})" if seen else ""
                record.steps.append(f"no {lines[-1]!r} within {self.power_cycle_wait_s:g} s{said}")
                return
            if token.kind == "line" and token.text:
                seen.append(token.text)
                if token.text == lines[-1]:
                    record.steps.append(f"start-up lines after {time.monotonic() - started:.1f} s: "
                                        f"{', '.join(seen)}")
                    return

    def _sync_until(self, modem: Modem, record: Recovery, deadline: float) -> None:
        """Synchronise, round after round, until the module answers or ``deadline`` passes."""
        while True:
            try:
                result = synchronise(modem, interval_s=self._interval(modem))
            except LinkClosed:
                record.steps.append("the port went away")
                self._reopen(modem, record, deadline)
                continue
            if result.answered:
                self._remember(modem, result)
                record.steps.append(result.describe())
                return
            if time.monotonic() >= deadline:
                raise _NotRecovered(result.describe())

    def _reset_or_fail(self, modem: Modem, record: Recovery) -> None:
        problem = self._reset(modem)
        if problem:
            raise _NotRecovered(problem)
        record.steps.append("reset to the start state")

    # -- the routine way -------------------------------------------------------------------------------------------

    def _routine(self, modem: Modem) -> tuple[str, bool]:
        """Resynchronise, then reset: the problem ("" if none), and whether it was the resynchronisation that failed
        (a recovery then goes straight to the power cycle)."""
        problem = self._resync(modem, [])
        if problem:
            return problem, True
        return self._reset(modem), False

    def _resync(self, modem: Modem, steps: list[str]) -> str:
        """Drop what the module says and get ``OK`` to ``AT`` (leaving data mode first if need be); the problem, or
        ""."""
        if modem.link.closed:
            return f"the port closed ({modem.link.error or 'end of file'})"
        try:
            escaped = False
            if modem.session.mode == "data":  # a case that ended in transparent mode: AT would only be data
                escaped = modem.escape()
                steps.append(f"escape from data mode: {'OK' if escaped else 'no answer'}")
            result = synchronise(modem, interval_s=self._interval(modem))
            if result.dropped:
                modem.link.note(f"dropped {len(result.dropped)} bytes the module said before: "
                                f"{result.dropped[:120]!r}")
            if not result.answered and not escaped:
                escaped = modem.escape()
                steps.append(f"escape sequence: {'OK' if escaped else 'no answer'}")
                if escaped:
                    result = synchronise(modem, interval_s=self._interval(modem))
            if result.answered:
                self._remember(modem, result)
                return ""
            return result.describe() + (", not even after the escape sequence" if modem.dialect.escape else "")
        except LinkClosed as exc:
            return f"the port closed ({exc})"

    def _reset(self, modem: Modem) -> str:
        """The dialect's reset (close what is open, settings to defaults); the problem, or ""."""
        try:
            modem.reset()
        except LinkClosed as exc:
            return f"the port closed during the reset ({exc})"
        except ConformanceError as exc:
            return f"the reset failed: {exc}"
        return ""

    def _interval(self, modem: Modem) -> float:
        return min(MAX_SYNC_INTERVAL_S, max(SYNC_INTERVAL_S, 2 * self._latency.get(id(modem), 0.0)))

    def _remember(self, modem: Modem, result: SyncResult) -> None:
        self._latency[id(modem)] = result.latency_s

    def _lost(self, problem: str) -> None:
        self.unrecoverable += 1
        self.last_problem = problem

