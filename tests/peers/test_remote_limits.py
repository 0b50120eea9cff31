"""The remote peers' control channel faces a public network: what a stranger can make it hold is bounded, every
refusal names its reason, malformed input leaves no traceback, and a legitimate client still gets in."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from remote_flood import TOKEN, flood, peak_rss_kib, serve

from conformance.peers import PeerServer, RemoteError, RemotePeers, remote_server
from conformance.peers.channel import MAX_HELLO


@pytest.fixture
def start_server() -> Iterator[Callable[..., PeerServer]]:
    """``start_server(**limits)``: a control server on 127.0.0.1 (no delay after a wrong proof), stopped afterwards."""
    servers: list[PeerServer] = []

    def make(**limits: object) -> PeerServer:
        server = PeerServer(TOKEN, bind="127.0.0.1", control_port=0, auth_failure_delay=0, **limits).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def raw(server: PeerServer, timeout: float = 5.0) -> tuple[socket.socket, object]:
    """A bare connection that has read the server's hello (so the server has admitted it)."""
    sock = socket.create_connection(("127.0.0.1", server.control_port), timeout=timeout)
    stream = sock.makefile("rb")
    assert json.loads(stream.readline())["hello"] == "conformance-peers/1"
    return sock, stream


def last_words(stream: object) -> tuple[str, bytes]:
    """The reason the server gave before closing, and what followed it (b"": the connection is closed)."""
    line = stream.readline()  # type: ignore[attr-defined]
    return json.loads(line)["error"], stream.readline()  # type: ignore[attr-defined]


def legitimate_client_gets_in(server: PeerServer) -> None:
    peers = RemotePeers(f"127.0.0.1:{server.control_port}", TOKEN).connect()
    try:
        assert peers.start("tcp_sink").port > 0
    finally:
        peers.close()


def wait_until(predicate: Callable[[], bool], seconds: float) -> bool:
    """For the server's counters, which no event announces: check until true or the deadline."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


BAD_HELLOS = {
    "non-ASCII proof": json.dumps({"nonce": "a" * 32, "proof": "é" * 64}).encode(),
    "non-ASCII proof, raw UTF-8": ('{"nonce": "' + "a" * 32 + '", "proof": "' + "é" * 64 + '"}').encode(),
    "lone surrogate": ('{"nonce": "' + "a" * 32 + '", "proof": "\\ud800' + "0" * 63 + '"}').encode(),
    "proof is a number": json.dumps({"nonce": "a" * 32, "proof": 7}).encode(),
    "no proof": json.dumps({"nonce": "a" * 32}).encode(),
    "non-ASCII nonce": json.dumps({"nonce": "ü" * 32, "proof": "0" * 64}).encode(),
    "short nonce": json.dumps({"nonce": "ab", "proof": "0" * 64}).encode(),
    "a list": b"[1, 2]",
    "a string": b'"hello"',
    "not JSON": b"GET / HTTP/1.1",
    "not UTF-8": b"\xff\xfe{\x00",
}


@pytest.mark.parametrize("hello", BAD_HELLOS.values(), ids=BAD_HELLOS.keys())
def test_a_malformed_or_non_ascii_hello_is_refused_with_a_reason_and_no_traceback(
        start_server, caplog: pytest.LogCaptureFixture, hello: bytes) -> None:
    caplog.set_level(logging.INFO)
    server = start_server()
    sock, stream = raw(server)
    with sock:
        sock.sendall(hello + b"\n")
        reason, after = last_words(stream)
    assert reason.startswith("malformed hello: ") and after == b""
    legitimate_client_gets_in(server)
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert any(reason in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_a_wrong_but_well_formed_proof_is_refused(start_server) -> None:
    server = start_server()
    sock, stream = raw(server)
    with sock:
        sock.sendall(json.dumps({"nonce": "a" * 32, "proof": "0" * 64}).encode() + b"\n")
        assert last_words(stream) == ("authentication refused: wrong proof (do both ends hold the same token?)", b"")


def test_a_line_longer_than_the_hello_limit_is_refused(start_server) -> None:
    server = start_server()
    sock, stream = raw(server)
    with sock:
        sock.sendall(b"{" * (MAX_HELLO + 100))  # no newline: the server must not wait for one
        assert last_words(stream) == (f"hello longer than {MAX_HELLO} bytes", b"")


def test_a_silent_connection_is_closed_at_the_authentication_deadline(start_server) -> None:
    server = start_server(auth_timeout=0.3)
    sock, stream = raw(server, timeout=5)
    with sock:
        assert last_words(stream) == ("no authentication within 0.3 s", b"")
    assert server.counts() == (0, 0)


def test_waiting_connections_cannot_lock_out_a_legitimate_client(start_server) -> None:
    server = start_server(max_pending=4)
    waiting = [raw(server) for _ in range(7)]  # each sends half a hello and stops
    for sock, _ in waiting:
        sock.sendall(b'{"nonce": "')
    legitimate_client_gets_in(server)
    evicted = waiting[:4]  # 7 waiting + 1 newcomer for 4 places: the 4 oldest made room
    for _, stream in evicted:
        assert last_words(stream) == ("closed to make room: more than 4 connections waiting to authenticate", b"")
    assert wait_until(lambda: server.counts() == (3, 0), 5), server.counts()
    for sock, _ in waiting:
        sock.close()


def test_clients_beyond_the_maximum_are_refused_with_the_reason(start_server) -> None:
    server = start_server(max_clients=2)
    first = RemotePeers(f"127.0.0.1:{server.control_port}", TOKEN).connect()
    second = RemotePeers(f"127.0.0.1:{server.control_port}", TOKEN).connect()
    with pytest.raises(RemoteError, match=r"too many clients: at most 2 at once"):
        RemotePeers(f"127.0.0.1:{server.control_port}", TOKEN).connect()
    assert second.request({"op": "hello"})["ok"]  # the refusal took nothing from the others
    first.close()
    assert wait_until(lambda: server.counts() == (0, 1), 5), server.counts()
    legitimate_client_gets_in(server)
    second.close()


def test_a_frame_longer_than_the_limit_after_authentication_ends_the_session(
        start_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_server, "MAX_FRAME", 4096)  # the real limit is 4 MiB; the rule is the same
    server = start_server()
    client = RemotePeers(f"127.0.0.1:{server.control_port}", TOKEN).connect()
    try:
        assert client.request({"op": "hello", "pad": "x" * 3000})["ok"]  # a frame longer than the hello limit
        with pytest.raises(RemoteError, match="frame longer than 4096 bytes"):
            client.request({"op": "hello", "pad": "x" * 5000})
    finally:
        client.close()
    legitimate_client_gets_in(server)


def test_a_flood_of_long_lines_leaves_memory_bounded_and_the_server_responsive(tmp_path: Path) -> None:
    # 30 strangers, each sending a 16 MiB line at once, once took the server from 28 MB to 489 MB
    with serve(tmp_path / "token") as (proc, port, log):
        before = peak_rss_kib(proc.pid)
        endings = flood(port, 30, 16 << 20)
        grown_mib = (peak_rss_kib(proc.pid) - before) / 1024
        peers = RemotePeers(f"127.0.0.1:{port}", TOKEN).connect()
        assert peers.start("tcp_echo").port > 0
        peers.close()
    assert all(endings), endings  # every connection ended (cut, or closed with the reason), none hung
    assert any(e.endswith('{"error": "hello longer than 1024 bytes"}') for e in endings), endings
    assert grown_mib < 64, f"the server's peak memory grew by {grown_mib:.0f} MiB"
    assert not [line for line in log if "Traceback" in line]
