"""The engine's module: everything a simulated Quectel module shares, put together, with hooks for a dialect.

A dialect front-end subclasses :class:`Module`, sets its data (``identity``, ``network``, ``data_mode_texts``,
``tcpip_commands``), registers its commands in :meth:`Module.register_commands` and implements the hooks that say
what the module tells the host when something happens on the network (:meth:`Module.open_result`,
:meth:`Module.incoming`, :meth:`Module.connection_closed`, :meth:`Module.context_lost`, ...). docs/simulator.md
("How to add a dialect") walks through it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from conformance.dialects import Dialect, EscapeRules

from ..loop import Loop, log, log_exception
from . import codes
from .basics import Identity, register_basics
from .cellular import FULL, NetworkProfile, register_cellular
from .config import ConfigError, SimConfig, as_bool
from .contexts import Context, Contexts
from .datamode import DataMode, DataModeTexts
from .interpreter import AtInterpreter, CmdError, Mode
from .netops import DnsQuery
from .output import Port
from .sleep import SlowClock
from .sockets import CLOSING, OPENING, Service, Sockets
from .timing import TimingProfile

__all__ = ["ControlError", "Module"]

ControlError = ConfigError  # a control request that cannot be done: the control channel answers it as an error


class Module(AtInterpreter):
    """A simulated module of the family on one port. Subclass it per dialect."""

    identity: Identity  # what ATI / AT+GMR / AT+GSN say
    network: NetworkProfile = NetworkProfile()  # what the SIM and the network say
    data_mode_texts: DataModeTexts = DataModeTexts()
    tcpip_commands: frozenset[str] = frozenset()  # their errors set the last error; they take injected errors
    config_class: type[SimConfig] = SimConfig  # a front-end with keys of its own subclasses SimConfig

    def __init__(self, loop: Loop, port: Port, dialect: Dialect, config: dict[str, Any] | None = None) -> None:
        cfg = self.config_class()
        if config:
            cfg.update(config)
        super().__init__(loop, port, dialect, TimingProfile(cfg.timing, cfg.seed))
        self.config = cfg
        self.limits = dialect.limits
        self.sockets = Sockets(self)
        self.contexts = Contexts(self, self.context_ids(), self.active_contexts_max())
        self.slow_clock = SlowClock(self, self.limits.get("dtr_wake_ms", 0) / 1000)
        # a dialect without transparent mode (BC660K: direct push only) never enters data mode: its detector is idle
        escape = dialect.escape or EscapeRules(b"+++", 1.0, 1.0, 1.0, f"{dialect.name} has no transparent mode")
        self.data_mode = DataMode(self, escape, self.packet_size, self.packet_wait_s, self.data_mode_texts)
        self.dtr = True  # the host asserts DTR when it opens the port
        self.rts = True
        self.reject_activation: int | None = None  # the network rejects activations with this code
        self.clock_offset_s = 0.0  # ASSUMPTION: the clock starts at the host's UTC time (as if the network set it)
        self.injected: dict[str, int] = {}
        self._generation = 0
        register_basics(self)
        register_cellular(self)
        self.register_commands()
        self.power_on()
        loop.after_dispatch.append(self.sockets.refresh)

    # -- what a front-end provides ------------------------------------------------------------------------------

    def register_commands(self) -> None:
        """Add the dialect's commands to ``self.commands`` (name -> handler)."""

    def context_ids(self) -> range:
        """The dialect's context IDs."""
        return range(self.limits.get("context_id_min", 1), self.limits.get("context_id_max", 1) + 1)

    def active_contexts_max(self) -> int:
        """How many contexts may be active at once."""
        return self.limits.get("active_contexts_max", 1)

    def startup_lines(self) -> tuple[str, ...]:
        """What the module says when it has started (a reset, the control command ``reboot``)."""
        return self.network.startup

    def escape_enabled(self) -> bool:
        """Data mode: the escape sequence is recognised (GSM AT+QITCFG can turn it off)."""
        return True

    def dialect_power_on(self) -> None:
        """Put the dialect's own settings to their power-on values (start-up, reboot)."""

    def packet_size(self) -> int:
        """Data mode: a packet leaves when this many bytes are gathered."""
        return 1024

    def packet_wait_s(self) -> float:
        """Data mode: ... or this long after the last byte came in."""
        return 0.2

    def open_result(self, svc: Service, code: int) -> None:
        """An open finished: 0, or an error code (the service has been dropped then). Say so to the host."""

    def incoming(self, listener: Service, conn: socket.socket, peer: tuple[str, int]) -> None:
        """A client connected to ``listener``: give it an ID (``self.sockets.adopt``) and say so, or close it."""
        conn.close()

    def connection_closed(self, svc: Service, reason: str, *, in_data_mode: bool) -> None:
        """The peer closed (``reason`` "fin") or reset ("reset") ``svc``; it is in state closing now."""

    def data_mode_entered(self, svc: Service) -> None:
        """Data mode on ``svc`` begins (its access mode is now transparent)."""

    def data_mode_left(self, svc: Service) -> None:
        """Data mode on ``svc`` ended (escape, DTR, lost): set how its data is delivered from now on."""

    def context_lost(self, ctx: Context) -> None:
        """The network deactivated ``ctx`` (its services are closed already): say so to the host."""

    def service_dropped(self, svc: Service) -> None:
        """``svc`` left the table (closed, dropped, reset)."""
        if self.data_mode.last_key == svc.key:
            self.data_mode.last_key = None

    def state_extras(self) -> dict[str, Any]:
        """The dialect's own settings, for the control command ``state``."""
        return {}

    # -- state ------------------------------------------------------------------------------------------------

    def power_on(self) -> None:
        """Every setting and table to its power-on value (start-up and reboot)."""
        self.echo = True
        self.verbose = True
        self.cmee = 0  # ASSUMPTION: +CMEE=0 at power-on, so errors read "ERROR" as in the manuals' examples
        self.and_d = 2  # ASSUMPTION: V.250 default &D2
        self.quiet = 0
        self.last_error = 0
        self.fun = FULL
        self.attached = True
        self.ctzr = 0
        self.ctzu = 1  # ASSUMPTION: the clock follows the network's time (27.007 +CTZU)
        self.registration_urc = dict.fromkeys(self.network.registration, 0)
        self.sockets.user_timeout_ms = None
        self.contexts.power_on()
        self.data_mode.last_key = None
        self.injected = {}
        self.mode = Mode.COMMAND
        self.busy = False
        self.slow_clock.reset()
        self.dialect_power_on()

    def shutdown(self) -> None:
        """Close every socket and stop every operation (the process is ending or the module restarting)."""
        self._generation += 1
        self.data_mode.escape.stop()
        self.data_mode.packetizer.discard()
        self.data_mode.service = None
        self.sockets.shutdown()
        self.contexts.cancel()

    def restart(self, fun: int = FULL) -> None:
        """The module resets: everything closed, settings to power-on values, then its start-up lines."""
        self.shutdown()
        self.clear_input()
        self.power_on()
        if fun != FULL:
            from .cellular import radio

            radio(self, fun)
        # ASSUMPTION: the start-up indications come at once; the module answers AT right after them
        for line in self.startup_lines():
            if line.startswith("+CFUN:"):
                line = f"+CFUN: {self.fun}"
            self.emit(b"\r\n" + line.encode("latin-1") + b"\r\n")

    def callback(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap a callback of a background operation: ignored after a restart; an exception never leaves a command
        hanging (it becomes an error with code 550 if one is waiting)."""
        generation = self._generation

        def guarded(*args: Any) -> None:
            if generation != self._generation:
                return
            try:
                fn(*args)
            except Exception:
                log_exception(f"callback {getattr(fn, '__name__', fn)}")
                if self.busy and self.mode is Mode.COMMAND:
                    self.finish_error(codes.UNKNOWN)

        return guarded

    def lookup(self, servers: list[str], host: str, on_done: Callable[[int, list[str], int], None]) -> DnsQuery:
        """Resolve ``host`` on the real network through ``servers``; ``on_done(err, addresses, ttl)`` comes after the
        timing profile's DNS delay (a module's answer is never faster than its radio)."""

        def answered(err: int, addresses: list[str], ttl: int) -> None:
            # never within start(): the caller keeps the query it gets back until the answer
            self.loop.call_later(self.timing.delay("dns"), self.callback(lambda: on_done(err, addresses, ttl)))

        query = DnsQuery(self.loop, servers, self.config.dns_port, host, self.config.dns_timeout_s,
                         self.callback(answered))
        query.start()
        return query

    def take_injection(self, name: str) -> int | None:
        """The error code injected for the next ``name`` command (control ``inject_error``), once."""
        return self.injected.pop(name, None)

    def require_active(self, ctx: Context) -> None:
        """Raise the family's error for an operation on a context that is not usable."""
        if ctx.broken:
            raise CmdError(codes.PDP_BROKEN)
        if not ctx.active:
            raise CmdError(codes.NOT_ALLOWED)

    def meaning(self, code: int) -> str:
        """The meaning of ``code`` in the dialect's error table, lower case ("operation successful" for 0)."""
        if code == 0:
            return "operation successful"
        try:
            return self.dialect.error(code).meaning.lower()
        except KeyError:
            return "unknown error"

    def consume_data(self, data: bytes, i: int, t_ns: int) -> int:
        return self.data_mode.consume(data, i, t_ns)

    def set_dtr(self, level: bool) -> None:
        """The host's DTR line (a pty has none: the control channel carries it)."""
        falling = self.dtr and not level
        self.dtr = level
        if falling and self.mode is Mode.DATA:
            self.data_mode.dtr_off(self.and_d)
        self.slow_clock.dtr_changed(level)

    def on_host_input(self, data: bytes, t_ns: int) -> None:
        if not self.slow_clock.accepts(t_ns):
            self.slow_clock.ignored += len(data)
            log(f"asleep: {len(data)} bytes from the host ignored", key="ignored while asleep")
            return
        self.slow_clock.touch()
        super().on_host_input(data, t_ns)

    def emit(self, data: bytes) -> None:
        if data:
            self.slow_clock.interrupt()
        super().emit(data)

    def unsolicited(self, out: bytes) -> None:
        self.slow_clock.interrupt()
        super().unsolicited(out)

    def network_deactivate(self, context_id: int) -> None:
        """The network deactivates an active context: its services lose their sockets and show state closing until
        the host deactivates the context; an open in progress fails with 570; data mode ends."""
        ctx = self.contexts.table.get(context_id)
        if ctx is None:
            raise ControlError("context must be a context ID")
        if not ctx.active:
            raise ControlError(f"context {context_id} is not activated")
        ctx.active = False
        ctx.broken = True
        for svc in self.sockets.of_context(context_id):
            if svc is self.data_mode.service:
                self.data_mode.connection_lost(self.data_mode_texts.pdp_lost)
            if svc.state == OPENING:
                self.sockets.drop(svc)
                self.open_result(svc, codes.PDP_BROKEN)
                continue
            self.sockets.close_socket(svc)
            svc.state = CLOSING
            svc.close_reason = "pdp"
            self.sockets.finish_close(svc)
        self.context_lost(ctx)

    # -- the control channel ------------------------------------------------------------------------------------

    def control(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        """Handle one control-channel request; raise ControlError for a request that cannot be done."""
        handler = getattr(self, f"_control_{cmd}", None)
        if handler is None:
            known = sorted(name[len("_control_"):] for name in dir(self) if name.startswith("_control_"))
            raise ControlError(f"unknown control command {cmd!r}; known: {', '.join(known)}")
        try:
            result = handler(**args)
        except TypeError as e:
            raise ControlError(f"{cmd}: bad arguments {sorted(args)}: {e}") from None
        return result if result is not None else {}

    def _control_ping(self) -> dict[str, Any]:
        return {"pong": True}

    def _control_dtr(self, level: Any) -> None:
        self.set_dtr(as_bool(level, "level"))

    def _control_rts(self, level: Any) -> None:
        # ASSUMPTION: AT+IFC (hardware flow control) is not simulated: RTS is recorded and shown in "state" only
        self.rts = as_bool(level, "level")

    def _control_pdpdeact(self, context: Any) -> None:
        if isinstance(context, str) and context.isdigit():
            context = int(context)
        if not isinstance(context, int) or isinstance(context, bool):
            raise ControlError("context must be a context ID")
        self.network_deactivate(context)

    def _control_reboot(self) -> None:
        self.restart()

    def _control_inject_error(self, command: Any, code: Any) -> dict[str, Any]:
        if not isinstance(command, str):
            raise ControlError('command must be a string such as "+QIOPEN"')
        name = command.strip().upper()
        if name.startswith("AT"):
            name = name[2:]
        if not name.startswith("+"):
            name = "+" + name
        if name not in self.tcpip_commands:
            raise ControlError(f"{command!r} is not a TCP/IP command of this module: {sorted(self.tcpip_commands)}")
        checked = self._error_code(code)
        if checked is None:
            raise ControlError("code must be an error code of the table")
        self.injected[name] = checked
        return {"command": name, "code": checked}

    def _control_reject_activation(self, code: Any = codes.PDP_OPEN_FAILED) -> dict[str, Any]:
        self.reject_activation = self._error_code(code)  # null / 0: activations succeed again
        return {"code": self.reject_activation}

    def _error_code(self, code: Any) -> int | None:
        if code in (None, 0, "0", "null", "none"):
            return None
        if isinstance(code, str) and code.isdigit():
            code = int(code)
        if isinstance(code, int) and not isinstance(code, bool) and any(e.code == code for e in self.dialect.errors):
            return code
        raise ControlError(f"code {code!r} is not in the {self.dialect.name} error table")

    def _control_configure(self, **values: Any) -> dict[str, Any]:
        self.config.update(values)
        if "timing" in values or "seed" in values:
            self.timing.reset(self.config.timing, self.config.seed)
        if "dns_servers" in values:
            self.contexts.dns_changed()
        return {"config": self.config.as_dict()}

    def _control_state(self) -> dict[str, Any]:
        data_svc = self.data_mode.service
        return {
            "dialect": self.dialect.name,
            "mode": self.mode.value,
            "busy": self.busy,
            "data_connect_id": data_svc.connect_id if data_svc else None,
            "last_transparent": self.data_mode.last_key,
            "echo": self.echo,
            "verbose": self.verbose,
            "cmee": self.cmee,
            "and_d": self.and_d,
            "dtr": self.dtr,
            "rts": self.rts,
            "asleep": self.slow_clock.asleep,
            "escape": self.data_mode.escape.last_report,
            "fun": self.fun,
            "attached": self.attached,
            "timing": self.timing.name,
            "last_error": self.last_error,
            "contexts": [
                {"context_id": c.context_id, "configured": c.configured, "active": c.active, "broken": c.broken,
                 "context_type": c.context_type, "apn": c.apn, "dns": c.dns}
                for c in self.contexts.table.values() if c.configured or c.active or c.broken
            ],
            "sockets": [self._service_state(s) for s in sorted(self.sockets.services.values(),
                                                               key=lambda s: (s.context_id, s.connect_id))],
            "injected": dict(self.injected),
            "reject_activation": self.reject_activation,
            "config": self.config.as_dict(),
            **self.state_extras(),
        }

    def _service_state(self, svc: Service) -> dict[str, Any]:
        return {
            "connect_id": svc.connect_id,
            "context_id": svc.context_id,
            "service_type": svc.service_type,
            "access_mode": svc.access_mode,
            "socket_state": svc.state,
            "socket_state_name": self.dialect.socket_states.get(svc.state, str(svc.state)),
            "remote_ip": svc.remote_ip,
            "remote_port": svc.remote_port,
            "local_port": svc.local_port,
            "server_id": svc.server_id,
            "total_send_length": svc.total_sent,
            "unacked_bytes": self.sockets.unacked(svc),
            "total_receive_length": svc.total_received,
            "have_read_length": svc.have_read,
            "unread_length": svc.unread,
            "close_reason": svc.close_reason,
        }
