"""The capability fixtures as cases see them: reachable from the module's side, empty at the start of each case,
skipped with the reason when the bench lacks them, and driven remotely or through a fault hook on a real bench."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.network import list_netns, socket_in
from conformance.peers import PeerServer
from conformance.plugin import capabilities
from conformance.plugin.capabilities import CAPABILITIES, NO_NETNS, Bench, build_network

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


def test_without_privilege_faults_skip_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capabilities, "may_admin_network", lambda: False)
    network = build_network(fake_config())
    assert (network.module_netns, network.privileged, network.peer_host) == (None, False, "127.0.0.1")
    bench = Bench(fake_config(bench_lacks=["dial_in,udp_sender"]), network)
    assert bench.missing("net_blackhole") == NO_NETNS == "needs root or CAP_NET_ADMIN to create a network namespace"
    assert bench.missing("tcp_echo") is None
    assert bench.missing("dial_in") == "this bench declares it lacks it (--bench-lacks)"
    assert bench.missing("teleport").startswith("no peer or fault is called so")


def test_a_real_module_without_peer_options_gets_no_peers() -> None:
    network = build_network(fake_config(modem="/dev/ttyUSB2"))
    bench = Bench(fake_config(modem="/dev/ttyUSB2"), network)
    assert "cannot reach peers on this host's loopback" in bench.missing("tcp_echo")
    assert "--fault-cmd" in bench.missing("net_refuse")


def run_pytest(tmp_path: Path, test_source: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Run a test file in a fresh pytest with only this plugin (not the core plugin)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(test_source))
    argv = [sys.executable, "-m", "pytest", "-p", "no:conformance", "-p", "no:cacheprovider", "-p",
            "conformance.plugin.capabilities", "-rs", "-q", str(tmp_path / "test_inner.py"), *options]
    return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)


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


@pytest.mark.skipif(not capabilities.may_admin_network(), reason=f"network namespaces: {NO_NETNS}")
def test_namespaces_go_when_the_run_ends_even_after_a_failure(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, """
        import os

        def test_fails_with_a_fault_in_place(network, net_blackhole, tcp_sink):
            print("OWNER", os.getpid())
            net_blackhole.perform("blackhole", ["tcp_sink"], deadline=0, context={"tcp_sink": tcp_sink})
            assert False, "on purpose"
        """, "-s")
    assert "1 failed" in done.stdout, done.stdout + done.stderr
    owner = done.stdout.split("OWNER ")[1].split()[0]
    assert not [name for name in list_netns() if name.startswith(f"cfn-{owner}-")]
    assert not list(Path("/etc/netns").glob(f"cfn-{owner}-*"))
