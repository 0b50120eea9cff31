"""The network the suite controls: namespaces, the veth pair between the module and its peers, and faults (nft)."""

from __future__ import annotations

from .faults import FAULT_KINDS, CommandFaults, Endpoint, Fault, FaultBackend, NetTarget, NftFaults, endpoints_of
from .namespaces import PREFIX, NetnsError, cleanup_leftovers, in_netns, list_netns, socket_in
from .requirements import fault_problems, may_admin_network, missing_program, namespace_problems
from .topology import DEFAULT_PLAN, AddressPlan, Topology, teardown_all

__all__ = [
    "DEFAULT_PLAN",
    "FAULT_KINDS",
    "PREFIX",
    "AddressPlan",
    "CommandFaults",
    "Endpoint",
    "Fault",
    "FaultBackend",
    "NetTarget",
    "NetnsError",
    "NftFaults",
    "Topology",
    "cleanup_leftovers",
    "endpoints_of",
    "fault_problems",
    "in_netns",
    "list_netns",
    "may_admin_network",
    "missing_program",
    "namespace_problems",
    "socket_in",
    "teardown_all",
]
