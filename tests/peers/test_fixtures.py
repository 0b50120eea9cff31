"""The capability fixtures as cases see them: reachable from the module's side, empty at the start of each case,
skipped with the reason when the bench lacks them, and driven remotely or through a fault hook on a real bench."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.network import NetnsError, list_netns, requirements, socket_in
from conformance.peers import PeerServer
from conformance.plugin import capabilities
from conformance.plugin.capabilities import CAPABILITIES, NO_NETNS, Bench, build_network

NEEDS_NFT = "needs the nft program to make network faults (Debian package nftables: apt-get install nftables)"
NEEDS_IP = "needs the ip program to create network namespaces (Debian package iproute2: apt-get install iproute2)"
_NO_NETNS = "; ".join(requirements.namespace_problems())

TOKEN = b"a token of at least sixteen bytes"
_left_open: list[socket.socket] = []


def module_socket(network: capabilities.Network, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket on the module's side of the network (its namespace, or the host's for loopback)."""
    sock = socket_in(network.module_netns, socket.AF_INET, kind)
    sock.settimeout(3)
    return sock


def test_every_capability_has_a_fixture_of_its_name(request: pytest.FixtureRequest) -> None:
    missing = [name for name in CAPABILITIES if not request._fixturemanager.getfixturedefs(name, request.node)]
    assert missing == []


def test_network_says_where_the_module_runs(network: capabilities.Network) -> None:
    if network.module_netns:
        assert network.module_netns in list_netns()
        assert (network.module_ip, network.peer_host, network.reason) == ("10.213.0.2", "10.213.0.1", "")
        resolv = Path("/etc/netns", network.module_netns, "resolv.conf").read_text()
        assert resolv == "nameserver 10.213.0.1\n"
    else:
        assert network.module_netns is None and network.module_ip == network.peer_host == "127.0.0.1"
        assert network.reason


def test_tcp_echo_answers_the_module_side(network: capabilities.Network, tcp_echo, act) -> None:
    with module_socket(network) as module:
        module.connect((tcp_echo.host, tcp_echo.port))
        module.sendall(b"test")
        assert module.recv(10) == b"test"
        assert module.getsockname()[0] == network.module_ip
    act(tcp_echo, "received", b"test")


def test_a_case_leaves_data_and_a_connection_behind(network: capabilities.Network, tcp_sink, act) -> None:
    module = module_socket(network)
    module.connect((tcp_sink.host, tcp_sink.port))
    module.sendall(b"left behind")
    act(tcp_sink, "received", b"left behind")
    _left_open.append(module)


def test_the_next_case_starts_with_an_empty_recording(tcp_sink) -> None:
    assert tcp_sink.recorder.size == 0 and tcp_sink.connections == []
    if _left_open:
        leftover = _left_open.pop()
        assert leftover.recv(10) == b"", "the previous case's connection was closed when it ended"
        leftover.close()


def test_dns_answers_the_module_on_port_53_in_its_namespace(network: capabilities.Network, dns) -> None:
    if network.module_netns:
        assert (dns.host, dns.port) == ("10.213.0.1", 53)
    request = bytes.fromhex("abcd01000001000000000000") + b"\x04peer\x0bconformance\x04test\x00\x00\x01\x00\x01"
    with module_socket(network, socket.SOCK_DGRAM) as module:
        module.sendto(request, (dns.host, dns.port))
        reply = module.recv(512)
    assert reply[:2] == b"\xab\xcd" and reply[-4:] == socket.inet_aton(dns.ip)


def test_blackhole_fixture_loses_the_module_data_until_the_case_ends(network, net_blackhole, tcp_sink, act) -> None:
    with module_socket(network) as module:
        module.connect((tcp_sink.host, tcp_sink.port))
        context = {"tcp_sink": tcp_sink}
        assert act(net_blackhole, "blackhole", "tcp_sink", context=context).startswith("blackhole tcp_sink (tcp ")
        module.sendall(b"lost for now")
        act(tcp_sink, "idle", 0.3)
        act(net_blackhole, "restore", "tcp_sink")
        act(tcp_sink, "received", b"lost for now", within=5)


# ------------------------------------------------------------------------------ option handling without a network


def fake_config(**options: object) -> SimpleNamespace:
    return SimpleNamespace(getoption=lambda name, default=None: options.get(name, default))


