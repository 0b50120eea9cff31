"""What the suite's own network needs from the machine, and a reason naming each piece that is missing.

Three pieces, each checked on its own so that each missing one gets its own reason:

- the privilege to create network namespaces (root, or CAP_NET_ADMIN in the effective set);
- the ``ip`` program (Debian package iproute2): namespaces, the veth pair, addresses, routes, ``ip netns exec``;
- the ``nft`` program (Debian package nftables): the rules that make network faults.

The programs are looked up on ``PATH``, where :func:`conformance.network.namespaces.run` and ``ip netns exec`` will
look for them too. A reason reads like ``needs the nft program to make network faults (Debian package nftables:
apt-get install nftables)``; the capability fixtures put the capability's name in front of it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "IP",
    "NFT",
    "NO_PRIVILEGE",
    "Program",
    "fault_problems",
    "find_program",
    "may_admin_network",
    "missing_program",
    "namespace_problems",
]

CAP_NET_ADMIN = 12  # <linux/capability.h>
NO_PRIVILEGE = "needs root or CAP_NET_ADMIN to create a network namespace"
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")  # where a program may be installed yet not on a user's PATH


@dataclass(frozen=True)
class Program:
    """An external program the suite's network runs, the Debian package that installs it, and what it is for."""

    name: str
    package: str
    purpose: str


IP = Program("ip", "iproute2", "to create network namespaces")
NFT = Program("nft", "nftables", "to make network faults")


def find_program(name: str) -> str | None:
    """The path of ``name`` on ``PATH``, or None (the one lookup every check goes through)."""
    return shutil.which(name)


def missing_program(program: Program) -> str | None:
    """Why ``program`` cannot be run, naming its package and how to install it; None when it is on ``PATH``."""
    if find_program(program.name):
        return None
    for folder in SBIN_DIRS:
        candidate = Path(folder, program.name)
        if os.access(candidate, os.X_OK):
            return f"needs the {program.name} program {program.purpose}: {candidate} is installed but {folder} " \
                   f"is not on PATH (add it to PATH)"
    return f"needs the {program.name} program {program.purpose} (Debian package {program.package}: " \
           f"apt-get install {program.package})"


def may_admin_network() -> bool:
    """Whether this process has CAP_NET_ADMIN in its effective set (root has, unless its capabilities were dropped)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        return os.geteuid() == 0
    return False


def namespace_problems(*, privileged: bool | None = None) -> list[str]:
    """Every reason the suite cannot build its namespaces here (empty: it can try).

    ``privileged`` overrides the capability check (callers that already asked pass what they found).
    """
    problems = []
    if not (may_admin_network() if privileged is None else privileged):
        problems.append(NO_PRIVILEGE)
    if (why := missing_program(IP)) is not None:
        problems.append(why)
    return problems


def fault_problems(*, privileged: bool | None = None) -> list[str]:
    """Every reason the suite cannot make network faults in its own network here (empty: it can)."""
    problems = namespace_problems(privileged=privileged)
    if (why := missing_program(NFT)) is not None:
        problems.append(why)
    return problems
