"""Pytest glue for network peers and faults: the options of group "conformance peers", the session's ``network``, and
one fixture per capability name a case may list under ``needs:``.

Each capability fixture (function scope) returns a target object for transcript actions (``.host``, ``.port``,
``.perform(verb, args, deadline=, context=)``), whose recording starts empty with the case, or skips the case with
``"<capability>: <why>"``. The peers themselves live for the session; faults are taken away after every case.

Where the peers run (see ``docs/peers.md``):

- simulated module, and the run may create network namespaces (privilege and the ``ip`` program): the simulator runs
  in a namespace of its own, the peers in a second one, joined by a veth pair (:mod:`conformance.network.topology`);
  faults available when the ``nft`` program is there too;
- simulated module otherwise: everything on 127.0.0.1; no faults;
- real module: peers on this host (``--peer-bind``/``--peer-advertise``) or on another host (``--peer-remote``);
  faults only through ``--fault-cmd``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.network.faults import CommandFaults, FaultBackend, NetTarget, NftFaults
from conformance.network.namespaces import NetnsError
from conformance.network.requirements import (
    NFT,
    NO_PRIVILEGE,
    fault_problems,
    may_admin_network,
    missing_program,
    namespace_problems,
)
from conformance.network.topology import DEFAULT_PLAN, Topology
from conformance.peers.factory import PEER_CAPABILITIES, PeerSite, start_peer
from conformance.peers.remote import RemoteError, RemotePeers, load_token

__all__ = [
    "CAPABILITIES",
    "FAULT_CAPABILITIES",
    "LOOPBACK",
    "PEER_CAPABILITY_NAMES",
    "Bench",
    "Network",
    "build_network",
    "may_admin_network",
    "pytest_addoption",
]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
NO_NETNS = NO_PRIVILEGE  # the reason when the privilege alone is missing

PEER_CAPABILITY_NAMES = tuple(PEER_CAPABILITIES)
FAULT_CAPABILITIES: dict[str, str] = {
    "net_blackhole": "the network loses every packet between the module and a peer (net blackhole)",
    "net_refuse": "the network refuses a peer's port: TCP reset, ICMP port unreachable (net refuse)",
    "net_reset": "the network resets the module's established TCP connections to a peer (net reset)",
    "net_oneway": "the network loses one direction only (net drop_in / net drop_out)",
}
CAPABILITIES: dict[str, str] = {
    **{name: about for name, (about, _) in PEER_CAPABILITIES.items()},
    **FAULT_CAPABILITIES,
    "net": "the fault target itself (any net_* verb the bench can do)",
}


# ------------------------------------------------------------------------------------------------------ options


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of the group "conformance peers"."""
    group = parser.getgroup("conformance peers", "network peers and network faults (docs/peers.md)")
    group.addoption("--peer-bind", metavar="ADDR",
                    help="real bench: run the peers on this host, bound to ADDR (e.g. --peer-bind 0.0.0.0)")
    group.addoption("--peer-advertise", metavar="HOST",
                    help="the address the module dials to reach the peers, put in the fixtures' .host "
                         "(e.g. --peer-advertise 203.0.113.7; default: the --peer-bind address)")
    group.addoption("--peer-remote", metavar="HOST:PORT",
                    help="real bench: use the peers of `conformance peers serve` on another host "
                         "(e.g. --peer-remote peers.example.net:7421)")
    group.addoption("--peer-token-file", metavar="F",
                    help="file with the token shared with `conformance peers serve` (e.g. --peer-token-file "
                         "~/.config/conformance/peers.token)")
    group.addoption("--fault-cmd", metavar="CMD",
                    help="real bench: hook that makes network faults, run as `CMD blackhole|refuse|reset|drop_in|"
                         "drop_out <host> <port> <proto>` and `CMD restore [<host> <port> <proto>]` "
                         "(e.g. --fault-cmd 'ssh gw /usr/local/bin/netfault')")
    group.addoption("--peer-netns", choices=("auto", "off"), default="auto",
                    help="simulated module: run it and the peers in network namespaces of their own when "
                         "permitted (auto, the default) or on 127.0.0.1 without faults (off)")
    group.addoption("--module-ip", metavar="ADDR",
                    help="real bench: the module's address, dialled by dial_in and udp_sender when a case names "
                         "none (e.g. --module-ip 10.7.157.1)")
    group.addoption("--bench-lacks", action="append", default=[], metavar="CAP[,CAP]",
                    help="capabilities this bench does not provide although it could seem to, e.g. "
                         "--bench-lacks dial_in,udp_sender behind carrier NAT; their cases skip")


def _option(config: pytest.Config, name: str) -> Any:
    return config.getoption(name, default=None)  # None when the plugin was registered after option parsing


# ------------------------------------------------------------------------------------------------------ network


