"""The simulator process: a pty for the host, a control socket, one module, one event loop.

``serve()`` is what ``python -m conformance.sim <dialect>`` runs. It announces itself with one JSON line on stdout
once the pty is in raw mode and the control socket listens, then runs until SIGTERM / SIGINT, or until its stdin
reaches end of file when started with ``--watch-stdin`` (the launcher holds the other end: if it dies, so do we).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import socket
import sys
import termios
import time
from collections.abc import Callable
from typing import Any

from conformance import dialects

from .control import ControlServer
from .loop import Loop, log, log_summary

__all__ = ["SIMULATORS", "PtyPort", "serve"]

# dialect name -> "module:class" of its simulated module
SIMULATORS = {"bg96": "conformance.sim.bg96:Bg96Module", "bc660k": "conformance.sim.bc660k:Bc660kModule",
              "m95": "conformance.sim.m95:M95Module"}


def _make_raw(fd: int) -> None:
    # cfmakeraw(3): no echo, no line editing, no signals, no CR/LF translation, 8 bits
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                  | termios.IGNCR | termios.ICRNL | termios.IXON)
    attrs[1] &= ~termios.OPOST
    attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    attrs[2] &= ~(termios.CSIZE | termios.PARENB)
    attrs[2] |= termios.CS8
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class PtyPort:
    """The module's serial port: the master side of a pty whose slave the host opens.

    The slave is kept open here too, so the master never sees a hang-up when a client closes and reopens it.
    Every read is timestamped with ``time.monotonic_ns()`` when ``read()`` returned.
    """

    def __init__(self, loop: Loop) -> None:
        self._loop = loop
        self.master, self.slave = os.openpty()
        _make_raw(self.slave)
        os.set_blocking(self.master, False)
        self.name = os.ttyname(self.slave)
        self.on_input: Callable[[bytes, int], None] = lambda data, t_ns: None
        self.trace = False
        self._out = bytearray()
        self._drained: list[tuple[bytes, int]] = []  # read by drain_input, not yet handed over
        self._paused = False
        self._update()

    def write(self, data: bytes) -> None:
        """Queue bytes for the host and write what the pty takes now."""
        if not data:
            return
        if self.trace:
            log(f"module> {data!r}")
        self._out += data
        self._flush()

    def drain_input(self) -> None:
        """Read what the host has sent so far, stamped now, and hand it over on the next loop turn.

        Called just before output that opens a mode is written: bytes that arrived before it get an arrival time
        before it, whoever reads them first.
        """
        if self._paused:
            return
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, OSError):
            return
        if data:
            if self.trace:
                log(f"host> {data!r}")
            if not self._drained:
                self._loop.call_soon(self._deliver_drained)
            self._drained.append((data, time.monotonic_ns()))

    def _deliver_drained(self) -> None:
        # in arrival order, before anything read later
        while self._drained:
            data, t_ns = self._drained.pop(0)
            self.on_input(data, t_ns)

    def pending_output(self) -> int:
        """Bytes written by the module that the pty has not taken yet."""
        return len(self._out)

    def discard_output(self) -> None:
        """Drop output not yet taken by the pty (the module restarts)."""
        self._out.clear()
        self._update()

    def set_input_paused(self, paused: bool) -> None:
        """Stop reading the host (flow control: the pty buffer fills and the host's writes block)."""
        if paused != self._paused:
            self._paused = paused
            self._update()

    def close(self) -> None:
        self._loop.unwatch(self.master)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            log(f"pty read: {e}", key="pty read error")
            return
        t_ns = time.monotonic_ns()
        self._deliver_drained()
        if data:
            if self.trace:
                log(f"host> {data!r}")
            self.on_input(data, t_ns)

    def _flush(self) -> None:
        while self._out:
            try:
                n = os.write(self.master, self._out[:65536])
            except BlockingIOError:
                break
            except OSError as e:
                log(f"pty write: {e}; {len(self._out)} bytes dropped", key="pty write error")
                self._out.clear()
                break
            del self._out[:n]
        self._update()

    def _update(self) -> None:
        self._loop.watch(self.master, on_read=None if self._paused else self._on_readable,
                         on_write=self._flush if self._out else None)


def module_class(dialect_name: str) -> Any:
    """The simulated-module class for a dialect; KeyError names the simulated ones."""
    try:
        target = SIMULATORS[dialect_name]
    except KeyError:
        known = ", ".join(sorted(SIMULATORS))
        raise KeyError(f"no simulator for dialect {dialect_name!r}; simulated: {known}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def serve(dialect_name: str, control_path: str, config: dict[str, Any] | None = None, *,
          watch_stdin: bool = False, workdir: str | None = None) -> int:
    """Run one simulated module until told to stop; return the exit status.

    With ``watch_stdin`` the launcher holds our stdin: a line ``stop`` is its request to end (it cleans up after
    us); end of file without it means the launcher is gone, and then ``workdir`` is removed here.
    """
    dialect = dialects.get(dialect_name)
    cls = module_class(dialect_name)
    loop = Loop()
    port = PtyPort(loop)
    module = cls(loop, port, dialect, config)
    port.trace = bool(module.config.trace)
    port.on_input = module.on_host_input

    def control(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        reply = module.control(cmd, args)
        port.trace = bool(module.config.trace)
        return reply

    server = ControlServer(loop, control_path, control)

    # Signals wake the selector through a socket pair; the handler only asks the loop to stop.
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    loop.watch(wake_r, on_read=lambda: _drain(wake_r))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: loop.stop())
    launcher = {"stop_requested": False, "gone": False}
    if watch_stdin:
        def on_stdin() -> None:
            try:
                data = os.read(0, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if b"stop" in data:
                launcher["stop_requested"] = True
                loop.stop()
            elif not data:
                if not launcher["stop_requested"]:
                    launcher["gone"] = True
                    log("stdin closed: the launcher is gone, stopping")
                loop.stop()
                loop.unwatch(0)

        os.set_blocking(0, False)
        loop.watch(0, on_read=on_stdin)

    announcement = {"pty": port.name, "control": control_path, "pid": os.getpid()}
    sys.stdout.write(json.dumps(announcement) + "\n")
    sys.stdout.flush()
    # Nothing more goes to stdout: nobody reads it after the announcement, a full pipe would block the loop.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    log(f"{dialect.name} simulator on {port.name}, control {control_path}, timing {module.timing.name}")
    try:
        loop.run()
    finally:
        log("stopping")
        try:
            module.shutdown()
        finally:
            server.close()
            port.close()
            signal.set_wakeup_fd(-1)
            log_summary()
            if launcher["gone"] and workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)  # nobody else will: the launcher died (SIGTERM, SIGKILL)
    return 0


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(256):
            pass
    except BlockingIOError:
        pass
