"""Scripted modules that misbehave, on real ptys: the far end of a link in the tests of the module's state.

A :class:`ScriptedModule` answers like a healthy BG96 (``AT``, ``ATI``, ``AT+GMR``, ``AT+QGMR``, contexts, the
queries the plugin's reset sends) until it is told to misbehave: fall silent, answer garbage, answer late, or vanish
from the bus, its pty closed and its path gone, as an unplugged USB module's device node goes. It is reached through a
stable path (a symlink to the present pty, as ``/dev/serial/by-id/...`` is), and :meth:`power_cycle_command` gives a
shell command for ``--power-cycle-cmd`` that power-cycles it: the path goes, comes back on a new pty, and the module
announces itself with its start-up lines once the host has opened the port.

The pty runs in packet mode (``TIOCPKT``) so the module learns when the host opens the port: pyserial flushes its
input on open, which packet mode reports. Start-up lines written before that would be flushed, as they are on a real
USB port that enumerates after the module printed them.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shlex
import shutil
import socket
import struct
import sys
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable

__all__ = ["GARBAGE", "OK", "ScriptedModule"]

Chunk = bytes | float  # bytes to write, or seconds to wait before the next chunk
Answer = list[Chunk] | Callable[[bytes], list[Chunk] | None]

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
GARBAGE = b"\x00\xfe#\x13\x07 %&\x8b\r\n\xff~~\x02\r\n"  # what a module at the wrong baud rate seems to say
TIOCPKT = getattr(termios, "TIOCPKT", 0x5420)
BEHAVIOURS = ("normal", "silent", "garbage", "unplugged")


class ScriptedModule:
    """A BG96-like module on a pty behind a stable path, which can be made to misbehave and power-cycled.

    ``path`` is what a link opens. Misbehaviour begins at once (:attr:`behaviour`) or on a command
    (:meth:`misbehave_on`); a power cycle (:meth:`power_cycle`, or the shell command :meth:`power_cycle_command`)
    makes it healthy again unless ``comes_back`` is False.
    """

    def __init__(self, *, model: bytes = b"BG96", revision: bytes = b"BG96MAR02A07M1G",
                 full_revision: bytes | None = None, echo: bool = True,
                 active_contexts: dict[int, list[str]] | None = None,
                 startup: tuple[bytes, ...] = (b"RDY", b"APP RDY"), keep_port: bool = False) -> None:
        self.model = model
        self.revision = revision
        self.full_revision = full_revision if full_revision is not None else revision + b"_01.016.01.016"
        self.echo = echo
        self.startup = startup  # the lines it says after a power cycle
        self.keep_port = keep_port  # a power cycle keeps the port (a UART), instead of replugging it (USB)
        self.boot_contexts = {k: list(v) for k, v in (active_contexts or {}).items()}  # active at power-on
        self.contexts = {k: list(v) for k, v in self.boot_contexts.items()}  # context id -> its addresses
        self.rules: dict[bytes, Answer] = {}
        self.delays: list[tuple[bytes, float]] = []  # (command line pattern, seconds before the answer)
        self.triggers: list[tuple[bytes, str]] = []  # (command prefix, the behaviour it starts)
        self.behaviour = "normal"
        self.comes_back = True  # a power cycle makes it healthy again
        self.replug_after_s = 0.0  # how long its port stays gone in a power cycle
        self.commands: list[bytes] = []  # every command line received, over every plug
        self.received = bytearray()
        self.power_cycles = 0
        self.host_opens = 0  # how many times the host opened the port
        self._cond = threading.Condition()
        self._dir = tempfile.mkdtemp(prefix="scripted-module-")
        self.path = os.path.join(self._dir, "ttyMODULE")
        self.control_path = os.path.join(self._dir, "power.sock")
        self._pty: _Pty | None = None
        self._announce = False  # say the start-up lines when the host next opens the port
        self._closed = False
        self._plug()
        self._control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._control.bind(self.control_path)
        self._control.listen(4)
        self._control_thread = threading.Thread(target=self._serve_control, daemon=True, name="module-power")
        self._control_thread.start()

    # -- scripting ---------------------------------------------------------------------------------------------------

    def on(self, command: bytes, *chunks: Chunk) -> None:
        """Answer the command line ``command`` (without CR) with ``chunks`` instead of the built-in answer."""
        self.rules[command] = list(chunks)

    def answer_late(self, pattern: bytes, seconds: float) -> None:
        """Answer command lines matching the regular expression ``pattern`` (whole line) ``seconds`` late; the echo
        still comes at once, and commands are answered one after another, as a busy module does."""
        self.delays.append((pattern, seconds))

    def misbehave_on(self, prefix: bytes, behaviour: str) -> None:
        """From the first command starting with ``prefix`` on (which gets no answer): ``silent``, ``garbage`` or
        ``unplugged``."""
        assert behaviour in BEHAVIOURS
        self.triggers.append((prefix, behaviour))

    def power_cycle_command(self) -> str:
        """A shell command that power-cycles this module, for ``--power-cycle-cmd``."""
        script = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                  "s.sendall(b'cycle\\n'); sys.exit(0 if s.recv(16).startswith(b'ok') else 1)")
        return f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} {shlex.quote(self.control_path)}"

    # -- what the bench does to it -----------------------------------------------------------------------------------

    def power_cycle(self) -> None:
        """Off and on again: every setting and context to its power-on state, then the start-up lines.

        A USB module's port goes away and comes back (on a new pty) ``replug_after_s`` later; with ``keep_port`` the
        port stays and the start-up lines come at once.
        """
        with self._cond:
            self.power_cycles += 1
            self._cond.notify_all()
        if not self.comes_back:
            if self.behaviour == "unplugged":
                return
            self.behaviour = "silent"
            return
        self.contexts = {k: list(v) for k, v in self.boot_contexts.items()}
        self.triggers.clear()
        if self.keep_port and self._pty is not None:
            self.behaviour = "normal"
            self.write(*(b"\r\n" + line + b"\r\n" for line in self.startup))
            return
        self.unplug()
        if self.replug_after_s > 0:
            threading.Timer(self.replug_after_s, self._plug, kwargs={"announce": True}).start()
        else:
            self._plug(announce=True)

    def unplug(self) -> None:
        """The module drops off the bus: its path disappears and its pty closes under the host."""
        self.behaviour = "unplugged"
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        pty, self._pty = self._pty, None
        if pty is not None:
            pty.close()

    def write(self, *chunks: Chunk) -> None:
        """Send ``chunks`` now, unprompted (a URC), if the port is there."""
        for chunk in chunks:
            if isinstance(chunk, float):
                time.sleep(chunk)
                continue
            pty = self._pty
            if pty is not None:
                try:
                    os.write(pty.master, chunk)
                except OSError:
                    return

    def wait_for(self, predicate: Callable[[ScriptedModule], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate(self)`` holds (checked whenever the module receives or is cycled)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def close(self) -> None:
        self._closed = True
        try:
            self._control.close()
        except OSError:
            pass
        try:  # wake the accept() of the control thread
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(self.control_path)
        except OSError:
            pass
        self._control_thread.join(2)
        self.unplug()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ScriptedModule:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------------------------------

    def _plug(self, announce: bool = False) -> None:
        if self._closed:
            return
        self.behaviour = "normal"
        self._announce = announce
        pty = _Pty(self)
        self._pty = pty
        link = self.path + ".new"
        os.symlink(pty.name, link)
        os.replace(link, self.path)  # the path appears at once, pointing at a pty that is ready
        pty.start()

    def _host_opened(self, pty: _Pty) -> None:
        with self._cond:
            self.host_opens += 1
            self._cond.notify_all()
        if self._announce and pty is self._pty:
            self._announce = False
            self.write(*(b"\r\n" + line + b"\r\n" for line in self.startup))

    def _receive(self, pty: _Pty, data: bytes) -> None:
        with self._cond:
            self.received += data
            self._cond.notify_all()
        for byte in data:
            if byte == 0x0A and not pty.line:
                continue  # the LF of a host's CR LF is not part of the next command (as real modules take it)
            pty.line.append(byte)
            if byte != 0x0D:
                continue
            line = bytes(pty.line[:-1])
            pty.line.clear()
            with self._cond:
                self.commands.append(line)
                self._cond.notify_all()
            if not self._handle(line):
                return

    def _handle(self, line: bytes) -> bool:
        """Answer one command line; False once the module has gone (the rest of the read is lost with it)."""
        for prefix, behaviour in self.triggers:
            if line.startswith(prefix) and self.behaviour == "normal":
                self.behaviour = behaviour
                if behaviour == "unplugged":
                    self.unplug()
                    return False
                return True
        if self.behaviour in ("silent", "unplugged"):
            return self.behaviour != "unplugged"
        if self.echo:
            self.write(line + b"\r")
        if self.behaviour == "garbage":
            self.write(GARBAGE)
            return True
        for pattern, seconds in self.delays:
            if re.fullmatch(pattern, line):
                self.write(float(seconds))
                break
        rule = self.rules.get(line)
        chunks = (rule(line) if callable(rule) else rule) if rule is not None else self._answer(line)
        if chunks:
            self.write(*chunks)
        return True

    def _answer(self, line: bytes) -> list[Chunk]:
        command = line.upper()
        if command == b"ATI":
            return [b"\r\nQuectel\r\n" + self.model + b"\r\nRevision: " + self.revision + b"\r\n" + OK]
        if command in (b"AT+GMR", b"AT+CGMR"):
            return [b"\r\n" + self.revision + b"\r\n" + OK]
        if command == b"AT+QGMR":
            return [b"\r\n" + self.full_revision + b"\r\n" + OK]
        if command in (b"AT+GMM", b"AT+CGMM"):
            return [b"\r\n" + self.model + b"\r\n" + OK]
        if command == b"AT+QIACT?":
            lines = b"".join(_qiact_line(cid, addrs) for cid, addrs in sorted(self.contexts.items()))
            return [lines + OK]
        m = re.fullmatch(rb"AT\+QIACT=(\d+)", command)
        if m:
            cid = int(m.group(1))
            if cid in self.contexts:
                return [ERROR]  # already active: a real module refuses
            self.contexts[cid] = ["10.7.0.2"]
            return [OK]
        m = re.fullmatch(rb"AT\+QIDEACT=(\d+)", command)
        if m:
            self.contexts.pop(int(m.group(1)), None)
            return [OK]
        return [OK]

    def _serve_control(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._control.accept()
            except OSError:
                return
            with conn:
                if self._closed:
                    return
                request = conn.recv(64)
                if request.startswith(b"cycle"):
                    self.power_cycle()
                    conn.sendall(b"ok\n")
                else:
                    conn.sendall(b"unknown\n")


def _qiact_line(cid: int, addresses: list[str]) -> bytes:
    kind = 3 if len(addresses) > 1 else 1  # 3: IPv4v6, as BG96-family firmware shows a dual-stack context
    quoted = ",".join(f'"{a}"' for a in addresses)
    return f"\r\n+QIACT: {cid},1,{kind},{quoted}".encode()


class _Pty:
    """One plug of the module: a pty pair in packet mode and the thread that serves it."""

    def __init__(self, module: ScriptedModule) -> None:
        self.module = module
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self.slave)  # no echo, no CR/LF translation: bytes pass as they are
        fcntl.ioctl(self.master, TIOCPKT, struct.pack("i", 1))
        self.name = os.ttyname(self.slave)  # the module keeps the slave open too, so the master never reads EIO
        self.line = bytearray()
        self._stop_r, self._stop_w = os.pipe()
        self._fds_lock = threading.Lock()
        self._fds_open = True
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"module {self.name}")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join(2)
            self._close_fds()

    def _close_fds(self) -> None:
        with self._fds_lock:  # once: a number closed twice may by then be another pty's
            if not self._fds_open:
                return
            self._fds_open = False
        for fd in (self.master, self.slave, self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _loop(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self.master, self._stop_r], [], [])
                if self._stop_r in ready:
                    return
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                if not data:
                    return
                if data[0] != 0:  # a packet-mode status byte: the host flushed its input, as pyserial does on open
                    self.module._host_opened(self)
                    continue
                self.module._receive(self, data[1:])
        finally:
            if threading.current_thread() is self._thread and self.module._pty is not self:
                self._close_fds()