@dataclass
class Network:
    """The network between the module and its peers, as the session set it up.

    ``module_netns``: namespace the simulator must run in (None: the caller's); ``module_ip``: the module's own
    address (AT+QIACT? reports it); ``peer_host``: the address the module dials to reach the peers;
    ``privileged``: namespaces could be made; ``reason``: why there are none.
    """

    module_netns: str | None
    module_ip: str
    peer_host: str
    privileged: bool
    reason: str
    mode: str = "loopback"  # netns | loopback | local (real bench, peers here) | remote | unreachable
    peer_netns: str | None = None
    peer_bind: str = LOOPBACK
    topology: Topology | None = None
    fault_reason: str = ""  # why no fault can be made ("" when faults are available)
    _nft: NftFaults | None = field(default=None, repr=False)

    def fault_backend(self) -> NftFaults | None:
        """The nft backend of the suite's own network, created on first use.

        None outside namespaces, without the nft program, or when nft cannot make the table here (a kernel without
        nf_tables): ``fault_reason`` then says why, and the fault capabilities skip with it.
        """
        if self._nft is None and self.topology is not None and not self.fault_reason:
            t = self.topology
            try:
                self._nft = NftFaults(t.peer_netns, t.peer_if, t.nft_table)
            except NetnsError as exc:
                self.fault_reason = f"nft cannot make rules in the peers' namespace ({exc})"
                log.warning("no network faults: %s", self.fault_reason)
        return self._nft

    def close(self) -> None:
        """Remove rules and namespaces."""
        if self._nft is not None:
            self._nft.close()
            self._nft = None
        if self.topology is not None:
            self.topology.down()


def _module_is_simulated(config: pytest.Config) -> bool:
    modem = _option(config, "modem")  # the core plugin's --modem; absent or sim:<dialect> means simulated
    return modem is None or str(modem).startswith("sim:")


def build_network(config: pytest.Config) -> Network:
    """Set up the session's network from the options (see the module docstring)."""
    remote, bind = _option(config, "peer_remote"), _option(config, "peer_bind")
    advertise, module_ip = _option(config, "peer_advertise"), _option(config, "module_ip") or ""
    admin = may_admin_network()
    no_faults = "faults on a network the suite does not own need a hook: --fault-cmd"
    if remote or bind:
        if bind in ("0.0.0.0", "::") and not advertise and not remote:
            raise pytest.UsageError("--peer-bind with a wildcard address needs --peer-advertise HOST")
        host = advertise or (bind if bind else remote.rpartition(":")[0].strip("[]"))
        return Network(None, module_ip, host, admin, "the peers are on a real network (--peer-bind/--peer-remote)",
                       mode="remote" if remote else "local", peer_bind=bind or "", fault_reason=no_faults)
    if not _module_is_simulated(config):
        why = "a real module cannot reach peers on this host's loopback: give --peer-bind/--peer-advertise or " \
              "--peer-remote"
        return Network(None, module_ip, LOOPBACK, admin, why, mode="unreachable", fault_reason=no_faults)
    if _option(config, "peer_netns") == "off":
        why = "network namespaces are off (--peer-netns=off)"
        return Network(None, LOOPBACK, LOOPBACK, admin, why, fault_reason=why)
    problems = namespace_problems(privileged=admin)
    if problems:  # each missing piece (privilege, ip, nft) is named, so one look tells everything to fix
        return Network(None, LOOPBACK, LOOPBACK, False, "; ".join(problems),
                       fault_reason="; ".join(fault_problems(privileged=admin)))
    topology = Topology(DEFAULT_PLAN)
    try:
        topology.up()
    except NetnsError as exc:
        why = f"could not create a network namespace here ({exc})"
        log.warning("no network namespaces: %s", exc)
        return Network(None, LOOPBACK, LOOPBACK, False, why,
                       fault_reason="; ".join([why, *fault_problems(privileged=admin)]))
    plan = topology.plan
    return Network(topology.module_netns, plan.module_ip, plan.peer_ip, True, "", mode="netns",
                   peer_netns=topology.peer_netns, peer_bind=plan.peer_ip, topology=topology,
                   fault_reason=missing_program(NFT) or "")


# -------------------------------------------------------------------------------------------------------- bench


