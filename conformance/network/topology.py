"""The network the suite controls: the simulated module's namespace and the peers' namespace, joined by a veth pair.

Address plan (documented in ``docs/peers.md``)::

    namespace cfn-<pid>-<n>-module            namespace cfn-<pid>-<n>-peers
    ┌──────────────────────────────┐          ┌──────────────────────────────┐
    │ simulated module             │   veth   │ peers (TCP/UDP/DNS/NTP),     │
    │ cfn<pid>-<n>m 10.213.0.2/24 ─┼──────────┼─ cfn<pid>-<n>p 10.213.0.1/24 │
    │ default route via 10.213.0.1 │          │ nft table cfn_<pid>_<n>      │
    │ resolv.conf: 10.213.0.1      │          │ DNS on 10.213.0.1:53         │
    └──────────────────────────────┘          └──────────────────────────────┘

Neither namespace is connected to the host's namespace or to any other network, and the peers' namespace does not
forward, so nothing the module sends can leave the pair; the host's firewall and routing are never touched.
The module's namespace gets ``/etc/netns/<name>/resolv.conf`` naming the peers' address, which ``ip netns exec``
mounts over ``/etc/resolv.conf``: a simulator started that way asks the ``dns`` peer, as a module asks the DNS server
its network gave it.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import signal
import threading
from dataclasses import dataclass
from types import FrameType, TracebackType

from .namespaces import (
    NetnsError,
    cleanup_leftovers,
    delete_netns,
    netns_name,
    remove_netns_etc,
    run,
    veth_name,
    write_netns_resolv_conf,
)

__all__ = ["DEFAULT_PLAN", "AddressPlan", "Topology", "teardown_all"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddressPlan:
    """The private addresses of the module/peers link: one /24 in 10.0.0.0/8 that hosts and VPNs rarely use."""

    network: str = "10.213.0.0/24"
    peer_ip: str = "10.213.0.1"  # peers bind here; also the module's default gateway
    module_ip: str = "10.213.0.2"  # the module's own address (AT+QIACT? reports it)
    # a second address of the module, for a second PDP context active at once (GSM AT+QIFGCNT=1): a simulated module
    # gives its second context the address after its own when that address is on its interface
    module_ip2: str = "10.213.0.3"
    prefix_len: int = 24


DEFAULT_PLAN = AddressPlan()

_serials = itertools.count()
_live: set[Topology] = set()
_live_lock = threading.Lock()
_guards_installed = False
_GUARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Topology:
    """Two namespaces and a veth pair, created by :meth:`up` and removed by :meth:`down` (also at exit or signal)."""

    def __init__(self, plan: AddressPlan = DEFAULT_PLAN) -> None:
        self.plan = plan
        self.pid = os.getpid()
        self.serial = next(_serials)
        self.module_netns = netns_name(self.pid, self.serial, "module")
        self.peer_netns = netns_name(self.pid, self.serial, "peers")
        self.module_if = veth_name(self.pid, self.serial, "m")
        self.peer_if = veth_name(self.pid, self.serial, "p")
        self.nft_table = f"cfn_{self.pid}_{self.serial}"  # lives in the peers' namespace
        self._is_up = False

    def __repr__(self) -> str:
        return f"Topology({self.module_netns} {self.plan.module_ip} <-> {self.peer_netns} {self.plan.peer_ip})"

    @property
    def is_up(self) -> bool:
        """Whether the namespaces exist (between :meth:`up` and :meth:`down`)."""
        return self._is_up

    def up(self) -> Topology:
        """Clean leftovers of killed runs, then create both namespaces, the veth pair, addresses and route.

        Raises :class:`NetnsError` (with nothing left behind) when the process may not do so.
        """
        cleanup_leftovers()
        _install_guards()
        with _live_lock:
            _live.add(self)  # registered before the first command so a signal mid-way still cleans up
        plan = self.plan
        try:
            run(["ip", "netns", "add", self.module_netns])
            run(["ip", "netns", "add", self.peer_netns])
            run(["ip", "link", "add", self.module_if, "netns", self.module_netns, "type", "veth",
                 "peer", "name", self.peer_if, "netns", self.peer_netns])
            for ns, dev, addr in ((self.module_netns, self.module_if, plan.module_ip),
                                  (self.peer_netns, self.peer_if, plan.peer_ip)):
                run(["ip", "-n", ns, "link", "set", "lo", "up"])
                run(["ip", "-n", ns, "addr", "add", f"{addr}/{plan.prefix_len}", "dev", dev])
                run(["ip", "-n", ns, "link", "set", dev, "up"])
            run(["ip", "-n", self.module_netns, "addr", "add", f"{plan.module_ip2}/{plan.prefix_len}", "dev",
                 self.module_if])
            run(["ip", "-n", self.module_netns, "route", "add", "default", "via", plan.peer_ip])
            write_netns_resolv_conf(self.module_netns, [plan.peer_ip])
        except (NetnsError, OSError):
            self.down()
            raise
        self._is_up = True
        log.info("network up: %r", self)
        return self

    def down(self) -> None:
        """Delete both namespaces (their veth ends and nft tables go with them). Safe to call more than once."""
        with _live_lock:
            _live.discard(self)
        for name in (self.module_netns, self.peer_netns):
            try:
                delete_netns(name)
            except NetnsError as exc:
                log.warning("cannot remove namespace %s: %s", name, exc)
            remove_netns_etc(name)
        if self._is_up:
            log.info("network down: %r", self)
        self._is_up = False

    def __enter__(self) -> Topology:
        return self.up()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.down()


def teardown_all() -> None:
    """Remove every topology of this process that is still up (atexit and fatal signals call this)."""
    with _live_lock:
        live = [t for t in _live if t.pid == os.getpid()]  # a forked child must not remove its parent's
    for topology in live:
        topology.down()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    teardown_all()
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    # re-deliver with the default action so the process ends as it would have without us
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_previous_handlers: dict[int, object] = {}


def _install_guards() -> None:
    global _guards_installed
    if _guards_installed:
        return
    _guards_installed = True
    atexit.register(teardown_all)
    if threading.current_thread() is not threading.main_thread():
        log.debug("not on the main thread: only atexit guards the network")
        return
    for signum in _GUARDED_SIGNALS:
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN:
            continue  # the process chose to survive this signal; keep it that way
        _previous_handlers[signum] = previous
        signal.signal(signum, _on_signal)
