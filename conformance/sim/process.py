"""Starting, talking to and stopping simulator processes, from the test run's side.

:func:`launch` starts ``python -m conformance.sim <dialect>`` (inside ``ip netns exec <netns>`` when asked), reads
its one-line JSON announcement with a deadline and returns a :class:`SimProcess`. The child runs in its own session
with its stderr in a log file, and stops by itself when the launcher goes away (its stdin reaches end of file), so a
crash on either side never takes the other down.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import serial

from conformance.link.ports import OpenedPort

from . import workdir as workdir_module

__all__ = ["SimError", "SimLines", "SimProcess", "cli_main", "control_request", "launch", "open_sim_url",
           "parse_sim_url"]

CONTROL_TIMEOUT_S = 10.0  # one control request and its reply
STOP_TIMEOUT_S = 5.0  # SIGTERM, then SIGKILL
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding the ``conformance`` package


class SimError(RuntimeError):
    """The simulator did not start, is not running, or refused a control request."""


def control_request(path: str, cmd: str, *, timeout_s: float = CONTROL_TIMEOUT_S, **args: Any) -> dict[str, Any]:
    """Send ``{"cmd": cmd, **args}`` to the control socket at ``path`` (a simulator's, docs/simulator.md); return the
    reply. Raises :class:`SimError` for an error reply or a socket that does not answer."""
    request = json.dumps({"cmd": cmd, **args}).encode() + b"\n"
    reply = bytearray()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(path)
            sock.sendall(request)
            while not reply.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as e:
        raise SimError(f"control {cmd}: {e}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        raise SimError(f"control {cmd}: no reply") from None
    if not answer.get("ok"):
        raise SimError(f"control {cmd}: {answer.get('error', answer)}")
    return answer


class SimProcess:
    """One running simulator: its pty, its control socket, its process."""

    def __init__(self, proc: subprocess.Popen[bytes], pty: str, control_path: str, pid: int, workdir: str,
                 log_path: str) -> None:
        self.pty = pty
        self.control_path = control_path
        self.pid = pid
        self.log_path = log_path
        self._proc = proc
        self._workdir = workdir
        self._finalizer = weakref.finalize(self, _stop, proc, workdir)

    def control(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one control request (see docs/simulator.md); return the reply, raise SimError on an error reply."""
        try:
            return control_request(self.control_path, cmd, **args)
        except SimError as e:
            raise SimError(f"{e}{self._status()}") from None

    def alive(self) -> bool:
        """True while the simulator process runs."""
        return self._proc.poll() is None

    def log(self) -> str:
        """What the simulator wrote to stderr so far (its log)."""
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        """Stop the simulator (SIGTERM, then SIGKILL after a deadline) and remove its temporary files."""
        self._finalizer()

    def _status(self) -> str:
        code = self._proc.poll()
        if code is None:
            return ""
        tail = self.log()[-2000:]
        return f" (simulator exited with status {code}; log tail:\n{tail})"

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SimProcess pid={self.pid} pty={self.pty} {'alive' if self.alive() else 'exited'}>"


def _stop(proc: subprocess.Popen[bytes], workdir: str) -> None:
    _terminate(proc)
    shutil.rmtree(workdir, ignore_errors=True)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    try:
        if proc.stdin is not None:
            proc.stdin.write(b"stop\n")  # a deliberate stop: the launcher cleans up (EOF alone: it died)
            proc.stdin.close()
    except OSError:
        pass
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        except OSError:
            pass


def launch(dialect: str, *, netns: str | None = None, config: dict[str, Any] | None = None,
           ready_timeout: float = 10.0) -> SimProcess:
    """Start one simulated module of ``dialect`` in its own process and wait until it serves its pty.

    ``netns``: run it inside that network namespace (``ip netns exec``), so its sockets are the namespace's.
    ``config``: initial settings, as the control command ``configure`` takes them.
    Raises RuntimeError (SimError) with the simulator's stderr if it is not ready within ``ready_timeout`` s.
    """
    workdir_module.sweep()  # folders of earlier runs that were killed with their simulators
    workdir = workdir_module.create()
    control_path = os.path.join(workdir, "control.sock")
    log_path = os.path.join(workdir, "sim.log")
    argv = [sys.executable, "-m", "conformance.sim", dialect, "--control", control_path, "--watch-stdin",
            "--workdir", workdir]
    if config:
        argv += ["--config", json.dumps(config)]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    try:
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, env=env,
                                    start_new_session=True, close_fds=True)
    except OSError as e:
        shutil.rmtree(workdir, ignore_errors=True)
        raise SimError(f"cannot start the simulator ({' '.join(argv)}): {e}") from None
    try:
        line = _read_announcement(proc, ready_timeout)
        info = json.loads(line)
        pty, control, pid = str(info["pty"]), str(info["control"]), int(info["pid"])
    except Exception as e:
        _terminate(proc)
        log = Path(log_path).read_text(errors="replace") if os.path.exists(log_path) else ""
        shutil.rmtree(workdir, ignore_errors=True)
        raise SimError(f"simulator {dialect!r} not ready ({e}); exit status {proc.poll()}; stderr:\n{log}") from None
    assert proc.stdout is not None
    proc.stdout.close()
    workdir_module.record_simulator(workdir, pid)
    return SimProcess(proc, pty, control, pid, workdir, log_path)