class Bench:
    """What this bench provides: a reason for every capability it lacks, and the targets of those it has."""

    def __init__(self, config: pytest.Config, network: Network) -> None:
        self.config = config
        self.network = network
        self.lacks = {c.strip() for item in _option(config, "bench_lacks") or [] for c in item.split(",") if c}
        self._targets: dict[str, Any] = {}
        self._remote: RemotePeers | None = None
        self._net: NetTarget | None = None
        self._backend: FaultBackend | None = None
        self._fault_cmd = _option(config, "fault_cmd")

    def missing(self, capability: str) -> str | None:
        """Why the bench cannot provide ``capability``, or None when it can."""
        if capability in self.lacks:
            return "this bench declares it lacks it (--bench-lacks)"
        if capability in PEER_CAPABILITIES:
            return self.network.reason if self.network.mode == "unreachable" else None
        if capability in FAULT_CAPABILITIES or capability == "net":
            if self._fault_cmd or self.network.fault_backend() is not None:
                return None
            return self.network.fault_reason or "no way to make network faults here"
        return f"no peer or fault is called so (known: {', '.join(CAPABILITIES)})"

    def provides(self) -> dict[str, str | None]:
        """Every capability name with the reason it is missing (None: provided)."""
        return {name: self.missing(name) for name in CAPABILITIES}

    def site(self) -> PeerSite:
        """Where local peers run."""
        n = self.network
        return PeerSite(bind=n.peer_bind or n.peer_host, advertise=n.peer_host, netns=n.peer_netns,
                        module_host=n.module_ip)

    def target(self, capability: str) -> Any:
        """The session's peer behind ``capability``, started on first use."""
        if capability not in self._targets:
            if self.network.mode == "remote":
                self._targets[capability] = self._remote_peers().start(capability,
                                                                       module_host=self.network.module_ip)
            else:
                self._targets[capability] = start_peer(capability, self.site())
        return self._targets[capability]

    def _remote_peers(self) -> RemotePeers:
        if self._remote is None:
            token_file = _option(self.config, "peer_token_file")
            if not token_file:
                raise pytest.UsageError("--peer-remote needs --peer-token-file")
            try:
                self._remote = RemotePeers(_option(self.config, "peer_remote"), load_token(token_file),
                                           advertise=_option(self.config, "peer_advertise")).connect()
            except (OSError, RemoteError) as exc:
                raise pytest.UsageError(f"--peer-remote: {exc}") from exc
        return self._remote

    def net(self) -> NetTarget:
        """The session's fault target."""
        if self._net is None:
            if self._fault_cmd:
                self._backend = CommandFaults(self._fault_cmd)
            else:
                self._backend = self.network.fault_backend()
            if self._backend is None:
                raise RuntimeError(f"net: {self.missing('net')}")
            self._net = NetTarget(self._backend, peer_host=self.network.peer_host)
        return self._net

    def close(self) -> None:
        """Stop every peer, take every fault away, close the remote channel."""
        if self._net is not None:
            self._net.restore_all()
            if isinstance(self._backend, CommandFaults):
                try:
                    self._backend.close()
                except Exception as exc:  # teardown goes on whatever the hook says
                    log.error("fault hook restore: %s", exc)
        for name, target in self._targets.items():
            try:
                target.stop()
            except Exception as exc:  # one peer's trouble must not keep the others running
                log.error("stopping %s: %s", name, exc)
        self._targets.clear()
        if self._remote is not None:
            self._remote.close()
            self._remote = None


# ----------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def network(pytestconfig: pytest.Config) -> Iterator[Network]:
    """The session's network: where the simulator runs (``module_netns``) and the addresses of module and peers."""
    net = build_network(pytestconfig)
    log.info("network: %s", net)
    try:
        yield net
    finally:
        net.close()


@pytest.fixture(scope="session")
def bench_capabilities(pytestconfig: pytest.Config, network: Network) -> Iterator[Bench]:
    """What this bench provides (``.missing(name)``, ``.provides()``); owns the session's peers."""
    bench = Bench(pytestconfig, network)
    try:
        yield bench
    finally:
        bench.close()


def _peer_fixture(capability: str) -> Callable[..., Any]:
    def fixture(bench_capabilities: Bench) -> Iterator[Any]:
        reason = bench_capabilities.missing(capability)
        if reason:
            pytest.skip(f"{capability}: {reason}")
        target = bench_capabilities.target(capability)
        target.begin_case()
        try:
            yield target
        finally:
            target.end_case()

    fixture.__doc__ = f"Capability ``{capability}``: {CAPABILITIES[capability]}."
    fixture.__name__ = capability
    return pytest.fixture(name=capability)(fixture)


def _fault_fixture(capability: str) -> Callable[..., Any]:
    def fixture(request: pytest.FixtureRequest, bench_capabilities: Bench) -> Any:
        reason = bench_capabilities.missing(capability)
        if reason:
            pytest.skip(f"{capability}: {reason}")
        return request.getfixturevalue("net")

    fixture.__doc__ = f"Capability ``{capability}``: {CAPABILITIES[capability]}; the ``net`` target."
    fixture.__name__ = capability
    return pytest.fixture(name=capability)(fixture)


@pytest.fixture
def net(bench_capabilities: Bench) -> Iterator[NetTarget]:
    """The ``net`` fault target (``! net blackhole tcp_sink``); every fault is taken away after the case."""
    reason = bench_capabilities.missing("net")
    if reason:
        pytest.skip(f"net: {reason}")
    target = bench_capabilities.net()
    try:
        yield target
    finally:
        target.restore_all()


tcp_echo = _peer_fixture("tcp_echo")
tcp_sink = _peer_fixture("tcp_sink")
tcp_talker = _peer_fixture("tcp_talker")
tcp_closer = _peer_fixture("tcp_closer")
tcp_stall = _peer_fixture("tcp_stall")
udp_echo = _peer_fixture("udp_echo")
udp_sink = _peer_fixture("udp_sink")
dial_in = _peer_fixture("dial_in")
udp_sender = _peer_fixture("udp_sender")
dns = _peer_fixture("dns")
ntp = _peer_fixture("ntp")
ping = _peer_fixture("ping")
net_blackhole = _fault_fixture("net_blackhole")
net_refuse = _fault_fixture("net_refuse")
net_reset = _fault_fixture("net_reset")
net_oneway = _fault_fixture("net_oneway")
