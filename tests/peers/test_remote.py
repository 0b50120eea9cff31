"""Peers on a "remote" host (here: the same host) controlled over the authenticated channel."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.errors import ActionFailed
from conformance.peers import PeerServer, RemoteError, RemotePeers, serve_main
from conformance.peers.remote import PROTOCOL, decode_args, encode_args

TOKEN = b"correct horse battery staple 42"


@pytest.fixture
def server() -> PeerServer:
    srv = PeerServer(TOKEN, bind="127.0.0.1", control_port=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: PeerServer) -> RemotePeers:
    peers = RemotePeers(f"127.0.0.1:{server.control_port}", TOKEN).connect()
    yield peers
    peers.close()


def test_remote_echo_behaves_like_a_local_one(client: RemotePeers, act) -> None:
    echo = client.start("tcp_echo")
    echo.begin_case()
    assert echo.host == "127.0.0.1" and echo.port > 0 and echo.transport == "tcp"
    with socket.create_connection((echo.host, echo.port), timeout=3) as module:
        module.sendall(b"\x00test\xff")
        assert module.recv(10) == b"\x00test\xff"
    assert act(echo, "received", b"\x00test\xff") == "6 bytes as expected"
    with pytest.raises(ActionFailed, match=r"tcp_echo received: expected 1 bytes b'x', received nothing"):
        act(echo, "received", b"x", within=0.1)
    echo.end_case()


def test_remote_dns_carries_its_attributes_and_the_advertised_host(server: PeerServer, act) -> None:
    peers = RemotePeers(f"127.0.0.1:{server.control_port}", TOKEN, advertise="203.0.113.7").connect()
    try:
        dns = peers.start("dns")
        assert dns.host == "203.0.113.7" and dns.name == "peer.conformance.test"
        dns.begin_case()
        assert act(dns, "nxdomain", "x.test") == "x.test -> NXDOMAIN"
        dial_in = peers.start("dial_in", module_host="127.0.0.1")
        assert dial_in.module_host == "127.0.0.1" and dial_in.endpoints() == []
    finally:
        peers.close()


def test_wrong_token_is_refused_and_starts_nothing(server: PeerServer) -> None:
    with pytest.raises(RemoteError, match=r"authentication refused: wrong proof \(do both ends hold the same token"):
        RemotePeers(f"127.0.0.1:{server.control_port}", b"wrong token, same length!!").connect()


def test_nothing_is_done_before_authentication(server: PeerServer) -> None:
    with socket.create_connection(("127.0.0.1", server.control_port), timeout=5) as raw:
        stream = raw.makefile("rb")
        hello = json.loads(stream.readline())
        assert hello["hello"] == PROTOCOL and len(hello["nonce"]) == 32
        raw.sendall(b'{"op": "start", "capability": "tcp_echo"}\n')
        assert json.loads(stream.readline()) == {"error": "malformed hello: the nonce must be 32 to 128 lowercase "
                                                          "hex digits"}
        assert stream.readline() == b""  # closed without doing anything


def test_a_forged_frame_ends_the_session(client: RemotePeers) -> None:
    assert client.request({"op": "hello"})["ok"]
    client._signer.key = b"not the session key"  # what a man in the middle would have to guess
    with pytest.raises(RemoteError, match="frame with a bad MAC or out of sequence"):
        client.request({"op": "hello"})


def test_arguments_survive_the_channel() -> None:
    values = [b"\x00\xff\r\n", "word", 7, 0.5, None]
    assert decode_args(json.loads(json.dumps(encode_args(values)))) == values


def test_serve_main_refuses_to_run_without_a_valid_token(tmp_path: Path) -> None:
    short = tmp_path / "token"
    short.write_text("short\n")
    assert serve_main(["serve", "--bind", "127.0.0.1", "--token-file", str(short)]) == 2
    assert serve_main(["--bind", "0.0.0.0", "--token-file", str(short)]) == 2  # a wildcard needs --advertise
    assert serve_main(["--bind", "127.0.0.1"]) == 2  # no token file


def test_serve_command_runs_until_sigterm(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_bytes(TOKEN + b"\n")
    proc = subprocess.Popen([sys.executable, "-m", "conformance.peers", "serve", "--bind", "127.0.0.1",
                             "--control-port", "0", "--token-file", str(token)],
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        port = 0
        for line in proc.stderr:  # type: ignore[union-attr]
            found = re.search(r"peer control on 127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found[1])
                break
        peers = RemotePeers(f"127.0.0.1:{port}", TOKEN).connect()
        sink = peers.start("tcp_sink")
        assert sink.port > 0
        peers.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

