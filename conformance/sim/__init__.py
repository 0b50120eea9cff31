"""Simulated modules: one process per module, serving a pty, with the host kernel as its IP network.

``launch("bg96")`` starts one and returns a :class:`SimProcess`; the URL ``sim:bg96`` does the same through
:func:`conformance.link.ports.open_port`, and ``conformance sim bg96`` (:func:`cli_main`) serves one for a person.
What is simulated, the control channel and every assumption are in docs/simulator.md.
"""

from __future__ import annotations

from conformance.link.ports import register_scheme

from .process import SimError, SimLines, SimProcess, cli_main, launch, open_sim_url, parse_sim_url

__all__ = ["SimError", "SimLines", "SimProcess", "cli_main", "launch", "open_sim_url", "parse_sim_url"]

register_scheme("sim", open_sim_url)
