"""The lab's part of the pytest plugin: labgrid places as ``--modem``, ``--inventory`` (one module per
pytest-xdist worker), the ``modem_lines`` capability, and ``timing_critical`` cases over network ports.

- ``--modem labgrid:<place>`` and ``--lg-env env.yaml`` (labgrid's pytest plugin) open the place's port; its power
  driver stands in for ``--power-cycle-cmd`` (:mod:`conformance.lab.labgrid_place`).
- ``--inventory lab.yaml``: each worker (or the single process) claims one module of the inventory under a lock and
  takes it as its ``--modem`` (with its dialect, bench file and power command). A module that is lost during the run
  (its recovery failed) is retired and the worker goes on with a spare module if there is one; without one, the
  worker's remaining cases are reported as not run (skipped, with the reason), and the other workers go on.
- ``needs: [modem_lines]``: a case that moves DTR or RTS skips, naming why, on a port that has no modem lines (a
  bare pty, ``socket://``).
- ``tags: [timing_critical]``: a case whose point is timing (the escape sequence's guard times) that fails over a
  network port (``rfc2217://``, ``socket://``, a labgrid ``NetworkSerialPort``) is reported as an expected failure
  naming the port and what the host measured, since the network's delays are in every time the host measured.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..link.ports import register_scheme
from ..plugin.state import xdist_worker
from .transport import port_traits

__all__ = ["LEASE", "TIMING_CRITICAL"]

TIMING_CRITICAL = "timing_critical"
LEASE = pytest.StashKey[Any]()  # this process's claim on an inventory module (conformance.lab.assign.Lease)
_LOST = pytest.StashKey[str]()  # why this worker has no module any more
_INVENTORY = pytest.StashKey[Any]()
DEFAULT_CLAIM_WAIT_S = 60.0
CLAIMS_FILE = "inventory-claims.jsonl"  # in the process's results folder: the modules it held, one line per claim


def _register_schemes() -> None:
    from .labgrid_place import open_labgrid_env_url, open_labgrid_url
    from .socket_port import open_socket_url

    register_scheme("labgrid", open_labgrid_url)
    register_scheme("labgrid-env", open_labgrid_env_url)
    register_scheme("socket", open_socket_url)  # pyserial's, with a byte count for in_waiting


_register_schemes()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance lab", "many modules, network ports and labgrid places (docs/lab.md)")
    group.addoption("--inventory", metavar="FILE", default=None,
                    help="a bench inventory (YAML): the modules this host may use. Each pytest-xdist worker (or the "
                         "single process) claims one under a lock and runs its cases on it; -n must not exceed the "
                         "number of modules. Example: pytest -n 2 --inventory fixtures/lab/inventory.yaml")
    group.addoption("--claim-wait", metavar="S", type=float, default=DEFAULT_CLAIM_WAIT_S,
                    help="how long a worker waits for a module of the inventory that another run holds. "
                         f"Default: {DEFAULT_CLAIM_WAIT_S:g}. Example: --claim-wait 600")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Before the run's state is made: ``--lg-env`` without ``--modem``, and the inventory's claim."""
    config.addinivalue_line("markers", f"{TIMING_CRITICAL}: a case whose point is timing; over a network port its "
                                       "failure is reported as expected, with the measured timing")
    config.addinivalue_line("markers", "modem_lines: needs DTR/RTS to reach the module")
    if config.getoption("help", False):
        return
    lg_env = getattr(config.option, "lg_env", None) or os.environ.get("LG_ENV")
    if lg_env and not config.getoption("modem") and not config.getoption("inventory"):
        config.option.modem = f"labgrid-env:{lg_env}"
    if config.getoption("inventory"):
        _claim(config)


def _claim(config: pytest.Config) -> None:
    try:
        from .assign import NoModuleFree, claim_module
    except ImportError as exc:
        raise pytest.UsageError(f"--inventory needs {exc.name}: pip install -e '.[lab]'") from None
    from .inventory import InventoryError, load_inventory

    path = config.getoption("inventory")
    if config.getoption("modem"):
        raise pytest.UsageError("--inventory and --modem: give one (the inventory names the modules)")
    try:
        inventory = load_inventory(path)
    except InventoryError as exc:
        raise pytest.UsageError(f"--inventory {exc}") from None
    workers = getattr(config.option, "numprocesses", None)
    is_worker = hasattr(config, "workerinput")
    if isinstance(workers, int) and workers > len(inventory.modules) and not is_worker:
        raise pytest.UsageError(f"--inventory {path}: -n {workers} workers for {len(inventory.modules)} modules; "
                                "one worker per module (give -n at most the number of modules)")
    if workers and not is_worker:
        return  # the pytest-xdist controller runs no case: its workers claim the modules
    worker = xdist_worker(config)
    try:
        lease = claim_module(inventory, worker=worker, timeout_s=config.getoption("claim_wait"))
    except NoModuleFree as exc:
        raise pytest.UsageError(f"--inventory {exc}") from None
    config.stash[LEASE] = lease
    config.stash[_INVENTORY] = inventory
    _use(config, lease.module)


