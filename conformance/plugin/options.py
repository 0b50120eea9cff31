"""The plugin's command-line options: one group, each with its meaning and an example (``pytest --help``)."""

from __future__ import annotations

import math
import os
import sys

import pytest

from .. import dialects

__all__ = ["DEFAULT_CASE_TIMEOUT_S", "DEFAULT_MAX_UNRECOVERABLE", "DEFAULT_POWER_CYCLE_WAIT_S", "LINE_ENDS",
           "validate"]

DEFAULT_CASE_TIMEOUT_S = 900.0  # the backstop for a case with no timeout of its own: longer than any documented wait
# ASSUMPTION: a module is back within a minute of power-on (port enumerated, start-up lines said, AT answered); the
# manuals give 60 s as the time after which a module that does not answer is to be rebooted (BG96 §1.1 note 1).
DEFAULT_POWER_CYCLE_WAIT_S = 60.0
DEFAULT_MAX_UNRECOVERABLE = 3  # cases in a row with a lost module before the run stops
LINE_ENDS = {"cr": b"\r", "crlf": b"\r\n"}  # --line-end


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "conformance suite (Quectel TCP/IP AT commands)")
    group.addoption("--modem", metavar="URL", default=None,
                    help="the module under test, as a pyserial URL: /dev/ttyUSB2, rfc2217://bench7:4001, "
                         "socket://host:port, or sim:bg96. Default: a simulated module for each dialect a case "
                         "declares. Example: pytest --modem /dev/ttyUSB2")
    group.addoption("--dialect", metavar="NAME", default=None,
                    help=f"the module family: {', '.join(dialects.names())}. Default: detected from ATI / AT+GMM; "
                         "with no --modem, collects only that dialect's cases. Example: --dialect bg96")
    group.addoption("--baud", metavar="N", type=int, default=115200,
                    help="serial line rate for a real port (default 115200). Example: --baud 921600")
    group.addoption("--line-rate", metavar="BPS", type=int, default=None,
                    help="pace every write as a UART at this rate with 8N1 framing would (a pty ignores the baud "
                         "rate). Default: unpaced. Example: --line-rate 115200")
    group.addoption("--results-dir", metavar="DIR", default="reports/out",
                    help="where runs write flight logs (one folder per run). Default: reports/out")
    group.addoption("--run-name", metavar="NAME", default=None,
                    help="the run's folder name under --results-dir. Default: the start time, YYYYmmdd-HHMMSS")
    group.addoption("--bench", metavar="FILE", default=None,
                    help="a bench description (YAML): vars such as apn, secrets such as apn_password and pin "
                         "(redacted in every artifact), the capabilities it provides, a power-cycle command. "
                         "Example: --bench benches/desk7.yaml")
    group.addoption("--case-timeout", metavar="S", type=float, default=DEFAULT_CASE_TIMEOUT_S,
                    help="backstop for a case without 'timeout:' (pytest-timeout), in seconds; a case's own "
                         f"deadlines fire long before. Default: {DEFAULT_CASE_TIMEOUT_S:g}")
    group.addoption("--power-cycle-cmd", metavar="CMD", default=None,
                    help="a command that power-cycles a real module that stopped answering (or the bench file's "
                         "power_cycle): the port is opened again when it comes back, the start-up lines waited for, "
                         "the module resynchronised and reset, and the run goes on. "
                         "Example: --power-cycle-cmd 'usbrelay R1_1=0 && sleep 2 && usbrelay R1_1=1'")
    group.addoption("--power-cycle-wait", metavar="S", type=float, default=DEFAULT_POWER_CYCLE_WAIT_S,
                    help="how long a power-cycled (or unplugged) module has to come back: its port, its start-up "
                         f"lines, its answer to AT. Default: {DEFAULT_POWER_CYCLE_WAIT_S:g}. Example: "
                         "--power-cycle-wait 30")
    group.addoption("--max-unrecoverable", metavar="N", type=int, default=DEFAULT_MAX_UNRECOVERABLE,
                    help="stop the run, with one message, after N cases in a row after which the module could not "
                         f"be brought back. Default: {DEFAULT_MAX_UNRECOVERABLE}. Example: --max-unrecoverable 1")
    group.addoption("--line-end", metavar="END", choices=sorted(LINE_ENDS), default="cr",
                    help="how the host ends every command line: cr (V.250's S3), or crlf as many host drivers do. "
                         "Default: cr. Example: --line-end crlf")
    group.addoption("--sim-timing", metavar="PROFILE", choices=("instant", "realistic"), default=None,
                    help="how fast simulated modules answer: instant, or realistic (seeded delays within each "
                         "command's documented maximum response time). Default: the CONFORMANCE_SIM_TIMING "
                         "environment variable, else instant. Example: --sim-timing realistic")
    group.addoption("--sim-seed", metavar="N", type=int, default=None,
                    help="the seed of the realistic timing profile's delays, so a run can be repeated. Default: the "
                         "CONFORMANCE_SIM_SEED environment variable, else 0. Example: --sim-seed 7")
    group.addoption("--revision", metavar="DIALECT=REV", action="append", default=[],
                    help="the revision of a dialect's documents the module is held to, where they give different "
                         "response times (m95: V2.0 or V1.1 of the Recommended Process). Default: the newest. "
                         "Example: --revision m95=V1.1")


