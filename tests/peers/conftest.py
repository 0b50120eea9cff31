"""Fixtures for the peers' tests: peers started on 127.0.0.1, and a shorthand for transcript actions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from conformance.peers import Peer, PeerSite, start_peer


def pytest_configure(config: pytest.Config) -> None:
    # the core plugin loads the capability fixtures too; import_plugin does nothing the second time
    config.pluginmanager.import_plugin("conformance.plugin.capabilities")


@pytest.fixture
def loopback_peer() -> Iterator[Callable[[str], Peer]]:
    """Start peers on 127.0.0.1 (module at 127.0.0.1 too), each already in a case; all stopped afterwards."""
    started: list[Peer] = []

    def make(capability: str) -> Peer:
        peer = start_peer(capability, PeerSite("127.0.0.1", "127.0.0.1", module_host="127.0.0.1"))
        peer.begin_case()
        started.append(peer)
        return peer

    yield make
    for peer in started:
        peer.end_case()
        peer.stop()


def _act(target: object, verb: str, *args: object, within: float = 2.0, context: dict | None = None) -> str | None:
    return target.perform(verb, list(args), deadline=time.monotonic() + within,  # type: ignore[attr-defined]
                          context=context or {})


@pytest.fixture
def act() -> Callable[..., str | None]:
    """``act(target, verb, *args, within=2.0)``: the transcript action ``! <target> <verb> <args>``."""
    return _act