def _use(config: pytest.Config, module: Any) -> None:
    """Make ``module`` this process's module under test, as if given with --modem, --dialect, --bench ...

    A simulated module (``sim:``) is the worker's own simulator, started as a run without ``--modem`` starts it
    (inside the run's network namespace when there is one); its dialect is not imposed, so every worker collects the
    same cases as the pytest-xdist controller.
    """
    if module.url.startswith("sim:"):
        config.option.modem = None
    else:
        config.option.modem = module.url
        if module.dialect:
            config.option.dialect = module.dialect
    if module.bench:
        config.option.bench = module.bench
    if module.power_cycle:
        config.option.power_cycle_cmd = module.power_cycle


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say in the results which inventory module this process holds (under pytest-xdist: each worker's folder)."""
    lease = session.config.stash.get(LEASE, None)
    if lease is None:
        return
    from ..plugin.state import STATE

    state = session.config.stash.get(STATE, None)
    if state is not None:
        _record_claim(state.run_dir, lease, xdist_worker(session.config))


def _record_claim(run_dir: Path, lease: Any, worker: str | None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    claims = run_dir / CLAIMS_FILE
    entry = {"module": lease.module.name, "url": lease.module.url, "lock": lease.lock_path, "pid": os.getpid(),
             "worker": worker or "", "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    with claims.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def pytest_unconfigure(config: pytest.Config) -> None:
    lease = config.stash.get(LEASE, None)
    if lease is not None:
        lease.release()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lease = config.stash.get(LEASE, None)
    if lease is None:
        return []
    return [f"conformance lab: module {lease.module.name} ({lease.module.url}) from {config.getoption('inventory')}, "
            f"locked by {lease.lock_path}"]


# -- a lost module: a spare, or the rest not run -----------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    lost = item.config.stash.get(_LOST, "")
    if lost:
        pytest.skip(f"not run: {lost}")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """After each test of an inventory run: a module the strategy could not bring back is retired."""
    config = item.config
    lease = config.stash.get(LEASE, None)
    if lease is None or config.stash.get(_LOST, ""):
        return
    from ..plugin.state import STATE

    state = config.stash.get(STATE, None)
    if state is None or state.strategy.unrecoverable == 0 or lease.module.url.startswith("sim:"):
        return  # (a simulator that died is started anew by the run itself)
    _retire(config, state, lease, state.strategy.last_problem or "its recovery failed")


def _retire(config: pytest.Config, state: Any, lease: Any, why: str) -> None:
    from .assign import claim_spare

    dead = state.pool.modems.pop("real", None)
    if dead is not None:
        try:
            dead.close()
        except Exception:
            pass
    spare = claim_spare(lease, config.stash[_INVENTORY], why, worker=xdist_worker(config))
    state.strategy.unrecoverable = 0  # the lost module is out of the run: its count must not stop the others
    if spare is None:
        config.stash[_LOST] = f"module {lease.module.name} ({lease.module.url}) was lost ({why}) and the inventory " \
                              "has no spare module"
        return
    config.stash[LEASE] = spare
    _use(config, spare.module)
    _record_claim(state.run_dir, spare, xdist_worker(config))


# -- modem_lines ---------------------------------------------------------------------------------------------------

@pytest.fixture
def modem_lines(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A case that moves DTR or RTS: skips when the module's port cannot carry them (a bare pty, socket://)."""
    from ..plugin.state import STATE

    state = request.config.stash[STATE]
    dialect = getattr(request.node, "dialect", None) or request.config.getoption("dialect") or "bg96"
    modem = state.pool.get(dialect, request)
    traits = port_traits(modem.link.port)
    if not traits.modem_lines:
        pytest.skip(f"modem_lines: {traits.why_no_lines or 'the port has no modem lines'}")
    yield traits


# -- timing_critical over a network port ---------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    case = getattr(item, "case", None)
    if case is None or TIMING_CRITICAL not in case.tags:
        return
    from ..plugin.state import STATE

    state = item.config.stash.get(STATE, None)
    modem = state.pool.modems.get("real") if state is not None else None
    if modem is None or not port_traits(modem.link.port).network:
        return
    text = str(report.longrepr)
    first = next((line for line in text.splitlines() if line.strip()), "")
    report.sections.append(("timing measured over the network", text))
    report.outcome = "skipped"
    report.wasxfail = (f"timing-critical case over a network port ({modem.url}): the network's delays are in "
                       f"every time the host measured; {first}")
