"""Network faults: what the network does to the traffic between the module and a peer, and the ``net`` target.

Two backends produce them. In the suite's own network (:mod:`.topology`) they are ``nft`` rules in a ``netdev``
table on the peers' end of the veth pair: the ``ingress`` chain sees what the module sends, the ``egress`` chain
what the peers send, and a drop there is a packet lost on the wire (no socket on either side is told). On a real
bench they go through the documented hook ``--fault-cmd`` (:class:`CommandFaults`).

Directions are named from the module's side: ``drop_out`` loses what the module sends, ``drop_in`` what it would
receive.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from conformance.errors import ActionFailed

from .namespaces import NetnsError, run

__all__ = [
    "FAULT_KINDS",
    "CommandFaults",
    "Endpoint",
    "Fault",
    "FaultBackend",
    "HasEndpoints",
    "NetTarget",
    "NftFaults",
    "endpoints_of",
]

log = logging.getLogger(__name__)

FAULT_KINDS = ("blackhole", "refuse", "reset", "drop_in", "drop_out")
ALL_PEERS = "all"  # `! net blackhole all`: every packet between the module and the peers' address


@dataclass(frozen=True)
class Endpoint:
    """The peer's side of some traffic: protocol (``tcp``, ``udp``, ``icmp`` or ``ip``), address, port (0: any)."""

    proto: str
    host: str
    port: int = 0

    def __str__(self) -> str:
        return f"{self.proto} {self.host}:{self.port}" if self.port else f"{self.proto} {self.host}"


@runtime_checkable
class HasEndpoints(Protocol):
    """A target whose traffic a fault can select (every peer is one)."""

    def endpoints(self) -> Sequence[Endpoint]: ...


@dataclass(frozen=True)
class Fault:
    """One fault in place: its kind, the capability name it was applied to, and the traffic it selects."""

    kind: str
    peer: str
    endpoints: tuple[Endpoint, ...]


class FaultBackend(Protocol):
    """Something that can put faults in place and take them away."""

    def install(self, fault: Fault, active: Sequence[Fault]) -> None:
        """Put ``fault`` in place; ``active`` is every fault in place afterwards, ``fault`` included."""

    def remove(self, fault: Fault, active: Sequence[Fault]) -> None:
        """Take ``fault`` away; ``active`` is what stays in place."""

    def close(self) -> None:
        """Take everything away for good."""


def endpoints_of(name: str, target: object) -> tuple[Endpoint, ...]:
    """The traffic of a target: its ``endpoints()``, else one endpoint from its ``transport``/``host``/``port``."""
    if isinstance(target, HasEndpoints):
        return tuple(target.endpoints())
    host = getattr(target, "host", None)
    if not isinstance(host, str):
        raise ActionFailed(f"net: {name} has no address a fault could select")
    return (Endpoint(str(getattr(target, "transport", "ip")), host, int(getattr(target, "port", 0) or 0)),)


# ---------------------------------------------------------------------------------------------------------- nft


class NftFaults:
    """Faults as rules of an nft ``netdev`` table on the peers' veth end, inside the peers' namespace.

    The table goes away with the namespace, so a killed run leaves no rule behind in any namespace that outlives it.
    Every change rewrites both chains in one ``nft -f`` transaction, so no packet sees half a change.
    """

    def __init__(self, netns: str, device: str, table: str) -> None:
        self.netns = netns
        self.device = device
        self.table = table
        self._egress_family = "netdev"
        spec = (f'table netdev {table} {{\n'
                f'  chain ingress {{ type filter hook ingress device "{device}" priority 0; policy accept; }}\n')
        try:
            self._nft(spec + f'  chain egress {{ type filter hook egress device "{device}" priority 0; '
                             'policy accept; }\n}\n')
        except NetnsError as exc:
            # kernels before 5.16 have no egress hook: the output hook loses the peers' packets almost as well
            log.info("no netdev egress hook (%s); dropping the peers' packets at inet output", exc)
            self._egress_family = "inet"
            self._nft(spec + "}\n" + f"table inet {table} {{\n"
                      "  chain egress { type filter hook output priority 0; policy accept; }\n}\n")
        self.render(())

    def _nft(self, script: str) -> None:
        run(["nft", "-f", "-"], stdin=script, netns=self.netns)

    def render(self, active: Sequence[Fault]) -> None:
        """Replace the table's rules by those of ``active``, atomically."""
        t = self.table
        lines = [f"flush chain netdev {t} ingress", f"flush chain {self._egress_family} {t} egress"]
        for fault in active:
            for ep in fault.endpoints:
                for chain, rule in _rules(fault.kind, ep):
                    family = "netdev" if chain == "ingress" else self._egress_family
                    lines.append(f"add rule {family} {t} {chain} {rule}")
        self._nft("\n".join(lines) + "\n")

    def install(self, fault: Fault, active: Sequence[Fault]) -> None:
        """See :class:`FaultBackend`."""
        self.render(active)

    def remove(self, fault: Fault, active: Sequence[Fault]) -> None:
        """See :class:`FaultBackend`."""
        self.render(active)

    def close(self) -> None:
        """Delete the table (a namespace already gone took it along)."""
        for family in {"netdev", self._egress_family}:
            try:
                run(["nft", "delete", "table", family, self.table], netns=self.netns)
            except NetnsError as exc:
                log.debug("nft table %s %s: %s", family, self.table, exc)

    def ruleset(self) -> str:
        """The peers' namespace ruleset as nft prints it (for diagnostics)."""
        return run(["nft", "list", "ruleset"], netns=self.netns)


