"""Ways to power-cycle a module: the bench's command for a real one, the control channel for a simulated one.

Each says what it did in a line for the run's record of recoveries, and whether the module's port has to be opened
again afterwards (an unplugged USB module's port goes away; a simulator that died is started anew).
"""

from __future__ import annotations

import subprocess
from typing import Any, Protocol

__all__ = ["POWER_CYCLE_CMD_TIMEOUT_S", "CommandPowerCycle", "PowerCycleFailed", "PowerCycler", "SimReboot",
           "SimRestart"]

POWER_CYCLE_CMD_TIMEOUT_S = 120.0  # a power-cycle command that takes longer is taken as hung


class PowerCycleFailed(Exception):
    """The power cycle could not be done (the command failed, the control channel refused)."""


class PowerCycler(Protocol):
    """One way to power-cycle a module."""

    reopens_port: bool  # True: the port is opened afresh afterwards whatever happened to it
    announces: bool  # True: the module says its start-up lines afterwards, and they are waited for

    def cycle(self) -> str:
        """Do it; return what was done, for the record. Raises :class:`PowerCycleFailed`."""
        ...


class CommandPowerCycle:
    """A real module, through the bench's command (``--power-cycle-cmd``, or ``power_cycle`` in the bench file).

    Whether its port goes away (USB) or stays (a UART) is seen afterwards: the port closing under the link says so.
    """

    reopens_port = False
    announces = True

    def __init__(self, command: str, *, timeout_s: float = POWER_CYCLE_CMD_TIMEOUT_S) -> None:
        self.command = command
        self.timeout_s = timeout_s

    def cycle(self) -> str:
        try:
            done = subprocess.run(self.command, shell=True, capture_output=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise PowerCycleFailed(f"the power-cycle command did not end within {self.timeout_s:g} s: "
                                   f"{self.command}") from None
        except OSError as exc:
            raise PowerCycleFailed(f"the power-cycle command could not run ({exc}): {self.command}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
            raise PowerCycleFailed(f"the power-cycle command exited with status {done.returncode}"
                                   f"{': ' + said[-1] if said else ''}: {self.command}")
        return f"power cycle: ran {self.command}"


class SimReboot:
    """A simulated module that is running but not answering: the control channel's ``reboot``."""

    reopens_port = False
    announces = True

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    def cycle(self) -> str:
        try:
            self.sim.control("reboot")
        except Exception as exc:
            raise PowerCycleFailed(f"the simulator refused to reboot: {exc}") from None
        return "power cycle: the simulator rebooted (control channel)"


class SimRestart:
    """A simulated module whose process has gone: a new one is started when the port is opened again."""

    reopens_port = True
    announces = False  # a simulator announces itself on its control channel; it answers AT once its pty is served

    def cycle(self) -> str:
        return "the simulator had stopped: a new one is started"
