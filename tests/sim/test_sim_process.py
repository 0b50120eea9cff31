"""The simulator as a process: launch, announcement, pty, control channel, sim: URLs, netns, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import serial

from conformance.link import ports
from conformance.sim import SimError, launch, parse_sim_url


def test_launch_serves_a_raw_pty_and_a_control_socket(sim):
    assert Path(sim.pty).exists() and Path(sim.control_path).exists()
    assert sim.alive() and sim.pid > 0
    fd = os.open(sim.pty, os.O_RDWR | os.O_NOCTTY)
    try:
        lflag = termios.tcgetattr(fd)[3]
        iflag, oflag = termios.tcgetattr(fd)[0], termios.tcgetattr(fd)[1]
    finally:
        os.close(fd)
    assert not lflag & (termios.ECHO | termios.ICANON)  # raw before the announcement: no echo, no line editing
    assert not iflag & termios.ICRNL and not oflag & termios.OPOST  # no CR/LF translation either way
    assert sim.control("ping") == {"ok": True, "pong": True}
    assert sim.control("state")["mode"] == "command"


def test_close_stops_the_process_and_removes_its_files():
    sim = launch("bg96")
    workdir = Path(sim.control_path).parent
    sim.close()
    assert not sim.alive()
    assert not workdir.exists()
    sim.close()  # twice is harmless


def test_reopening_the_pty_keeps_the_module(sim):
    for _ in range(2):
        with serial.Serial(sim.pty, timeout=2) as port:
            port.write(b"AT\r")
            assert port.read(9) == b"AT\r\r\nOK\r\n"
    assert sim.alive()


def test_control_errors_raise(sim):
    with pytest.raises(SimError, match="unknown control command"):
        sim.control("no-such-command")
    with pytest.raises(SimError, match="unknown configuration key"):
        sim.control("configure", bogus=1)
    with pytest.raises(SimError, match="bad value"):
        sim.control("configure", connect_timeout_s="soon")
    assert sim.control("configure", connect_timeout_s=2)["config"]["connect_timeout_s"] == 2.0


def test_a_killed_simulator_does_not_take_the_caller_down(sim):
    os.kill(sim.pid, signal.SIGKILL)
    os.waitid(os.P_PID, sim.pid, os.WEXITED | os.WNOWAIT)
    assert not sim.alive()
    with pytest.raises(SimError):
        sim.control("ping")
    sim.close()


def test_launch_failure_reports_the_simulators_stderr():
    with pytest.raises(RuntimeError, match=r"no simulator for dialect|unknown dialect"):
        launch("no-such-module", ready_timeout=5)


def test_parse_sim_url():
    assert parse_sim_url("sim:bg96") == ("bg96", None, {})
    assert parse_sim_url("sim:bg96?netns=lab&connect_timeout_s=2&dns_servers=10.0.0.1,10.0.0.2&trace=true") == (
        "bg96", "lab", {"connect_timeout_s": 2, "dns_servers": ["10.0.0.1", "10.0.0.2"], "trace": True})
    with pytest.raises(ValueError):
        parse_sim_url("sim:")


def test_sim_url_opens_through_the_port_registry():
    assert "sim" in ports.schemes()
    opened = ports.open_port("sim:bg96?connect_timeout_s=1.5", 115200)
    sim = opened.info["sim"]
    try:
        assert opened.info["pty"] == sim.pty and opened.info["pid"] == sim.pid
        assert opened.info["control"] == sim.control_path
        opened.serial.timeout = 2
        opened.serial.write(b"AT\r")
        assert opened.serial.read(9) == b"AT\r\r\nOK\r\n"
        assert sim.control("state")["config"]["connect_timeout_s"] == 1.5
        opened.set_dtr(False)  # a pty has no DTR: it goes through the control channel
        assert sim.control("state")["dtr"] is False
        opened.set_rts(False)
        assert sim.control("state")["rts"] is False
    finally:
        opened.close()
    assert not sim.alive()


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="network namespaces need root and ip")
def test_netns_gives_the_module_the_namespaces_sockets(scratch_netns):
    with launch("bg96", netns=scratch_netns) as sim, serial.Serial(sim.pty, timeout=2) as port:
        port.write(b'ATE0\rAT+QICSGP=1,1,""\rAT+QIACT=1\r')
        port.write(b'AT+QIOPEN=1,1,"TCP LISTENER","127.0.0.1",0,0,0\r')
        assert port.read_until(b"+QIOPEN: 1,0\r\n").endswith(b"+QIOPEN: 1,0\r\n")
        listen_port = sim.control("state")["sockets"][0]["local_port"]
        # The listener is on the namespace's loopback, not on ours.
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", listen_port)) != 0


def test_cli_serves_until_interrupted():
    code = "import sys; from conformance.sim import cli_main; sys.exit(cli_main(['bg96']))"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True)
    try:
        first = proc.stdout.readline()
        assert "BG96 simulator on /dev/pts/" in first and "Ctrl+C" in first
        pty = first.split(" on ")[1].split()[0]
        control = proc.stdout.readline().split()[2]
        with serial.Serial(pty, timeout=2) as port:
            port.write(b"AT\r")
            assert port.read(9) == b"AT\r\r\nOK\r\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert not Path(control).exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_announcement_is_one_json_line():
    proc = subprocess.Popen([sys.executable, "-m", "conformance.sim", "bg96", "--watch-stdin"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])))
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"pty", "control", "pid"} and info["pid"] == proc.pid
        proc.stdin.close()  # the launcher is gone: the simulator stops by itself
        assert proc.wait(timeout=10) == 0
        assert not Path(info["control"]).exists()
    finally:
        if proc.poll() is None:
            proc.kill()


LAUNCHER = """
import sys, time
from conformance.sim import launch
sim = launch("bg96")
print(sim.control_path, sim.pid, flush=True)
time.sleep(600)
"""


def _launcher() -> tuple[subprocess.Popen[str], Path, int]:
    """A test run in miniature: a process that launched a simulator, waiting."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True, env=env)
    control, pid = proc.stdout.readline().split()
    return proc, Path(control).parent, int(pid)


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline, f"process {pid} still running"
        time.sleep(0.02)


def test_sigterm_of_the_test_run_leaves_no_folder():
    proc, workdir, sim_pid = _launcher()
    assert workdir.is_dir() and (workdir / "owner.json").exists()
    proc.send_signal(signal.SIGTERM)  # what CI runners and `timeout` send
    proc.wait(timeout=10)
    _wait_gone(sim_pid)  # the simulator saw its launcher go ...
    deadline = time.monotonic() + 10
    while workdir.exists():  # ... and removed its own folder
        assert time.monotonic() < deadline, f"{workdir} left behind"
        time.sleep(0.02)


def test_the_next_launch_removes_folders_of_killed_runs():
    proc, workdir, sim_pid = _launcher()
    os.kill(sim_pid, signal.SIGKILL)  # both killed: nobody could clean up
    proc.kill()
    proc.wait(timeout=10)
    _wait_gone(sim_pid)
    assert workdir.is_dir()
    with launch("bg96") as sim:  # the next launch sweeps it
        assert not workdir.exists()
        assert Path(sim.control_path).parent.is_dir()  # and keeps its own


def test_the_sweep_spares_folders_in_use(sim):
    from conformance.sim import workdir as workdir_module

    assert str(Path(sim.control_path).parent) not in workdir_module.sweep()
    assert Path(sim.control_path).exists()
