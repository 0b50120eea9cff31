"""A simulated Quectel BG96, after the BG96 TCP/IP AT Commands Manual V1.0 (section numbers below are its own).

The IP side is real: every socket service is a non-blocking kernel socket on the simulator's event loop, so what a
peer sees (SYN, data, FIN, RST, ICMP) is what the host kernel does. The cellular side (PDP contexts, the network
deactivating one, activation rejected) is simulated and driven through the control channel. Where the manual is
silent, the choice made is marked ASSUMPTION here and listed in docs/simulator.md.
"""

from __future__ import annotations

import calendar
import errno
import fcntl
import re
import socket
import struct
import termios
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from conformance.dialects import Dialect, EscapeRules

from .atparse import Call, Param
from .datamode import EscapeDetector, Packetizer
from .interpreter import PENDING, AtInterpreter, CmdError, Mode, Pending, Port, Prompt, Reply
from .loop import Loop, Timer, log, log_exception
from .netops import DnsQuery, NtpQuery, PingReply, PingSession, ipv4_literal, system_dns_servers

__all__ = ["Bg96Module", "ControlError", "SimConfig"]

MANUFACTURER = "Quectel"
MODEL = "BG96"
REVISION = "BG96MAR02A07M1G"  # the revision the brief and ATI show
FULL_REVISION = "BG96MAR02A07M1G_01.016.01.016"  # ASSUMPTION: AT+QGMR adds an application build suffix
IMEI = "866425030000001"  # ASSUMPTION: a made-up IMEI for AT+GSN
AT_PORT = "usbmodem"  # §2.1.6: the <at_port> of the manual's examples
STARTUP_URCS = ("RDY", "+CFUN: 1", "+CPIN: READY", "+QIND: SMS DONE", "APP RDY")  # ASSUMPTION: after a reboot

# Ranges the dialect data does not carry, as the sections give them.
CONTEXT_TYPES = (1, 2)  # §2.1.1: 1 IPV4, 2 IPV6 (under development)
AUTHENTICATION_MAX = 3  # §2.1.1
PORT_MAX = 65535  # §2.1.4
QICLOSE_TIMEOUT_MAX = 65535  # §2.1.5
QPING_TIMEOUT_MAX = 255  # §2.1.11
QPING_COUNT_MAX = 10  # §2.1.11
NTP_DEFAULT_PORT = 123  # §2.1.12: AT+QNTP <port> is optional
RETRANS_BACKOFFS = (3, 20, 8)  # §2.1.15 tcp/retranscfg <max_backoffs>: min, max, default
RETRANS_RTO = (5, 1000, 600)  # §2.1.15 tcp/retranscfg <max_rto> (100 ms): min, max, default
ZZ_RANGE = (-48, 56)  # §2.1.12: quarter hours of the time zone

# Socket states, §2.1.6
INITIAL, OPENING, CONNECTED, LISTENING, CLOSING = 0, 1, 2, 3, 4
TCP, UDP, LISTENER, INCOMING, UDP_SERVICE = "TCP", "UDP", "TCP LISTENER", "TCP INCOMING", "UDP SERVICE"
OPENABLE = (TCP, UDP, LISTENER, UDP_SERVICE)  # §2.1.4 <service_type>
BUFFER, PUSH, TRANSPARENT = 0, 1, 2  # §1.2 access modes

OUTPUT_HIGH_WATER = 64 * 1024  # stop reading the transparent socket while the host has this much unread
SEND_HIGH_WATER = 64 * 1024  # stop reading the host while the transparent socket has this much unsent
LISTEN_BACKLOG = 8
_BASE_RTO_S = 0.2  # Linux's minimum RTO: the start of the backoff series tcp/retranscfg caps

TCPIP_COMMANDS = frozenset({
    "+QICSGP", "+QIACT", "+QIDEACT", "+QIOPEN", "+QICLOSE", "+QISTATE", "+QISEND", "+QIRD", "+QISENDEX",
    "+QISWTMD", "+QPING", "+QNTP", "+QIDNSCFG", "+QIDNSGIP", "+QICFG", "+QISDE",
})


class ControlError(ValueError):
    """A control-channel request that cannot be done (bad arguments, wrong state)."""


_CONFIG_RANGES = {"dns_port": (1, 65535), "timezone_quarters": ZZ_RANGE, "recv_buffer_bytes": (1, 1 << 24)}