def only_programs(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make the suite see exactly these programs (on PATH, and none installed elsewhere)."""
    monkeypatch.setattr(requirements, "find_program", lambda name: f"/usr/sbin/{name}" if name in names else None)
    monkeypatch.setattr(requirements, "SBIN_DIRS", ())


def test_without_privilege_faults_skip_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capabilities, "may_admin_network", lambda: False)
    only_programs(monkeypatch, "ip", "nft")
    network = build_network(fake_config())
    assert (network.module_netns, network.privileged, network.peer_host) == (None, False, "127.0.0.1")
    bench = Bench(fake_config(bench_lacks=["dial_in,udp_sender"]), network)
    assert bench.missing("net_blackhole") == NO_NETNS == "needs root or CAP_NET_ADMIN to create a network namespace"
    assert bench.missing("tcp_echo") is None
    assert bench.missing("dial_in") == "this bench declares it lacks it (--bench-lacks)"
    assert bench.missing("teleport").startswith("no peer or fault is called so")


def test_each_missing_piece_is_named_with_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capabilities, "may_admin_network", lambda: False)
    only_programs(monkeypatch, "ip")
    bench = Bench(fake_config(), build_network(fake_config()))
    assert bench.missing("net_blackhole") == f"{NO_NETNS}; {NEEDS_NFT}"
    monkeypatch.setattr(capabilities, "may_admin_network", lambda: True)
    only_programs(monkeypatch)  # root, but neither program: peers on 127.0.0.1, faults skip naming both packages
    network = build_network(fake_config())
    bench = Bench(fake_config(), network)
    assert (network.mode, network.reason) == ("loopback", NEEDS_IP)
    assert bench.missing("tcp_echo") is None
    assert bench.missing("net_reset") == f"{NEEDS_IP}; {NEEDS_NFT}"


def test_a_program_off_path_is_named_with_its_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    only_programs(monkeypatch, "ip")
    (tmp_path / "nft").write_text("#!/bin/sh\n")
    (tmp_path / "nft").chmod(0o755)
    monkeypatch.setattr(requirements, "SBIN_DIRS", (str(tmp_path),))
    assert requirements.missing_program(requirements.NFT) == (
        f"needs the nft program to make network faults: {tmp_path}/nft is installed but {tmp_path} is not on PATH "
        "(add it to PATH)")


def test_nft_that_cannot_make_its_table_skips_faults_with_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # a kernel without nf_tables cannot exist on this machine: the failure nft reports there is stood in for
    def no_nf_tables(*args: object) -> None:
        raise NetnsError("ip netns exec cfn-1-0-peers nft -f -: Error: Could not process rule: Not supported")

    monkeypatch.setattr(capabilities, "NftFaults", no_nf_tables)
    topology = SimpleNamespace(peer_netns="cfn-1-0-peers", peer_if="cfn1-0p", nft_table="cfn_1_0", down=lambda: None)
    network = capabilities.Network("cfn-1-0-module", "10.213.0.2", "10.213.0.1", True, "", mode="netns",
                                   topology=topology)  # type: ignore[arg-type]
    bench = Bench(fake_config(), network)
    assert bench.missing("net_oneway") == ("nft cannot make rules in the peers' namespace (ip netns exec "
                                           "cfn-1-0-peers nft -f -: Error: Could not process rule: Not supported)")
    assert bench.missing("tcp_echo") is None


def test_a_real_module_without_peer_options_gets_no_peers() -> None:
    network = build_network(fake_config(modem="/dev/ttyUSB2"))
    bench = Bench(fake_config(modem="/dev/ttyUSB2"), network)
    assert "cannot reach peers on this host's loopback" in bench.missing("tcp_echo")
    assert "--fault-cmd" in bench.missing("net_refuse")


def run_pytest(tmp_path: Path, test_source: str, *options: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a test file in a fresh pytest with only this plugin (not the core plugin)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(test_source))
    argv = [sys.executable, "-m", "pytest", "-p", "no:conformance", "-p", "no:cacheprovider", "-p",
            "conformance.plugin.capabilities", "-rs", "-q", str(tmp_path / "test_inner.py"), *options]
    return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False, env=env)


def path_without_nft(tmp_path: Path) -> str:
    """A PATH on which ``ip`` is found and ``nft`` is not, as on a machine without the nftables package."""
    own = tmp_path / "bin"
    own.mkdir()
    ip = shutil.which("ip")
    assert ip is not None
    (own / "ip").symlink_to(ip)
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not os.path.exists(os.path.join(d, "nft"))]
    return os.pathsep.join([str(own), *kept])


def test_a_case_whose_needs_are_not_met_is_skipped_with_the_capability(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, """
        def test_needs_a_fault(net_blackhole):
            pass

        def test_needs_a_peer(tcp_echo, network):
            assert network.module_netns is None and tcp_echo.host == "127.0.0.1"
        """, "--peer-netns=off")
    assert "1 passed, 1 skipped" in done.stdout, done.stdout + done.stderr
    assert "net_blackhole: network namespaces are off (--peer-netns=off)" in done.stdout


def test_remote_peers_and_the_fault_hook_through_the_options(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    hook = tmp_path / "netfault"
    hook.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    hook.chmod(0o755)
    token = tmp_path / "token"
    token.write_bytes(TOKEN)
    server = PeerServer(TOKEN, bind="127.0.0.1", control_port=0).start()
    try:
        done = run_pytest(tmp_path, """
            import socket, time

            def test_remote(network, tcp_echo, net_blackhole):
                assert network.mode == "remote" and tcp_echo.host == "127.0.0.1"
                with socket.create_connection((tcp_echo.host, tcp_echo.port), timeout=3) as module:
                    module.sendall(b"far")
                    assert module.recv(3) == b"far"
                tcp_echo.perform("received", [b"far"], deadline=time.monotonic() + 2, context={})
                net_blackhole.perform("blackhole", ["tcp_echo"], deadline=time.monotonic() + 2,
                                      context={"tcp_echo": tcp_echo})
                print("PORT", tcp_echo.port)
            """, f"--peer-remote=127.0.0.1:{server.control_port}", f"--peer-token-file={token}",
            f"--fault-cmd={hook}", "-s")
    finally:
        server.stop()
    assert "1 passed" in done.stdout, done.stdout + done.stderr
    port = done.stdout.split("PORT ")[1].split()[0]
    assert calls.read_text().splitlines() == [f"blackhole 127.0.0.1 {port} tcp", f"restore 127.0.0.1 {port} tcp",
                                              "restore"]


@pytest.mark.skipif(bool(_NO_NETNS), reason=f"network namespaces: {_NO_NETNS}")
def test_without_nft_fault_cases_skip_naming_the_package_and_the_rest_run(tmp_path: Path) -> None:
    # nft off PATH, and not in the sbin folders either, as on a machine without the package
    (tmp_path / "conftest.py").write_text("from conformance.network import requirements\n"
                                          "requirements.SBIN_DIRS = ()\n")
    done = run_pytest(tmp_path, """
        def test_needs_a_fault(net_blackhole):
            pass

        def test_needs_a_peer_in_the_namespaces(network, tcp_sink):
            assert network.mode == "netns" and tcp_sink.host == "10.213.0.1"
        """, env={**os.environ, "PATH": path_without_nft(tmp_path)})
    assert "1 passed, 1 skipped" in done.stdout, done.stdout + done.stderr
    assert f"net_blackhole: {NEEDS_NFT}" in done.stdout


FAILS_WITH_A_FAULT = """
    import os

    def test_fails(network, net_blackhole, tcp_sink):
        print("OWNER", os.getpid())
        net_blackhole.perform("blackhole", ["tcp_sink"], deadline=0, context={"tcp_sink": tcp_sink})
        assert False, "on purpose"
    """
FAILS_IN_THE_NAMESPACES = """
    import os

    def test_fails(network, tcp_sink):
        print("OWNER", os.getpid())
        assert network.mode == "netns"
        assert False, "on purpose"
    """


@pytest.mark.skipif(bool(_NO_NETNS), reason=f"network namespaces: {_NO_NETNS}")
@pytest.mark.parametrize("source", [
    pytest.param(FAILS_IN_THE_NAMESPACES, id="peers"),
    pytest.param(FAILS_WITH_A_FAULT, id="fault", marks=pytest.mark.skipif(
        bool(requirements.missing_program(requirements.NFT)),
        reason=f"network faults: {requirements.missing_program(requirements.NFT)}")),
])
def test_namespaces_go_when_the_run_ends_even_after_a_failure(tmp_path: Path, source: str) -> None:
    done = run_pytest(tmp_path, source, "-s")
    assert "1 failed" in done.stdout, done.stdout + done.stderr
    owner = done.stdout.split("OWNER ")[1].split()[0]
    assert not [name for name in list_netns() if name.startswith(f"cfn-{owner}-")]
    assert not list(Path("/etc/netns").glob(f"cfn-{owner}-*"))
