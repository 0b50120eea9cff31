"""PDP contexts: what the simulated cellular network grants, for every dialect.

The network is simulated (there is no cellular link here): activation succeeds unless the control channel says the
network rejects it, takes the time the timing profile and ``activation_delay_s`` say, and hands out the configured
address (``local_ip``; with ``dual_stack`` also ``local_ipv6``) and DNS servers. An empty APN activates too: the
network then supplies its default, as real networks and modules do. The network can deactivate a context on its own
(control ``pdpdeact``); the context is then "broken" until the host deactivates it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..loop import Timer
from . import codes
from .netops import DnsQuery

if TYPE_CHECKING:
    from .module import Module

__all__ = ["DUAL_STACK_TYPE", "Context", "Contexts"]

IPV4, IPV6 = 1, 2  # context types of BG96 §2.1.1 (1 IPv4, 2 IPv6)
DUAL_STACK_TYPE = 3  # ASSUMPTION: how BG96-family firmware shows an IPv4v6 context (AT+QIACT? <context_type>)


@dataclass
class Context:
    """One PDP context and what the host configured for it."""

    context_id: int
    context_type: int = IPV4
    apn: str = ""
    username: str = ""
    password: str = ""
    authentication: int = 0
    configured: bool = False  # a configuration command ran for it
    active: bool = False
    broken: bool = False  # deactivated by the network, waiting for the host to deactivate it
    dns: list[str] = field(default_factory=lambda: ["0.0.0.0", "0.0.0.0"])
    dns_from_network: bool = True  # False once the host set the DNS servers itself
    dns_query: DnsQuery | None = None  # a host's DNS lookup in flight


class Contexts:
    """The module's contexts, ``ids`` of them, at most ``max_active`` active at once."""

    def __init__(self, module: Module, ids: Iterable[int], max_active: int) -> None:
        self.module = module
        self.ids = list(ids)
        self.max_active = max_active
        self.table: dict[int, Context] = {}
        self._timers: dict[int, Timer] = {}  # activations the network has not answered yet, by context
        self.power_on()

    def power_on(self) -> None:
        """Every context unconfigured and inactive, then those the firmware activates (``boot_active_contexts``)."""
        self.cancel()
        self.table = {i: Context(i) for i in self.ids}
        for context_id in self.module.config.boot_active_contexts:
            ctx = self.table.get(context_id)
            if ctx is not None and self.active_count() < self.max_active:
                self._activated(ctx)

    def get(self, context_id: int) -> Context:
        return self.table[context_id]

    def active(self) -> list[Context]:
        return [c for c in self.table.values() if c.active]

    def active_count(self) -> int:
        return sum(c.active for c in self.table.values())

    def addresses(self, ctx: Context) -> list[str]:
        """The addresses the network gave ``ctx``: IPv4, and IPv6 on a dual-stack network."""
        config = self.module.config
        return [config.local_ip, config.local_ipv6] if config.dual_stack else [config.local_ip]

    def shown_type(self, ctx: Context) -> int:
        """The context type the module reports once active (3: IPv4v6 on a dual-stack network)."""
        return DUAL_STACK_TYPE if self.module.config.dual_stack and ctx.context_type == IPV4 else ctx.context_type

    def activate(self, ctx: Context, on_done: Callable[[int], None]) -> int | None:
        """Ask the network to activate ``ctx``: a code now (0 or an error), or None and ``on_done(code)`` later."""
        if ctx.broken:
            return codes.PDP_BROKEN  # ASSUMPTION: the host must deactivate it first (BG96 §2.2.5)
        if ctx.active:
            return codes.PDP_OPEN_FAILED  # ASSUMPTION: activating an active context fails
        if self.active_count() >= self.max_active:
            return codes.PDP_OPEN_FAILED
        delay = max(self.module.config.activation_delay_s, self.module.timing.delay("activate"))
        if delay <= 0:
            return self._answer(ctx)
        self.cancel_activation(ctx)
        self._timers[ctx.context_id] = self.module.loop.call_later(
            delay, self.module.callback(lambda: on_done(self._answer(ctx))))
        return None

    def activating(self, ctx: Context) -> bool:
        """True while the network has not answered an activation of ``ctx``."""
        return ctx.context_id in self._timers

    def cancel_activation(self, ctx: Context) -> None:
        """Forget an activation of ``ctx`` the network has not answered (the host deactivated it meanwhile)."""
        timer = self._timers.pop(ctx.context_id, None)
        if timer is not None:
            timer.cancel()

    def _answer(self, ctx: Context) -> int:
        self._timers.pop(ctx.context_id, None)
        code = self.module.reject_activation
        if code is None and ctx.context_type != IPV4:
            code = codes.PDP_OPEN_FAILED  # ASSUMPTION: the simulated network's sockets are IPv4 only
        if code:
            return code
        self._activated(ctx)
        return 0

    def _activated(self, ctx: Context) -> None:
        ctx.active = True
        if ctx.dns_from_network:
            ctx.dns = self.network_dns()

    def deactivate(self, ctx: Context) -> None:
        """The host deactivates ``ctx``: its services and lookups end."""
        self.cancel_activation(ctx)
        for svc in self.module.sockets.of_context(ctx.context_id):
            self.module.sockets.drop(svc)
        if ctx.dns_query is not None:
            ctx.dns_query.cancel()
            ctx.dns_query = None
        ctx.active = ctx.broken = False
        if ctx.dns_from_network:
            ctx.dns = ["0.0.0.0", "0.0.0.0"]

    def network_dns(self) -> list[str]:
        """The DNS servers the network hands out (two entries, 0.0.0.0 where there is none)."""
        servers = list(self.module.config.dns_servers[:2])
        return servers + ["0.0.0.0"] * (2 - len(servers))

    def dns_changed(self) -> None:
        """The network's DNS servers changed: contexts that follow them take the new ones."""
        for ctx in self.table.values():
            if ctx.active and ctx.dns_from_network:
                ctx.dns = self.network_dns()

    def cancel(self) -> None:
        """Stop an activation in progress and every lookup (the module restarts)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for ctx in self.table.values():
            if ctx.dns_query is not None:
                ctx.dns_query.cancel()
                ctx.dns_query = None