def _read_announcement(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    line = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in line:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no announcement within {timeout} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError("the simulator exited before announcing itself")
            line += chunk
    return bytes(line.split(b"\n", 1)[0])


# -- the sim: URL scheme ----------------------------------------------------------------------------------------

def parse_sim_url(url: str) -> tuple[str, str | None, dict[str, Any]]:
    """``sim:bg96?netns=lab&connect_timeout_s=2`` -> ("bg96", "lab", {"connect_timeout_s": 2}).

    Query values are read as JSON where they parse (numbers, booleans, lists), else as text; ``dns_servers`` also
    takes a comma-separated list.
    """
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise ValueError(f"not a sim: URL: {url!r}")
    dialect = (parts.netloc + parts.path).strip("/")
    if not dialect:
        raise ValueError(f"{url!r}: name the dialect, e.g. sim:bg96")
    netns: str | None = None
    config: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "netns":
            netns = value or None
            continue
        try:
            parsed: Any = json.loads(value)
        except ValueError:
            parsed = value
        if key == "dns_servers" and isinstance(parsed, str):
            parsed = [s for s in parsed.split(",") if s]
        config[key] = parsed
    return dialect, netns, config


class SimLines:
    """DTR and RTS of a simulated module: a pty has no modem lines, so they go through the control channel."""

    def __init__(self, sim: SimProcess) -> None:
        self._sim = sim

    def set_dtr(self, level: bool) -> None:
        self._sim.control("dtr", level=bool(level))

    def set_rts(self, level: bool) -> None:
        self._sim.control("rts", level=bool(level))


def open_sim_url(url: str, baudrate: int) -> OpenedPort:
    """The opener of the ``sim`` scheme: launch a simulator and open its pty with pyserial."""
    dialect, netns, config = parse_sim_url(url)
    sim = launch(dialect, netns=netns, config=config or None)
    try:
        port = serial.serial_for_url(sim.pty, baudrate=baudrate, timeout=None)
    except Exception:
        sim.close()
        raise
    info = {"pty": sim.pty, "pid": sim.pid, "control": sim.control_path, "sim": sim}
    return OpenedPort(serial=port, url=url, lines=SimLines(sim), info=info, on_close=sim.close)


# -- conformance sim <dialect> ----------------------------------------------------------------------------------

def cli_main(argv: list[str]) -> int:
    """``conformance sim bg96 [--netns NAME] [--set KEY=VALUE ...] [--trace]``: serve one simulator until Ctrl+C."""
    parser = argparse.ArgumentParser(prog="conformance sim", description="Serve a simulated module on a pty.")
    parser.add_argument("dialect", help="module family, e.g. bg96")
    parser.add_argument("--netns", help="run inside this network namespace (ip netns exec)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="initial setting, as the control command configure takes it (value as JSON or text)")
    parser.add_argument("--trace", action="store_true", help="log every byte on the serial side to the log file")
    args = parser.parse_args(argv)
    config: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: write KEY=VALUE")
        try:
            config[key] = json.loads(value)
        except ValueError:
            config[key] = [s for s in value.split(",") if s] if key == "dns_servers" else value
    if args.trace:
        config["trace"] = True
    try:
        sim = launch(args.dialect, netns=args.netns, config=config or None)
    except SimError as e:
        print(e, file=sys.stderr)
        return 1
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        print(f"{args.dialect.upper()} simulator on {sim.pty} (picocom -b 115200 {sim.pty}); Ctrl+C to stop")
        print(f"control socket: {sim.control_path}   log: {sim.log_path}", flush=True)
        code = sim._proc.wait()
        print(f"the simulator exited with status {code}; its log:\n{sim.log()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.close()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
