"""A simulated BG96 in a labgrid place, end to end: a real labgrid-coordinator and labgrid-exporter on loopback, the
exporter publishing the simulator's pty through ser2net; the place reserved and acquired with labgrid's client; BG96
cases run through it with ``pytest --lg-env``; the module power-cycled through the place's labgrid power driver (an
ExternalPowerDriver that reboots the simulator through its control channel); the place released.

Skips, naming what is missing, without labgrid (``pip install -e '.[lab]'``) or ser2net (``apt-get install ser2net``).
"""

from __future__ import annotations

import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.lab.ser2net import find_ser2net
from conformance.sim import SimProcess, launch

ROOT = Path(__file__).resolve().parents[2]
PLACE = "bg96-lab-test"
EXPORTER = "lab-test"
CASES = ["cases/bg96/basics.yaml", "cases/bg96/contexts.yaml", "cases/bg96/tcp_client_buffer.yaml",
         "cases/bg96/escape_timing.yaml::escape_with_guards[bg96]", "tests/lab/place_power_cycle.py"]


def _program(name: str) -> str | None:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    return found


def _missing() -> str:
    try:
        import labgrid  # noqa: F401
    except ImportError:
        return "labgrid is not installed (pip install -e '.[lab]')"
    for name in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client"):
        if _program(name) is None:
            return f"{name} is not installed (pip install -e '.[lab]')"
    if find_ser2net() is None:
        return "ser2net is not installed (apt-get install ser2net): labgrid's exporter runs it"
    return ""


pytestmark = pytest.mark.skipif(bool(_missing()), reason=_missing() or "labgrid and ser2net are installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> str:
    """Read ``proc``'s stdout until a line holds ``needle`` (a deadline, no polling)."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(deadline - time.monotonic()):
                break
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip())
            if needle in line:
                return line
    raise AssertionError(f"no {needle!r} from {proc.args!r} within {timeout_s:g} s; it said: {seen[-10:]}")


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the process group (the exporter's ser2net with it), SIGKILL after 5 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


class Lab:
    """A coordinator and an exporter on loopback, and labgrid's client to talk to them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.address = f"127.0.0.1:{_free_port()}"
        self.env = {**os.environ, "LG_COORDINATOR": self.address, "PYTHONUNBUFFERED": "1"}
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str, name: str) -> subprocess.Popen[str]:
        log = (self.workdir / f"{name}.log").open("w")
        proc = subprocess.Popen([_program(args[0]) or args[0], *args[1:]], cwd=self.workdir, env=self.env,
                                stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        self.procs.append(proc)
        return proc

    def client(self, *args: str, check: bool = True) -> str:
        done = subprocess.run([_program("labgrid-client") or "labgrid-client", "-x", self.address, *args],
                              cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"labgrid-client {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def wait_for_resource(self, path: str, timeout_s: float = 30.0) -> None:
        # the exporter registers its resources some time after it starts, and says so to nobody: ask the coordinator
        deadline = time.monotonic() + timeout_s
        while path not in self.client("resources", check=False):
            if time.monotonic() > deadline:
                raise AssertionError(f"the coordinator never listed {path}: {self.client('resources', check=False)}")
            time.sleep(0.5)

    def close(self) -> None:
        for proc in reversed(self.procs):
            _stop(proc)


@pytest.fixture
def sim() -> Iterator[SimProcess]:
    with launch("bg96") as the_sim:
        yield the_sim


@pytest.fixture
def lab(tmp_path: Path, sim: SimProcess) -> Iterator[Lab]:
    the_lab = Lab(tmp_path)
    try:
        coordinator = the_lab.start("labgrid-coordinator", "--listen", the_lab.address, name="coordinator")
        _wait_for_line(coordinator, "listening on", 30)
        (tmp_path / "exporter.yaml").write_text(f"bg96:\n  RawSerialPort:\n    port: {sim.pty}\n    speed: 115200\n")
        the_lab.start("labgrid-exporter", "--coordinator", the_lab.address, "--name", EXPORTER, "--hostname",
                      "127.0.0.1", "exporter.yaml", name="exporter")
        yield the_lab
    finally:
        the_lab.close()


def test_cases_run_through_a_reserved_labgrid_place_and_its_power_driver_power_cycles_the_module(
        lab: Lab, sim: SimProcess, tmp_path: Path) -> None:
    lab.wait_for_resource(f"{EXPORTER}/bg96/NetworkSerialPort")
    lab.client("-p", PLACE, "create")
    lab.client("-p", PLACE, "add-match", f"{EXPORTER}/bg96/NetworkSerialPort")
    reserved = lab.client("reserve", "--wait", "--shell", f"name={PLACE}")
    token = next(line.split("=", 1)[1] for line in reserved.splitlines() if line.startswith("export LG_TOKEN="))
    lab.env["LG_TOKEN"] = token
    lab.client("-p", "+", "acquire")
    assert "acquired:" in lab.client("-p", PLACE, "show")
    power = f"{shlex.quote(sys.executable)} -m conformance.lab.simctl {shlex.quote(sim.control_path)} reboot"
    env_file = tmp_path / "env.yaml"
    env_file.write_text(
        "targets:\n  main:\n    resources:\n      RemotePlace:\n        name: " + PLACE + "\n"
        "    drivers:\n      ExternalPowerDriver:\n        cmd_on: 'true'\n        cmd_off: 'true'\n"
        f"        cmd_cycle: {power!r}\n")
    junit = tmp_path / "junit.xml"
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "labgrid", "--lg-env", str(env_file), *CASES,
             "--peer-bind", "127.0.0.1",
             "--module-ip", "127.0.0.1", "--results-dir", str(tmp_path / "out"), "--run-name", "lab",
             f"--junitxml={junit}", "-p", "no:cacheprovider", "-q", "-rfEs"],
            cwd=ROOT, env=lab.env, capture_output=True, text=True, timeout=600)
    finally:
        lab.client("-p", PLACE, "release")
        lab.client("cancel-reservation", token, check=False)
    said = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, said
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    passed = [c for c in cases if not any(child.tag in ("failure", "error", "skipped") for child in c)]
    assert len(passed) >= 20, said
    assert any(c.get("name") == "test_the_place_power_driver_power_cycles_the_module" for c in passed), said
    # the cases went through the exporter's ser2net (the place's NetworkSerialPort), not the pty
    logs = list((tmp_path / "out" / "lab").glob("*.atlog"))
    assert any("labgrid-env:" in p.read_text(encoding="utf-8", errors="replace")[:2000] for p in logs)
    assert "acquired: None" in lab.client("-p", PLACE, "show")  # released
