"""The suite's own network: created on demand, isolated, and gone afterwards, also after a failure, a fatal signal
or a killed run."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.network import NftFaults, Topology, cleanup_leftovers, in_netns, list_netns
from conformance.network.namespaces import NETNS_ETC, netns_name, run
from conformance.network.requirements import namespace_problems

_NO_NETNS = "; ".join(namespace_problems())
pytestmark = [pytest.mark.root, pytest.mark.skipif(bool(_NO_NETNS), reason=f"network namespaces: {_NO_NETNS}")]

REPO = Path(__file__).parents[2]


def ours(pid: int) -> list[str]:
    return [name for name in list_netns() if name.startswith(f"cfn-{pid}-")]


def test_up_and_down_leave_no_namespace_or_file_behind() -> None:
    topology = Topology().up()
    assert {topology.module_netns, topology.peer_netns} <= set(list_netns())
    assert (NETNS_ETC / topology.module_netns / "resolv.conf").exists()
    topology.down()
    topology.down()  # twice is fine
    assert not {topology.module_netns, topology.peer_netns} & set(list_netns())
    assert not (NETNS_ETC / topology.module_netns).exists()


def test_fault_rules_live_in_the_peers_namespace_and_go_with_it(needs_nft: None) -> None:
    ruleset_before = run(["nft", "list", "ruleset"])
    topology = Topology().up()
    try:
        NftFaults(topology.peer_netns, topology.peer_if, topology.nft_table)
        assert topology.nft_table in run(["nft", "list", "tables"], netns=topology.peer_netns)
        assert run(["nft", "list", "ruleset"]) == ruleset_before  # the host's ruleset is never touched
    finally:
        topology.down()
    assert run(["nft", "list", "ruleset"]) == ruleset_before


def test_the_module_namespace_routes_only_to_the_peers(topology: Topology) -> None:
    routes = run(["ip", "-n", topology.module_netns, "-4", "route"])
    assert routes.splitlines()[0].startswith(f"default via {topology.plan.peer_ip} dev {topology.module_if}")
    assert run(["cat", "/proc/sys/net/ipv4/ip_forward"], netns=topology.peer_netns).strip() == "0"
    assert "10.213.0.0/24" in run(["ip", "-n", topology.peer_netns, "-4", "route"])
    assert run(["ip", "-n", topology.peer_netns, "-4", "route"]).count("\n") == 1  # no way out of the pair


def test_the_module_has_a_second_address_for_a_second_context_and_leaves_from_its_first(topology: Topology) -> None:
    addresses = run(["ip", "-n", topology.module_netns, "-4", "-o", "addr", "show", "dev", topology.module_if])
    assert f"{topology.plan.module_ip}/24" in addresses and f"{topology.plan.module_ip2}/24" in addresses
    source = run(["ip", "-n", topology.module_netns, "-4", "route", "get", topology.plan.peer_ip])
    assert f"src {topology.plan.module_ip} " in source


def test_in_netns_switches_only_the_calling_thread(topology: Topology) -> None:
    with in_netns(topology.module_netns):
        inside = socket.socket()
    with inside:
        inside.bind((topology.plan.module_ip, 0))  # that address exists only in the module's namespace
    with socket.socket() as outside, pytest.raises(OSError) as refused:
        outside.bind((topology.plan.module_ip, 0))
    assert refused.value.errno == errno.EADDRNOTAVAIL


def test_leftovers_of_a_dead_process_are_removed_and_live_ones_kept() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a PID that no process has any more
    fake_dead = netns_name(dead.pid, 0, "module")
    fake_live = netns_name(1, 0, "module")  # PID 1 is alive
    for name in (fake_dead, fake_live):
        run(["ip", "netns", "add", name])
    (NETNS_ETC / fake_dead).mkdir(parents=True, exist_ok=True)
    (NETNS_ETC / fake_dead / "resolv.conf").write_text("nameserver 10.213.0.1\n")
    try:
        removed = cleanup_leftovers()
        assert fake_dead in removed and fake_dead not in list_netns()
        assert not (NETNS_ETC / fake_dead).exists()
        assert fake_live in list_netns()
    finally:
        run(["ip", "netns", "delete", fake_live])
        if fake_dead in list_netns():
            run(["ip", "netns", "delete", fake_dead])


HOLDER = textwrap.dedent("""
    import sys, threading
    from conformance.network import Topology
    topology = Topology().up()
    print(topology.module_netns, flush=True)
    threading.Event().wait(60)
""")


def start_holder() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    name = proc.stdout.readline().strip()
    assert name in list_netns()
    return proc, name


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_fatal_signal_removes_the_network_before_the_process_dies(signum: int) -> None:
    proc, _ = start_holder()
    proc.send_signal(signum)
    assert proc.wait(timeout=10) == -signum  # still dies of the signal
    assert not ours(proc.pid)


def test_the_next_start_removes_what_a_killed_run_left() -> None:
    proc, name = start_holder()
    proc.kill()  # SIGKILL: no handler runs
    proc.wait(timeout=10)
    assert name in list_netns()
    with Topology():
        assert not ours(proc.pid)