def as_bool(value: Any, name: str) -> bool:
    """A truth value from JSON or transcript text: true/false, 1/0, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "1", "on", "false", "0", "off"):
        return value.lower() in ("true", "1", "on")
    raise ControlError(f"{name} must be true or false, got {value!r}")


def _coerce(key: str, current: Any, value: Any) -> Any:
    try:
        if isinstance(current, bool):
            return as_bool(value, key)
        if isinstance(current, list):
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) and ipv4_literal(v) for v in items):
                raise ValueError
            return list(items)
        if isinstance(current, str):
            if not isinstance(value, str) or ipv4_literal(value) is None:
                raise ValueError
            return value
        if isinstance(value, bool):
            raise ValueError
        number = (float if isinstance(current, float) else int)(value)
        low, high = _CONFIG_RANGES.get(key, (0, float("inf")))
        if not low <= number <= high:
            raise ValueError
        return number
    except (TypeError, ValueError):
        raise ControlError(f"configuration {key}: bad value {value!r}") from None


@dataclass
class SimConfig:
    """What the launcher tells the simulated module about its network (control ``configure``)."""

    local_ip: str = "127.0.0.1"  # the module's own address: AT+QIACT?, listeners and UDP services bind to it
    dns_servers: list[str] = field(default_factory=lambda: system_dns_servers() or ["127.0.0.1"])
    dns_port: int = 53  # the port every DNS query goes to (the AT commands only name the server's address)
    dns_timeout_s: float = 5.0  # ASSUMPTION: per server; the manual only bounds AT+QIDNSGIP at 60 s
    connect_timeout_s: float = 5.0  # ASSUMPTION: TCP connect gives up with 569; the manual only bounds it at 150 s
    ntp_timeout_s: float = 5.0  # ASSUMPTION: AT+QNTP gives up with 569; the manual only bounds it at 125 s
    activation_delay_s: float = 0.0  # how long the "network" takes to answer AT+QIACT (§2.1.2: up to 150 s)
    timezone_quarters: int = 0  # the network's time zone, in quarter hours (the ±zz of AT+CCLK / AT+QNTP)
    recv_buffer_bytes: int = 16384  # ASSUMPTION: the module's receive buffer per socket in buffer access mode
    trace: bool = False  # log every byte on the serial side to stderr

    def update(self, values: dict[str, Any]) -> None:
        """Set the given keys, type-checked; an unknown key or a bad value raises ControlError.

        Text is accepted where a number, a truth value or a list is expected ("2.5", "true", "10.0.0.1,10.0.0.2"):
        transcripts pass control arguments as text.
        """
        known = {f.name for f in fields(self)}
        checked: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ControlError(f"unknown configuration key {key!r}; known: {', '.join(sorted(known))}")
            checked[key] = _coerce(key, getattr(self, key), value)
        for key, value in checked.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Context:
    """A PDP context, §2.1.1-2.1.3."""

    context_id: int
    context_type: int = 1
    apn: str = ""
    username: str = ""
    password: str = ""
    authentication: int = 0
    configured: bool = False
    active: bool = False
    broken: bool = False  # deactivated by the network (+QIURC: "pdpdeact"), waiting for AT+QIDEACT
    dns: list[str] = field(default_factory=lambda: ["0.0.0.0", "0.0.0.0"])
    dns_from_network: bool = True  # False once AT+QIDNSCFG set it
    dns_query: DnsQuery | None = None  # an AT+QIDNSGIP in flight


@dataclass
class Service:
    """A socket service, §2.1.4-2.1.6: one connect ID."""

    connect_id: int
    context_id: int
    service_type: str
    access_mode: int
    server_id: int
    host: str = ""  # as given to AT+QIOPEN
    remote_ip: str = ""
    remote_port: int = 0
    local_port: int = 0
    requested_local_port: int = 0
    sock: socket.socket | None = None
    state: int = OPENING
    stream: bytearray = field(default_factory=bytearray)  # received, unread (TCP / UDP / TCP INCOMING)
    datagrams: deque[tuple[bytes, str, int]] = field(default_factory=deque)  # received, unread (UDP SERVICE)
    total_received: int = 0
    have_read: int = 0
    total_sent: int = 0
    send_pending: bytearray = field(default_factory=bytearray)  # accepted by the module, not yet by the kernel
    recv_urc_armed: bool = True  # §2.2.2: one "recv" URC until the buffer has been read empty
    close_reason: str | None = None  # "fin", "reset" or "pdp" once the connection is gone
    reset_seen: bool = False  # a send saw ECONNRESET/EPIPE before the reader saw the end
    connecting: bool = False
    transparent_open: bool = False  # AT+QIOPEN in transparent mode waits for the connection
    connect_timer: Timer | None = None
    resolver: DnsQuery | None = None
    closing_command: bool = False  # AT+QICLOSE is waiting for the peer's FIN
    close_timer: Timer | None = None
    last_peer: tuple[str, int] | None = None  # UDP SERVICE: where transparent-mode data goes

    @property
    def is_tcp(self) -> bool:
        return self.service_type in (TCP, INCOMING)

    @property
    def unread(self) -> int:
        return self.total_received - self.have_read


# -- parameter helpers ------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")


def _param(params: tuple[Param, ...], index: int) -> Param | None:
    if index >= len(params) or params[index].omitted:
        return None
    return params[index]


def _int(params: tuple[Param, ...], index: int, low: int, high: int, default: int | None = None) -> int:
    p = _param(params, index)
    if p is None:
        if default is None:
            raise CmdError(552)
        return default
    if p.quoted or not _DIGITS.fullmatch(p.text) or len(p.text) > 10:
        raise CmdError(552)
    value = int(p.text)
    if not low <= value <= high:
        raise CmdError(552)
    return value


def _str(params: tuple[Param, ...], index: int, *, empty: bool = True) -> str:
    if index >= len(params) or not params[index].quoted:
        raise CmdError(552)
    text = params[index].text
    if not empty and not text:
        raise CmdError(552)
    return text


def _count(call: Call, *allowed: int) -> int:
    n = len(call.params)
    if n not in allowed:
        raise CmdError(552)
    return n


def _siocoutq(sock: socket.socket) -> int:
    """Bytes the kernel still holds for ``sock`` (SIOCOUTQ = TIOCOUTQ): unsent or, for TCP, not yet acknowledged."""
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
        return int(struct.unpack("i", raw)[0])
    except OSError:
        return 0


class Bg96Module(AtInterpreter):
    """The BG96 of the TCP/IP AT Commands Manual V1.0, serving one port."""

    tcpip_commands = TCPIP_COMMANDS

    def __init__(self, loop: Loop, port: Port, dialect: Dialect, config: dict[str, Any] | None = None) -> None:
        super().__init__(loop, port, dialect)
        self.config = SimConfig()
        if config:
            self.config.update(config)
        self.limits = dialect.limits
        self.escape = EscapeDetector(loop, self._escape_rules(), self._transparent_input, self._on_escape)
        self.packetizer = Packetizer(loop, self._transparent_send, lambda: self.transpktsize,
                                     lambda: self.transwaittm / 10)
        self.dtr = True  # the host asserts DTR when it opens the port
        self.rts = True
        self.reject_activation: int | None = None
        self.clock_offset_s = 0.0  # ASSUMPTION: the clock starts at the host's UTC time (as if NITZ had set it)
        self._generation = 0
        self._register_commands()
        self._power_on()
        loop.after_dispatch.append(self._refresh_interest)

    # -- state ----------------------------------------------------------------------------------------------------

    def _power_on(self) -> None:
        """Every setting and table to its power-on value (start-up and reboot)."""
        self.echo = True
        self.verbose = True
        self.cmee = 0  # ASSUMPTION: +CMEE=0 at power-on, so TCP/IP errors read "ERROR" as in the manual's examples
        self.and_d = 2  # ASSUMPTION: V.250 default &D2 (§1.2 item 4 says AT&D1 must be set first)
        self.last_error = 0
        self.qisde = 1  # §2.1.16: echo the data by default
        self.transpktsize = self.limits["transpktsize_default"]
        self.transwaittm = self.limits["transwaittm_default"]
        self.send_data_format = 0
        self.recv_data_format = 0
        self.view_mode = 0
        self.max_backoffs = RETRANS_BACKOFFS[2]
        self.max_rto = RETRANS_RTO[2]
        self.registration_urc = {"+CREG": 0, "+CGREG": 0, "+CEREG": 0}
        self.contexts = {i: Context(i) for i in range(self.limits["context_id_min"],
                                                      self.limits["context_id_max"] + 1)}
        self.services: dict[int, Service] = {}
        self.data_service: Service | None = None
        self.last_transparent: int | None = None
        self.injected: dict[str, int] = {}
        self.ping: PingSession | None = None
        self.ping_resolver: DnsQuery | None = None
        self.ntp: NtpQuery | None = None
        self.ntp_resolver: DnsQuery | None = None
        self.ntp_target: tuple[str, int] | None = None
        self.activation_timer: Timer | None = None
        self.mode = Mode.COMMAND
        self.busy = False

    def shutdown(self) -> None:
        """Close every socket and stop every operation (the process is ending or the module rebooting)."""
        self._generation += 1
        self.escape.stop()
        self.packetizer.discard()
        for svc in list(self.services.values()):
            self._drop_service(svc)
        for ctx in self.contexts.values():
            if ctx.dns_query is not None:
                ctx.dns_query.cancel()
        for op in (self.ping, self.ping_resolver, self.ntp, self.ntp_resolver):
            if op is not None:
                op.cancel()
        if self.activation_timer is not None:
            self.activation_timer.cancel()

    def _cb(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap a callback of a background operation: ignored after a reboot; an exception never leaves a command
        hanging (it becomes ERROR + 550 if one is waiting)."""
        generation = self._generation

        def guarded(*args: Any) -> None:
            if generation != self._generation:
                return
            try:
                fn(*args)
            except Exception:
                log_exception(f"callback {getattr(fn, '__name__', fn)}")
                if self.busy and self.mode is Mode.COMMAND:
                    self.finish_error(550)

        return guarded

    def _escape_rules(self) -> EscapeRules:
        if self.dialect.escape is None:
            raise ValueError(f"dialect {self.dialect.name} has no escape rules")
        return self.dialect.escape

    def _take_injection(self, name: str) -> int | None:
        return self.injected.pop(name, None)

    def _context(self, context_id: int) -> Context:
        return self.contexts[context_id]

    def _require_active(self, ctx: Context) -> None:
        if ctx.broken:
            raise CmdError(570)
        if not ctx.active:
            raise CmdError(572)

    def _meaning(self, code: int) -> str:
        if code == 0:
            return "operation successful"  # §4 Table 1
        try:
            return self.dialect.error(code).meaning.lower()
        except KeyError:
            return "unknown error"

    # -- the command table ----------------------------------------------------------------------------------------

    def _register_commands(self) -> None:
        c = self.commands
        c[""] = lambda call: Reply()
        c["E"] = self._at_e
        c["V"] = self._at_v
        c["I"] = self._at_i
        c["&D"] = self._at_and_d
        c["O"] = self._at_o
        c["Z"] = self._at_z
        c["&F"] = self._at_z
        c["Q"] = self._at_q
        for name in ("+GMR", "+CGMR"):
            c[name] = self._fixed(REVISION)
        c["+QGMR"] = self._fixed(FULL_REVISION)
        for name in ("+GMM", "+CGMM"):
            c[name] = self._fixed(MODEL)
        for name in ("+GMI", "+CGMI"):
            c[name] = self._fixed(MANUFACTURER)
        for name in ("+GSN", "+CGSN"):
            c[name] = self._fixed(IMEI)
        c["+CMEE"] = self._at_cmee
        c["+CCLK"] = self._at_cclk
        c["+CPIN"] = self._at_cpin
        c["+CFUN"] = self._at_cfun
        c["+CSQ"] = self._at_csq
        for name in ("+CREG", "+CGREG", "+CEREG"):
            c[name] = self._at_registration
        c["+QICSGP"] = self._at_qicsgp
        c["+QIACT"] = self._at_qiact
        c["+QIDEACT"] = self._at_qideact
        c["+QIOPEN"] = self._at_qiopen
        c["+QICLOSE"] = self._at_qiclose
        c["+QISTATE"] = self._at_qistate
        c["+QISEND"] = self._at_qisend
        c["+QIRD"] = self._at_qird
        c["+QISENDEX"] = self._at_qisendex
        c["+QISWTMD"] = self._at_qiswtmd
        c["+QPING"] = self._at_qping
        c["+QNTP"] = self._at_qntp
        c["+QIDNSCFG"] = self._at_qidnscfg
        c["+QIDNSGIP"] = self._at_qidnsgip
        c["+QICFG"] = self._at_qicfg
        c["+QISDE"] = self._at_qisde
        c["+QIGETERROR"] = self._at_qigeterror

    # -- V.250 and identification ---------------------------------------------------------------------------------

    @staticmethod
    def _switch(call: Call, allowed: str) -> int:
        if call.kind != "exec" or (call.value or "0") not in allowed:
            raise CmdError(None)
        return int(call.value or "0")

    def _at_e(self, call: Call) -> Reply:
        self.echo = bool(self._switch(call, "01"))
        return Reply()

    def _at_v(self, call: Call) -> Reply:
        verbose = bool(self._switch(call, "01"))
        # The final result of ATV itself already takes the new format (V.250 §6.2.6).
        self.verbose = verbose
        return Reply()

    def _at_i(self, call: Call) -> Reply:
        self._switch(call, "0")
        return Reply([MANUFACTURER, MODEL, f"Revision: {REVISION}"])

    def _at_and_d(self, call: Call) -> Reply:
        self.and_d = self._switch(call, "012")
        return Reply()

    def _at_q(self, call: Call) -> Reply:
        self._switch(call, "0")  # ATQ1 (quiet) is not simulated
        return Reply()

    def _at_z(self, call: Call) -> Reply:
        self._switch(call, "0")
        self.echo, self.verbose, self.and_d = True, True, 2
        return Reply()

    @staticmethod
    def _fixed(text: str) -> Callable[[Call], Reply]:
        def handler(call: Call) -> Reply:
            if call.kind == "test":
                return Reply()
            if call.kind != "exec":
                raise CmdError(None)
            return Reply([text])

        return handler

    def _at_cmee(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply(["+CMEE: (0-2)"])
        if call.kind == "read":
            return Reply([f"+CMEE: {self.cmee}"])
        if call.kind != "write" or len(call.params) != 1:
            raise CmdError(None)
        try:
            self.cmee = _int(call.params, 0, 0, 2, default=0)
        except CmdError:
            raise CmdError(None) from None
        return Reply()

    def _at_cpin(self, call: Call) -> Reply:
        if call.kind != "read":
            raise CmdError(None)
        return Reply(["+CPIN: READY"])

    def _at_cfun(self, call: Call) -> Reply:
        if call.kind == "read":
            return Reply(["+CFUN: 1"])
        if call.kind == "test":
            return Reply(["+CFUN: (0,1,4),(0-1)"])
        raise CmdError(None)

    def _at_csq(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply(["+CSQ: (0-31,99),(0-7,99)"])
        if call.kind != "exec":
            raise CmdError(None)
        return Reply(["+CSQ: 24,99"])

    def _at_registration(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"{call.name}: (0-2)"])
        if call.kind == "read":
            return Reply([f"{call.name}: {self.registration_urc[call.name]},1"])  # registered, home network
        if call.kind != "write" or len(call.params) != 1:
            raise CmdError(None)
        try:
            self.registration_urc[call.name] = _int(call.params, 0, 0, 2)
        except CmdError:
            raise CmdError(None) from None
        return Reply()

    # -- clock (§2.1.12, §3.8) -------------------------------------------------------------------------------------

    def _local_time(self, utc: float | None = None) -> time.struct_time:
        if utc is None:
            utc = time.time() + self.clock_offset_s
        return time.gmtime(utc + self.config.timezone_quarters * 900)

    def _zone(self) -> str:
        return f"{self.config.timezone_quarters:+03d}"

    def _at_cclk(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply()
        if call.kind == "read":
            return Reply([f'+CCLK: "{time.strftime("%y/%m/%d,%H:%M:%S", self._local_time())}{self._zone()}"'])
        if call.kind != "write" or len(call.params) != 1 or not call.params[0].quoted:
            raise CmdError(None)
        m = re.fullmatch(r"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)", call.params[0].text)
        if not m:
            raise CmdError(None)
        zone = int(m.group(7))
        if not ZZ_RANGE[0] <= zone <= ZZ_RANGE[1]:
            raise CmdError(None)
        try:
            local = time.strptime("20" + ",".join(m.groups()[:6]), "%Y,%m,%d,%H,%M,%S")
        except ValueError:
            raise CmdError(None) from None
        self.config.timezone_quarters = zone
        self.clock_offset_s = calendar.timegm(local) - zone * 900 - time.time()
        return Reply()

    # -- PDP contexts (§2.1.1-2.1.3) -----------------------------------------------------------------------------

    def _context_id(self, call: Call, index: int = 0) -> int:
        return _int(call.params, index, self.limits["context_id_min"], self.limits["context_id_max"])

    def _connect_id(self, call: Call, index: int = 0) -> int:
        return _int(call.params, index, self.limits["connect_id_min"], self.limits["connect_id_max"])

    def _range(self, low: str, high: str) -> str:
        return f"({self.limits[low]}-{self.limits[high]})"

    def _at_qicsgp(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QICSGP: {self._range('context_id_min', 'context_id_max')},(1,2),<APN>,<username>,"
                          f"<password>,(0-{AUTHENTICATION_MAX})"])
        if call.kind != "write":
            raise CmdError(552)
        n = _count(call, 1, 3, 5, 6)
        ctx = self._context(self._context_id(call))
        if n == 1:
            return Reply([f'+QICSGP: {ctx.context_type},"{ctx.apn}","{ctx.username}","{ctx.password}",'
                          f"{ctx.authentication}"])
        context_type = _int(call.params, 1, min(CONTEXT_TYPES), max(CONTEXT_TYPES))
        apn = _str(call.params, 2)
        username = _str(call.params, 3) if n >= 5 else ""
        if n == 5 and not call.params[4].quoted:
            # §2.1.1 / §3.1.1: the manual's own example AT+QICSGP=1,1,"UNINET","",1 gives <authentication> with the
            # password left out; read an unquoted fifth parameter so (ASSUMPTION: the syntax line is garbled there)
            password, authentication = "", _int(call.params, 4, 0, AUTHENTICATION_MAX)
        else:
            password = _str(call.params, 4) if n >= 5 else ""
            authentication = _int(call.params, 5, 0, AUTHENTICATION_MAX, default=0) if n == 6 else 0
        injected = self._take_injection("+QICSGP")
        if injected:
            raise CmdError(injected)
        ctx.context_type, ctx.apn, ctx.username, ctx.password = context_type, apn, username, password
        ctx.authentication = authentication
        ctx.configured = True
        return Reply()

    def _at_qiact(self, call: Call) -> Reply | Pending:
        if call.kind == "test":
            return Reply([f"+QIACT: {self._range('context_id_min', 'context_id_max')}"])
        if call.kind == "read":
            return Reply([f'+QIACT: {c.context_id},1,{c.context_type},"{self.config.local_ip}"'
                          for c in self.contexts.values() if c.active])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 1)
        ctx = self._context(self._context_id(call))
        injected = self._take_injection("+QIACT")
        if injected:
            raise CmdError(injected)
        if ctx.broken:
            raise CmdError(570)  # ASSUMPTION: §2.2.5 says the host must AT+QIDEACT first
        if ctx.active:
            raise CmdError(561)  # ASSUMPTION: activating an active context fails
        if not ctx.configured:
            raise CmdError(573)
        if sum(c.active for c in self.contexts.values()) >= self.limits["active_contexts_max"]:
            raise CmdError(561)  # §2.1.2: three contexts at most
        if self.config.activation_delay_s > 0:
            self.activation_timer = self.loop.call_later(self.config.activation_delay_s,
                                                         self._cb(lambda: self._activate(ctx, pending=True)))
            return PENDING
        self._activate(ctx, pending=False)
        return Reply()

    def _activate(self, ctx: Context, *, pending: bool) -> None:
        self.activation_timer = None
        code = self.reject_activation
        if code is None and ctx.context_type != 1:
            code = 561  # ASSUMPTION: the simulated network offers IPv4 only (IPv6 is "under development")
        if code is not None:
            if pending:
                self.finish_error(code)
                return
            raise CmdError(code)
        ctx.active = True
        if ctx.dns_from_network:
            ctx.dns = self._network_dns()
        if pending:
            self.finish()

    def _network_dns(self) -> list[str]:
        servers = list(self.config.dns_servers[:2])
        return servers + ["0.0.0.0"] * (2 - len(servers))

    def _at_qideact(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QIDEACT: {self._range('context_id_min', 'context_id_max')}"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 1)
        ctx = self._context(self._context_id(call))
        injected = self._take_injection("+QIDEACT")
        if injected:
            raise CmdError(injected)
        for svc in [s for s in self.services.values() if s.context_id == ctx.context_id]:
            self._drop_service(svc)  # §2.1.3: closes every connection of the context
        if ctx.dns_query is not None:
            ctx.dns_query.cancel()
            ctx.dns_query = None
        ctx.active = ctx.broken = False
        if ctx.dns_from_network:
            ctx.dns = ["0.0.0.0", "0.0.0.0"]
        return Reply()

    # -- opening services (§2.1.4) --------------------------------------------------------------------------------

    def _at_qiopen(self, call: Call) -> Reply | Pending:
        if call.kind == "test":
            return Reply([f"+QIOPEN: {self._range('context_id_min', 'context_id_max')},"
                          f"{self._range('connect_id_min', 'connect_id_max')},"
                          '"TCP/UDP/TCP LISTENER/UDP SERVICE","<IP_address>/<domain_name>",<remote_port>,'
                          "<local_port>,(0-2)"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 5, 6, 7)
        context_id = self._context_id(call, 0)
        connect_id = self._connect_id(call, 1)
        service_type = _str(call.params, 2).upper()
        if service_type not in OPENABLE:
            raise CmdError(552)
        host = _str(call.params, 3)
        remote_port = _int(call.params, 4, 0, PORT_MAX)
        local_port = _int(call.params, 5, 0, PORT_MAX, default=0)
        access_mode = _int(call.params, 6, 0, 2, default=BUFFER)
        if service_type in (LISTENER, UDP_SERVICE) and _param(call.params, 5) is None:
            raise CmdError(552)  # §2.1.4: <local_port> must be given for a server
        if service_type in (TCP, UDP) and not host:
            raise CmdError(552)
        # ASSUMPTION: a listener cannot enter data mode itself; it answers OK / +QIOPEN like buffer mode.
        transparent = access_mode == TRANSPARENT and service_type != LISTENER

        def fail(code: int) -> Reply:
            if transparent:
                raise CmdError(code)
            self.loop.call_soon(self._cb(lambda: self._report_open(connect_id, code)))
            return Reply()

        injected = self._take_injection("+QIOPEN")
        if injected:
            return fail(injected)
        if connect_id in self.services:
            return fail(563)
        ctx = self._context(context_id)
        if ctx.broken:
            return fail(570)
        if not ctx.active:
            return fail(572)
        family_tcp = service_type in (TCP, LISTENER)
        if local_port and self._port_in_use(local_port, family_tcp):
            return fail(574)
        svc = Service(connect_id, context_id, service_type, access_mode, server_id=connect_id, host=host,
                      remote_port=remote_port if service_type in (TCP, UDP) else 0,
                      requested_local_port=local_port, transparent_open=transparent)
        self.services[connect_id] = svc
        if service_type in (LISTENER, UDP_SERVICE):
            code = self._open_server(svc)
            if code:
                del self.services[connect_id]
                return fail(code)
            if transparent:
                return Reply(final="CONNECT", after=lambda: self._enter_data_mode(svc))
            self.loop.call_soon(self._cb(lambda: self._report_open(connect_id, 0)))
            return Reply()
        svc.resolver = DnsQuery(self.loop, ctx.dns, self.config.dns_port, host, self.config.dns_timeout_s,
                                self._cb(lambda err, addresses, ttl: self._resolved(svc, err, addresses)))
        svc.resolver.start()
        return PENDING if transparent else Reply()

    def _port_in_use(self, port: int, family_tcp: bool) -> bool:
        for svc in self.services.values():
            if svc.local_port == port and (svc.service_type in (TCP, LISTENER, INCOMING)) == family_tcp:
                return True
        return False

    def _report_open(self, connect_id: int, code: int) -> None:
        self.last_error = code
        self.urc(f"+QIOPEN: {connect_id},{code}")

    def _open_server(self, svc: Service) -> int:
        kind = socket.SOCK_STREAM if svc.service_type == LISTENER else socket.SOCK_DGRAM
        try:
            sock = socket.socket(socket.AF_INET, kind)
        except OSError as e:
            log(f"QIOPEN {svc.connect_id}: socket: {e}")
            return 554
        sock.setblocking(False)
        try:
            if svc.service_type == LISTENER:
                # a module re-listens on its port at once, TIME_WAIT or not
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.config.local_ip, svc.requested_local_port))
        except OSError as e:
            log(f"QIOPEN {svc.connect_id}: bind {self.config.local_ip}:{svc.requested_local_port}: {e}")
            sock.close()
            return 556
        if svc.service_type == LISTENER:
            try:
                sock.listen(LISTEN_BACKLOG)
            except OSError as e:
                log(f"QIOPEN {svc.connect_id}: listen: {e}")
                sock.close()
                return 557
        svc.sock = sock
        svc.local_port = sock.getsockname()[1]
        svc.remote_ip = self.config.local_ip  # §2.1.6: a server shows the local address
        svc.state = LISTENING if svc.service_type == LISTENER else CONNECTED  # §3.6.1 shows a UDP service as 2
        return 0

    def _resolved(self, svc: Service, err: int, addresses: list[str]) -> None:
        svc.resolver = None
        if self.services.get(svc.connect_id) is not svc:
            return  # closed meanwhile
        if err:
            self._open_done(svc, err)
            return
        svc.remote_ip = addresses[0]
        tcp = svc.service_type == TCP
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        except OSError as e:
            log(f"QIOPEN {svc.connect_id}: socket: {e}")
            self._open_done(svc, 554)
            return
        sock.setblocking(False)
        svc.sock = sock
        if tcp:
            self._apply_retransmission(sock)
        if svc.requested_local_port:
            try:
                sock.bind(("", svc.requested_local_port))
            except OSError as e:
                log(f"QIOPEN {svc.connect_id}: bind :{svc.requested_local_port}: {e}")
                self._open_done(svc, 556)
                return
        if not tcp:
            try:
                sock.connect((svc.remote_ip, svc.remote_port))
            except OSError as e:
                log(f"QIOPEN {svc.connect_id}: UDP connect: {e}")
                self._open_done(svc, 566)
                return
            self._open_done(svc, 0)
            return
        code = sock.connect_ex((svc.remote_ip, svc.remote_port))
        if code == 0:
            self._open_done(svc, 0)
        elif code in (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
            svc.connecting = True
            svc.connect_timer = self.loop.call_later(self.config.connect_timeout_s,
                                                     self._cb(lambda: self._connect_timeout(svc)))
        else:
            self._open_done(svc, self._connect_error(code))

    @staticmethod
    def _connect_error(code: int) -> int:
        if code == errno.ETIMEDOUT:
            return 569
        return 566  # refused, unreachable, reset during the handshake

    def _on_connect_writable(self, svc: Service) -> None:
        assert svc.sock is not None
        code = svc.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code in (errno.EINPROGRESS, errno.EALREADY):
            return
        svc.connecting = False
        if svc.connect_timer is not None:
            svc.connect_timer.cancel()
            svc.connect_timer = None
        self.loop.watch(svc.sock)  # the next refresh sets the reader
        if code:
            log(f"QIOPEN {svc.connect_id}: connect {svc.remote_ip}:{svc.remote_port}: {errno.errorcode.get(code)}")
            self._open_done(svc, self._connect_error(code))
        else:
            self._open_done(svc, 0)

    def _connect_timeout(self, svc: Service) -> None:
        svc.connect_timer = None
        if self.services.get(svc.connect_id) is svc and svc.connecting:
            log(f"QIOPEN {svc.connect_id}: no answer from {svc.remote_ip}:{svc.remote_port} in "
                f"{self.config.connect_timeout_s} s")
            svc.connecting = False
            self._open_done(svc, 569)

    def _open_done(self, svc: Service, code: int) -> None:
        if code:
            self._drop_service(svc)
            if svc.transparent_open:
                self.finish_error(code)
            else:
                self._report_open(svc.connect_id, code)
            return
        assert svc.sock is not None
        svc.state = CONNECTED
        svc.local_port = svc.sock.getsockname()[1]
        if svc.transparent_open:
            svc.transparent_open = False
            self.finish("CONNECT", after=lambda: self._enter_data_mode(svc))
        else:
            self._report_open(svc.connect_id, 0)

    def _apply_retransmission(self, sock: socket.socket) -> None:
        # tcp/retranscfg as the kernel can take it: give up after the time max_backoffs retransmissions take
        # with the backoff capped at max_rto (TCP_USER_TIMEOUT).
        total = sum(min(_BASE_RTO_S * 2**i, self.max_rto / 10) for i in range(self.max_backoffs))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(total * 1000))
        except OSError as e:
            log(f"TCP_USER_TIMEOUT: {e}")

    # -- closing (§2.1.5) ----------------------------------------------------------------------------------------

    def _at_qiclose(self, call: Call) -> Reply | Pending:
        if call.kind == "test":
            return Reply([f"+QICLOSE: {self._range('connect_id_min', 'connect_id_max')},(0-{QICLOSE_TIMEOUT_MAX})"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 1, 2)
        connect_id = self._connect_id(call)
        timeout = _int(call.params, 1, 1, QICLOSE_TIMEOUT_MAX, default=self.limits["qiclose_timeout_default_s"])
        injected = self._take_injection("+QICLOSE")
        if injected:
            raise CmdError(injected)
        svc = self.services.get(connect_id)
        if svc is None:
            return Reply()  # ASSUMPTION: closing a connect ID that is not open is OK
        if not (svc.is_tcp and svc.state == CONNECTED and svc.sock is not None):
            self._drop_service(svc)
            return Reply()
        sock = svc.sock
        self._flush_send_pending(svc)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop_service(svc)
            return Reply()
        # Wait for the peer's FIN (§2.1.5: force the close after <timeout>)
        svc.state = CLOSING
        svc.closing_command = True
        self.loop.watch(sock, on_read=self._cb(lambda: self._closing_readable(svc)))
        svc.close_timer = self.loop.call_later(timeout, self._cb(lambda: self._close_done(svc, force=True)))
        return PENDING

    def _closing_readable(self, svc: Service) -> None:
        assert svc.sock is not None
        try:
            data = svc.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_done(svc, force=False)

    def _close_done(self, svc: Service, *, force: bool) -> None:
        if force and svc.sock is not None:
            log(f"QICLOSE {svc.connect_id}: no FIN from the peer in time, resetting")
            try:
                svc.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self._drop_service(svc)
        self.finish()

    def _drop_service(self, svc: Service) -> None:
        """Forget a service: stop its timers and lookups, close its socket, free its connect ID."""
        for timer in (svc.connect_timer, svc.close_timer):
            if timer is not None:
                timer.cancel()
        svc.connect_timer = svc.close_timer = None
        if svc.resolver is not None:
            svc.resolver.cancel()
            svc.resolver = None
        self._close_socket(svc)
        if self.services.get(svc.connect_id) is svc:
            del self.services[svc.connect_id]
        if self.last_transparent == svc.connect_id:
            self.last_transparent = None

    def _close_socket(self, svc: Service) -> None:
        if svc.sock is not None:
            self.loop.unwatch(svc.sock)
            svc.sock.close()
            svc.sock = None
        svc.connecting = False

    # -- status (§2.1.6) -----------------------------------------------------------------------------------------

    def _at_qistate(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply()
        if call.kind in ("read", "exec"):
            chosen = list(self.services.values())
        else:
            _count(call, 2)
            query_type = _int(call.params, 0, 0, 1)
            if query_type == 0:
                context_id = self._context_id(call, 1)
                chosen = [s for s in self.services.values() if s.context_id == context_id]
            else:
                connect_id = self._connect_id(call, 1)
                chosen = [s for s in self.services.values() if s.connect_id == connect_id]
        return Reply([self._state_line(s) for s in sorted(chosen, key=lambda s: s.connect_id)])

    @staticmethod
    def _state_line(svc: Service) -> str:
        ip = svc.remote_ip or svc.host
        return (f'+QISTATE: {svc.connect_id},"{svc.service_type}","{ip}",{svc.remote_port},{svc.local_port},'
                f'{svc.state},{svc.context_id},{svc.server_id},{svc.access_mode},"{AT_PORT}"')

    # -- sending (§2.1.7, §2.1.9) ----------------------------------------------------------------------------------

    def _service(self, connect_id: int) -> Service:
        svc = self.services.get(connect_id)
        if svc is None:
            raise CmdError(552)  # ASSUMPTION: a connect ID that names no service is an invalid parameter
        return svc

    def _check_sendable(self, svc: Service) -> None:
        if svc.service_type == LISTENER:
            raise CmdError(555)
        if svc.close_reason == "pdp":
            raise CmdError(570)
        if svc.close_reason == "reset" or (svc.close_reason and svc.reset_seen):
            raise CmdError(558)
        if svc.close_reason == "fin" or svc.state == CLOSING:
            raise CmdError(567)
        if svc.state != CONNECTED or svc.sock is None:
            raise CmdError(572)  # ASSUMPTION: still opening: operation not allowed

    def _at_qisend(self, call: Call) -> Reply | Pending:
        if call.kind == "test":
            return Reply([f"+QISEND: {self._range('connect_id_min', 'connect_id_max')},"
                          f"(0-{self.limits['send_length_max']})"])
        if call.kind != "write":
            raise CmdError(552)
        n = _count(call, 1, 2, 4)
        svc = self._service(self._connect_id(call))
        send_max = self.limits["send_length_max"]
        if n == 2 and _int(call.params, 1, 0, send_max) == 0:
            if svc.service_type == LISTENER:
                raise CmdError(555)
            injected = self._take_injection("+QISEND")
            if injected:
                raise CmdError(injected)
            unacked = (_siocoutq(svc.sock) if svc.sock is not None else 0) + len(svc.send_pending)
            unacked = min(unacked, svc.total_sent)
            return Reply([f"+QISEND: {svc.total_sent},{svc.total_sent - unacked},{unacked}"])
        dest: tuple[str, int] | None = None
        length: int | None = None
        if n == 4:
            length = _int(call.params, 1, 1, send_max)
            address = ipv4_literal(_str(call.params, 2))
            if address is None or svc.service_type != UDP_SERVICE:
                raise CmdError(552)  # §2.1.7: dotted format, and only for a UDP service
            dest = (address, _int(call.params, 3, 0, PORT_MAX))
        else:
            if svc.service_type == UDP_SERVICE:
                raise CmdError(552)  # a UDP service needs the remote address
            if n == 2:
                length = _int(call.params, 1, 1, send_max)
        self._check_sendable(svc)
        injected = self._take_injection("+QISEND")
        if injected:
            raise CmdError(injected)
        hex_mode = self.send_data_format == 1
        prompt_length = None if length is None else (2 * length if hex_mode else length)
        limit = 2 * send_max if hex_mode else send_max
        return self.start_prompt(Prompt(prompt_length, limit, bool(self.qisde),
                                        lambda data, outcome: self._send_prompt_done(svc, data, outcome, dest)))

    def _send_prompt_done(self, svc: Service, data: bytes, outcome: str, dest: tuple[str, int] | None) -> None:
        if outcome == "cancel":
            self.finish_error(571)  # ASSUMPTION: <ESC> answers ERROR, AT+QIGETERROR says 571 (cancel send)
            return
        if outcome == "overflow":
            self.finish_error(552)  # ASSUMPTION: more than 1460 bytes before <Ctrl+Z> is ERROR, nothing sent
            return
        if self.send_data_format == 1:
            try:
                data = bytes.fromhex(data.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                self.finish_error(552)
                return
        if self.services.get(svc.connect_id) is not svc:
            self.finish_error(567)  # closed while the host was typing
            return
        try:
            self._check_sendable(svc)
        except CmdError as e:
            self.finish_error(e.code)
            return
        result = self._send(svc, data, dest)
        if isinstance(result, int):
            self.finish_error(result)
        else:
            self.finish(result)

    def _send(self, svc: Service, data: bytes, dest: tuple[str, int] | None = None) -> str | int:
        """Hand ``data`` to the kernel: ``SEND OK``, ``SEND FAIL`` (buffer full) or an error code."""
        assert svc.sock is not None
        if svc.send_pending:
            return "SEND FAIL"
        if not data:
            return "SEND FAIL"
        for attempt in range(2):
            try:
                sent = svc.sock.sendto(data, dest) if dest else svc.sock.send(data)
                break
            except BlockingIOError:
                return "SEND FAIL"
            except OSError as e:
                if not svc.is_tcp and e.errno == errno.ECONNREFUSED and attempt == 0:
                    continue  # an earlier datagram's ICMP "port unreachable", reported on this call
                log(f"send on {svc.connect_id}: {e}")
                if svc.is_tcp:
                    svc.reset_seen = True
                return 558
        else:
            return 558
        if sent < len(data):
            svc.send_pending += data[sent:]
        svc.total_sent += len(data)
        return "SEND OK"

    def _flush_send_pending(self, svc: Service) -> None:
        if not svc.send_pending or svc.sock is None:
            return
        try:
            sent = svc.sock.send(svc.send_pending)
        except BlockingIOError:
            return
        except OSError as e:
            log(f"send on {svc.connect_id}: {e}")
            svc.send_pending.clear()
            svc.reset_seen = True
            return
        del svc.send_pending[:sent]

    def _at_qisendex(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QISENDEX: {self._range('connect_id_min', 'connect_id_max')},<hex_string>"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 2)
        svc = self._service(self._connect_id(call))
        hex_string = _str(call.params, 1)
        # ASSUMPTION: "max length is 512 bytes" counts the characters of the hex string (256 data bytes).
        if len(hex_string) > self.limits["hex_string_max"] or len(hex_string) % 2:
            raise CmdError(552)
        try:
            data = bytes.fromhex(hex_string)
        except ValueError:
            raise CmdError(552) from None
        if svc.service_type in (LISTENER, UDP_SERVICE):
            raise CmdError(555)  # §2.1.9
        self._check_sendable(svc)
        injected = self._take_injection("+QISENDEX")
        if injected:
            raise CmdError(injected)
        if not data:
            return Reply(final="SEND FAIL")  # §2.1.9: no data
        result = self._send(svc, data)
        if isinstance(result, int):
            raise CmdError(result)
        return Reply(final=result)

    # -- receiving (§2.1.8, §2.2.2) ------------------------------------------------------------------------------

    def _format_data(self, data: bytes) -> bytes:
        return data.hex().upper().encode() if self.recv_data_format == 1 else data

    def _data_lines(self, header: str, data: bytes) -> list[str | bytes]:
        # §2.1.15 viewmode: 0 = header<CR><LF>data, 1 = header,data
        if self.view_mode == 1:
            return [header.encode("latin-1") + b"," + self._format_data(data)]
        return [header, self._format_data(data)]

    def _at_qird(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QIRD: {self._range('connect_id_min', 'connect_id_max')},"
                          f"(0-{self.limits['read_length_max']})"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 1, 2)
        svc = self._service(self._connect_id(call))
        read_max = self.limits["read_length_max"]
        read_length = _int(call.params, 1, 0, read_max, default=read_max)
        if svc.service_type == LISTENER:
            raise CmdError(555)
        injected = self._take_injection("+QIRD")
        if injected:
            raise CmdError(injected)
        if _param(call.params, 1) is not None and read_length == 0:
            return Reply([f"+QIRD: {svc.total_received},{svc.have_read},{svc.unread}"])
        if svc.service_type == UDP_SERVICE:
            if not svc.datagrams:
                return self._read_done(svc, Reply(["+QIRD: 0"]))
            data, ip, port = svc.datagrams.popleft()
            if len(data) > read_length:
                # ASSUMPTION: the rest of a datagram longer than <read_length> stays for the next read
                svc.datagrams.appendleft((data[read_length:], ip, port))
                data = data[:read_length]
            svc.have_read += len(data)
            return self._read_done(svc, Reply(self._data_lines(f'+QIRD: {len(data)},"{ip}",{port}', data)))
        n = min(read_length, len(svc.stream))
        if n == 0:
            return self._read_done(svc, Reply(["+QIRD: 0"]))
        data = bytes(svc.stream[:n])
        del svc.stream[:n]
        svc.have_read += n
        return self._read_done(svc, Reply(self._data_lines(f"+QIRD: {n}", data)))

    @staticmethod
    def _read_done(svc: Service, reply: Reply) -> Reply:
        if svc.unread == 0:
            svc.recv_urc_armed = True  # §2.1.8: the next arrival is reported again
        return reply

    def _buffered(self, svc: Service) -> int:
        return len(svc.stream) + sum(len(d) for d, _, _ in svc.datagrams)

    def _on_readable(self, svc: Service) -> None:
        sock = svc.sock
        if sock is None:
            return
        if svc.service_type == LISTENER:
            self._accept(svc)
            return
        if svc.service_type == UDP_SERVICE:
            try:
                data, peer = sock.recvfrom(65536)
            except BlockingIOError:
                return
            except OSError as e:
                log(f"receive on {svc.connect_id}: {e}")  # an ICMP error for an earlier datagram
                return
            if data:
                self._received(svc, data, (peer[0], peer[1]))
            return
        if svc.service_type == UDP:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as e:
                log(f"receive on {svc.connect_id}: {e}")
                return
            if data:
                self._received(svc, data, None)
            return
        if svc is self.data_service:
            size = 4096
        elif svc.access_mode == PUSH:
            size = self.limits["read_length_max"]  # one URC carries what one AT+QIRD could
        else:
            size = max(1, min(4096, self.config.recv_buffer_bytes - self._buffered(svc)))
        try:
            data = sock.recv(size)
        except BlockingIOError:
            return
        except OSError as e:
            log(f"receive on {svc.connect_id}: {e}")
            self._peer_closed(svc, "reset")
            return
        if not data:
            self._peer_closed(svc, "reset" if svc.reset_seen else "fin")
            return
        self._received(svc, data, None)

    def _received(self, svc: Service, data: bytes, peer: tuple[str, int] | None) -> None:
        svc.total_received += len(data)
        if peer is not None:
            svc.last_peer = peer
        if svc is self.data_service:
            self.emit(data)
            svc.have_read += len(data)
            return
        if svc.access_mode == PUSH:
            svc.have_read += len(data)
            header = f'+QIURC: "recv",{svc.connect_id},{len(data)}'
            if peer is not None:
                header += f',"{peer[0]}",{peer[1]}'
            self.urc(header, self._format_data(data), data_separator=b"," if self.view_mode == 1 else b"\r\n")
            return
        if peer is not None:
            svc.datagrams.append((data, peer[0], peer[1]))
        else:
            svc.stream += data
        if svc.recv_urc_armed:
            svc.recv_urc_armed = False
            self.urc(f'+QIURC: "recv",{svc.connect_id}')

    def _peer_closed(self, svc: Service, reason: str) -> None:
        svc.state = CLOSING  # §2.2.1: "closing" until AT+QICLOSE
        svc.close_reason = reason
        if svc.sock is not None:
            self.loop.unwatch(svc.sock)
        if svc is self.data_service:
            self._leave_data_mode("NO CARRIER", flush=False)  # §1.2 note 2
        else:
            self.urc(f'+QIURC: "closed",{svc.connect_id}')

    def _accept(self, listener: Service) -> None:
        assert listener.sock is not None
        try:
            conn, peer = listener.sock.accept()
        except BlockingIOError:
            return
        except OSError as e:
            log(f"accept on {listener.connect_id}: {e}")
            return
        connect_id = self._free_connect_id()
        if connect_id is None:
            # §2.2.3: no connect ID left; ASSUMPTION: the connection is accepted, then closed (the client sees FIN)
            conn.close()
            self.urc('+QIURC: "incoming full"')
            return
        conn.setblocking(False)
        self._apply_retransmission(conn)
        # §2.1.4 item 1: the listener's access mode; §2.2.4 says buffer mode: ASSUMPTION, both hold unless the
        # listener is transparent (an incoming connection does not seize the port unasked).
        mode = listener.access_mode if listener.access_mode != TRANSPARENT else BUFFER
        svc = Service(connect_id, listener.context_id, INCOMING, mode, server_id=listener.connect_id,
                      remote_ip=peer[0], remote_port=peer[1], sock=conn, state=CONNECTED,
                      local_port=conn.getsockname()[1])
        self.services[connect_id] = svc
        self.urc(f'+QIURC: "incoming",{connect_id},{listener.connect_id},"{peer[0]}",{peer[1]}')

    def _free_connect_id(self) -> int | None:
        # ASSUMPTION: the highest free ID first, as §3.5.2's listener on ID 1 gets its first client as ID 11
        for connect_id in range(self.limits["connect_id_max"], self.limits["connect_id_min"] - 1, -1):
            if connect_id not in self.services:
                return connect_id
        return None

    def _on_writable(self, svc: Service) -> None:
        self._flush_send_pending(svc)

    # -- switching access modes (§1.2, §2.1.10) ------------------------------------------------------------------

    def _at_qiswtmd(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QISWTMD: {self._range('connect_id_min', 'connect_id_max')},(0-2)"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 2)
        svc = self._service(self._connect_id(call))
        access_mode = _int(call.params, 1, 0, 2)
        injected = self._take_injection("+QISWTMD")
        if injected:
            raise CmdError(injected)
        if svc.service_type == LISTENER:
            if access_mode == TRANSPARENT:
                raise CmdError(555)
            svc.access_mode = access_mode
            return Reply()
        if access_mode == TRANSPARENT:
            self._check_sendable(svc)
            return Reply(final="CONNECT", after=lambda: self._enter_data_mode(svc))
        previous, svc.access_mode = svc.access_mode, access_mode
        if access_mode == PUSH and previous == BUFFER and svc.unread:
            # ASSUMPTION: what the buffer holds is pushed out at once
            self.loop.call_soon(self._cb(lambda: self._push_buffered(svc)))
        if access_mode == BUFFER:
            svc.recv_urc_armed = svc.unread == 0
        return Reply()

    def _push_buffered(self, svc: Service) -> None:
        read_max = self.limits["read_length_max"]
        while svc.datagrams:
            data, ip, port = svc.datagrams.popleft()
            svc.total_received -= len(data)  # _received counts it again
            self._received(svc, data, (ip, port))
        while svc.stream:
            data = bytes(svc.stream[:read_max])
            del svc.stream[:read_max]
            svc.total_received -= len(data)
            self._received(svc, data, None)

    def _at_o(self, call: Call) -> Reply:
        self._switch(call, "0")
        svc = self.services.get(self.last_transparent) if self.last_transparent is not None else None
        if svc is None or svc.state != CONNECTED or svc.sock is None or svc.service_type == LISTENER:
            return Reply(final="NO CARRIER")  # §1.2 item 5
        return Reply(final="CONNECT", after=lambda: self._enter_data_mode(svc))

    # -- transparent access mode (§1.2) ---------------------------------------------------------------------------

    def _enter_data_mode(self, svc: Service) -> None:
        self.set_mode(Mode.DATA)
        self.data_service = svc
        svc.access_mode = TRANSPARENT
        self.last_transparent = svc.connect_id
        self.escape.start()
        # ASSUMPTION: data buffered before the switch is delivered first, raw
        pending = bytes(svc.stream) + b"".join(d for d, _, _ in svc.datagrams)
        svc.stream.clear()
        svc.datagrams.clear()
        if pending:
            svc.have_read += len(pending)
            self.emit(pending)

    def consume_data(self, data: bytes, i: int, t_ns: int) -> int:
        """Transparent mode: host bytes go through the escape detector to the packetizer."""
        if self.escape.check(t_ns):
            return i  # the guard time had passed before these bytes arrived: they are a command line
        self.escape.feed(data[i:], t_ns)
        return len(data)

    def _transparent_input(self, data: bytes) -> None:
        self.packetizer.add(data)

    def _transparent_send(self, packet: bytes) -> None:
        svc = self.data_service
        if svc is None or svc.sock is None:
            return
        if svc.service_type == UDP_SERVICE:
            if svc.last_peer is None:
                log(f"transparent UDP service {svc.connect_id}: no peer yet, {len(packet)} bytes dropped")
                return
            dest: tuple[str, int] | None = svc.last_peer
        else:
            dest = None
        svc.total_sent += len(packet)
        if svc.send_pending and svc.is_tcp:
            svc.send_pending += packet
            return
        try:
            sent = svc.sock.sendto(packet, dest) if dest else svc.sock.send(packet)
        except BlockingIOError:
            sent = 0
        except OSError as e:
            log(f"transparent send on {svc.connect_id}: {e}")  # the reader reports the lost connection
            if svc.is_tcp:
                svc.reset_seen = True
            return
        if sent < len(packet) and svc.is_tcp:
            svc.send_pending += packet[sent:]

    def _on_escape(self) -> None:
        self._leave_data_mode("OK", flush=True)  # §1.2 item 3: OK, then buffer access mode

    def _leave_data_mode(self, final: str, *, flush: bool) -> None:
        svc = self.data_service
        held = self.escape.stop()
        if flush:
            if held:
                self.packetizer.add(held)
            self.packetizer.flush()
        else:
            self.packetizer.discard()
        self.data_service = None
        if svc is not None:
            svc.access_mode = BUFFER
            svc.recv_urc_armed = svc.unread == 0
        self.set_mode(Mode.COMMAND)
        self.emit(self.final_bytes(final))

    # -- DTR / RTS -----------------------------------------------------------------------------------------------

    def set_dtr(self, level: bool) -> None:
        """The host's DTR line (a pty has none: the control channel carries it)."""
        falling = self.dtr and not level
        self.dtr = level
        if not falling or self.mode is not Mode.DATA:
            return
        if self.and_d == 1:
            self._leave_data_mode("OK", flush=True)  # like "+++": the connection stays, in buffer access mode
        elif self.and_d == 2:
            svc = self.data_service
            # ASSUMPTION: &D2 clears the connection down in order (FIN), frees its ID and says NO CARRIER
            self._leave_data_mode("NO CARRIER", flush=True)
            if svc is not None:
                self._flush_send_pending(svc)
                if svc.sock is not None:
                    try:
                        svc.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                self._drop_service(svc)

    # -- PING, NTP, DNS (§2.1.11-2.1.14) -------------------------------------------------------------------------

    def _at_qping(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QPING: {self._range('context_id_min', 'context_id_max')},<host>,"
                          f"(1-{QPING_TIMEOUT_MAX}),(1-{QPING_COUNT_MAX})"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 2, 3, 4)
        ctx = self._context(self._context_id(call))
        host = _str(call.params, 1, empty=False)
        timeout = _int(call.params, 2, 1, QPING_TIMEOUT_MAX, default=self.limits["qping_timeout_default_s"])
        count = _int(call.params, 3, 1, QPING_COUNT_MAX, default=self.limits["qping_count_default"])
        self._require_active(ctx)
        if self.ping is not None or self.ping_resolver is not None:
            raise CmdError(568)
        injected = self._take_injection("+QPING")
        if injected:
            self.loop.call_soon(self._cb(lambda: self._ping_final(injected)))
            return Reply()
        times: list[int] = []

        def on_reply(reply: PingReply | None) -> None:
            if reply is None:
                self.urc("+QPING: 569")
                return
            times.append(reply.time_ms)
            self.urc(f'+QPING: 0,"{reply.address}",{reply.size},{reply.time_ms},{reply.ttl}')

        def on_done(err: int, sent: int, received: int) -> None:
            self.ping = None
            if err:
                self._ping_final(err)
                return
            low, high = (min(times), max(times)) if times else (0, 0)
            average = sum(times) // len(times) if times else 0
            self.last_error = 0
            self.urc(f"+QPING: 0,{sent},{received},{sent - received},{low},{high},{average}")

        def on_resolved(err: int, addresses: list[str], ttl: int) -> None:
            self.ping_resolver = None
            if err:
                self._ping_final(err)
                return
            self.ping = PingSession(self.loop, addresses[0], count, timeout, self._cb(on_reply), self._cb(on_done))
            self.ping.start()

        self.ping_resolver = DnsQuery(self.loop, ctx.dns, self.config.dns_port, host, self.config.dns_timeout_s,
                                      self._cb(on_resolved))
        self.ping_resolver.start()
        return Reply()

    def _ping_final(self, code: int) -> None:
        self.last_error = code
        self.urc(f"+QPING: {code}")

    def _at_qntp(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QNTP: {self._range('context_id_min', 'context_id_max')},<server>,(1-{PORT_MAX}),(0,1)"])
        if call.kind == "read":
            if self.ntp_target is None:
                return Reply()
            return Reply([f'+QNTP: "{self.ntp_target[0]}",{self.ntp_target[1]}'])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 2, 3, 4)
        ctx = self._context(self._context_id(call))
        server = _str(call.params, 1, empty=False)
        port = _int(call.params, 2, 1, PORT_MAX, default=NTP_DEFAULT_PORT)
        autoset = _int(call.params, 3, 0, 1, default=1)
        self._require_active(ctx)
        if self.ntp_target is not None:
            raise CmdError(568)  # ASSUMPTION: one synchronisation at a time
        injected = self._take_injection("+QNTP")
        if injected:
            self.loop.call_soon(self._cb(lambda: self._ntp_final(injected, "")))
            return Reply()
        self.ntp_target = (server, port)

        def on_time(err: int, unix_time: float) -> None:
            self.ntp = None
            if err:
                self._ntp_final(err, "")
                return
            if autoset:
                self.clock_offset_s = unix_time - time.time()
            stamp = time.strftime("%Y/%m/%d,%H:%M:%S", self._local_time(unix_time)) + self._zone()
            self._ntp_final(0, stamp)

        def on_resolved(err: int, addresses: list[str], ttl: int) -> None:
            self.ntp_resolver = None
            if err:
                self._ntp_final(err, "")
                return
            self.ntp = NtpQuery(self.loop, addresses[0], port, self.config.ntp_timeout_s, self._cb(on_time))
            self.ntp.start()

        self.ntp_resolver = DnsQuery(self.loop, ctx.dns, self.config.dns_port, server, self.config.dns_timeout_s,
                                     self._cb(on_resolved))
        self.ntp_resolver.start()
        return Reply()

    def _ntp_final(self, code: int, stamp: str) -> None:
        self.ntp_target = None
        self.last_error = code
        self.urc(f'+QNTP: 0,"{stamp}"' if code == 0 else f"+QNTP: {code}")

    def _at_qidnscfg(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QIDNSCFG: {self._range('context_id_min', 'context_id_max')},<pridnsaddr>,<secdnsaddr>"])
        if call.kind != "write":
            raise CmdError(552)
        n = _count(call, 1, 2, 3)
        ctx = self._context(self._context_id(call))
        if n == 1:
            return Reply([f'+QIDNSCFG: {ctx.context_id},"{ctx.dns[0]}","{ctx.dns[1]}"'])
        primary = ipv4_literal(_str(call.params, 1))
        secondary = ipv4_literal(_str(call.params, 2)) if n == 3 else "0.0.0.0"
        if primary is None or secondary is None:
            raise CmdError(552)
        self._require_active(ctx)  # §2.1.13: activate the context first
        injected = self._take_injection("+QIDNSCFG")
        if injected:
            raise CmdError(injected)
        ctx.dns = [primary, secondary]
        ctx.dns_from_network = False
        return Reply()

    def _at_qidnsgip(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([f"+QIDNSGIP: {self._range('context_id_min', 'context_id_max')},<hostname>"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 2)
        ctx = self._context(self._context_id(call))
        hostname = _str(call.params, 1, empty=False)
        self._require_active(ctx)
        if ctx.dns_query is not None:
            raise CmdError(564)
        injected = self._take_injection("+QIDNSGIP")
        if injected:
            self.loop.call_soon(self._cb(lambda: self._dnsgip_result(injected, [], 0)))
            return Reply()

        def on_done(err: int, addresses: list[str], ttl: int) -> None:
            ctx.dns_query = None
            self._dnsgip_result(err, addresses, ttl)

        ctx.dns_query = DnsQuery(self.loop, ctx.dns, self.config.dns_port, hostname, self.config.dns_timeout_s,
                                 self._cb(on_done))
        ctx.dns_query.start()
        return Reply()

    def _dnsgip_result(self, err: int, addresses: list[str], ttl: int) -> None:
        self.last_error = err
        if err:
            self.urc(f'+QIURC: "dnsgip",{err}')
            return
        self.urc(f'+QIURC: "dnsgip",0,{len(addresses)},{ttl}')
        for address in addresses:
            self.urc(f'+QIURC: "dnsgip","{address}"')

    # -- configuration (§2.1.15-2.1.17) --------------------------------------------------------------------------

    def _at_qicfg(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply([
                f'+QICFG: "transpktsize",({self.limits["transpktsize_min"]}-{self.limits["transpktsize_max"]})',
                f'+QICFG: "transwaittm",(0-{self.limits["transwaittm_max"]})',
                '+QICFG: "dataformat",(0,1),(0,1)',
                '+QICFG: "viewmode",(0,1)',
                f'+QICFG: "tcp/retranscfg",({RETRANS_BACKOFFS[0]}-{RETRANS_BACKOFFS[1]}),'
                f"({RETRANS_RTO[0]}-{RETRANS_RTO[1]})",
            ])
        if call.kind != "write":
            raise CmdError(552)
        key = _str(call.params, 0).lower()
        n = len(call.params)
        injected = self._take_injection("+QICFG")
        if injected:
            raise CmdError(injected)
        if key == "transpktsize":
            _count(call, 1, 2)
            if n == 2:
                self.transpktsize = _int(call.params, 1, self.limits["transpktsize_min"],
                                         self.limits["transpktsize_max"])
                return Reply()
            return Reply([f'+QICFG: "transpktsize",{self.transpktsize}'])
        if key == "transwaittm":
            _count(call, 1, 2)
            if n == 2:
                self.transwaittm = _int(call.params, 1, 0, self.limits["transwaittm_max"])
                return Reply()
            return Reply([f'+QICFG: "transwaittm",{self.transwaittm}'])
        if key == "dataformat":
            _count(call, 1, 3)
            if n == 3:
                self.send_data_format = _int(call.params, 1, 0, 1)
                self.recv_data_format = _int(call.params, 2, 0, 1)
                return Reply()
            return Reply([f'+QICFG: "dataformat",{self.send_data_format},{self.recv_data_format}'])
        if key == "viewmode":
            _count(call, 1, 2)
            if n == 2:
                self.view_mode = _int(call.params, 1, 0, 1)
                return Reply()
            return Reply([f'+QICFG: "viewmode",{self.view_mode}'])
        if key == "tcp/retranscfg":
            _count(call, 1, 3)
            if n == 3:
                backoffs = _int(call.params, 1, RETRANS_BACKOFFS[0], RETRANS_BACKOFFS[1])
                rto = _int(call.params, 2, RETRANS_RTO[0], RETRANS_RTO[1])
                self.max_backoffs, self.max_rto = backoffs, rto
                for svc in self.services.values():  # §2.1.15 note: it takes effect on all TCP sockets
                    if svc.is_tcp and svc.sock is not None:
                        self._apply_retransmission(svc.sock)
                return Reply()
            return Reply([f'+QICFG: "tcp/retranscfg",{self.max_backoffs},{self.max_rto}'])
        raise CmdError(552)

    def _at_qisde(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply(["+QISDE: (0,1)"])
        if call.kind == "read":
            return Reply([f"+QISDE: {self.qisde}"])
        if call.kind != "write":
            raise CmdError(552)
        _count(call, 1)
        self.qisde = _int(call.params, 0, 0, 1)
        return Reply()

    def _at_qigeterror(self, call: Call) -> Reply:
        if call.kind == "test":
            return Reply()
        if call.kind != "exec":
            raise CmdError(None)
        # §3.9 shows the description after a comma and a space, in lower case
        return Reply([f"+QIGETERROR: {self.last_error}, {self._meaning(self.last_error)}"])

    # -- socket interest, after every loop iteration ---------------------------------------------------------------

    def _refresh_interest(self) -> None:
        for svc in list(self.services.values()):
            if svc.sock is None or svc.closing_command:
                continue
            on_read: Callable[[], None] | None = None
            on_write: Callable[[], None] | None = None
            if svc.connecting:
                on_write = self._cb(lambda s=svc: self._on_connect_writable(s))
            else:
                if svc.state in (CONNECTED, LISTENING) and self._wants_input(svc):
                    on_read = self._cb(lambda s=svc: self._on_readable(s))
                if svc.send_pending and svc.close_reason is None:
                    on_write = self._cb(lambda s=svc: self._on_writable(s))
            self.loop.watch(svc.sock, on_read=on_read, on_write=on_write)
        data_svc = self.data_service
        self.port.set_input_paused(data_svc is not None and len(data_svc.send_pending) > SEND_HIGH_WATER)

    def _wants_input(self, svc: Service) -> bool:
        if svc.service_type == LISTENER:
            return True
        if svc is self.data_service:
            return self.port.pending_output() < OUTPUT_HIGH_WATER
        if svc.access_mode == PUSH:
            # pushed data waits in the kernel while a prompt owns the port, or while the host is not reading
            return not self.urcs_held() and self.port.pending_output() < OUTPUT_HIGH_WATER
        return self._buffered(svc) < self.config.recv_buffer_bytes

    # -- control channel -----------------------------------------------------------------------------------------

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
        if not isinstance(context, int) or context not in self.contexts:
            raise ControlError("context must be a context ID")
        ctx = self.contexts[context]
        if not ctx.active:
            raise ControlError(f"context {context} is not activated")
        ctx.active = False
        ctx.broken = True
        for svc in [s for s in self.services.values() if s.context_id == context]:
            if svc is self.data_service:
                self._leave_data_mode("NO CARRIER", flush=False)
            if svc.state == OPENING:
                self._drop_service(svc)
                if svc.transparent_open:
                    self.finish_error(570)
                else:
                    self._report_open(svc.connect_id, 570)
                continue
            self._close_socket(svc)
            svc.state = CLOSING
            svc.close_reason = "pdp"
            if svc.closing_command:
                svc.closing_command = False
                self._close_done(svc, force=False)
        self.urc(f'+QIURC: "pdpdeact",{context}')

    def _control_reboot(self) -> None:
        self.shutdown()
        self.clear_input()
        self.port.discard_output()
        self._power_on()
        # ASSUMPTION: the start-up indications come at once, and the module answers AT right after them
        for line in STARTUP_URCS:
            self.emit(b"\r\n" + line.encode() + b"\r\n")

    def _control_inject_error(self, command: Any, code: Any) -> dict[str, Any]:
        if not isinstance(command, str):
            raise ControlError("command must be a string such as \"+QIOPEN\"")
        name = command.strip().upper()
        if name.startswith("AT"):
            name = name[2:]
        if not name.startswith("+"):
            name = "+" + name
        if name not in TCPIP_COMMANDS:
            raise ControlError(f"{command!r} is not a TCP/IP command of this module: {sorted(TCPIP_COMMANDS)}")
        code = self._error_code(code)
        if code is None:
            raise ControlError("code must be an error code of the table")
        self.injected[name] = code
        return {"command": name, "code": code}

    def _control_reject_activation(self, code: Any = 561) -> dict[str, Any]:
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
        if "dns_servers" in values:
            for ctx in self.contexts.values():
                if ctx.active and ctx.dns_from_network:
                    ctx.dns = self._network_dns()
        return {"config": self.config.as_dict()}

    def _control_state(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect.name,
            "mode": self.mode.value,
            "busy": self.busy,
            "data_connect_id": self.data_service.connect_id if self.data_service else None,
            "last_transparent": self.last_transparent,
            "echo": self.echo,
            "verbose": self.verbose,
            "cmee": self.cmee,
            "and_d": self.and_d,
            "dtr": self.dtr,
            "rts": self.rts,
            "qisde": self.qisde,
            "last_error": self.last_error,
            "qicfg": {"transpktsize": self.transpktsize, "transwaittm": self.transwaittm,
                      "dataformat": [self.send_data_format, self.recv_data_format], "viewmode": self.view_mode,
                      "tcp/retranscfg": [self.max_backoffs, self.max_rto]},
            "contexts": [
                {"context_id": c.context_id, "configured": c.configured, "active": c.active, "broken": c.broken,
                 "context_type": c.context_type, "apn": c.apn, "dns": c.dns}
                for c in self.contexts.values() if c.configured or c.active or c.broken
            ],
            "sockets": [self._service_state(s) for s in sorted(self.services.values(), key=lambda s: s.connect_id)],
            "injected": dict(self.injected),
            "reject_activation": self.reject_activation,
            "config": self.config.as_dict(),
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
            "unacked_bytes": ((_siocoutq(svc.sock) if svc.sock is not None else 0) + len(svc.send_pending)),
            "total_receive_length": svc.total_received,
            "have_read_length": svc.have_read,
            "unread_length": svc.unread,
            "close_reason": svc.close_reason,
        }
