"""The plugin's command-line options: one group, each with its meaning and an example (``pytest --help``)."""

from __future__ import annotations

import os
import sys

import pytest

from .. import dialects

__all__ = ["DEFAULT_CASE_TIMEOUT_S"]

DEFAULT_CASE_TIMEOUT_S = 900.0  # the backstop for a case with no timeout of its own: longer than any documented wait


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
                    help="a command that power-cycles a real module that stopped answering; the run goes on "
                         "after it. Example: --power-cycle-cmd 'usbrelay R1_1=0 && sleep 2 && usbrelay R1_1=1'")


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