def _match(ep: Endpoint, *, towards_peer: bool) -> str:
    addr = f"ip daddr {ep.host}" if towards_peer else f"ip saddr {ep.host}"
    if ep.proto in ("tcp", "udp"):
        port = f" {ep.proto} {'dport' if towards_peer else 'sport'} {ep.port}" if ep.port else \
            f" ip protocol {ep.proto}"
        return addr + port
    if ep.proto == "icmp":
        return addr + " ip protocol icmp"
    return addr


def _refusal(ep: Endpoint) -> list[str]:
    if ep.proto == "tcp":
        return [f"{_match(ep, towards_peer=True)} reject with tcp reset"]
    if ep.proto == "udp":
        return [f"{_match(ep, towards_peer=True)} reject with icmp type port-unreachable"]
    if ep.proto == "icmp":
        return [f"{_match(ep, towards_peer=True)} reject with icmp type host-unreachable"]
    # the whole address: TCP gets a reset, everything else "port unreachable", as from a host with no services
    return [f"ip daddr {ep.host} ip protocol tcp reject with tcp reset",
            f"ip daddr {ep.host} reject with icmp type port-unreachable"]


def _rules(kind: str, ep: Endpoint) -> list[tuple[str, str]]:
    """(chain, rule) pairs for one fault on one endpoint; ``ingress`` is module->peer, ``egress`` peer->module."""
    if kind == "blackhole":
        return [("ingress", f"{_match(ep, towards_peer=True)} drop"),
                ("egress", f"{_match(ep, towards_peer=False)} drop")]
    if kind == "drop_out":
        return [("ingress", f"{_match(ep, towards_peer=True)} drop")]
    if kind == "drop_in":
        return [("egress", f"{_match(ep, towards_peer=False)} drop")]
    if kind == "refuse":
        return [("ingress", rule) for rule in _refusal(ep)]
    if kind == "reset":
        # every segment the module sends on the connection is answered by a reset; the peer's keepalive probe
        # (see NetTarget) makes the module send one at once
        tcp = Endpoint("tcp", ep.host, ep.port if ep.proto == "tcp" else 0)
        return [("ingress", f"{_match(tcp, towards_peer=True)} reject with tcp reset")]
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------- --fault-cmd hook


class CommandFaults:
    """Faults on a real bench, through the hook given as ``--fault-cmd``.

    The hook is run as ``CMD <kind> <host> <port> <proto>`` to put a fault in place (kind one of
    :data:`FAULT_KINDS`; host and port name the peer's side, port 0 meaning every port; proto ``tcp``, ``udp``,
    ``icmp`` or ``ip``), as ``CMD restore <host> <port> <proto>`` to take one away and as ``CMD restore`` to take
    all away. Exit status 0 means done; anything else fails the action with the hook's output.
    """

    def __init__(self, command: str, *, timeout: float = 60.0) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("empty --fault-cmd")
        self.timeout = timeout

    def _run(self, *args: str) -> None:
        argv = [*self.argv, *args]
        log.info("fault hook: %s", shlex.join(argv))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ActionFailed(f"net: fault hook {shlex.join(argv)} failed: {exc}") from exc
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()
            raise ActionFailed(f"net: fault hook {shlex.join(argv)} exited {done.returncode}: {output}")

    def install(self, fault: Fault, active: Sequence[Fault]) -> None:
        """See :class:`FaultBackend`."""
        for ep in fault.endpoints:
            self._run(fault.kind, ep.host, str(ep.port), ep.proto)

    def remove(self, fault: Fault, active: Sequence[Fault]) -> None:
        """See :class:`FaultBackend`."""
        for ep in fault.endpoints:
            self._run("restore", ep.host, str(ep.port), ep.proto)

    def close(self) -> None:
        """Run ``CMD restore``."""
        self._run("restore")


