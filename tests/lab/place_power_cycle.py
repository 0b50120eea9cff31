"""Run inside the labgrid test's pytest run (tests/lab/test_labgrid_place.py), not collected on its own: the module of
the place is power-cycled through the place's labgrid power driver, and says its start-up lines over the place's port.
"""

from __future__ import annotations

import pytest

from conformance.lab.labgrid_place import LabgridPower
from conformance.plugin.state import STATE


@pytest.mark.dialect("bg96")
def test_the_place_power_driver_power_cycles_the_module(modem, request: pytest.FixtureRequest) -> None:
    cycler = request.config.stash[STATE].pool.power_cycler(modem)
    assert isinstance(cycler, LabgridPower), f"the place's power did not come with the port: {cycler!r}"
    modem.drain()
    done = cycler.cycle()
    assert "ExternalPowerDriver" in done
    assert modem.wait_urc(r"APP RDY", timeout=20) == "APP RDY"  # the last start-up line: the module rebooted
    assert modem.command("AT").ok
