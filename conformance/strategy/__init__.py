"""Module state: synchronising with a module, its start state before and after every case, and bringing it back
when it stops answering or its port goes away (power cycle, reopen, start-up lines, reset), recorded per run."""

from .journal import Recovery, RecoveryJournal
from .power import CommandPowerCycle, PowerCycleFailed, PowerCycler, SimReboot, SimRestart
from .strategy import ModuleStrategy, Outcome
from .sync import SYNC_ATTEMPTS, SYNC_INTERVAL_S, SyncResult, drain_until_quiet, synchronise

__all__ = [
    "SYNC_ATTEMPTS",
    "SYNC_INTERVAL_S",
    "CommandPowerCycle",
    "ModuleStrategy",
    "Outcome",
    "PowerCycleFailed",
    "PowerCycler",
    "Recovery",
    "RecoveryJournal",
    "SimReboot",
    "SimRestart",
    "SyncResult",
    "drain_until_quiet",
    "synchronise",
]