# ---------------------------------------------------------------------------------------------------- net target


class NetTarget:
    """The ``net`` target of transcripts: ``! net blackhole tcp_sink`` ... ``! net restore``.

    Verbs (``<peer>`` is a capability name listed in the case's ``needs:``, or ``all``; several may follow a verb):

    - ``blackhole <peer>``: lose every packet both ways (TCP data the module sends stays unacknowledged)
    - ``refuse <peer>``: answer what the module sends with a TCP reset / ICMP port unreachable
    - ``reset <peer>``: reset the module's established TCP connections with the peer (within ~1 s, unprompted)
    - ``drop_out <peer>``: lose what the module sends to the peer; ``drop_in <peer>``: lose what the peer sends
    - ``restore [<peer>]``: take that peer's faults away, or all faults
    """

    capability = "net"

    def __init__(self, backend: FaultBackend, *, peer_host: str) -> None:
        self.backend = backend
        self.host = peer_host
        self.port = 0
        self._active: list[Fault] = []

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The faults in place, oldest first."""
        return tuple(self._active)

    def perform(self, verb: str, args: Sequence[object], *, deadline: float,
                context: Mapping[str, object]) -> str | None:
        """Do one transcript action (see the class docstring); raise :class:`ActionFailed` when it cannot be done."""
        names = [_word(a) for a in args]
        if verb == "restore":
            return self.restore(names)
        if verb not in FAULT_KINDS:
            raise ActionFailed(f"net: unknown verb {verb!r}; known: {', '.join((*FAULT_KINDS, 'restore'))}")
        if not names:
            raise ActionFailed(f"net {verb}: name the peer, e.g. `! net {verb} tcp_sink`")
        notes = [self.apply(verb, name, context) for name in names]
        return "; ".join(notes)

    def apply(self, kind: str, name: str, context: Mapping[str, object]) -> str:
        """Put fault ``kind`` on the traffic of the target called ``name`` in ``context`` (or ``all``)."""
        if name == ALL_PEERS:
            target: object | None = None
            endpoints: tuple[Endpoint, ...] = (Endpoint("ip", self.host),)
        else:
            target = context.get(name)
            if target is None:
                raise ActionFailed(f"net {kind}: no target {name!r} in this case (list it under needs:); "
                                   f"known: {', '.join(sorted(context)) or 'none'}")
            endpoints = endpoints_of(name, target)
        if kind == "reset":
            endpoints = tuple(ep for ep in endpoints if ep.proto in ("tcp", "ip"))
            if not endpoints:
                raise ActionFailed(f"net reset: {name} has no TCP traffic to reset")
        if not endpoints:
            raise ActionFailed(f"net {kind}: {name} has no traffic yet (e.g. dial_in before connect)")
        fault = Fault(kind, name, endpoints)
        if fault in self._active:
            return f"{kind} {name}: already in place"
        self._active.append(fault)
        try:
            self.backend.install(fault, tuple(self._active))
        except NetnsError as exc:
            self._active.remove(fault)
            raise ActionFailed(f"net {kind} {name}: {exc}") from exc
        except ActionFailed:
            self._active.remove(fault)
            raise
        if kind == "reset" and target is not None:
            nudge = getattr(target, "provoke_segment", None)
            if callable(nudge):
                nudge()
        return f"{kind} {name} ({', '.join(map(str, endpoints))})"

    def restore(self, names: Sequence[str] = ()) -> str:
        """Take away the faults on the named peers, or all faults when no name is given."""
        gone = [f for f in self._active if not names or f.peer in names]
        for fault in gone:
            self._active.remove(fault)
            try:
                self.backend.remove(fault, tuple(self._active))
            except NetnsError as exc:
                raise ActionFailed(f"net restore {fault.peer}: {exc}") from exc
        return f"restored {', '.join(f'{f.kind} {f.peer}' for f in gone) or 'nothing'}"

    def restore_all(self) -> None:
        """End of a case: every fault away, whatever happened (errors are logged, not raised)."""
        try:
            self.restore()
        except ActionFailed as exc:
            log.error("%s", exc)
            self._active.clear()


def _word(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)
