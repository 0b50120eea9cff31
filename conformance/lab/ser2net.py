"""ser2net for a lab: the configuration this suite wants in front of a module, and running ser2net 4 with it.

The settings that matter (docs/lab.md explains each):

- accepter ``telnet(rfc2217),tcp(nodelay),...``: RFC 2217, so baud rate and DTR/RTS cross the network; ``nodelay``,
  so a 4-byte ``OK`` is not held back by Nagle's algorithm waiting for the ACK of the echo before it (a 40 ms stall
  per exchange with Linux's delayed ACK);
- ``chardelay: false``: ser2net sends what the module said at once instead of waiting for more (1 ms at least);
- ``kickolduser: true``: a test run that died without closing its connection does not hold the module;
- connector ``serialdev,/dev/ttyUSB2,115200n81,local``: a module's UART; for a simulated module, the simulator's
  own RFC 2217 endpoint (:mod:`conformance.lab.rfc2217_endpoint`) through ``telnet(rfc2217),tcp(nodelay),...``, so
  DTR/RTS reach it (a pty has no modem lines).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = [
    "LAB_OPTIONS",
    "Ser2net",
    "Ser2netConnection",
    "Ser2netError",
    "find_ser2net",
    "render_config",
    "ser2net_version",
    "serial_connector",
]

LAB_OPTIONS: dict[str, object] = {"kickolduser": True, "chardelay": False}
START_TIMEOUT_S = 10.0  # ser2net listens within milliseconds; a machine under load may take longer
_LISTEN_POLL_S = 0.02  # nothing announces that ser2net listens: its ports are looked for in /proc/net/tcp


class Ser2netError(RuntimeError):
    """ser2net is missing, refused its configuration, or did not listen in time."""


@dataclass
class Ser2netConnection:
    """One ser2net connection: where the host connects (``accepter``) and what it reaches (``connector``)."""

    name: str
    port: int
    connector: str
    host: str = "0.0.0.0"
    rfc2217: bool = True  # False: raw TCP (socket://), bytes only
    options: dict[str, object] = field(default_factory=lambda: dict(LAB_OPTIONS))

    @property
    def accepter(self) -> str:
        stack = "telnet(rfc2217),tcp(nodelay)" if self.rfc2217 else "tcp(nodelay)"
        return f"{stack},{self.host},{self.port}"

    def url(self, host: str | None = None) -> str:
        """The pyserial URL a host opens to reach this connection."""
        scheme = "rfc2217" if self.rfc2217 else "socket"
        return f"{scheme}://{host or self.host}:{self.port}"


def serial_connector(device: str, baud: int = 115200) -> str:
    """The connector of a module's UART: 8N1, modem status lines not required (``local``)."""
    return f"serialdev,{device},{baud}n81,local"


def render_config(connections: list[Ser2netConnection]) -> str:
    """A ser2net 4 YAML configuration holding ``connections``."""
    docs = []
    for c in connections:
        body = {"accepter": c.accepter, "connector": c.connector, "options": c.options}
        text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
        docs.append(f"connection: &{c.name}\n" + "".join(f"  {line}\n" for line in text.splitlines()))
    return "%YAML 1.1\n---\n" + "\n".join(docs)


def find_ser2net() -> str | None:
    """The ser2net program, or None (Debian's package installs it in /usr/sbin, off a normal user's PATH)."""
    return shutil.which("ser2net") or next((p for p in ("/usr/sbin/ser2net", "/usr/local/sbin/ser2net")
                                            if Path(p).is_file()), None)


def ser2net_version(program: str) -> tuple[int, ...]:
    """``ser2net -v`` as numbers (4, 3, 11)."""
    out = subprocess.run([program, "-v"], capture_output=True, text=True, timeout=10).stdout
    digits = out.strip().rsplit(" ", 1)[-1]
    try:
        return tuple(int(x) for x in digits.split("."))
    except ValueError:
        raise Ser2netError(f"{program} -v said {out.strip()!r}, not a version") from None


class Ser2net:
    """A ser2net process serving ``connections`` until :meth:`close` (a context manager)."""

    def __init__(self, connections: list[Ser2netConnection], *, program: str | None = None) -> None:
        found = program or find_ser2net()
        if found is None:
            raise Ser2netError("ser2net is not installed (Debian: apt-get install ser2net)")
        if ser2net_version(found) < (4, 0):
            raise Ser2netError(f"{found} is older than ser2net 4 (YAML configuration)")
        self.program = found
        self.connections = connections
        self._dir = tempfile.TemporaryDirectory(prefix="conformance-ser2net-")
        self.config_path = Path(self._dir.name) / "ser2net.yaml"
        self.config_path.write_text(render_config(connections), encoding="utf-8")
        self.log_path = Path(self._dir.name) / "ser2net.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Ser2net:
        """Start ser2net (in the foreground, ``-n -d``) and wait until every accepter listens."""
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [self.program, "-n", "-d", "-c", str(self.config_path), "-P", str(Path(self._dir.name) / "pid")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        wanted = {c.port for c in self.connections}
        while True:
            if self._proc.poll() is not None:
                raise Ser2netError(f"ser2net exited with status {self._proc.returncode}: {self.log()}")
            missing = wanted - _listening_ports()
            if not missing:
                return self
            if time.monotonic() > deadline:
                self.close()
                raise Ser2netError(f"ser2net did not listen on {sorted(missing)} within {timeout_s:g} s: {self.log()}")
            time.sleep(_LISTEN_POLL_S)

    def alive(self) -> bool:
        """True while the ser2net process runs."""
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        """What ser2net said so far (its complaints about the configuration, mostly)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._dir.cleanup()

    def __enter__(self) -> Ser2net:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _listening_ports() -> set[int]:
    """TCP ports something listens on (IPv4 and IPv6), from /proc/net/tcp*."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