def validate(config: pytest.Config) -> None:
    """Refuse impossible option values at start-up, each as one usage error naming the option (pytest's exit code 4),
    rather than in every case."""
    if config.getoption("help", False) or config.getoption("version", False):
        return
    known = dialects.names()
    dialect = config.getoption("dialect")
    if dialect is not None and dialect not in known:
        raise pytest.UsageError(f"--dialect {dialect}: no such dialect; known: {', '.join(known)}")
    modem = config.getoption("modem")
    if modem is not None:
        if not modem.strip():
            raise pytest.UsageError("--modem: empty; give a port such as /dev/ttyUSB2, socket://host:port or sim:bg96")
        if modem.startswith("sim:"):
            name = modem[4:].split("?", 1)[0].strip("/")
            if name not in known:
                raise pytest.UsageError(f"--modem {modem}: no simulated module {name!r}; known: {', '.join(known)}")
    _positive(config, "baud", "--baud", "a line rate in bits per second", integer=True)
    _positive(config, "line_rate", "--line-rate", "a line rate in bits per second", integer=True)
    _positive(config, "case_timeout", "--case-timeout", "a number of seconds")
    _positive(config, "power_cycle_wait", "--power-cycle-wait", "a number of seconds")
    _positive(config, "max_unrecoverable", "--max-unrecoverable", "a number of cases", integer=True)
    command = config.getoption("power_cycle_cmd")
    if command is not None and not command.strip():
        raise pytest.UsageError("--power-cycle-cmd: empty; give the shell command that power-cycles the module")
    seed = config.getoption("sim_seed")
    if seed is not None and not 0 <= seed < 2**63:
        raise pytest.UsageError(f"--sim-seed {seed}: give a whole number from 0 to 2**63-1")
    revisions(config)


def revisions(config: pytest.Config) -> dict[str, str]:
    """``--revision m95=V1.1`` -> ``{"m95": "V1.1"}``; a usage error for an unknown dialect or revision."""
    chosen: dict[str, str] = {}
    for given in config.getoption("revision", None) or []:
        name, sep, revision = given.partition("=")
        if not sep or name not in dialects.names():
            raise pytest.UsageError(f"--revision {given}: write DIALECT=REVISION with a dialect of "
                                    f"{', '.join(dialects.names())}, e.g. --revision m95=V1.1")
        known = dialects.get(name).revisions
        if revision not in known:
            raise pytest.UsageError(f"--revision {given}: {name} has " +
                                    (f"the revisions {', '.join(sorted(known))}" if known else "no revisions"))
        chosen[name] = revision
    return chosen


def _positive(config: pytest.Config, dest: str, option: str, what: str, *, integer: bool = False) -> None:
    value = config.getoption(dest)
    if value is None:
        return
    if not math.isfinite(value) or value <= 0:
        raise pytest.UsageError(f"{option} {value:g}: give {what} greater than 0" +
                                ("" if integer else " (and finite)"))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    _claim_modem_path(early_config)


def _claim_modem_path(config: pytest.Config) -> None:
    """``pytest --modem /dev/ttyUSB2``: pytest locates its rootdir and config before plugins add options, so it takes
    an existing device path for a test path and loses the project's configuration. Run again as ``--modem=PATH``.

    Only for a command line (not pytest.main from a program), and only once.
    """
    argv = list(config.invocation_params.args)
    if sys.argv[1:] != argv or os.environ.get("CONFORMANCE_REEXEC"):
        return
    for i, arg in enumerate(argv[:-1]):
        if arg == "--modem" and os.path.exists(argv[i + 1]):
            fixed = [*argv[:i], f"--modem={argv[i + 1]}", *argv[i + 2:]]
            os.environ["CONFORMANCE_REEXEC"] = "1"
            capture = config.pluginmanager.getplugin("capturemanager")
            if capture is not None:  # it has the terminal's file descriptors by now: give them back
                capture.stop_global_capturing()
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, "-m", "pytest", *fixed])

