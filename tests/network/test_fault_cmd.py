"""The real-bench fault hook (--fault-cmd): how it is called, and how its failure shows."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.errors import ActionFailed
from conformance.network import CommandFaults, Endpoint, NetTarget


@pytest.fixture
def hook(tmp_path: Path) -> tuple[Path, Path]:
    calls = tmp_path / "calls"
    script = tmp_path / "netfault"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = refuse ] && {{ echo "no such rule" >&2; exit 3; }}\n'
                      "exit 0\n")
    script.chmod(0o755)
    return script, calls


def test_the_hook_gets_kind_host_port_proto_and_restore(hook: tuple[Path, Path]) -> None:
    script, calls = hook
    net = NetTarget(CommandFaults(f"{script} --bench 7"), peer_host="203.0.113.7")
    sink = SimpleNamespace(host="203.0.113.7", port=4000, transport="tcp")
    ping = SimpleNamespace(endpoints=lambda: [Endpoint("icmp", "203.0.113.7")])
    context = {"tcp_sink": sink, "ping": ping}
    deadline = time.monotonic() + 5
    net.perform("blackhole", ["tcp_sink"], deadline=deadline, context=context)
    net.perform("drop_in", [b"ping"], deadline=deadline, context=context)
    net.perform("blackhole", ["all"], deadline=deadline, context=context)
    net.perform("restore", ["tcp_sink"], deadline=deadline, context=context)
    net.restore_all()
    net.backend.close()
    assert calls.read_text().splitlines() == [
        "--bench 7 blackhole 203.0.113.7 4000 tcp",
        "--bench 7 drop_in 203.0.113.7 0 icmp",
        "--bench 7 blackhole 203.0.113.7 0 ip",
        "--bench 7 restore 203.0.113.7 4000 tcp",
        "--bench 7 restore 203.0.113.7 0 icmp",
        "--bench 7 restore 203.0.113.7 0 ip",
        "--bench 7 restore",
    ]


def test_a_failing_hook_fails_the_action_with_its_output(hook: tuple[Path, Path]) -> None:
    script, _ = hook
    net = NetTarget(CommandFaults(str(script)), peer_host="203.0.113.7")
    sink = SimpleNamespace(host="203.0.113.7", port=4000, transport="tcp")
    with pytest.raises(ActionFailed, match=r"net: fault hook .* refuse 203.0.113.7 4000 tcp exited 3: no such rule"):
        net.perform("refuse", ["tcp_sink"], deadline=time.monotonic() + 5, context={"tcp_sink": sink})
    assert net.faults == ()  # a fault that could not be made is not remembered as made
