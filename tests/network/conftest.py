"""Fixtures for the network tests: one topology (two namespaces, a veth pair) shared by a module's tests.

A test that needs the namespaces skips, naming what is missing, where the privilege or the ``ip`` program is missing
(``topology``); a test that needs fault rules skips likewise without the ``nft`` program (``net``). The other tests
still run.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from conformance.network import NetTarget, NftFaults, Topology, socket_in
from conformance.network.requirements import NFT, missing_program, namespace_problems
from conformance.peers import Peer, PeerSite, start_peer

SIOCOUTQ = 0x5411  # <linux/sockios.h>: bytes sent and not yet acknowledged


def unacked(sock: socket.socket) -> int:
    """What the kernel has sent on ``sock`` and the peer has not acknowledged (the module's AT+QISEND=<id>,0)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0" * 4))[0]


def skip_without_namespaces() -> None:
    """Skip the test with every reason the suite cannot build its namespaces here."""
    problems = namespace_problems()
    if problems:
        pytest.skip(f"network namespaces: {'; '.join(problems)}")


def skip_without_nft() -> None:
    """Skip the test when the nft program is missing, naming the package that brings it."""
    skip_without_namespaces()
    why = missing_program(NFT)
    if why:
        pytest.skip(f"network faults: {why}")


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    skip_without_namespaces()
    with Topology() as the_topology:
        yield the_topology


@pytest.fixture
def peer(topology: Topology) -> Iterator[Callable[[str], Peer]]:
    """Start peers in the peers' namespace, each in a case; stopped afterwards."""
    started: list[Peer] = []
    site = PeerSite(topology.plan.peer_ip, topology.plan.peer_ip, netns=topology.peer_netns,
                    module_host=topology.plan.module_ip)

    def make(capability: str) -> Peer:
        the_peer = start_peer(capability, site)
        the_peer.begin_case()
        started.append(the_peer)
        return the_peer

    yield make
    for the_peer in started:
        the_peer.end_case()
        the_peer.stop()


@pytest.fixture
def net(topology: Topology) -> Iterator[NetTarget]:
    skip_without_nft()
    faults = NftFaults(topology.peer_netns, topology.peer_if, topology.nft_table)
    target = NetTarget(faults, peer_host=topology.plan.peer_ip)
    yield target
    target.restore_all()
    faults.close()


@pytest.fixture
def module_side(topology: Topology) -> Callable[..., socket.socket]:
    """Sockets in the module's namespace, as the simulated module would make them."""
    made: list[socket.socket] = []

    def make(kind: int = socket.SOCK_STREAM, proto: int = 0) -> socket.socket:
        sock = socket_in(topology.module_netns, socket.AF_INET, kind, proto)
        sock.settimeout(3)
        made.append(sock)
        return sock

    yield make
    for sock in made:
        sock.close()


def act(target: object, verb: str, *args: object, within: float = 2.0, context: dict | None = None) -> str | None:
    """``! <target> <verb> <args>`` with a deadline ``within`` seconds from now."""
    return target.perform(verb, list(args), deadline=time.monotonic() + within,  # type: ignore[attr-defined]
                          context=context or {})


@pytest.fixture(name="act")
def act_fixture() -> Callable[..., str | None]:
    """``act(target, verb, *args, within=2.0, context=None)``."""
    return act


@pytest.fixture(name="needs_nft")
def needs_nft_fixture() -> None:
    """Request it to skip a test (with the reason) where the nft program is missing."""
    skip_without_nft()


@pytest.fixture(name="unacked")
def unacked_fixture() -> Callable[[socket.socket], int]:
    """SIOCOUTQ of a socket."""
    return unacked
